"""Whether a participant can become pregnant: asked at enrolment, changed later by the team.

It decides whether the contraception questions C1-C3 (and with them the pregnancy alert) are
put. Turning it on lets the check-in sweep put them from then on, on their usual cadence;
turning it off closes an open contraception check-in (what was answered is still triaged)
and cancels its unsent prompts. Every change is audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study import audit
from study.checkins import End, close
from study.config import StudyConfig
from study.models import (
    CheckIn,
    CheckInKind,
    OutboxMessage,
    OutboxStatus,
    Participant,
    PromptStatus,
)


async def set_can_become_pregnant(
    session: AsyncSession,
    participant: Participant,
    value: bool,
    *,
    actor: str,
    now: datetime,
    config: StudyConfig,
) -> bool:
    """Set the answer; returns whether it changed (the same answer again changes nothing)."""
    if participant.can_become_pregnant == value:
        return False
    participant.can_become_pregnant = value
    session.add(participant)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="set_can_become_pregnant",
        entity="participant",
        entity_id=participant.study_id,
        participant_id=participant.id,
        before={"can_become_pregnant": not value},
        after={"can_become_pregnant": value},
    )
    if not value:
        await _stop_contraception_checks(session, participant, now=now, config=config)
    return True


async def _stop_contraception_checks(
    session: AsyncSession, participant: Participant, *, now: datetime, config: StudyConfig
) -> None:
    open_checks = list(
        await session.exec(
            select(CheckIn).where(
                CheckIn.participant_id == participant.id,
                CheckIn.kind == CheckInKind.CONTRACEPTION,
                col(CheckIn.status) == PromptStatus.OPEN,
            )
        )
    )
    for checkin in open_checks:
        # The team closed it, not the participant: triaged, audited as the system's, no advice.
        await close(session, checkin, participant, now=now, config=config, end=End.SILENCED)
    ids = {checkin.id for checkin in open_checks}
    pending = await session.exec(
        select(OutboxMessage).where(
            OutboxMessage.participant_id == participant.id,
            col(OutboxMessage.status) == OutboxStatus.PENDING,
        )
    )
    for row in pending:
        if row.context.get("checkin_id") in ids:
            row.status = OutboxStatus.CANCELLED
            session.add(row)
