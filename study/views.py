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
