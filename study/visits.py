"""What a participant does about a visit: confirm it, or ask for another date."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from study import audit
from study.alerts import raise_alert
from study.config import StudyConfig
from study.errors import DomainError
from study.models import Participant, Tier, Visit, VisitStatus
from study.ports import Replanner

ANSWERABLE = (VisitStatus.PLANNED, VisitStatus.CONFIRMED)


async def own_visit(session: AsyncSession, participant: Participant, visit_id: int) -> Visit:
    """The participant's visit, still open to an answer; else DomainError `button_inactive`."""
    visit = await session.get(Visit, visit_id)
    if visit is None or visit.participant_id != participant.id or visit.status not in ANSWERABLE:
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
