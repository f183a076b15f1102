"""Infusions a coordinator plans, moves, records as given, or decides from a proposal.

A re-dose proposal (status `proposed`, from the individualised arm's rule) is never a planned
infusion: it has no reminders, `/given` does not see it, and only a decision on that very
proposal (confirm or reject) changes it.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study import audit
from study.config import StudyConfig
from study.errors import DomainError
from study.models import CancelReason, Infusion, InfusionStatus, Participant, Visit, saved_id
from study.outbox import tell_new_date
from study.ports import Replanner
from study.protocol import plausible_day
from study.visits import visit_by_number

REDOSE = "redose"


async def next_planned(session: AsyncSession, participant: Participant) -> Infusion | None:
    """The earliest planned infusion; proposals awaiting a decision are not planned."""
    return (
        await session.exec(
            select(Infusion)
            .where(
                Infusion.participant_id == participant.id,
                col(Infusion.status) == InfusionStatus.PLANNED,
            )
            .order_by(col(Infusion.planned_date), col(Infusion.id))
        )
    ).first()


async def redose_of_visit(session: AsyncSession, visit: Visit) -> Infusion | None:
    """The re-dose that a visit's labs proposed, whatever became of it (one per visit)."""
    return (
        await session.exec(
            select(Infusion)
            .where(Infusion.visit_id == visit.id, Infusion.reason == REDOSE)
            .order_by(col(Infusion.id).desc())
        )
    ).first()


async def proposal_of_visit(
    session: AsyncSession, participant: Participant, visit_number: int
) -> Infusion:
    """The proposal of a visit still awaiting a decision; DomainError if there is none."""
    visit = await visit_by_number(session, participant, visit_number)
    infusion = await redose_of_visit(session, visit)
    if infusion is None or infusion.status != InfusionStatus.PROPOSED:
        raise DomainError(
            "error_no_proposal", study_id=participant.study_id, visit_number=visit_number
        )
    return infusion


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
    """Move the next planned infusion to `day`; with none planned, confirm the newest
    proposal on `day`; with none of either, plan a new one."""
    if not plausible_day(day, participant.randomized_on):
        raise DomainError("error_implausible_date", date=day.isoformat())
    infusion = await next_planned(session, participant) or await _newest_proposal(
        session, participant
    )
    if infusion is None:
        infusion = Infusion(
            participant_id=saved_id(participant),
            planned_date=day,
            dose_mg=config.protocol.infusion_dose_mg,
            reason="coordinator",
            created_at=now,
        )
    return await _plan(
        session,
        participant,
        infusion,
        day=day,
        at=at,
        actor=actor,
        now=now,
        replanner=replanner,
        action="schedule_infusion",
    )


async def confirm_proposal(
    session: AsyncSession,
    participant: Participant,
    proposal: Infusion,
    *,
    day: date | None,
    at: time | None,
    actor: str,
    now: datetime,
    replanner: Replanner,
) -> Infusion:
    """Confirm exactly this proposal: it becomes a planned infusion (on `day`, by default
    the proposed day) with reminders, and the participant is told the date."""
    _check_open(participant, proposal)
    day = day or proposal.planned_date
    if not plausible_day(day, participant.randomized_on):
        raise DomainError("error_implausible_date", date=day.isoformat())
    return await _plan(
        session,
        participant,
        proposal,
        day=day,
        at=at,
        actor=actor,
        now=now,
        replanner=replanner,
        action="confirm_infusion",
    )


async def cancel_proposal(
    session: AsyncSession,
    participant: Participant,
    proposal: Infusion,
    *,
    reason: CancelReason,
    actor: str,
    now: datetime,
) -> Infusion:
    """Cancel a proposal: rejected by the team, or withdrawn because corrected labs no longer
    meet the rule. It had no reminders, so nothing else changes."""
    _check_open(participant, proposal)
    before = _facts(proposal)
    proposal.status = InfusionStatus.CANCELLED
    proposal.cancel_reason = reason
    proposal.updated_at = now
    session.add(proposal)
    await session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="reject_infusion" if reason == CancelReason.REJECTED else "withdraw_infusion",
        entity="infusion",
        entity_id=proposal.id,
        participant_id=participant.id,
        before=before,
        after=_facts(proposal),
    )
    return proposal


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
    if infusion is None:
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


async def _plan(
    session: AsyncSession,
    participant: Participant,
    infusion: Infusion,
    *,
    day: date,
    at: time | None,
    actor: str,
    now: datetime,
    replanner: Replanner,
    action: str,
) -> Infusion:
    before = _facts(infusion) if infusion.id is not None else None
    infusion.planned_date = day
    infusion.planned_time = at
    infusion.status = InfusionStatus.PLANNED
    if infusion.reason != REDOSE:
        # A re-dose keeps the visit whose labs proposed it; others belong to the visit of
        # their day, if any.
        infusion.visit_id = await _visit_on(session, participant, day)
    infusion.confirmed_by = audit.telegram_user_of(actor)
    infusion.updated_at = now
    session.add(infusion)
    await session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action=action,
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


def _check_open(participant: Participant, proposal: Infusion) -> None:
    if proposal.participant_id != participant.id or proposal.status != InfusionStatus.PROPOSED:
        raise DomainError("error_no_proposal", study_id=participant.study_id, visit_number=None)


async def _newest_proposal(session: AsyncSession, participant: Participant) -> Infusion | None:
    return (
        await session.exec(
            select(Infusion)
            .where(
                Infusion.participant_id == participant.id,
                col(Infusion.status) == InfusionStatus.PROPOSED,
            )
            .order_by(col(Infusion.planned_date).desc(), col(Infusion.id).desc())
        )
    ).first()


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
        "cancel_reason": infusion.cancel_reason,
    }
