"""When the check-in sweep next has something to put to each participant
(`Participant.checkins_due_at`, see `study.checkin_due`), worked out for many at once.

The moment is the first at which `scheduler.checkin_jobs._due_for` would open something, as
things stand: the cadence check-in (or, while one is due but another is open, that one's
expiry), the questions after a recent infusion still to come, and the contraception
questions (`study.cadence.next_contraception_at`). It is `now` when something is due now and
`NEVER` when nothing comes without a change (which forgets the moment).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.cadence import (
    LocalSchedule,
    contraception_until,
    infusions_asked_about_since,
    next_checkin_at,
    next_contraception_at,
    post_infusion_question_at,
)
from study.checkin_due import NEVER
from study.config import StudyConfig
from study.models import (
    UPCOMING,
    CheckIn,
    CheckInKind,
    CheckInTrigger,
    Infusion,
    InfusionStatus,
    Participant,
    PromptStatus,
    Visit,
    saved_id,
)


async def checkin_moments(
    session: AsyncSession, participants: Sequence[Participant], now: datetime, config: StudyConfig
) -> dict[int, datetime]:
    """Each linked participant's moment, by id, with a handful of queries for all of them."""
    ids = [saved_id(participant) for participant in participants]
    if not ids:
        return {}
    protocol = config.protocol
    cadence_asked = await _latest(session, ids, CheckInKind.SYMPTOMS, CheckInTrigger.CADENCE)
    open_expiry = await _open_symptoms_expiry(session, ids)
    recent = await _recent_infusions(session, ids, infusions_asked_about_since(now, protocol))
    pregnant = [saved_id(p) for p in participants if p.can_become_pregnant]
    asked = await _latest(session, pregnant, CheckInKind.CONTRACEPTION, None)
    infusion_days = await _infusion_days(session, pregnant)
    visit_days = await _upcoming_visit_days(session, pregnant)
    expiry = timedelta(hours=protocol.checkin_expire_hours)
    put = await _keys_used(
        session,
        [
            checkin_key
            for participant in participants
            for _, checkin_key in _infusion_questions(
                recent[saved_id(participant)], LocalSchedule.of(participant, protocol), config
            )
        ],
    )
    moments = {}
    for participant in participants:
        key = saved_id(participant)
        assert participant.linked_at is not None  # only linked participants are asked
        local = LocalSchedule.of(participant, protocol)
        found = []
        cadence = next_checkin_at(
            cadence_asked.get(key) or participant.linked_at, protocol.checkin_interval_days, local
        )
        if cadence > now:
            found.append(cadence)
        elif key not in open_expiry:
            found.append(now)
        elif (closes := open_expiry[key]) is not None:
            found.append(closes)  # closed then at the latest (a change anyway)
        for question, checkin_key in _infusion_questions(recent[key], local, config):
            if question > now:
                found.append(question)
            elif now < question + expiry and checkin_key not in put:
                found.append(now)  # in its time and not put yet (once put, its key stays)
        if participant.can_become_pregnant:
            contraception = next_contraception_at(
                now,
                local,
                protocol,
                until=contraception_until(
                    infusion_days[key], protocol.contraception_months_after_last_infusion
                ),
                last_asked=asked.get(key),
                linked_at=participant.linked_at,
                upcoming_visits=visit_days[key],
            )
            if contraception is not None:
                found.append(contraception)
        moments[key] = min(found, default=NEVER)
    return moments


def _infusion_questions(
    infusions: list[Infusion], local: LocalSchedule, config: StudyConfig
) -> Iterator[tuple[datetime, str]]:
    """When each question after these infusions is asked, and its check-in's key (as the
    sweep puts it)."""
    for infusion in infusions:
        day = infusion.given_on or infusion.planned_date
        for hours in config.protocol.post_infusion_checkin_hours:
            at = post_infusion_question_at(day, infusion.planned_time, hours, local)
            yield at, f"infusion:{infusion.id}:{hours}h"


async def _keys_used(session: AsyncSession, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    rows = await session.exec(select(CheckIn.dedupe_key).where(col(CheckIn.dedupe_key).in_(keys)))
    return {key for key in rows if key is not None}


async def _latest(
    session: AsyncSession, ids: list[int], kind: CheckInKind, trigger: CheckInTrigger | None
) -> dict[int, datetime]:
    """When each was last asked a check-in of this kind (and trigger)."""
    if not ids:
        return {}
    query = select(CheckIn.participant_id, func.max(CheckIn.asked_at)).where(
        col(CheckIn.participant_id).in_(ids), CheckIn.kind == kind
    )
    if trigger is not None:
        query = query.where(CheckIn.trigger == trigger)
    rows = await session.exec(query.group_by(col(CheckIn.participant_id)))
    return {participant_id: last for participant_id, last in rows}


async def _open_symptoms_expiry(
    session: AsyncSession, ids: list[int]
) -> dict[int, datetime | None]:
    """The expiry of each one's most recent open symptom check-in (as `open_checkin_of`)."""
    rows = await session.exec(
        select(CheckIn.participant_id, CheckIn.expires_at)
        .where(
            col(CheckIn.participant_id).in_(ids),
            col(CheckIn.status) == PromptStatus.OPEN,
            CheckIn.kind == CheckInKind.SYMPTOMS,
        )
        .order_by(col(CheckIn.asked_at))
    )
    return dict(rows.all())  # the latest asked last, so it wins


async def _recent_infusions(
    session: AsyncSession, ids: list[int], since: date
) -> defaultdict[int, list[Infusion]]:
    found: defaultdict[int, list[Infusion]] = defaultdict(list)
    for infusion in await session.exec(
        select(Infusion).where(
            col(Infusion.participant_id).in_(ids),
            col(Infusion.status) == InfusionStatus.GIVEN,
            col(Infusion.given_on) >= since,
        )
    ):
        found[infusion.participant_id].append(infusion)
    return found


async def _infusion_days(session: AsyncSession, ids: list[int]) -> defaultdict[int, list[date]]:
    found: defaultdict[int, list[date]] = defaultdict(list)
    if ids:
        rows = await session.exec(
            select(
                col(Infusion.participant_id), col(Infusion.given_on), col(Infusion.planned_date)
            ).where(
                col(Infusion.participant_id).in_(ids),
                col(Infusion.status).in_([InfusionStatus.GIVEN, InfusionStatus.PLANNED]),
            )
        )
        for participant_id, given_on, planned_date in rows:
            found[participant_id].append(given_on or planned_date)
    return found


async def _upcoming_visit_days(
    session: AsyncSession, ids: list[int]
) -> defaultdict[int, list[date]]:
    found: defaultdict[int, list[date]] = defaultdict(list)
    if ids:
        rows = await session.exec(
            select(
                col(Visit.participant_id), col(Visit.appointment_date), col(Visit.target_date)
            ).where(col(Visit.participant_id).in_(ids), col(Visit.status).in_(UPCOMING))
        )
        for participant_id, appointment_date, target_date in rows:
            found[participant_id].append(appointment_date or target_date)
    return found
