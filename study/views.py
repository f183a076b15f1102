"""What a coordinator looks at: one participant in full, the coming fortnight, open alerts."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.models import (
    STILL_TO_COME,
    Alert,
    AlertStatus,
    CheckIn,
    CheckInKind,
    Infusion,
    InfusionStatus,
    LabResult,
    Participant,
    PromptStatus,
    Visit,
)


@dataclass(frozen=True)
class ParticipantDetail:
    participant: Participant
    visits: list[Visit]
    infusions: list[Infusion]
    labs_by_visit: dict[int, LabResult]
    recent_checkins: list[CheckIn]
    open_alerts: list[Alert]


@dataclass(frozen=True)
class Upcoming:
    day: date
    study_id: str
    site: str
    what: str  # "visit" | "infusion" | "visit_infusion"
    visit_number: int | None
    status: str


async def participant_detail(
    session: AsyncSession, participant: Participant, *, checkins: int = 5
) -> ParticipantDetail:
    visits = list(
        await session.exec(
            select(Visit).where(Visit.participant_id == participant.id).order_by(col(Visit.number))
        )
    )
    infusions = list(
        await session.exec(
            select(Infusion)
            .where(
                Infusion.participant_id == participant.id,
                col(Infusion.status) != InfusionStatus.CANCELLED,
            )
            .order_by(col(Infusion.planned_date))
        )
    )
    labs = {
        lab.visit_id: lab
        for lab in await session.exec(
            select(LabResult).where(LabResult.participant_id == participant.id)
        )
    }
    recent = list(
        await session.exec(
            select(CheckIn)
            .where(
                CheckIn.participant_id == participant.id,
                col(CheckIn.kind) != CheckInKind.CONTRACEPTION,
                col(CheckIn.status) != PromptStatus.OPEN,
            )
            .order_by(col(CheckIn.asked_at).desc())
            .limit(checkins)
        )
    )
    alerts = list(
        await session.exec(
            select(Alert)
            .where(
                Alert.participant_id == participant.id,
                col(Alert.status) != AlertStatus.RESOLVED,
            )
            .order_by(col(Alert.raised_at))
        )
    )
    return ParticipantDetail(participant, visits, infusions, labs, recent, alerts)


async def upcoming(
    session: AsyncSession, sites: Collection[str], *, today: date, days: int = 14
) -> list[Upcoming]:
    """Visits and infusions of these sites from today for `days` days, by day."""
    until = today + timedelta(days=days)
    day_of_visit = func.coalesce(Visit.appointment_date, Visit.target_date)
    visits = await session.exec(
        select(Visit, Participant)
        .join(Participant, col(Participant.id) == Visit.participant_id)
        .where(
            col(Participant.site_code).in_(list(sites)),
            col(Visit.status).in_(STILL_TO_COME),
            day_of_visit >= today,
            day_of_visit <= until,
        )
    )
    infusions = list(
        await session.exec(
            select(Infusion, Participant)
            .join(Participant, col(Participant.id) == Infusion.participant_id)
            .where(
                col(Participant.site_code).in_(list(sites)),
                col(Infusion.status) == InfusionStatus.PLANNED,
                col(Infusion.planned_date) >= today,
                col(Infusion.planned_date) <= until,
            )
        )
    )
    infused_days = {(p.id, i.planned_date) for i, p in infusions}
    rows = [
        Upcoming(
            v.visit_date,
            p.study_id,
            p.site_code,
            "visit_infusion" if (p.id, v.visit_date) in infused_days else "visit",
            v.number,
            v.status,
        )
        for v, p in visits
    ]
    visit_days = {(r.study_id, r.day) for r in rows}
    rows += [
        Upcoming(i.planned_date, p.study_id, p.site_code, "infusion", None, i.status)
        for i, p in infusions
        if (p.study_id, i.planned_date) not in visit_days
    ]
    return sorted(rows, key=lambda r: (r.day, r.study_id))


async def open_alerts(session: AsyncSession, sites: Collection[str]) -> list[tuple[Alert, str]]:
    """Unresolved alerts of these sites with their participant's study id, oldest first."""
    rows = await session.exec(
        select(Alert, Participant.study_id)
        .join(Participant, col(Participant.id) == Alert.participant_id)
        .where(col(Alert.site_code).in_(list(sites)), col(Alert.status) != AlertStatus.RESOLVED)
        .order_by(col(Alert.raised_at))
    )
    return [(alert, study_id) for alert, study_id in rows]


