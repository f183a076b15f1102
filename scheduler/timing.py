"""Local send times: the preferred hour, quiet hours and time zones (pure functions).

Every time is computed in the participant's own zone with `zoneinfo` and stored in UTC, so
a daylight-saving change or a new zone moves the UTC instant, never the local hour.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from study.clock import local_date as local_date  # re-exported: the sweeps' one import

MORNING_ENDS = 12
BEFORE_APPOINTMENT = timedelta(hours=2)


def is_quiet(hour: int, quiet_hours: tuple[int, int]) -> bool:
    """Whether `hour` (0-23) falls in [start, end), which may wrap past midnight."""
    start, end = quiet_hours
    if start == end:
        return False
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


def allowed_hour(hour: int, quiet_hours: tuple[int, int]) -> int:
    """`hour`, moved out of quiet hours on the same day: late evening moves to the last hour
    before quiet starts, night and early morning to the hour quiet ends."""
    if not is_quiet(hour, quiet_hours):
        return hour
    start, end = quiet_hours
    if start > end and hour >= start:
        return (start - 1) % 24
    return end


def local_instant(day: date, at: time, zone: str) -> datetime:
    """The UTC instant of a local wall-clock time (a time skipped by DST moves forward)."""
    local = datetime.combine(day, at, tzinfo=ZoneInfo(zone))
    return local.astimezone(UTC)


def reminder_instant(
    event_day: date,
    days_before: int,
    *,
    preferred_hour: int,
    quiet_hours: tuple[int, int],
    zone: str,
    appointment: time | None = None,
) -> datetime:
    """When a reminder `days_before` an event goes out, in UTC.

    At the preferred local hour, out of quiet hours. On the day itself it goes in the
    morning, and at least two hours before a set appointment time.
    """
    hour = preferred_hour
    if days_before == 0:
        if hour >= MORNING_ENDS:
            hour = quiet_hours[1] if quiet_hours[0] != quiet_hours[1] else 8
        if appointment is not None:
            latest = datetime.combine(event_day, appointment) - BEFORE_APPOINTMENT
            if latest.date() == event_day:
                hour = min(hour, latest.hour)
    hour = allowed_hour(hour, quiet_hours)
    if days_before == 0 and appointment is not None and hour >= appointment.hour:
        hour = max(0, appointment.hour - 1)  # an early appointment beats quiet hours
    return local_instant(event_day - timedelta(days=days_before), time(hour), zone)


def event_deadline(
    event_day: date, zone: str, appointment: time | None = None, *, noon: int = MORNING_ENDS
) -> datetime:
    """The instant after which a reminder of this event is stale: the appointment time, or
    local noon of the day when no time is set."""
    return local_instant(event_day, appointment or time(noon), zone)


def next_allowed_instant(instant: datetime, zone: str, quiet_hours: tuple[int, int]) -> datetime:
    """`instant` if it is outside quiet hours locally, else the moment quiet hours end."""
    local = instant.astimezone(ZoneInfo(zone))
    if not is_quiet(local.hour, quiet_hours):
        return instant
    end = quiet_hours[1]
    day = local.date() if local.hour < end else local.date() + timedelta(days=1)
    return local_instant(day, time(end), zone)
