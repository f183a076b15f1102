"""The follow-up measures of the export, as pure functions over rows already loaded.

Definitions (also written into `data_dictionary.csv`):

- **As-of date**: the export's "today", given by the caller. Rows are not filtered by it; it
  only decides how long each participant has been followed and which visits are overdue.
- **Local date**: a UTC time turned into a calendar date in the participant's time zone, the
  zone of their visit dates.
- **Followed until**: the earliest of the as-of date, the day of withdrawal or completion
  (status changed to `withdrawn` or `completed`), and the day of the final protocol visit
  (attended on, else the appointment, else the target date).
- **Followed days**: followed until minus the randomisation date, in days (0 if negative).
  **Participant-years** = followed days / 365.25, summed as days before dividing.
- **During follow-up**: a local date from the randomisation date to followed until, inclusive.
  Alerts and check-ins count towards the measures only when raised or asked during follow-up.
- **Flare alert**: an alert of kind `checkin` (from a symptom check-in) of tier T1, T2 or T3.
  **Urgent alert**: an alert of any kind of tier T1 or T2.
- **Days to first flare alert**: local date of the participant's first flare alert during
  follow-up minus the randomisation date; empty if there was none. The per-arm figure is the
  median among participants who had one (censoring is left to the analysis).
- **Visit attendance** = attended / (attended + missed + overdue), over follow-up visits
  (month > 0). Overdue: not recorded (planned, confirmed or reschedule requested) and its last
  day (the window's end, or the appointment if later) is before the as-of date and, for a
  withdrawn or completed participant, before the day they stopped.
- **Check-in completion** = completed / (completed + expired + stopped), over symptom
  check-ins put by the cadence (not on demand, not after an infusion) asked during follow-up.
- **Minutes to acknowledge**: acknowledged minus raised, in minutes (resolving an alert
  nobody acknowledged acknowledges it then). The per-arm figure is the median over the
  acknowledged alerts about the arm's participants raised during follow-up, any kind or tier.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from study.localtime import local_date
from study.models import (
    ALERTING,
    CLOSED,
    STILL_TO_COME,
    URGENT,
    Alert,
    CheckIn,
    CheckInKind,
    CheckInTrigger,
    Participant,
    PromptStatus,
    Visit,
    VisitStatus,
)

YEAR_DAYS = 365.25
FLARE_KIND = "checkin"
CLOSED_CHECKIN = frozenset({PromptStatus.COMPLETED, PromptStatus.EXPIRED, PromptStatus.STOPPED})


class Attendance:
    """How a visit counts towards visit attendance (the `attendance` column of visits.csv)."""

    BASELINE = "baseline"
    ATTENDED = "attended"
    MISSED = "missed"
    OVERDUE = "overdue"
    NOT_DUE = "not_due"

    ALL = (BASELINE, ATTENDED, MISSED, OVERDUE, NOT_DUE)
    DUE = frozenset({ATTENDED, MISSED, OVERDUE})


@dataclass(frozen=True)
class FollowUp:
    """One participant's follow-up interval, in local calendar dates."""

    randomized_on: date
    until: date
    stopped_on: date | None
    timezone: str

    @property
    def days(self) -> int:
        return max(0, (self.until - self.randomized_on).days)

    def day_of(self, moment: datetime) -> date:
        """The participant's local date of a time."""
        return local_date(moment, self.timezone)

    def covers(self, moment: datetime) -> bool:
        """Whether a time falls on a day of follow-up."""
        return self.randomized_on <= self.day_of(moment) <= self.until


def follow_up(participant: Participant, visits: Sequence[Visit], as_of: date) -> FollowUp:
    """The follow-up interval of a participant (see the module's definitions)."""
    stopped_on = None
    if participant.status in CLOSED and participant.status_changed_at is not None:
        stopped_on = local_date(participant.status_changed_at, participant.timezone)
    ends = [as_of]
    if stopped_on is not None:
        ends.append(stopped_on)
    if visits:
        final = max(visits, key=lambda visit: visit.number)
        ends.append(final.attended_on or final.visit_date)
    return FollowUp(participant.randomized_on, min(ends), stopped_on, participant.timezone)


def attendance(visit: Visit, follow: FollowUp, as_of: date) -> str:
    """How a visit counts towards visit attendance on the as-of date."""
    if visit.month == 0:
        return Attendance.BASELINE
    if visit.status == VisitStatus.ATTENDED:
        return Attendance.ATTENDED
    if visit.status == VisitStatus.MISSED:
        return Attendance.MISSED
    last_day = max(visit.window_end, visit.visit_date)
    stopped_before = follow.stopped_on is not None and last_day >= follow.stopped_on
    if visit.status in STILL_TO_COME and last_day < as_of and not stopped_before:
        return Attendance.OVERDUE
    return Attendance.NOT_DUE


