"""What a participant does about a visit: confirm it, or ask for another date."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from study import audit
from study.alerts import raise_alert
from study.config import StudyConfig
from study.errors import DomainError
from study.models import UPCOMING, Participant, Tier, Visit, VisitStatus, saved_id
from study.outbox import tell_new_date
from study.ports import Replanner
from study.protocol import plausible_day


async def own_visit(session: AsyncSession, participant: Participant, visit_id: int) -> Visit:
    """The participant's visit, still open to an answer; else DomainError `button_inactive`."""
    return await session.run_sync(own_visit_sync, participant, visit_id)


def own_visit_sync(session: Session, participant: Participant, visit_id: int) -> Visit:
    """`own_visit` in a synchronous session (`Database.snapshot`)."""
    visit = session.get(Visit, visit_id)
    if visit is None or visit.participant_id != participant.id or visit.status not in UPCOMING:
        raise DomainError("button_inactive")
    return visit


async def confirm_visit(
    session: AsyncSession, participant: Participant, visit: Visit, *, now: datetime
) -> None:
    if visit.status == VisitStatus.CONFIRMED:
        return
    before = {"status": visit.status}
    visit.status = VisitStatus.CONFIRMED
    visit.confirmed_at = now
    visit.updated_at = now
    session.add(visit)
    audit.record(
        session,
        at=now,
        actor=audit.participant_actor(participant.study_id),
        action="confirm_visit",
        entity="visit",
        entity_id=visit.id,
        participant_id=participant.id,
        before=before,
        after={"status": visit.status},
    )


async def request_reschedule(
    session: AsyncSession,
    participant: Participant,
    visit: Visit,
    *,
    now: datetime,
    config: StudyConfig,
    replanner: Replanner,
) -> None:
    """The participant cannot come: stop the reminders of this date and task the site."""
    before = {"status": visit.status}
    visit.status = VisitStatus.RESCHEDULE_REQUESTED
    visit.updated_at = now
    session.add(visit)
    audit.record(
        session,
        at=now,
        actor=audit.participant_actor(participant.study_id),
        action="request_reschedule",
        entity="visit",
        entity_id=visit.id,
        participant_id=participant.id,
        before=before,
        after={"status": visit.status},
    )
    await replanner.replan(session, participant, now)
    await raise_alert(
        session,
        config=config,
        participant=participant,
        kind="reschedule_request",
        tier=Tier.T3,
        evidence=[
            {
                "key": "reschedule_requested",
                "visit_number": visit.number,
                "date": visit.visit_date.isoformat(),
            }
        ],
        now=now,
        dedupe_key=f"reschedule:{visit.id}:{visit.visit_date.isoformat()}",
        visit_id=visit.id,
    )


async def set_appointment(
    session: AsyncSession,
    visit: Visit,
    *,
    day: date,
    at: time | None,
    actor: str,
    now: datetime,
    replanner: Replanner,
    force: bool = False,
) -> Visit:
    """Give a visit its appointment (a new date asks the participant to confirm again). A
    day outside the visit's protocol window is refused (`error_outside_window`, naming the
    window) unless `force`: the coordinator confirmed it."""

    changed = False

    def appoint(visit: Visit, participant: Participant) -> None:
        nonlocal changed
        _check_day(day, participant)
        if visit.status in (VisitStatus.ATTENDED, VisitStatus.MISSED):
            raise DomainError("error_visit_closed", visit_number=visit.number)
        if not force and not visit.window_start <= day <= visit.window_end:
            raise DomainError(
                "error_outside_window",
                participant_id=participant.id,
                study_id=participant.study_id,
                visit_number=visit.number,
                date=day.isoformat(),
                time=at.strftime("%H:%M") if at else None,
                window_start=visit.window_start.isoformat(),
                window_end=visit.window_end.isoformat(),
            )
        if (visit.visit_date, visit.appointment_time) != (day, at):
            changed = True
            visit.status = VisitStatus.PLANNED
            visit.confirmed_at = None
        visit.appointment_date = day
        visit.appointment_time = at

    await _change_visit(
        session,
        visit,
        appoint,
        action="set_appointment",
        actor=actor,
        now=now,
        replanner=replanner,
    )
    if changed:
        await _tell_new_date(session, visit, now)
    return visit


