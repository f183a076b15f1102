"""Labs and re-dose proposals, on SQLite and PostgreSQL: no proposal at baseline, one per
visit (updated, withdrawn, reopened), decisions on exactly the proposal decided, `/given`
never blocked by a proposal, units and plausible ranges, partial entries merged."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import col, select

from scheduler.planner import Planner
from study.config import StudyConfig
from study.database import Database
from study.errors import DomainError
from study.export import export_study
from study.infusions import cancel_proposal, confirm_proposal, record_given
from study.labs import LAB_RANGES, LabOutcome, check_plausible, merged, record_labs
from study.models import (
    AuditEvent,
    CancelReason,
    Infusion,
    InfusionStatus,
    LabResult,
    Participant,
)
from study.protocol import Labs
from tests.support.clock import FakeClock
from tests.support.factories import enrolled

ACTOR = "tg:111111"
FIRES = Labs(cd19_percent=2.0)  # CD19+ B cells >= 1 %: needs no earlier labs
QUIET = Labs(cd19_percent=0.5)


async def individualised(database: Database, config: StudyConfig, clock: FakeClock) -> Participant:
    participant, _ = await enrolled(
        database, config, clock, arm="individualized", randomized_on=date(2026, 3, 2)
    )
    return participant


async def labs(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    participant: Participant,
    visit: int,
    entry: Labs,
) -> LabOutcome:
    async with database.session() as session:
        return await record_labs(
            session, participant, visit, entry, actor=ACTOR, now=clock.now(), config=config
        )


async def redoses(database: Database) -> list[Infusion]:
    async with database.session() as session:
        query = select(Infusion).where(Infusion.reason == "redose").order_by(col(Infusion.id))
        return list(await session.exec(query))


async def actions(database: Database) -> list[str]:
    async with database.session() as session:
        return list(await session.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))))


async def test_baseline_labs_are_recorded_and_never_propose_a_dose(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    participant = await individualised(database, config, clock)
    outcome = await labs(database, config, clock, participant, 0, Labs(cd19_percent=12.0))
    assert outcome.baseline and outcome.proposal is None
    assert await redoses(database) == []
    async with database.session() as session:
        result = (await session.exec(select(LabResult))).one()
    assert (result.cd19_percent, result.criteria_fired) == (12.0, [])
    # The baseline is the reference of the next visit.
    later = await labs(database, config, clock, participant, 1, Labs(cd19_percent=0.2))
    assert later.previous_visit == 0


async def test_re_entered_labs_update_the_visits_one_proposal_then_withdraw_it(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    participant = await individualised(database, config, clock)
    first = await labs(database, config, clock, participant, 1, FIRES)
    again = await labs(database, config, clock, participant, 1, Labs(cd19_percent=3.0))
    assert first.proposal is not None and again.proposal is not None
    assert again.proposal.id == first.proposal.id
    [proposal] = await redoses(database)
    assert proposal.status == InfusionStatus.PROPOSED

    corrected = await labs(database, config, clock, participant, 1, QUIET)
    assert corrected.proposal is None
    assert corrected.withdrawn is not None and corrected.withdrawn.id == proposal.id
    [withdrawn] = await redoses(database)
    assert (withdrawn.status, withdrawn.cancel_reason) == (
        InfusionStatus.CANCELLED,
        CancelReason.LABS_CHANGED,
    )
    assert (await actions(database))[-2:] == ["record_labs", "withdraw_infusion"]

    # Labs that meet the rule again reopen the same row: still one per visit.
    reopened = await labs(database, config, clock, participant, 1, FIRES)
    assert reopened.proposal is not None and reopened.proposal.id == proposal.id
    [row] = await redoses(database)
    assert (row.status, row.cancel_reason) == (InfusionStatus.PROPOSED, None)


async def test_a_rejected_proposal_stays_rejected_and_is_exported_with_its_reason(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    participant = await individualised(database, config, clock)
    outcome = await labs(database, config, clock, participant, 1, FIRES)
    assert outcome.proposal is not None
    async with database.session() as session:
        proposal = await session.get(Infusion, outcome.proposal.id)
        assert proposal is not None
        await cancel_proposal(
            session,
            participant,
            proposal,
            reason=CancelReason.REJECTED,
            actor=ACTOR,
            now=clock.now(),
        )
    assert (await actions(database))[-1] == "reject_infusion"
    again = await labs(database, config, clock, participant, 1, Labs(cd19_percent=4.0))
    assert again.proposal is None and again.decided is not None
    [row] = await redoses(database)
    assert (row.status, row.cancel_reason) == (InfusionStatus.CANCELLED, CancelReason.REJECTED)
    async with database.session() as session:
        files = await export_study(session, as_of=date(2026, 6, 30), schema_revision="test")
    [infusions] = [f for f in files if f.name == "infusions.csv"]
    rows = list(csv.DictReader(io.StringIO(infusions.content.decode())))
    assert [r["cancel_reason"] for r in rows if r["reason"] == "redose"] == ["rejected"]


async def test_a_confirmed_re_dose_is_left_alone_by_corrected_labs(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    participant = await individualised(database, config, clock)
    outcome = await labs(database, config, clock, participant, 1, FIRES)
    assert outcome.proposal is not None
    async with database.session() as session:
        proposal = await session.get(Infusion, outcome.proposal.id)
        assert proposal is not None
        await confirm_proposal(
            session,
            participant,
            proposal,
            day=None,
            at=None,
            actor=ACTOR,
            now=clock.now(),
            replanner=Planner(config),
        )
    corrected = await labs(database, config, clock, participant, 1, QUIET)
    assert corrected.withdrawn is None and corrected.decided is not None
    [row] = await redoses(database)
    assert row.status == InfusionStatus.PLANNED


async def test_confirming_a_proposal_confirms_that_one_and_given_skips_a_stale_one(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    participant = await individualised(database, config, clock)
    clock.set(clock.now() + timedelta(days=92))
    stale = await labs(database, config, clock, participant, 1, FIRES)
    clock.set(clock.now() + timedelta(days=92))
    current = await labs(database, config, clock, participant, 2, FIRES)
    assert stale.proposal is not None and current.proposal is not None
    async with database.session() as session:
        proposal = await session.get(Infusion, current.proposal.id)
        assert proposal is not None
        await confirm_proposal(
            session,
            participant,
            proposal,
            day=None,
            at=None,
            actor=ACTOR,
            now=clock.now(),
            replanner=Planner(config),
        )
    by_id = {row.id: row for row in await redoses(database)}
    assert by_id[current.proposal.id].status == InfusionStatus.PLANNED
    assert by_id[stale.proposal.id].status == InfusionStatus.PROPOSED

    # The older, undecided proposal (earlier date) does not stand in the way of /given.
    given_on = by_id[current.proposal.id].planned_date
    async with database.session() as session:
        infusion = await record_given(
            session,
            participant,
            on=given_on,
            actor=ACTOR,
            now=clock.now(),
            replanner=Planner(config),
        )
    assert infusion.id == current.proposal.id
    by_id = {row.id: row for row in await redoses(database)}
    assert by_id[current.proposal.id].status == InfusionStatus.GIVEN
    assert by_id[stale.proposal.id].status == InfusionStatus.PROPOSED


async def test_some_values_for_a_visit_never_wipe_the_others(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    participant, _ = await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    await labs(database, config, clock, participant, 1, Labs(c3_value=0.4, c3_lower_limit=0.9))
    await labs(database, config, clock, participant, 1, Labs(cd19_percent=0.5))
    outcome = await labs(
        database,
        config,
        clock,
        participant,
        1,
        Labs(anti_dsdna_value=80.0, anti_dsdna_positive=True, c3_value=0.5),
    )
    expected = Labs(
        cd19_percent=0.5,
        anti_dsdna_value=80.0,
        anti_dsdna_positive=True,
        c3_value=0.5,
        c3_lower_limit=0.9,
    )
    assert outcome.labs == expected
    async with database.session() as session:
        result = (await session.exec(select(LabResult))).one()
    assert (
        result.cd19_percent,
        result.anti_dsdna_value,
        result.anti_dsdna_positive,
        result.c3_value,
        result.c3_lower_limit,
    ) == (0.5, 80.0, True, 0.5, 0.9)


@pytest.mark.parametrize(
    ("entry", "lab", "low", "high"),
    [
        (Labs(cd19_percent=150.0), "cd19", 0, 100),
        (Labs(anti_dsdna_value=25_000.0, anti_dsdna_positive=True), "dsdna", 0, 10_000),
        (Labs(c3_value=45.0), "c3", 0, 5),  # mg/dL typed as g/L
        (Labs(c3_value=0.4, c3_lower_limit=90.0), "lln", 0.1, 3),
    ],
)
async def test_an_implausible_value_is_refused_with_its_range_and_nothing_is_kept(
    entry: Labs,
    lab: str,
    low: float,
    high: float,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    participant = await individualised(database, config, clock)
    before = await actions(database)
    with pytest.raises(DomainError) as refused:
        await labs(database, config, clock, participant, 1, entry)
    assert refused.value.key == "error_implausible_lab"
    assert (refused.value.details["lab"], refused.value.details["low"]) == (lab, low)
    assert refused.value.details["high"] == high
    async with database.session() as session:
        assert list(await session.exec(select(LabResult))) == []
    assert await actions(database) == before


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


edges = [x for r in LAB_RANGES.values() for b in (r.low, r.high) for x in (b, b - 1e-9, b + 1e-9)]


@given(
    st.sampled_from(sorted(LAB_RANGES)),
    st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(edges),
)
def test_a_value_is_accepted_exactly_when_it_is_inside_its_range(name: str, value: float) -> None:
    bounds = LAB_RANGES[name]
    field = {
        "cd19": "cd19_percent",
        "dsdna": "anti_dsdna_value",
        "c3": "c3_value",
        "lln": "c3_lower_limit",
    }[name]
    changes: dict[str, Any] = {field: value}
    entry = replace(Labs(), **changes)
    inside = math.isfinite(value) and bounds.low <= value <= bounds.high
    if inside:
        check_plausible(entry)
    else:
        with pytest.raises(DomainError, match="error_implausible_lab"):
            check_plausible(entry)


optional = st.none() | finite
entries = st.builds(
    Labs,
    cd19_percent=optional,
    anti_dsdna_value=optional,
    anti_dsdna_positive=st.none() | st.booleans(),
    c3_value=optional,
    c3_lower_limit=optional,
)


@given(entries, entries)
def test_merging_keeps_every_value_not_entered_again(before: Labs, entered: Labs) -> None:
    result = merged(before, entered)
    for field in ("cd19_percent", "c3_value", "c3_lower_limit"):
        new = getattr(entered, field)
        assert getattr(result, field) == (getattr(before, field) if new is None else new)
    dsdna_entered = entered.anti_dsdna_value is not None or entered.anti_dsdna_positive is not None
    source = entered if dsdna_entered else before
    assert (result.anti_dsdna_value, result.anti_dsdna_positive) == (
        source.anti_dsdna_value,
        source.anti_dsdna_positive,
    )