@dataclass(frozen=True)
class NextAppointments:
    """What a participant has coming: their next visit (with its window, when the day is in
    it) and their next planned infusion, if any."""

    visit: Visit | None
    infusion: Infusion | None
    infusion_at_visit: bool

    @property
    def window(self) -> tuple[date, date] | None:
        visit = self.visit
        if visit is None or not visit.window_start <= visit.visit_date <= visit.window_end:
            return None
        return visit.window_start, visit.window_end


async def next_appointments(
    session: AsyncSession, participant: Participant, *, today: date
) -> NextAppointments:
    """The participant's next visit and infusion from `today` (their local date) on."""
    day_of_visit = func.coalesce(Visit.appointment_date, Visit.target_date)
    visit = (
        await session.exec(
            select(Visit)
            .where(
                Visit.participant_id == participant.id,
                col(Visit.status).in_(STILL_TO_COME),
                day_of_visit >= today,
            )
            .order_by(day_of_visit)
        )
    ).first()
    infusion = (
        await session.exec(
            select(Infusion)
            .where(
                Infusion.participant_id == participant.id,
                col(Infusion.status) == InfusionStatus.PLANNED,
                col(Infusion.planned_date) >= today,
            )
            .order_by(col(Infusion.planned_date))
        )
    ).first()
    at_visit = (
        visit is not None and infusion is not None and infusion.planned_date == visit.visit_date
    )
    return NextAppointments(visit, infusion, at_visit)


@dataclass(frozen=True)
class RosterRow:
    """One participant of the roster: status, next visit still to come (with its protocol
    window), the tier of their last triaged check-in, and how many alerts are open."""

    study_id: str
    site: str
    status: str
    next_visit: Visit | None
    last_tier: str | None
    open_alerts: int


async def roster(session: AsyncSession, sites: Collection[str]) -> list[RosterRow]:
    """Every participant of these sites, by site and study id."""
    participants = list(
        await session.exec(
            select(Participant)
            .where(col(Participant.site_code).in_(list(sites)))
            .order_by(col(Participant.site_code), col(Participant.study_id))
        )
    )
    ids = [p.id for p in participants]
    next_visits: dict[int, Visit] = {}
    for visit in await session.exec(
        select(Visit)
        .where(col(Visit.participant_id).in_(ids), col(Visit.status).in_(STILL_TO_COME))
        .order_by(col(Visit.number))
    ):
        next_visits.setdefault(visit.participant_id, visit)
    last_asked = (
        select(CheckIn.participant_id, func.max(CheckIn.asked_at).label("asked_at"))
        .where(
            col(CheckIn.participant_id).in_(ids),
            col(CheckIn.kind) != CheckInKind.CONTRACEPTION,
            col(CheckIn.tier).is_not(None),
        )
        .group_by(col(CheckIn.participant_id))
        .subquery()
    )
    tiers: dict[int, str | None] = {
        participant_id: tier
        for participant_id, tier in await session.exec(
            select(CheckIn.participant_id, CheckIn.tier).join(
                last_asked,
                (col(CheckIn.participant_id) == last_asked.c.participant_id)
                & (col(CheckIn.asked_at) == last_asked.c.asked_at),
            )
        )
    }
    alerts: dict[int | None, int] = {
        participant_id: count
        for participant_id, count in await session.exec(
            select(Alert.participant_id, func.count())
            .where(col(Alert.participant_id).in_(ids), col(Alert.status) != AlertStatus.RESOLVED)
            .group_by(col(Alert.participant_id))
        )
    }
    return [
        RosterRow(
            study_id=p.study_id,
            site=p.site_code,
            status=p.status,
            next_visit=next_visits.get(saved),
            last_tier=tiers.get(saved),
            open_alerts=alerts.get(saved, 0),
        )
        for p in participants
        if (saved := p.id) is not None
    ]
