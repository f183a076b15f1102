"""Lab results of a visit, and the individualised arm's re-dose rule applied to them.

The program proposes; a coordinator decides. For the individualised arm a positive rule
creates a *proposed* infusion, which only a coordinator's confirmation turns into a planned
one (with reminders). For the standard arm the labs are recorded only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study import audit
from study.config import StudyConfig
from study.models import Infusion, InfusionStatus, LabResult, Participant, Visit
from study.protocol import Arm, Labs, RedoseDecision, evaluate_redose
from study.visits import visit_by_number


@dataclass(frozen=True)
class LabOutcome:
    result: LabResult
    decision: RedoseDecision
    previous_visit: int | None  # the visit whose labs were compared, if any
    proposal: Infusion | None  # individualised arm, rule positive: awaiting confirmation


async def record_labs(
    session: AsyncSession,
    participant: Participant,
    visit_number: int,
    labs: Labs,
    *,
    actor: str,
    now: datetime,
    config: StudyConfig,
) -> LabOutcome:
    visit = await visit_by_number(session, participant.id or 0, visit_number)
    previous = (
        await session.exec(
            select(LabResult, Visit)
            .join(Visit, col(Visit.id) == LabResult.visit_id)
            .where(LabResult.participant_id == participant.id, Visit.number < visit_number)
            .order_by(col(Visit.number).desc())
        )
    ).first()
    previous_labs = _labs(previous[0]) if previous else None
    decision = evaluate_redose(labs, previous_labs, config.protocol.redose)
    result = (
        await session.exec(select(LabResult).where(LabResult.visit_id == visit.id))
    ).first() or LabResult(
        participant_id=participant.id or 0, visit_id=visit.id or 0, entered_at=now
    )
    before = _facts(result) if result.id else None
    result.cd19_percent = labs.cd19_percent
    result.anti_dsdna_value = labs.anti_dsdna_value
    result.anti_dsdna_positive = labs.anti_dsdna_positive
    result.c3_value = labs.c3_value
    result.c3_lower_limit = labs.c3_lower_limit
    result.criteria_fired = [str(c) for c in decision.fired]
    result.not_evaluable = [str(c) for c in decision.not_evaluable]
    result.entered_by = audit.telegram_user_of(actor)
    result.entered_at = now
    session.add(result)
    await session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="record_labs",
        entity="lab_result",
        entity_id=result.id,
        participant_id=participant.id,
        before=before,
        after=_facts(result),
    )
    proposal = None
    if participant.arm == Arm.INDIVIDUALIZED and decision.propose_dose:
        proposal = await _propose(
            session, participant, visit, decision, actor=actor, now=now, config=config
        )
    return LabOutcome(result, decision, previous[1].number if previous else None, proposal)


async def _propose(
    session: AsyncSession,
    participant: Participant,
    visit: Visit,
    decision: RedoseDecision,
    *,
    actor: str,
    now: datetime,
    config: StudyConfig,
) -> Infusion:
    existing = (
        await session.exec(
            select(Infusion).where(
                Infusion.visit_id == visit.id, col(Infusion.status) == InfusionStatus.PROPOSED
            )
        )
    ).first()
    proposal = existing or Infusion(
        participant_id=participant.id or 0,
        visit_id=visit.id,
        planned_date=max(visit.visit_date, now.astimezone(ZoneInfo(participant.timezone)).date()),
        dose_mg=config.protocol.infusion_dose_mg,
        reason="redose",
        status=InfusionStatus.PROPOSED,
        created_at=now,
    )
    proposal.criteria = [str(c) for c in decision.fired]
    proposal.updated_at = now
    session.add(proposal)
    await session.flush()
    audit.record(
        session,
        at=now,
        actor=actor,
        action="propose_infusion",
        entity="infusion",
        entity_id=proposal.id,
        participant_id=participant.id,
        after={"criteria": proposal.criteria, "status": proposal.status},
    )
    return proposal


def _labs(result: LabResult) -> Labs:
    return Labs(
        cd19_percent=result.cd19_percent,
        anti_dsdna_value=result.anti_dsdna_value,
        anti_dsdna_positive=result.anti_dsdna_positive,
        c3_value=result.c3_value,
        c3_lower_limit=result.c3_lower_limit,
    )


def _facts(result: LabResult) -> dict[str, object]:
    return {
        "cd19_percent": result.cd19_percent,
        "anti_dsdna_value": result.anti_dsdna_value,
        "anti_dsdna_positive": result.anti_dsdna_positive,
        "c3_value": result.c3_value,
        "c3_lower_limit": result.c3_lower_limit,
        "criteria_fired": result.criteria_fired,
    }
