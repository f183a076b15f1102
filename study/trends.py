"""What a participant's trend chart shows: a small read model, no drawing (see
`messages.charts`).

Every check-in with its tier and the questions in which it reported something (an answer
with a tier of its own in `study.triage.BASE_TIERS`), the visits, the infusions, and the
alerts still unresolved. Days are calendar days in the participant's time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.checkins import DRAFT
from study.models import (
    Alert,
    AlertStatus,
    CheckIn,
    Infusion,
    InfusionStatus,
    Participant,
    PromptStatus,
    Visit,
    VisitStatus,
)
from study.questionnaire import ALL_QUESTIONS
from study.triage import BASE_TIERS

QUESTION_ORDER = {question.code: position for position, question in enumerate(ALL_QUESTIONS)}


@dataclass(frozen=True)
class TrendCheckIn:
    """One check-in (symptoms, after an infusion, or contraception) on the day it was put.

    `tier` is None when nothing was reported; `missed` when it closed with no answer at all.
    """

    day: date
    kind: str
    tier: str | None
    reported: tuple[str, ...]  # question codes, in questionnaire order
    missed: bool


@dataclass(frozen=True)
class TrendVisit:
    """A protocol visit on its day (attended on, else the appointment, else the target):
    `status` is attended, missed or planned (planned, confirmed or another date asked)."""

    number: int
    day: date
    status: str


@dataclass(frozen=True)
class TrendInfusion:
    """An infusion given (on the day given) or planned (on the planned day)."""

    day: date
    given: bool


@dataclass(frozen=True)
class TrendAlert:
    """An alert not yet resolved, on the day it was raised."""

    day: date
    tier: str
    acknowledged: bool


@dataclass(frozen=True)
class Trend:
    """Everything the chart of one participant shows, up to `today`."""

    study_id: str
    randomized_on: date
    today: date
    checkins: tuple[TrendCheckIn, ...]
    visits: tuple[TrendVisit, ...]
    infusions: tuple[TrendInfusion, ...]
    alerts: tuple[TrendAlert, ...]

    @property
    def reported(self) -> tuple[str, ...]:
        """Every question code in which some check-in reported something, in order."""
        codes = {code for checkin in self.checkins for code in checkin.reported}
        return tuple(sorted(codes, key=QUESTION_ORDER.__getitem__))


async def participant_trend(
    session: AsyncSession, participant: Participant, *, today: date
) -> Trend:
    """The trend of `participant`: check-ins asked and alerts raised up to the end of
    `today` (a local date), every visit and every infusion not cancelled or only proposed."""
    zone = ZoneInfo(participant.timezone)

    def local(moment: datetime) -> date:
        return moment.astimezone(zone).date()

    checkins = await session.exec(
        select(CheckIn)
        .where(CheckIn.participant_id == participant.id)
        .order_by(col(CheckIn.asked_at), col(CheckIn.id))
    )
    visits = await session.exec(
        select(Visit).where(Visit.participant_id == participant.id).order_by(col(Visit.number))
    )
    infusions = await session.exec(
        select(Infusion)
        .where(
            Infusion.participant_id == participant.id,
            col(Infusion.status).in_([InfusionStatus.PLANNED, InfusionStatus.GIVEN]),
        )
        .order_by(col(Infusion.planned_date), col(Infusion.id))
    )
    alerts = await session.exec(
        select(Alert)
        .where(Alert.participant_id == participant.id, Alert.status != AlertStatus.RESOLVED)
        .order_by(col(Alert.raised_at), col(Alert.id))
    )
    return Trend(
        study_id=participant.study_id,
        randomized_on=participant.randomized_on,
        today=today,
        checkins=tuple(
            _checkin(c, local(c.asked_at)) for c in checkins if local(c.asked_at) <= today
        ),
        visits=tuple(_visit(v) for v in visits),
        infusions=tuple(
            TrendInfusion(i.given_on or i.planned_date, i.status == InfusionStatus.GIVEN)
            for i in infusions
        ),
        alerts=tuple(
            TrendAlert(local(a.raised_at), a.tier, a.status == AlertStatus.ACKNOWLEDGED)
            for a in alerts
            if local(a.raised_at) <= today
        ),
    )


def reported_questions(answers: Mapping[str, object]) -> tuple[str, ...]:
    """The questions whose answers (or items ticked, not submitted: triage counts them too)
    report something, in questionnaire order."""
    reported = set()
    for key, chosen in answers.items():
        code = key.removesuffix(DRAFT)
        if isinstance(chosen, list) and any((code, answer) in BASE_TIERS for answer in chosen):
            reported.add(code)
    return tuple(sorted(reported, key=lambda code: QUESTION_ORDER.get(code, len(QUESTION_ORDER))))


def _checkin(checkin: CheckIn, day: date) -> TrendCheckIn:
    closed = checkin.status in (PromptStatus.EXPIRED, PromptStatus.STOPPED)
    answered = any(isinstance(chosen, list) and chosen for chosen in checkin.answers.values())
    return TrendCheckIn(
        day=day,
        kind=checkin.kind,
        tier=checkin.tier,
        reported=reported_questions(checkin.answers),
        missed=closed and not answered,
    )


def _visit(visit: Visit) -> TrendVisit:
    if visit.status == VisitStatus.ATTENDED:
        return TrendVisit(visit.number, visit.attended_on or visit.visit_date, "attended")
    status = "missed" if visit.status == VisitStatus.MISSED else "planned"
    return TrendVisit(visit.number, visit.visit_date, status)


__all__ = [
    "Trend",
    "TrendAlert",
    "TrendCheckIn",
    "TrendInfusion",
    "TrendVisit",
    "participant_trend",
    "reported_questions",
]
