"""When a reminder of a visit or infusion goes out, and when it becomes stale (pure functions).

The general local-time arithmetic (quiet hours, local instants and dates) lives in
`study.localtime`; it is re-exported here for the scheduler's modules.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from study.localtime import (
    allowed_hour,
    is_quiet,
    local_date,
    local_instant,
    next_allowed_instant,
)

__all__ = [
    "BEFORE_APPOINTMENT",
    "MORNING_ENDS",
    "allowed_hour",
    "event_deadline",
    "is_quiet",
    "local_date",
    "local_instant",
    "next_allowed_instant",
    "reminder_instant",
]

MORNING_ENDS = 12
BEFORE_APPOINTMENT = timedelta(hours=2)


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