async def mark_missed(
    session: AsyncSession,
    visit: Visit,
    *,
    actor: str,
    now: datetime,
    replanner: Replanner,
) -> Visit:
    """Record that a visit did not take place; its reminders stop."""

    def missed(visit: Visit, participant: Participant) -> None:
        if visit.status == VisitStatus.ATTENDED:
            raise DomainError("error_visit_closed", visit_number=visit.number)
        visit.status = VisitStatus.MISSED

    return await _change_visit(
        session,
        visit,
        missed,
        action="mark_missed",
        actor=actor,
        now=now,
        replanner=replanner,
    )


async def _tell_new_date(session: AsyncSession, visit: Visit, now: datetime) -> None:
    participant = await session.get(Participant, visit.participant_id)
    assert participant is not None
    await tell_new_date(
        session,
        participant,
        template="visit_moved",
        key=f"moved:{visit.id}",
        day=visit.visit_date,
        at=visit.appointment_time,
        now=now,
    )


def _check_day(day: date, participant: Participant) -> None:
    if not plausible_day(day, participant.randomized_on):
        raise DomainError("error_implausible_date", date=day.isoformat())


async def visit_by_number(session: AsyncSession, participant: Participant, number: int) -> Visit:
    """A participant's visit by its number (0 is day 1); DomainError if there is none."""
    visit = (
        await session.exec(
            select(Visit).where(
                Visit.participant_id == saved_id(participant), Visit.number == number
            )
        )
    ).first()
    if visit is None:
        raise DomainError("error_unknown_visit", visit_id=number)
    return visit


async def mark_attended(
    session: AsyncSession,
    visit: Visit,
    *,
    on: date,
    actor: str,
    now: datetime,
    replanner: Replanner,
    force: bool = False,
) -> Visit:
    """Record that the participant came; the visit's remaining reminders are cancelled. A
    day still to come is refused; a day outside the visit's protocol window is refused
    (`error_attended_outside_window`, naming the window) unless `force`: the coordinator
    confirmed it. The visit's own appointment needs no confirming again (an appointment
    outside the window was confirmed when it was set)."""

    def attended(visit: Visit, participant: Participant) -> None:
        _check_day(on, participant)
        today = now.astimezone(ZoneInfo(participant.timezone)).date()
        if on > today:
            raise DomainError(
                "error_attended_future", visit_number=visit.number, date=on.isoformat()
            )
        inside = visit.window_start <= on <= visit.window_end
        if not (force or inside or on == visit.appointment_date):
            raise DomainError(
                "error_attended_outside_window",
                participant_id=participant.id,
                study_id=participant.study_id,
                visit_number=visit.number,
                date=on.isoformat(),
                window_start=visit.window_start.isoformat(),
                window_end=visit.window_end.isoformat(),
            )
        visit.status = VisitStatus.ATTENDED
        visit.attended_on = on

    return await _change_visit(
        session,
        visit,
        attended,
        action="mark_attended",
        actor=actor,
        now=now,
        replanner=replanner,
    )


async def _change_visit(
    session: AsyncSession,
    visit: Visit,
    change: Callable[[Visit, Participant], None],
    *,
    action: str,
    actor: str,
    now: datetime,
    replanner: Replanner,
) -> Visit:
    """A coordinator's change to a visit: applied, audited, and the reminders re-planned,
    all in the caller's transaction."""
    participant = await _lock(session, visit)
    before = _visit_facts(visit)
    change(visit, participant)
    visit.updated_at = now
    session.add(visit)
    audit.record(
        session,
        at=now,
        actor=actor,
        action=action,
        entity="visit",
        entity_id=visit.id,
        participant_id=participant.id,
        before=before,
        after=_visit_facts(visit),
    )
    await replanner.replan(session, participant, now)
    return visit


async def _lock(session: AsyncSession, visit: Visit) -> Participant:
    """Lock the visit's row for the change (re-read as it stands) and return its participant."""
    await session.refresh(visit, with_for_update=True)
    participant = await session.get(Participant, visit.participant_id)
    if participant is None:
        raise DomainError("error_unknown_visit", visit_id=visit.id)
    return participant


def _visit_facts(visit: Visit) -> dict[str, object]:
    return {
        "status": visit.status,
        "appointment_date": visit.appointment_date.isoformat() if visit.appointment_date else None,
        "appointment_time": visit.appointment_time.isoformat() if visit.appointment_time else None,
        "attended_on": visit.attended_on.isoformat() if visit.attended_on else None,
    }
