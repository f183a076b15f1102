"""Participant status changes that the system itself makes (unreachable, back again)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from study import audit
from study.alerts import raise_alert
from study.config import StudyConfig
from study.models import Participant, ParticipantStatus, Tier
from study.outbox import Priority, enqueue
from study.ports import Replanner


async def mark_unreachable(
    session: AsyncSession,
    participant: Participant,
    *,
    reason: str,
    now: datetime,
    config: StudyConfig,
    replanner: Replanner,
) -> None:
    """Telegram refused for good (blocked, deleted, chat gone): stop sending, tell the site."""
    if participant.status != ParticipantStatus.ACTIVE:
        return
    participant.status = ParticipantStatus.UNREACHABLE
    participant.status_changed_at = now
    session.add(participant)
    audit.record(
        session,
        at=now,
        actor=audit.SYSTEM,
        action="mark_unreachable",
        entity="participant",
        entity_id=participant.study_id,
        participant_id=participant.id,
        before={"status": ParticipantStatus.ACTIVE},
        after={"status": participant.status, "reason": reason},
    )
    await replanner.replan(session, participant, now)
    await raise_alert(
        session,
        config=config,
        participant=participant,
        kind="unreachable",
        tier=Tier.T3,
        evidence=[{"key": "unreachable", "reason": reason}],
        now=now,
        dedupe_key=f"unreachable:{participant.id}:{now.isoformat()}",
    )


async def reactivate(
    session: AsyncSession, participant: Participant, *, now: datetime, replanner: Replanner
) -> bool:
    """An unreachable participant wrote to the bot again: they can be reached. Returns True
    if the status changed."""
    if participant.status != ParticipantStatus.UNREACHABLE:
        return False
    participant.status = ParticipantStatus.ACTIVE
    participant.status_changed_at = now
    session.add(participant)
    audit.record(
        session,
        at=now,
        actor=audit.participant_actor(participant.study_id),
        action="reactivate",
        entity="participant",
        entity_id=participant.study_id,
        participant_id=participant.id,
        before={"status": ParticipantStatus.UNREACHABLE},
        after={"status": participant.status},
    )
    await replanner.replan(session, participant, now)
    return True


async def forward_free_text(
    session: AsyncSession,
    participant: Participant,
    text: str,
    *,
    update_id: int,
    now: datetime,
    config: StudyConfig,
) -> None:
    """Pass a participant's free text to their site team (only when study.toml says so)."""
    site = participant.site_code
    await enqueue(
        session,
        template="forwarded_text",
        dedupe_key=f"forward:{participant.id}:{update_id}",
        chat_id=config.sites[site].alert_chat_id,
        language=config.site_language(site),
        context={"study_id": participant.study_id, "text": text[:3000]},
        due_at=now,
        priority=Priority.ALERT,
        now=now,
    )
