"""Infusions a coordinator plans, moves, records as given, or confirms from a proposal."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study import audit
from study.config import StudyConfig
from study.errors import DomainError
from study.models import Infusion, InfusionStatus, Participant, Visit
from study.outbox import tell_new_date
from study.ports import Replanner
from study.protocol import plausible_day


async def next_planned(session: AsyncSession, participant: Participant) -> Infusion | None:
    return (
        await session.exec(
            select(Infusion)
            .where(
                Infusion.participant_id == participant.id,
                col(Infusion.status).in_([InfusionStatus.PLANNED, InfusionStatus.PROPOSED]),
            )
            .order_by(col(Infusion.planned_date))
        )
    ).first()


async def schedule_infusion(
    session: AsyncSession,
    participant: Participant,
    *,
    day: date,
    at: time | None,
    actor: str,
    now: datetime,
    config: StudyConfig,
    replanner: Replanner,
) -> Infusion:
    """Move the next planned (or proposed) infusion to `day`, confirming a proposal; with
    none planned, plan a new one."""
    if not plausible_day(day, participant.randomized_on):
        raise DomainError("error_implausible_date", date=day.isoformat())
    infusion = await next_planned(session, participant)
    before = _facts(infusion) if infusion else None
    if infusion is None:
        infusion = Infusion(
            participant_id=participant.id or 0,
            planned_date=day,
            dose_mg=config.protocol.infusion_dose_mg,
            reason="coordinator",
            created_at=now,
        )
    infusion.planned_date = day
    infusion.planned_time = at
    infusion.status = InfusionStatus.PLANNED
    infusion.visit_id = await _visit_on(session, participant, day)
    infusion.confirmed_by = audit.telegram_user_of(actor)
    infusion.updated_at = now
    session.add(infusion)
    await session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="schedule_infusion",
        entity="infusion",
        entity_id=infusion.id,
        participant_id=participant.id,
        before=before,
        after=_facts(infusion),
    )
    await replanner.replan(session, participant, now)
    after = _facts(infusion)
    keys = ("status", "planned_date", "planned_time")
    if before is None or any(before[key] != after[key] for key in keys):
        # A new infusion, a confirmed proposal or a new date: the participant is told.
        await tell_new_date(
            session,
            participant,
            template="infusion_moved",
            key=f"infusion-date:{infusion.id}",
            day=infusion.planned_date,
            at=infusion.planned_time,
            now=now,
        )
    return infusion


async def record_given(
    session: AsyncSession,
    participant: Participant,
    *,
    on: date,
    actor: str,
    now: datetime,
    replanner: Replanner,
) -> Infusion:
    """The next planned infusion was given on `on` (its post-infusion questions follow)."""
    if not plausible_day(on, participant.randomized_on):
        raise DomainError("error_implausible_date", date=on.isoformat())
    infusion = await next_planned(session, participant)
    if infusion is None or infusion.status != InfusionStatus.PLANNED:
        raise DomainError("error_no_planned_infusion", study_id=participant.study_id)
    before = _facts(infusion)
    infusion.status = InfusionStatus.GIVEN
    infusion.given_on = on
    infusion.updated_at = now
    session.add(infusion)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="record_infusion_given",
        entity="infusion",
        entity_id=infusion.id,
        participant_id=participant.id,
        before=before,
        after=_facts(infusion),
    )
    await replanner.replan(session, participant, now)
    return infusion


async def _visit_on(session: AsyncSession, participant: Participant, day: date) -> int | None:
    visits = await session.exec(select(Visit).where(Visit.participant_id == participant.id))
    return next((v.id for v in visits if v.visit_date == day), None)


def _facts(infusion: Infusion) -> dict[str, object]:
    return {
        "status": infusion.status,
        "planned_date": infusion.planned_date.isoformat(),
        "planned_time": infusion.planned_time.isoformat() if infusion.planned_time else None,
        "given_on": infusion.given_on.isoformat() if infusion.given_on else None,
        "reason": infusion.reason,
    }
