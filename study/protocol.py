"""The protocol as pure functions: the visit calendar, the infusions, the re-dose rule.

Dates are calendar dates in the site's time zone. Months are calendar months: a day that
does not exist in the target month clamps to its last day (Jan 31 + 1 month = Feb 28/29).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from study.config import ProtocolConfig, RedoseRule


class Arm(StrEnum):
    STANDARD = "standard"
    INDIVIDUALIZED = "individualized"


ARM_SPELLINGS = {"individualised": Arm.INDIVIDUALIZED}
"""Other spellings people type for an arm (British), and the arm they mean."""


def arm_named(text: str) -> str:
    """The arm's canonical name for any accepted spelling, in any case (`individualised`,
    `Individualized`: `individualized`); other text unchanged, for the caller to refuse."""
    folded = text.strip().lower()
    if folded in ARM_SPELLINGS:
        return ARM_SPELLINGS[folded].value
    return folded if folded in {arm.value for arm in Arm} else text


@dataclass(frozen=True)
class PlannedVisit:
    number: int
    month: int
    target_date: date
    window_start: date
    window_end: date


@dataclass(frozen=True)
class PlannedInfusion:
    visit_number: int
    month: int
    planned_date: date
    dose_mg: int


def add_months(day: date, months: int) -> date:
    """`day` plus whole calendar months, clamped to the last day of the target month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def visit_calendar(randomized_on: date, protocol: ProtocolConfig) -> list[PlannedVisit]:
    """Every visit from day 1 (month 0) to the end of follow-up, with its window.

    The day-1 visit is the randomisation visit itself: its window is that day only.
    """
    visits = []
    for number, month in enumerate(protocol.visit_months):
        target = add_months(randomized_on, month)
        if month == 0:
            start = end = target
        else:
            start = target - timedelta(days=protocol.window_before_days)
            end = target + timedelta(days=protocol.window_after_days)
        visits.append(PlannedVisit(number, month, target, start, end))
    return visits


def protocol_infusions(
    arm: Arm, randomized_on: date, protocol: ProtocolConfig
) -> list[PlannedInfusion]:
    """The infusions the protocol fixes in advance for an arm.

    The individualised arm gets only its day-1 dose here; later doses come from
    `evaluate_redose` and a coordinator's confirmation.
    """
    months = (
        protocol.standard_infusion_months
        if arm is Arm.STANDARD
        else protocol.individualized_infusion_months
    )
    number_of = {month: number for number, month in enumerate(protocol.visit_months)}
    return [
        PlannedInfusion(
            number_of[month], month, add_months(randomized_on, month), protocol.infusion_dose_mg
        )
        for month in sorted(months)
    ]


@dataclass(frozen=True)
class Labs:
    """One visit's lab results as entered by a coordinator; None is "not measured"."""

    cd19_percent: float | None = None
    anti_dsdna_value: float | None = None
    anti_dsdna_positive: bool | None = None
    c3_value: float | None = None
    c3_lower_limit: float | None = None


class Criterion(StrEnum):
    CD19 = "cd19"
    ANTI_DSDNA = "anti_dsdna"
    C3 = "c3"


@dataclass(frozen=True)
class RedoseDecision:
    """Which criteria fired, and which could not be evaluated for lack of data."""

    fired: tuple[Criterion, ...]
    not_evaluable: tuple[Criterion, ...]

    @property
    def propose_dose(self) -> bool:
        return bool(self.fired)


def evaluate_redose(current: Labs, previous: Labs | None, rule: RedoseRule) -> RedoseDecision:
    """The individualised arm's rule: a dose if any criterion fires. Never guesses.

    - CD19+ B cells >= threshold (default 1 %);
    - anti-dsDNA positive and increased by more than the threshold (default 100 %) vs. the
      previous value;
    - C3 below the lower limit of normal and decreased by more than the threshold
      (default 50 %) vs. the previous value.
    A criterion whose data (or previous data) is missing is reported as not evaluable.
    """
    fired: list[Criterion] = []
    missing: list[Criterion] = []

    if current.cd19_percent is None:
        missing.append(Criterion.CD19)
    elif current.cd19_percent >= rule.cd19_percent_at_least:
        fired.append(Criterion.CD19)

    before_dsdna = previous.anti_dsdna_value if previous else None
    if current.anti_dsdna_positive is None or current.anti_dsdna_value is None:
        missing.append(Criterion.ANTI_DSDNA)
    elif current.anti_dsdna_positive:
        if before_dsdna is None:
            missing.append(Criterion.ANTI_DSDNA)
        elif _increase_percent(before_dsdna, current.anti_dsdna_value) > (
            rule.dsdna_increase_percent_over
        ):
            fired.append(Criterion.ANTI_DSDNA)

    before_c3 = previous.c3_value if previous else None
    if current.c3_value is None or current.c3_lower_limit is None:
        missing.append(Criterion.C3)
    elif current.c3_value < current.c3_lower_limit:
        if before_c3 is None:
            missing.append(Criterion.C3)
        elif _decrease_percent(before_c3, current.c3_value) > rule.c3_decrease_percent_over:
            fired.append(Criterion.C3)

    return RedoseDecision(tuple(fired), tuple(missing))


def _increase_percent(before: float, now: float) -> float:
    if before <= 0:
        return float("inf") if now > 0 else 0.0
    return (now - before) / before * 100


def _decrease_percent(before: float, now: float) -> float:
    if before <= 0:
        return 0.0
    return (before - now) / before * 100


PLAUSIBLE_BEFORE = timedelta(days=366)
PLAUSIBLE_AFTER = timedelta(days=366 * 20)


def plausible_day(day: date, randomized_on: date) -> bool:
    """Whether a date typed for a participant's visit or infusion can be meant: from a year
    before randomisation to twenty years after (a typo like 0001-01-01 is refused)."""
    return randomized_on - PLAUSIBLE_BEFORE <= day <= randomized_on + PLAUSIBLE_AFTER
