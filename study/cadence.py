"""When a participant is asked: the check-in and contraception cadence, as pure functions.

The rules (CLINICAL.md "Cadence", "Contraception" and "Refinements"; every number comes from
`ProtocolConfig`):
- The symptom check-in comes `checkin_interval_days` local calendar days after the last one
  (the first: after the chat was linked), at the participant's preferred hour.
- The question after an infusion comes `post_infusion_checkin_hours` after it: counted from
  the recorded time of the infusion when one is known, moved out of quiet hours to the
  moment they end; else at the preferred hour, `hours // 24` days (at least one) after the
  day of the infusion.
- Contraception questions come every `contraception_interval_days` and with each visit's
  first reminder (unless they were asked in the week before), up to and including the day
  `contraception_months_after_last_infusion` calendar months after the last infusion
  (clamped to the month's end like `add_months`).
Nothing is ever put in quiet hours. Days are counted in the participant's own time zone, so
a daylight-saving change moves the UTC instant, never the local hour.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from study.config import ProtocolConfig
from study.localtime import allowed_hour, local_date, local_instant, next_allowed_instant
from study.models import CheckInTrigger, Participant
from study.protocol import add_months

# A visit's contraception questions are skipped when some were asked this recently.
VISIT_QUESTIONS_SKIPPED_WITHIN = timedelta(days=7)
# Slack for the SQL pre-filters below: a local calendar day is not always 24 hours long
# (daylight saving, a zone that skipped a day), and the local hour moves out of quiet hours.
_LOCAL_DAY_SLACK = timedelta(days=2)


@dataclass(frozen=True)
class LocalSchedule:
    """Where and when a participant may be asked: their zone, preferred hour, quiet hours."""

    zone: str
    preferred_hour: int
    quiet_hours: tuple[int, int]

    @classmethod
    def of(cls, participant: Participant, protocol: ProtocolConfig) -> LocalSchedule:
        return cls(participant.timezone, participant.preferred_hour, protocol.quiet_hours)

    def day_of(self, instant: datetime) -> date:
        """The participant's calendar date at `instant`."""
        return local_date(instant, self.zone)

    def at_preferred_hour(self, day: date) -> datetime:
        """The preferred hour of `day`, moved out of quiet hours on the same day; never in
        quiet hours, even when daylight saving skips the hour."""
        instant = local_instant(
            day, time(allowed_hour(self.preferred_hour, self.quiet_hours)), self.zone
        )
        return next_allowed_instant(instant, self.zone, self.quiet_hours)


def next_checkin_at(last: datetime, interval_days: int, local: LocalSchedule) -> datetime:
    """The cadence check-in after one asked (or a chat linked) at `last`: `interval_days`
    local calendar days after the day of `last`, at the preferred hour.

    Counting calendar days keeps the check-in on its hour when one was asked late (after an
    outage) or when the clocks change; it is never on an earlier day than that.
    """
    return local.at_preferred_hour(local.day_of(last) + timedelta(days=interval_days))


def checkin_candidates_before(now: datetime, interval_days: int) -> datetime:
    """For finding in SQL who may have a check-in due at `now`: whoever was last asked (or
    linked) after this instant has none (`next_checkin_at` is always later than
    `interval_days - 2` days after the last)."""
    return now - (timedelta(days=interval_days) - _LOCAL_DAY_SLACK)


def post_infusion_trigger(hours: int) -> CheckInTrigger:
    """The question after an infusion: the first-day one up to 24 hours, else the later one."""
    return CheckInTrigger.INFUSION_24H if hours <= 24 else CheckInTrigger.INFUSION_7D


