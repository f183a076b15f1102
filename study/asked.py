"""What the cadence rules need from the database: when a participant was last asked.

The rules themselves are the pure functions of `study.cadence`; these queries only feed
them, for the scheduler's sweeps and for the bot's "next check-in around ..." line.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.cadence import LocalSchedule, next_checkin_at
from study.config import StudyConfig
from study.models import CheckIn, CheckInKind, CheckInTrigger, Participant


async def last_asked(
    session: AsyncSession,
    participant: Participant,
    kind: CheckInKind,
    trigger: CheckInTrigger | None = None,
) -> datetime | None:
    """When the participant was last asked a check-in of this kind (and trigger), if ever."""
    query = select(CheckIn.asked_at).where(
        CheckIn.participant_id == participant.id, CheckIn.kind == kind
    )
    if trigger is not None:
        query = query.where(CheckIn.trigger == trigger)
    return (await session.exec(query.order_by(col(CheckIn.asked_at).desc()))).first()


async def next_symptom_checkin_at(
    session: AsyncSession, participant: Participant, config: StudyConfig
) -> datetime:
    """When the participant's next cadence check-in is due (`study.cadence.next_checkin_at`
    from the last one, or from linking). The participant must be linked."""
    since = await last_asked(session, participant, CheckInKind.SYMPTOMS, CheckInTrigger.CADENCE)
    since = since or participant.linked_at
    if since is None:
        raise ValueError("the participant has not linked a chat yet")
    return next_checkin_at(
        since,
        config.protocol.checkin_interval_days,
        LocalSchedule.of(participant, config.protocol),
    )
