"""When a participant was last asked a check-in, and when the next symptom check-in is due.

For the scheduler's sweeps and for the bot's "next check-in around ..." line. (The
protocol-timing branch turns the cadence itself into the pure functions of `study.cadence`,
which these queries feed.)
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.config import StudyConfig
from study.localtime import allowed_hour, local_date, local_instant
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
    """When the participant's next cadence check-in is due: `checkin_interval_days` local days
    after the last one (or after linking), at their preferred hour out of quiet hours. The
    participant must be linked."""
    since = await last_asked(session, participant, CheckInKind.SYMPTOMS, CheckInTrigger.CADENCE)
    since = since or participant.linked_at
    if since is None:
        raise ValueError("the participant has not linked a chat yet")
    day = local_date(since, participant.timezone) + timedelta(
        days=config.protocol.checkin_interval_days
    )
    return at_preferred_hour(participant, day, config)


def at_preferred_hour(participant: Participant, day: date, config: StudyConfig) -> datetime:
    """The participant's preferred hour on `day` (moved out of quiet hours), in UTC."""
    hour = allowed_hour(participant.preferred_hour, config.protocol.quiet_hours)
    return local_instant(day, time(hour), participant.timezone)
