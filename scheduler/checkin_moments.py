"""What the check-in sweep puts to each participant now (`checkins_due`), and when it next
has something to put (`checkin_moments`, stored as `Participant.checkins_due_at`, see
`study.checkin_due`), both read for many participants at once.

What is due now: the cadence check-in (unless a symptom check-in is open), the questions
after a recent infusion in their time, and the contraception questions
(`study.cadence.contraception_due`). The moment is the first at which that would give
something new, as things stand: `now` when something is due now and `NEVER` when nothing
comes without a change (which forgets the moment). Both read the same facts (`_facts`), a
handful of queries for all the participants.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.cadence import (
    LocalSchedule,
    contraception_due,
    contraception_until,
    infusions_asked_about_since,
    next_checkin_at,
    next_contraception_at,
    post_infusion_question_at,
    post_infusion_trigger,
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


@dataclass(frozen=True)
class Due:
    """A check-in the sweep opens now; its key makes opening it twice open it once."""

    kind: str
    trigger: str
    key: str
    infusion_id: int | None = None


@dataclass(frozen=True)
class _Facts:
    """What the rules need to know of each participant, by id."""

    cadence_asked: dict[int, datetime]
    open_symptoms_expiry: dict[int, datetime | None]
    recent_infusions: defaultdict[int, list[Infusion]]
    contraception_asked: dict[int, datetime]
    infusion_days: defaultdict[int, list[date]]
    visit_days: defaultdict[int, list[date]]

    def cadence_at(self, participant: Participant, local: LocalSchedule, days: int) -> datetime:
        """When the next cadence check-in is due (from the last one, or from linking)."""
        assert participant.linked_at is not None  # only linked participants are asked
        since = self.cadence_asked.get(saved_id(participant)) or participant.linked_at
        return next_checkin_at(since, days, local)

    def contraception(self, participant: Participant, config: StudyConfig) -> dict[str, Any]:
        """The facts `contraception_due` and `next_contraception_at` take."""
        key = saved_id(participant)
        months = config.protocol.contraception_months_after_last_infusion
        return {
            "until": contraception_until(self.infusion_days[key], months),
            "last_asked": self.contraception_asked.get(key),
            "linked_at": participant.linked_at,
            "upcoming_visits": self.visit_days[key],
        }


async def _facts(
    session: AsyncSession, participants: Sequence[Participant], now: datetime, config: StudyConfig
) -> _Facts:
    ids = [saved_id(participant) for participant in participants]
    pregnant = [saved_id(p) for p in participants if p.can_become_pregnant]
    since = infusions_asked_about_since(now, config.protocol)
    return _Facts(
        cadence_asked=await _latest(session, ids, CheckInKind.SYMPTOMS, CheckInTrigger.CADENCE),
        open_symptoms_expiry=await _open_symptoms_expiry(session, ids),
        recent_infusions=await _recent_infusions(session, ids, since),
        contraception_asked=await _latest(session, pregnant, CheckInKind.CONTRACEPTION, None),
        infusion_days=await _infusion_days(session, pregnant),
        visit_days=await _upcoming_visit_days(session, pregnant),
    )


async def checkins_due(
    session: AsyncSession, participants: Sequence[Participant], now: datetime, config: StudyConfig
) -> dict[int, list[Due]]:
    """What is due now for each linked participant, by id, in the order it is put."""
    if not participants:
        return {}
    facts = await _facts(session, participants, now, config)
    protocol = config.protocol
    expiry = timedelta(hours=protocol.checkin_expire_hours)
    due: dict[int, list[Due]] = {}
    for participant in participants:
        key = saved_id(participant)
        local = LocalSchedule.of(participant, protocol)
        found = []
        cadence = facts.cadence_at(participant, local, protocol.checkin_interval_days)
        if cadence <= now and key not in facts.open_symptoms_expiry:
            day = local.day_of(cadence)
            found.append(Due(CheckInKind.SYMPTOMS, CheckInTrigger.CADENCE, f"cadence:{key}:{day}"))
        for question, checkin in _infusion_questions(facts.recent_infusions[key], local, config):
            if question <= now < question + expiry:
                found.append(checkin)
        if participant.can_become_pregnant:
            contraception = contraception_due(
                now, local, protocol, **facts.contraception(participant, config)
            )
            if contraception is not None:
                found.append(
                    Due(
                        CheckInKind.CONTRACEPTION,
                        contraception.trigger,
                        f"contraception:{key}:{contraception.day}",
                    )
                )
        due[key] = found
    return due


async def checkin_moments(
    session: AsyncSession, participants: Sequence[Participant], now: datetime, config: StudyConfig
) -> dict[int, datetime]:
    """Each linked participant's moment, by id."""
    if not participants:
        return {}
    facts = await _facts(session, participants, now, config)
    protocol = config.protocol
    expiry = timedelta(hours=protocol.checkin_expire_hours)
    put = await _keys_used(
        session,
        [
            checkin.key
            for participant in participants
            for _, checkin in _infusion_questions(
                facts.recent_infusions[saved_id(participant)],
                LocalSchedule.of(participant, protocol),
                config,
            )
        ],
    )
    moments = {}
    for participant in participants:
        key = saved_id(participant)
        local = LocalSchedule.of(participant, protocol)
        found = []
        cadence = facts.cadence_at(participant, local, protocol.checkin_interval_days)
        if cadence > now:
            found.append(cadence)
        elif key not in facts.open_symptoms_expiry:
            found.append(now)
        elif (closes := facts.open_symptoms_expiry[key]) is not None:
            found.append(closes)  # closed then at the latest (a change anyway)
        for question, checkin in _infusion_questions(facts.recent_infusions[key], local, config):
            if question > now:
                found.append(question)
            elif now < question + expiry and checkin.key not in put:
                found.append(now)  # in its time and not put yet (once put, its key stays)
        if participant.can_become_pregnant:
            contraception = next_contraception_at(
                now, local, protocol, **facts.contraception(participant, config)
            )
            if contraception is not None:
                found.append(contraception)
        moments[key] = min(found, default=NEVER)
    return moments


def _infusion_questions(
    infusions: list[Infusion], local: LocalSchedule, config: StudyConfig
) -> Iterator[tuple[datetime, Due]]:
    """When each question after these infusions is asked, and its check-in."""
    for infusion in infusions:
        day = infusion.given_on or infusion.planned_date
        for hours in config.protocol.post_infusion_checkin_hours:
            at = post_infusion_question_at(day, infusion.planned_time, hours, local)
            key = f"infusion:{infusion.id}:{hours}h"
            yield at, Due(CheckInKind.POST_INFUSION, post_infusion_trigger(hours), key, infusion.id)


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
