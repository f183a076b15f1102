"""The visit calendar and the individualised re-dose rule."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from study.config import ProtocolConfig, RedoseRule
from study.protocol import (
    Arm,
    Criterion,
    Labs,
    add_months,
    evaluate_redose,
    protocol_infusions,
    visit_calendar,
)

DEFAULT = ProtocolConfig()
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))
protocols = st.builds(
    lambda interval, periods, before, after: ProtocolConfig(
        visit_interval_months=interval,
        duration_months=interval * periods,
        visit_window_before_days=min(before, 28 * interval // 2 - 1),
        visit_window_after_days=min(after, 28 * interval // 2 - 1),
        standard_infusion_months=(0,),
    ),
    st.integers(1, 6),
    st.integers(1, 12),
    st.integers(0, 60),
    st.integers(0, 60),
)


def test_nct04127747_calendar_from_a_month_end() -> None:
    visits = visit_calendar(date(2025, 11, 30), DEFAULT)
    assert [v.month for v in visits] == [0, 3, 6, 9, 12, 15, 18, 21, 24]
    assert [v.target_date for v in visits] == [
        date(2025, 11, 30),
        date(2026, 2, 28),  # clamped: there is no 30 February
        date(2026, 5, 30),
        date(2026, 8, 30),
        date(2026, 11, 30),
        date(2027, 2, 28),
        date(2027, 5, 30),
        date(2027, 8, 30),
        date(2027, 11, 30),
    ]
    assert visits[1].window_start == date(2026, 2, 14)
    assert visits[1].window_end == date(2026, 3, 14)
    assert visits[0].window_start == visits[0].window_end == date(2025, 11, 30)


def test_leap_day_clamps_and_returns() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    # Each visit is counted from day 1, so a clamp never carries over to later visits.
    assert [v.target_date.day for v in visit_calendar(date(2024, 8, 31), DEFAULT)] == [
        31,
        30,
        28,
        31,
        31,
        30,
        28,
        31,
        31,
    ]


def test_standard_arm_infusions_on_day_1_and_every_6_months() -> None:
    infusions = protocol_infusions(Arm.STANDARD, date(2026, 1, 15), DEFAULT)
    assert [(i.month, i.planned_date, i.dose_mg) for i in infusions] == [
        (0, date(2026, 1, 15), 500),
        (6, date(2026, 7, 15), 500),
        (12, date(2027, 1, 15), 500),
        (18, date(2027, 7, 15), 500),
        (24, date(2028, 1, 15), 500),
    ]
    assert [i.visit_number for i in infusions] == [0, 2, 4, 6, 8]


def test_individualised_arm_gets_only_its_day_1_infusion() -> None:
    infusions = protocol_infusions(Arm.INDIVIDUALIZED, date(2026, 1, 15), DEFAULT)
    assert [(i.month, i.planned_date) for i in infusions] == [(0, date(2026, 1, 15))]


def test_overrides_change_the_calendar() -> None:
    protocol = ProtocolConfig(
        visit_window_days=7, duration_months=12, standard_infusion_months=(0, 6, 12)
    )
    visits = visit_calendar(date(2026, 1, 1), protocol)
    assert len(visits) == 5
    assert visits[-1].window_end - visits[-1].target_date == timedelta(days=7)


def test_overlapping_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="never overlap"):
        ProtocolConfig(visit_window_days=45)


@given(days, st.integers(-600, 600))
def test_add_months_clamps_to_the_month_end(day: date, months: int) -> None:
    result = add_months(day, months)
    assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
    assert result.day == day.day or (result.day < day.day and (result + timedelta(1)).day == 1)


@given(days, protocols)
def test_calendar_properties(randomized: date, protocol: ProtocolConfig) -> None:
    visits = visit_calendar(randomized, protocol)
    assert len(visits) == protocol.duration_months // protocol.visit_interval_months + 1
    assert visits[0].target_date == randomized
    for visit in visits:
        assert visit.window_start <= visit.target_date <= visit.window_end
        assert visit.target_date == add_months(randomized, visit.month)
    for earlier, later in itertools.pairwise(visits):
        assert earlier.target_date < later.target_date
        assert earlier.window_end < later.window_start, "windows must never overlap"
        assert later.number == earlier.number + 1


@given(days, st.sampled_from(list(Arm)))
def test_infusions_fall_on_visit_days(randomized: date, arm: Arm) -> None:
    visits = {v.number: v for v in visit_calendar(randomized, DEFAULT)}
    for infusion in protocol_infusions(arm, randomized, DEFAULT):
        assert infusion.planned_date == visits[infusion.visit_number].target_date


RULE = RedoseRule()
BASE = Labs(
    cd19_percent=0.1,
    anti_dsdna_value=100,
    anti_dsdna_positive=True,
    c3_value=0.9,
    c3_lower_limit=0.8,
)


def test_nothing_fires_on_stable_labs() -> None:
    decision = evaluate_redose(BASE, BASE, RULE)
    assert decision.fired == ()
    assert decision.not_evaluable == ()
    assert not decision.propose_dose


@pytest.mark.parametrize(
    ("cd19", "fires"), [(0.99, False), (1.0, True), (1.01, True), (25.0, True)]
)
def test_cd19_boundary(cd19: float, fires: bool) -> None:
    current = Labs(**{**BASE.__dict__, "cd19_percent": cd19})
    assert (Criterion.CD19 in evaluate_redose(current, BASE, RULE).fired) is fires


@pytest.mark.parametrize(
    ("before", "now", "positive", "fires"),
    [
        (100, 200, True, False),  # exactly +100 % is not "more than 100 %"
        (100, 200.1, True, True),
        (100, 450, False, False),  # a negative result never fires
        (0, 10, True, True),  # from zero, any rise is more than 100 %
    ],
)
def test_anti_dsdna_needs_positive_and_more_than_doubling(
    before: float, now: float, positive: bool, fires: bool
) -> None:
    previous = Labs(**{**BASE.__dict__, "anti_dsdna_value": before})
    current = Labs(**{**BASE.__dict__, "anti_dsdna_value": now, "anti_dsdna_positive": positive})
    assert (Criterion.ANTI_DSDNA in evaluate_redose(current, previous, RULE).fired) is fires


@pytest.mark.parametrize(
    ("before", "now", "lower_limit", "fires"),
    [
        (1.0, 0.5, 0.8, False),  # exactly -50 % is not "more than 50 %"
        (1.0, 0.49, 0.8, True),
        (1.0, 0.3, 0.2, False),  # not below the lower limit of normal
        (0.6, 0.5, 0.8, False),  # below the limit but fell only 17 %
    ],
)
def test_c3_needs_low_and_more_than_halving(
    before: float, now: float, lower_limit: float, fires: bool
) -> None:
    previous = Labs(**{**BASE.__dict__, "c3_value": before})
    current = Labs(**{**BASE.__dict__, "c3_value": now, "c3_lower_limit": lower_limit})
    assert (Criterion.C3 in evaluate_redose(current, previous, RULE).fired) is fires


def test_missing_previous_labs_are_reported_never_guessed() -> None:
    current = Labs(
        cd19_percent=0.2,
        anti_dsdna_value=400,
        anti_dsdna_positive=True,
        c3_value=0.3,
        c3_lower_limit=0.8,
    )
    decision = evaluate_redose(current, None, RULE)
    assert decision.fired == ()
    assert decision.not_evaluable == (Criterion.ANTI_DSDNA, Criterion.C3)


def test_cd19_alone_needs_no_previous_labs() -> None:
    current = Labs(cd19_percent=3.0)
    decision = evaluate_redose(current, None, RULE)
    assert decision.fired == (Criterion.CD19,)
    assert decision.not_evaluable == (Criterion.ANTI_DSDNA, Criterion.C3)
    assert decision.propose_dose


def test_unmeasured_values_are_not_evaluable() -> None:
    decision = evaluate_redose(Labs(), BASE, RULE)
    assert decision.fired == ()
    assert set(decision.not_evaluable) == set(Criterion)


def test_thresholds_come_from_the_protocol() -> None:
    strict = RedoseRule(cd19_percent_at_least=5.0)
    current = Labs(**{**BASE.__dict__, "cd19_percent": 3.0})
    assert Criterion.CD19 in evaluate_redose(current, BASE, RULE).fired
    assert Criterion.CD19 not in evaluate_redose(current, BASE, strict).fired


@given(
    st.floats(0, 100),
    st.floats(0.01, 10_000),
    st.floats(0.01, 10_000),
    st.booleans(),
    st.floats(0.01, 5),
    st.floats(0.01, 5),
    st.floats(0.01, 5),
)
def test_redose_rule_matches_its_definition(
    cd19: float,
    dsdna_before: float,
    dsdna_now: float,
    positive: bool,
    c3_before: float,
    c3_now: float,
    c3_lln: float,
) -> None:
    previous = Labs(anti_dsdna_value=dsdna_before, c3_value=c3_before)
    current = Labs(cd19, dsdna_now, positive, c3_now, c3_lln)
    fired = set(evaluate_redose(current, previous, RULE).fired)
    assert (Criterion.CD19 in fired) == (cd19 >= 1.0)
    assert (Criterion.ANTI_DSDNA in fired) == (
        positive and (dsdna_now - dsdna_before) / dsdna_before * 100 > 100
    )
    assert (Criterion.C3 in fired) == (
        c3_now < c3_lln and (c3_before - c3_now) / c3_before * 100 > 50
    )
