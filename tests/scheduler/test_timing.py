"""Send-time arithmetic: preferred hours, quiet hours, time zones and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from scheduler.timing import (
    allowed_hour,
    is_quiet,
    next_allowed_instant,
    reminder_instant,
)

hours = st.integers(0, 23)
quiet = st.tuples(hours, hours)
zones = st.sampled_from(
    ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC"]
)
days = st.dates(min_value=date(2025, 1, 1), max_value=date(2035, 12, 31))


@given(hours, quiet)
def test_allowed_hour_is_never_quiet(hour: int, window: tuple[int, int]) -> None:
    moved = allowed_hour(hour, window)
    quiet_all_day = all(is_quiet(h, window) for h in range(24))
    if not quiet_all_day:
        assert not is_quiet(moved, window)
    if not is_quiet(hour, window):
        assert moved == hour


def test_default_quiet_hours_move_evenings_earlier_and_nights_later() -> None:
    assert allowed_hour(9, (21, 8)) == 9
    assert allowed_hour(22, (21, 8)) == 20
    assert allowed_hour(21, (21, 8)) == 20
    assert allowed_hour(3, (21, 8)) == 8
    assert allowed_hour(7, (21, 8)) == 8
    assert allowed_hour(8, (21, 8)) == 8


@given(days, st.integers(0, 14), st.integers(8, 20), zones)
def test_reminders_go_out_at_the_local_preferred_hour(
    day: date, days_before: int, preferred: int, zone: str
) -> None:
    instant = reminder_instant(
        day, days_before, preferred_hour=preferred, quiet_hours=(21, 8), zone=zone
    )
    local = instant.astimezone(ZoneInfo(zone))
    assert local.date() == day - timedelta(days=days_before)
    expected = preferred if days_before or preferred < 12 else 8
    assert (local.hour, local.minute) == (expected, 0)
    assert instant.tzinfo is UTC


def test_a_dst_change_keeps_the_local_hour_and_moves_utc() -> None:
    # Berlin leaves winter time on 29 March 2026.
    before = reminder_instant(
        date(2026, 3, 28), 0, preferred_hour=9, quiet_hours=(21, 8), zone="Europe/Berlin"
    )
    after = reminder_instant(
        date(2026, 3, 30), 0, preferred_hour=9, quiet_hours=(21, 8), zone="Europe/Berlin"
    )
    assert before == datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
    assert after == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


def test_morning_of_the_visit_comes_before_an_early_appointment() -> None:
    instant = reminder_instant(
        date(2026, 5, 6),
        0,
        preferred_hour=10,
        quiet_hours=(21, 8),
        zone="Asia/Shanghai",
        appointment=time(9, 30),
    )
    assert instant.astimezone(ZoneInfo("Asia/Shanghai")).time() == time(8, 0)
    evening = reminder_instant(
        date(2026, 5, 6), 0, preferred_hour=19, quiet_hours=(21, 8), zone="Asia/Shanghai"
    )
    assert evening.astimezone(ZoneInfo("Asia/Shanghai")).time() == time(8, 0)


@given(
    st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    zones,
    quiet,
)
def test_next_allowed_instant_is_the_first_moment_out_of_quiet_hours(
    instant: datetime, zone: str, window: tuple[int, int]
) -> None:
    if all(is_quiet(h, window) for h in range(24)):
        return
    allowed = next_allowed_instant(instant, zone, window)
    assert allowed >= instant
    assert not is_quiet(allowed.astimezone(ZoneInfo(zone)).hour, window)
    if not is_quiet(instant.astimezone(ZoneInfo(zone)).hour, window):
        assert allowed == instant
    else:
        assert allowed - instant <= timedelta(hours=25)
