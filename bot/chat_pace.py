"""One chat's flood limit, counted as a message leaves, not when its turn was taken."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# A message may reach Telegram a few milliseconds sooner after the one before than it left
# after it: each token comes back this much later than the bare limit says, as the overall
# limit keeps one message a second to spare.
SPARE_SECONDS = 0.05


class ChatPace:
    """Telegram's limit for one chat: `burst` messages at once, then `per_second`; a token
    bucket, as Telegram (and the sandbox) count it.

    aiolimiter counts a message when its turn is acquired. The dispatcher waits for a chat's
    turn ahead of its send, outside its slots, and the message then waits for a slot and a
    turn under the overall limit, up to seconds: the chat's next message went that much too
    soon by Telegram's count. A red flag's advice, sent 0.9 s after the three messages
    before it, got a 429 and reached the participant 5 s later (`bench.burst`). Here waiting
    (`ready`) and counting (`spend_when_ready`, just before the request) are apart."""

    def __init__(
        self, burst: float, per_second: float, now: Callable[[], float] | None = None
    ) -> None:
        self.burst = burst
        self._per_second = 1.0 / (1.0 / per_second + SPARE_SECONDS)
        self._now = now or asyncio.get_running_loop().time
        self._tokens = burst
        self._updated = self._now()

    def wait_seconds(self) -> float:
        """How long until a message may go to the chat."""
        self._refill()
        return 0.0 if self._tokens >= 1.0 - 1e-9 else (1.0 - self._tokens) / self._per_second

    def spend(self) -> None:
        """Count a message as gone to the chat now."""
        self._refill()
        self._tokens -= 1.0

    def is_full(self) -> bool:
        """Whether it is as if nothing had been sent to the chat (it can be forgotten)."""
        self._refill()
        return self._tokens >= self.burst

    async def ready(self) -> None:
        """Until a message may go to the chat now."""
        # A timed wait (the moment a token comes back is known), again if one was taken
        # meanwhile: no event to wait for.
        while (wait := self.wait_seconds()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)

    async def spend_when_ready(self) -> None:
        """Until a message may go; then it is counted as gone."""
        await self.ready()
        self.spend()  # no await since `ready` saw a token: no one else took it

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self._per_second)
        self._updated = now