def is_flare(alert: Alert) -> bool:
    return alert.kind == FLARE_KIND and alert.tier in ALERTING


def is_urgent(alert: Alert) -> bool:
    return alert.tier in URGENT


def minutes_between(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds() / 60


def counts_for_completion(checkin: CheckIn, follow: FollowUp) -> bool:
    """A closed symptom check-in put by the cadence, asked during follow-up."""
    return (
        checkin.kind == CheckInKind.SYMPTOMS
        and checkin.trigger == CheckInTrigger.CADENCE
        and checkin.status in CLOSED_CHECKIN
        and follow.covers(checkin.asked_at)
    )


@dataclass
class Measures:
    """One participant's counts, summed per arm."""

    followed_days: int = 0
    flare_alerts: int = 0
    urgent_alerts: int = 0
    days_to_first_flare: int | None = None
    visits_attended: int = 0
    visits_due: int = 0
    checkins_completed: int = 0
    checkins_closed: int = 0
    minutes_to_acknowledge: list[float] = field(default_factory=list)


def measure(
    follow: FollowUp,
    visit_attendance: Iterable[str],
    checkins: Iterable[CheckIn],
    alerts: Iterable[Alert],
) -> Measures:
    """A participant's measures from their visits' attendance, check-ins and alerts."""
    result = Measures(followed_days=follow.days)
    for counted in visit_attendance:
        result.visits_due += counted in Attendance.DUE
        result.visits_attended += counted == Attendance.ATTENDED
    for checkin in checkins:
        if counts_for_completion(checkin, follow):
            result.checkins_closed += 1
            result.checkins_completed += checkin.status == PromptStatus.COMPLETED
    for alert in sorted(alerts, key=lambda a: (a.raised_at, a.id or 0)):
        if not follow.covers(alert.raised_at):
            continue
        result.urgent_alerts += is_urgent(alert)
        if is_flare(alert):
            result.flare_alerts += 1
            if result.days_to_first_flare is None:
                raised_on = follow.day_of(alert.raised_at)
                result.days_to_first_flare = (raised_on - follow.randomized_on).days
        minutes = minutes_between(alert.raised_at, alert.acknowledged_at)
        if minutes is not None:
            result.minutes_to_acknowledge.append(minutes)
    return result


@dataclass(frozen=True)
class ArmSummary:
    """The per-arm figures of summary_by_arm.csv (None where there is nothing to divide by)."""

    arm: str
    participants: int
    participant_years: float
    flare_alerts: int
    flare_alerts_per_participant_year: float | None
    urgent_alerts: int
    urgent_alerts_per_participant_year: float | None
    participants_with_flare_alert: int
    median_days_to_first_flare_alert: float | None
    visits_attended: int
    visits_due: int
    visit_attendance: float | None
    checkins_completed: int
    checkins_closed: int
    checkin_completion: float | None
    alerts_acknowledged: int
    median_minutes_to_acknowledge: float | None


def summarise(arm: str, measures: Sequence[Measures]) -> ArmSummary:
    """Sum and divide the measures of an arm's participants."""
    days = sum(m.followed_days for m in measures)
    years = days / YEAR_DAYS
    flares = sum(m.flare_alerts for m in measures)
    urgent = sum(m.urgent_alerts for m in measures)
    first = [m.days_to_first_flare for m in measures if m.days_to_first_flare is not None]
    attended = sum(m.visits_attended for m in measures)
    due = sum(m.visits_due for m in measures)
    completed = sum(m.checkins_completed for m in measures)
    closed = sum(m.checkins_closed for m in measures)
    minutes = [value for m in measures for value in m.minutes_to_acknowledge]
    return ArmSummary(
        arm=arm,
        participants=len(measures),
        participant_years=years,
        flare_alerts=flares,
        flare_alerts_per_participant_year=_ratio(flares, years),
        urgent_alerts=urgent,
        urgent_alerts_per_participant_year=_ratio(urgent, years),
        participants_with_flare_alert=len(first),
        median_days_to_first_flare_alert=_median(first),
        visits_attended=attended,
        visits_due=due,
        visit_attendance=_ratio(attended, due),
        checkins_completed=completed,
        checkins_closed=closed,
        checkin_completion=_ratio(completed, closed),
        alerts_acknowledged=len(minutes),
        median_minutes_to_acknowledge=_median(minutes),
    )


def _ratio(count: float, total: float) -> float | None:
    return count / total if total else None


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None
