"""When the check-in sweep next has contraception questions for a participant: the moment
it stores, so that it reads nobody before then (`study.cadence.next_contraception_at`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from study.cadence import LocalSchedule, contraception_due, next_contraception_at
from study.config import ProtocolConfig

PROTOCOL = ProtocolConfig()
ZONES = st.sampled_from(["Asia/Shanghai", "Europe/London", "America/New_York", "Asia/Kolkata"])
START = datetime(2026, 3, 1, tzinfo=UTC)
HALF_HOUR = timedelta(minutes=30)
HORIZON = timedelta(days=70)


@settings(max_examples=150, deadline=None)
@given(
    zone=ZONES,
    preferred_hour=st.integers(0, 23),
    now_offset=st.integers(0, 400 * 48),
    linked_ago=st.integers(0, 60 * 48),
    asked_ago=st.none() | st.integers(0, 40 * 48),
    visits=st.lists(st.integers(-3, 30), max_size=3),
    until_days=st.none() | st.integers(-5, 60),
)
def test_nothing_is_due_before_the_stored_moment_and_something_is_at_it(
    zone: str,
    preferred_hour: int,
    now_offset: int,
    linked_ago: int,
    asked_ago: int | None,
    visits: list[int],
    until_days: int | None,
) -> None:
    """What the old sweep, reading everyone every time, would have found: nothing from now
    until the moment, and questions at it."""
    local = LocalSchedule(zone, preferred_hour, PROTOCOL.quiet_hours)
    now = START + now_offset * HALF_HOUR + timedelta(minutes=7)
    linked = now - linked_ago * HALF_HOUR
    asked = None if asked_ago is None else max(linked, now - asked_ago * HALF_HOUR)
    today = now.date()
    facts: dict[str, Any] = {
        "until": None if until_days is None else today + timedelta(days=until_days),
        "last_asked": asked,
        "linked_at": linked,
        "upcoming_visits": [today + timedelta(days=day) for day in visits],
    }
    moment = next_contraception_at(now, local, PROTOCOL, **facts)

    def due(at: datetime) -> bool:
        return contraception_due(at, local, PROTOCOL, **facts) is not None

    end = now + HORIZON if moment is None else moment
    instant = now
    while instant < end:
        assert not due(instant), (instant, moment)
        instant += HALF_HOUR
    if moment is not None:
        assert moment >= now
        assert due(moment)
        assert moment == now or not due(moment - timedelta(seconds=1))
