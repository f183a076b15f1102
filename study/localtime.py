"""Local time for a person in a time zone: quiet hours, wall-clock instants, local dates.

Pure functions. Every instant is computed in the person's own zone with `zoneinfo` and
returned in UTC, so a daylight-saving change or another zone moves the UTC instant, never
the local hour.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


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


def local_date(instant: datetime, zone: str) -> date:
    """The calendar date of `instant` in `zone`."""
    return instant.astimezone(ZoneInfo(zone)).date()


def next_allowed_instant(instant: datetime, zone: str, quiet_hours: tuple[int, int]) -> datetime:
    """`instant` if it is outside quiet hours locally, else the moment quiet hours end."""
    local = instant.astimezone(ZoneInfo(zone))
    if not is_quiet(local.hour, quiet_hours):
        return instant
    end = quiet_hours[1]
    day = local.date() if local.hour < end else local.date() + timedelta(days=1)
    return local_instant(day, time(end), zone)