def post_infusion_question_at(
    day: date, at: time | None, hours: int, local: LocalSchedule
) -> datetime:
    """When to ask the question `hours` after an infusion on `day`, given at local time `at`
    when it was recorded.

    With a time: `hours` after it, or the moment quiet hours end if that falls in them (never
    earlier, so the 24-hour question always covers the whole first day). Without: at the
    preferred hour `hours // 24` days (at least one) after the day.
    """
    if at is None:
        return local.at_preferred_hour(day + timedelta(days=max(1, hours // 24)))
    given = local_instant(day, at, local.zone)
    return next_allowed_instant(given + timedelta(hours=hours), local.zone, local.quiet_hours)


def infusions_asked_about_since(now: datetime, protocol: ProtocolConfig) -> date:
    """The earliest infusion day that can still have a question open at `now`: older
    infusions need not be looked at."""
    latest = max(protocol.post_infusion_checkin_hours, default=0) + protocol.checkin_expire_hours
    return (now - timedelta(hours=latest) - _LOCAL_DAY_SLACK).date()


def contraception_until(infusion_days: Iterable[date], months: int) -> date | None:
    """The last day contraception questions are asked: `months` calendar months after the
    last infusion (planned or given), clamped to the month's end; None without infusions."""
    last = max(infusion_days, default=None)
    return None if last is None else add_months(last, months)


@dataclass(frozen=True)
class ContraceptionDue:
    """Contraception questions due now: why, and the day they belong to (their key)."""

    trigger: CheckInTrigger
    day: date


def contraception_due(
    now: datetime,
    local: LocalSchedule,
    protocol: ProtocolConfig,
    *,
    until: date | None,
    last_asked: datetime | None,
    linked_at: datetime,
    upcoming_visits: Iterable[date],
) -> ContraceptionDue | None:
    """The contraception questions due at `now`, if any.

    Due on the cadence day (`contraception_interval_days` after the last ones, or after
    linking) and on the day of a visit's first reminder, from the preferred hour; the latest
    such day not yet asked wins. A visit's are skipped when questions were asked in the week
    before; none are due after `until` (or without one).
    """
    today = local.day_of(now)
    if until is None or today > until:
        return None
    since = last_asked or linked_at
    candidates = [
        ContraceptionDue(
            CheckInTrigger.CADENCE,
            local.day_of(since) + timedelta(days=protocol.contraception_interval_days),
        )
    ]
    first_reminder = timedelta(days=max(protocol.visit_reminder_days, default=0))
    for visit_day in upcoming_visits:
        if visit_day - first_reminder <= today < visit_day:
            candidates.append(
                ContraceptionDue(CheckInTrigger.VISIT_REMINDER, visit_day - first_reminder)
            )
    recent = (
        last_asked is not None and local.day_of(last_asked) > today - VISIT_QUESTIONS_SKIPPED_WITHIN
    )
    for due in sorted(candidates, key=lambda c: c.day, reverse=True):
        at = local.at_preferred_hour(due.day)
        if at > now:
            continue
        if due.trigger == CheckInTrigger.VISIT_REMINDER and recent:
            continue
        if last_asked is not None and at <= last_asked:
            continue
        return due
    return None


def next_contraception_at(
    now: datetime,
    local: LocalSchedule,
    protocol: ProtocolConfig,
    *,
    until: date | None,
    last_asked: datetime | None,
    linked_at: datetime,
    upcoming_visits: Iterable[date],
) -> datetime | None:
    """The first moment from `now` on at which `contraception_due` gives questions, as
    things stand (`now` itself when some are due now); None when none will come without a
    change of the participant's data.

    `contraception_due` changes its answer only when the clock passes a candidate's hour or
    a local midnight; this finds the first such moment at which one of its candidates stands.
    """
    if until is None:
        return None
    since = last_asked or linked_at
    moments = []
    cadence_day = local.day_of(since) + timedelta(days=protocol.contraception_interval_days)
    cadence_at = local.at_preferred_hour(cadence_day)
    moment = max(now, cadence_at)
    if local.day_of(moment) <= until and (last_asked is None or cadence_at > last_asked):
        moments.append(moment)
    first_reminder = timedelta(days=max(protocol.visit_reminder_days, default=0))
    for visit_day in upcoming_visits:
        first = visit_day - first_reminder
        at = local.at_preferred_hour(first)
        if last_asked is not None and at <= last_asked:
            continue
        # Skipped while questions were asked in the week before: from the day that ends.
        start = first
        if last_asked is not None:
            start = max(first, local.day_of(last_asked) + VISIT_QUESTIONS_SKIPPED_WITHIN)
        moment = max(now, at, local_instant(start, time(0), local.zone))
        day = local.day_of(moment)
        if day < visit_day and day <= until:
            moments.append(moment)
    return min(moments, default=None)
