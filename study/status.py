"""A coordinator pauses, resumes, withdraws or unlinks a participant.

Pausing stops every message until resumed; withdrawal stops all contact for good and keeps
the data. Both re-plan in the same transaction, so nothing already queued is sent after, and
both close an open check-in the way the participant stopping it would: what it holds is
triaged, and alerts reach the site team.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study import audit
from study.checkins import End, close
from study.config import StudyConfig
from study.errors import DomainError
from study.models import (
    CLOSED,
    CheckIn,
    EnrollmentCode,
    Participant,
    ParticipantStatus,
    PromptStatus,
    saved_id,
)
from study.outbox import cancel_pending
from study.ports import Replanner


async def pause(
    session: AsyncSession,
    participant: Participant,
    *,
    actor: str,
    now: datetime,
    config: StudyConfig,
    replanner: Replanner,
) -> None:
    if participant.status in CLOSED:
        raise DomainError("error_participant_closed", study_id=participant.study_id)
    if participant.status == ParticipantStatus.PAUSED:
        return
    await _set_status(
        session, participant, ParticipantStatus.PAUSED, actor=actor, now=now, action="pause"
    )
    await _silence(session, participant, now, config)
    await replanner.replan(session, participant, now)


async def resume(
    session: AsyncSession,
    participant: Participant,
    *,
    actor: str,
    now: datetime,
    replanner: Replanner,
) -> None:
    if participant.status != ParticipantStatus.PAUSED:
        raise DomainError("error_not_paused", study_id=participant.study_id)
    status = (
        ParticipantStatus.ACTIVE
        if participant.telegram_chat_id is not None
        else ParticipantStatus.INVITED
    )
    await _set_status(session, participant, status, actor=actor, now=now, action="resume")
    await replanner.replan(session, participant, now)


async def withdraw(
    session: AsyncSession,
    participant: Participant,
    *,
    actor: str,
    now: datetime,
    config: StudyConfig,
    replanner: Replanner,
) -> None:
    """Stop all contact; the participant's data stays for the analysis."""
    if participant.status == ParticipantStatus.WITHDRAWN:
        return
    await _set_status(
        session, participant, ParticipantStatus.WITHDRAWN, actor=actor, now=now, action="withdraw"
    )
    await _silence(session, participant, now, config)
    codes = await session.exec(
        select(EnrollmentCode).where(
            EnrollmentCode.participant_id == participant.id,
            col(EnrollmentCode.used_at).is_(None),
            col(EnrollmentCode.revoked_at).is_(None),
        )
    )
    for code in codes:
        code.revoked_at = now
        session.add(code)
    await replanner.replan(session, participant, now)


async def unlink(
    session: AsyncSession,
    participant: Participant,
    *,
    actor: str,
    now: datetime,
    config: StudyConfig,
    replanner: Replanner,
) -> None:
    """Forget the participant's linked chat (a link made by the wrong person or phone): what
    was queued for that chat is cancelled and its open check-ins closed; an active participant
    is invited again, and a fresh invitation (`issue_code`) links the right chat."""
    if participant.status in CLOSED:
        raise DomainError("error_participant_closed", study_id=participant.study_id)
    if participant.telegram_chat_id is None:
        raise DomainError("error_not_linked", study_id=participant.study_id)
    await _silence(session, participant, now, config)
    participant.telegram_chat_id = None
    participant.linked_at = None
    before = participant.status
    if participant.status in (ParticipantStatus.ACTIVE, ParticipantStatus.UNREACHABLE):
        participant.status = ParticipantStatus.INVITED
        participant.status_changed_at = now
    session.add(participant)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="unlink_chat",
        entity="participant",
        entity_id=participant.study_id,
        participant_id=participant.id,
        before={"status": before, "linked": True},
        after={"status": participant.status, "linked": False},
    )
    await replanner.replan(session, participant, now)


async def _silence(
    session: AsyncSession, participant: Participant, now: datetime, config: StudyConfig
) -> None:
    """Cancel every unsent message to the participant and close their open check-ins; what
    those hold is triaged and reaches the site team like a finished check-in."""
    await cancel_pending(session, participant_id=saved_id(participant))
    open_checkins = list(
        await session.exec(
            select(CheckIn).where(
                CheckIn.participant_id == participant.id, col(CheckIn.status) == PromptStatus.OPEN
            )
        )
    )
    for checkin in open_checkins:
        await close(session, checkin, participant, now=now, config=config, end=End.SILENCED)


async def _set_status(
    session: AsyncSession,
    participant: Participant,
    status: ParticipantStatus,
    *,
    actor: str,
    now: datetime,
    action: str,
) -> None:
    before = participant.status
    participant.status = status
    participant.status_changed_at = now
    session.add(participant)
    audit.record(
        session,
        at=now,
        actor=actor,
        action=action,
        entity="participant",
        entity_id=participant.study_id,
        participant_id=participant.id,
        before={"status": before},
        after={"status": status},
    )
