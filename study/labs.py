"""Lab results of a visit, and the individualised arm's re-dose rule applied to them.

The program proposes; a coordinator decides. For the individualised arm a positive rule
creates a *proposed* infusion, which only a coordinator's confirmation turns into a planned
one (with reminders). Guarantees:
- values carry fixed units (`LAB_RANGES`) and an implausible value refuses the whole entry;
- an entry adds to what was entered for the visit before (a value left out is kept);
- the baseline visit (month 0, before the first cycle) is recorded only: no proposal;
- one proposal per visit: re-entered labs update it, and labs that no longer meet the rule
  withdraw it (cancelled, audited); a proposal already decided is left as it is.
For the standard arm the labs are recorded only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study import audit
from study.config import StudyConfig
from study.errors import DomainError
from study.infusions import REDOSE, cancel_proposal, redose_of_visit
from study.models import (
    CancelReason,
    Infusion,
    InfusionStatus,
    LabResult,
    Participant,
    Visit,
    saved_id,
)
from study.protocol import Arm, Labs, RedoseDecision, evaluate_redose
from study.visits import visit_by_number


@dataclass(frozen=True)
class LabRange:
    low: float
    high: float
    unit: str


# The units labs are entered in, and the values accepted (inclusive). The bounds are wide on
# purpose: they catch a typo, a misplaced decimal point or another unit (C3 in mg/dL is ~100
# times g/L), never an unusual patient. CD19+ B cells are a share of lymphocytes; anti-dsDNA
# assays report IU/mL, rarely above a few thousand; C3 is normally about 0.9-1.8 g/L, and a
# laboratory's lower limit of normal lies well inside 0.1-3 g/L. Keys are the names typed.
LAB_RANGES: dict[str, LabRange] = {
    "cd19": LabRange(0, 100, "%"),
    "dsdna": LabRange(0, 10_000, "IU/mL"),
    "c3": LabRange(0, 5, "g/L"),
    "lln": LabRange(0.1, 3, "g/L"),
}


@dataclass(frozen=True)
class LabOutcome:
    result: LabResult
    labs: Labs  # everything entered for the visit so far, this entry merged in
    decision: RedoseDecision
    previous_visit: int | None  # the visit whose labs were compared, if any
    baseline: bool  # month 0: recorded only, never a proposal
    proposal: Infusion | None  # individualised arm, rule met: awaiting a decision
    withdrawn: Infusion | None  # the visit's proposal, withdrawn: the labs no longer meet the rule
    decided: Infusion | None  # the visit's re-dose already confirmed, given or rejected


def values_of(labs: Labs) -> dict[str, float | None]:
    """The typed names and values of an entry (anti-dsDNA without its sign)."""
    return {
        "cd19": labs.cd19_percent,
        "dsdna": labs.anti_dsdna_value,
        "c3": labs.c3_value,
        "lln": labs.c3_lower_limit,
    }


def check_plausible(labs: Labs) -> None:
    """Refuse an entry holding a value outside its range (the message gives the range)."""
    for name, value in values_of(labs).items():
        bounds = LAB_RANGES[name]
        if value is not None and not (math.isfinite(value) and bounds.low <= value <= bounds.high):
            raise DomainError(
                "error_implausible_lab",
                lab=name,
                value=value,
                low=bounds.low,
                high=bounds.high,
            )


def merged(before: Labs, entered: Labs) -> Labs:
    """`before` with every value of `entered` that was given (anti-dsDNA with its sign)."""
    dsdna = entered.anti_dsdna_value is not None or entered.anti_dsdna_positive is not None
    return Labs(
        cd19_percent=_given(entered.cd19_percent, before.cd19_percent),
        anti_dsdna_value=entered.anti_dsdna_value if dsdna else before.anti_dsdna_value,
        anti_dsdna_positive=entered.anti_dsdna_positive if dsdna else before.anti_dsdna_positive,
        c3_value=_given(entered.c3_value, before.c3_value),
        c3_lower_limit=_given(entered.c3_lower_limit, before.c3_lower_limit),
    )


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
    """Add `labs` to the visit's results, evaluate the re-dose rule on the result, and keep
    the visit's one proposal in line with it."""
    check_plausible(labs)
    visit = await visit_by_number(session, participant, visit_number)
    previous = (
        await session.exec(
            select(LabResult, Visit)
            .join(Visit, col(Visit.id) == LabResult.visit_id)
            .where(LabResult.participant_id == participant.id, Visit.number < visit_number)
            .order_by(col(Visit.number).desc())
        )
    ).first()
    result = (
        await session.exec(select(LabResult).where(LabResult.visit_id == visit.id))
    ).first() or LabResult(
        participant_id=saved_id(participant), visit_id=saved_id(visit), entered_at=now
    )
    before = _facts(result) if result.id else None
    current = merged(_labs(result), labs) if result.id else labs
    baseline = visit.month == 0
    decision = (
        RedoseDecision((), ())
        if baseline
        else evaluate_redose(
            current, _labs(previous[0]) if previous else None, config.protocol.redose
        )
    )
    result.cd19_percent = current.cd19_percent
    result.anti_dsdna_value = current.anti_dsdna_value
    result.anti_dsdna_positive = current.anti_dsdna_positive
    result.c3_value = current.c3_value
    result.c3_lower_limit = current.c3_lower_limit
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
    outcome = LabOutcome(
        result=result,
        labs=current,
        decision=decision,
        previous_visit=previous[1].number if previous else None,
        baseline=baseline,
        proposal=None,
        withdrawn=None,
        decided=None,
    )
    propose = participant.arm == Arm.INDIVIDUALIZED and decision.propose_dose
    redose = await redose_of_visit(session, visit)
    if redose is None or _withdrawn(redose):
        if propose:
            proposal = await _propose(
                session, participant, visit, redose, decision, actor=actor, now=now, config=config
            )
            return replace(outcome, proposal=proposal)
        return outcome
    if redose.status != InfusionStatus.PROPOSED:
        return replace(outcome, decided=redose)
    if propose:
        proposal = await _propose(
            session, participant, visit, redose, decision, actor=actor, now=now, config=config
        )
        return replace(outcome, proposal=proposal)
    withdrawn = await cancel_proposal(
        session, participant, redose, reason=CancelReason.LABS_CHANGED, actor=actor, now=now
    )
    return replace(outcome, withdrawn=withdrawn)


async def _propose(
    session: AsyncSession,
    participant: Participant,
    visit: Visit,
    existing: Infusion | None,
    decision: RedoseDecision,
    *,
    actor: str,
    now: datetime,
    config: StudyConfig,
) -> Infusion:
    """The visit's proposal: a new one, or the existing row updated (reopened if it had
    been withdrawn)."""
    proposal = existing or Infusion(
        participant_id=saved_id(participant),
        visit_id=visit.id,
        planned_date=max(visit.visit_date, now.astimezone(ZoneInfo(participant.timezone)).date()),
        dose_mg=config.protocol.infusion_dose_mg,
        reason=REDOSE,
        created_at=now,
    )
    before = {"criteria": proposal.criteria, "status": proposal.status} if existing else None
    proposal.status = InfusionStatus.PROPOSED
    proposal.cancel_reason = None
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
        before=before,
        after={"criteria": proposal.criteria, "status": proposal.status},
    )
    return proposal


def _withdrawn(infusion: Infusion) -> bool:
    return (
        infusion.status == InfusionStatus.CANCELLED
        and infusion.cancel_reason == CancelReason.LABS_CHANGED
    )


def _given(value: float | None, otherwise: float | None) -> float | None:
    return otherwise if value is None else value


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
