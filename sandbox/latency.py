"""A simulated network between the bot and Telegram: every Bot API call takes a round trip."""

from __future__ import annotations

import asyncio
import math

from sandbox.errors import SandboxError

__all__ = ["Latency"]


class Latency:
    """The round-trip time added to every Bot API call (0: none, as on one machine).

    Half of it passes before the sandbox handles a call (the request travelling to
    Telegram), half before the answer leaves (the answer travelling back), so a call takes
    at least the round trip, a message exists from the middle of it on (`ApiCall.time`),
    and a getUpdates long poll that an update ends returns half a round trip after it.
    Calls wait side by side: many in flight take one round trip, not one each.
    The control API and webhook deliveries are not delayed.
    """

    def __init__(self, round_trip_ms: float = 0.0) -> None:
        self.round_trip_ms = 0.0
        self.set(round_trip_ms)

    def set(self, round_trip_ms: float) -> None:
        """Change the round trip (milliseconds, finite, >= 0) for the calls that follow."""
        value = float(round_trip_ms)
        if not math.isfinite(value) or value < 0:
            raise SandboxError("latency must be a finite number of milliseconds >= 0")
        self.round_trip_ms = value

    async def one_way(self) -> None:
        """Half the round trip (nothing at 0 ms: no extra turn of the event loop)."""
        if self.round_trip_ms > 0:
            await asyncio.sleep(self.round_trip_ms / 2000)
