"""Time for the domain: always passed in, never read from the wall in logic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Where "now" comes from; tests inject a fake one."""

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...

    def wall_seconds(self, seconds: float) -> float:
        """How long `seconds` of this clock's time last on the wall clock."""
        ...


class SystemClock:
    """The real clock, used in production."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def wall_seconds(self, seconds: float) -> float:
        return seconds


class SimulatedClock:
    """Time that starts at `start` and runs `speed` times faster than the wall clock:
    for training and for the chaos benchmark, never with real Telegram (see Settings)."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        self._start = start.astimezone(UTC)
        self._speed = speed
        self._wall_start = datetime.now(UTC)

    def now(self) -> datetime:
        return self._start + (datetime.now(UTC) - self._wall_start) * self._speed

    def wall_seconds(self, simulated_seconds: float) -> float:
        """How long `simulated_seconds` take on the wall clock."""
        return simulated_seconds / self._speed

    def describe(self) -> str:
        """Its origin and speed, exactly: another process (the chaos benchmark) converts
        any wall-clock moment to this clock's time with them."""
        return (
            f"simulated time: {self._start.isoformat()} at {self._wall_start.isoformat()} "
            f"on the wall clock, {self._speed!r} times as fast"
        )
