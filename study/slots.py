"""A bounded number of holders (sends in flight, SQLite's writer), let in by rank rather than
by arrival."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

Rank = tuple[float, ...]  # lower goes first


class Slots:
    """At most `size` holders at once; when one leaves, the waiter of the lowest rank
    enters (first come first served among equal ranks). asyncio's Semaphore serves in order
    of arrival, which would let a routine reminder that asked first go before an alert.

    A waiter's rank is asked for when a slot comes free, not when it began to wait: it
    can rise meanwhile (a message that goes first joined the queue of the waiter's chat,
    behind it). There are a few dozen waiters (messages claimed and not yet in a slot),
    a few hundred at most (SQLite's writers during a burst of /starts), so a look at each
    beats keeping a heap up to date."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: dict[asyncio.Future[None], tuple[Callable[[], Rank], int]] = {}
        self._arrivals = itertools.count()

    @asynccontextmanager
    async def hold(self, rank: Callable[[], Rank]) -> AsyncIterator[None]:
        await self.acquire(rank)
        try:
            yield
        finally:
            self.release()

    async def acquire(self, rank: Callable[[], Rank]) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[turn] = (rank, next(self._arrivals))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed a slot just as it was cancelled: pass it on
            raise
        finally:
            self._waiting.pop(turn, None)

    def best_waiting(self) -> Rank | None:
        """The lowest rank waiting for a slot, None if no one waits."""
        return min(
            (rank() for turn, (rank, _) in self._waiting.items() if not turn.done()),
            default=None,
        )

    def release(self) -> None:
        waiting = [
            (rank(), arrival, turn)
            for turn, (rank, arrival) in self._waiting.items()
            if not turn.done()  # a cancelled waiter's future is done: skip it
        ]
        if waiting:
            *_, turn = min(waiting, key=lambda waiter: waiter[:2])
            del self._waiting[turn]
            turn.set_result(None)
            return
        self._free += 1
