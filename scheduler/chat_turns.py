"""Each chat's messages one at a time: in the order they were claimed, except that an
urgent one (a T1/T2 alert, red-flag advice) goes ahead of the chat's others still waiting.

A claim's messages for a chat form a queue, gone through in its order (a claim puts the
urgent first). A chat's queues take turns: when its message on its way is done, the head
of the oldest queue goes next, or the head of a younger one if that is urgent and the
oldest's is not. A site's group sends twenty a minute: with its backlog of routine
messages in an earlier queue, an alert queued behind it waited minutes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(eq=False)
class _Chat(Generic[T]):
    queues: list[list[T]] = field(default_factory=list)  # the oldest first
    busy: bool = False  # one of its messages is on its way
    # Woken all at once to look again, as `asyncio.Condition.notify_all` would; without its
    # lock, which the end of a turn would have to take, maybe waiting, even when cancelled.
    waiting: list[asyncio.Future[None]] = field(default_factory=list)


class ChatTurns(Generic[T]):
    def __init__(self, urgent: Callable[[T], bool]) -> None:
        self._urgent = urgent
        self._chats: dict[int, _Chat[T]] = {}

    def queue(self, chat: int, items: list[T]) -> list[T]:
        """Line `items` up for `chat`, behind its earlier queues; the queue, to go through
        with `turn` in its order and `leave` at the end."""
        queue = list(items)
        self._chats.setdefault(chat, _Chat()).queues.append(queue)
        return queue

    def waiting(self, chat: int) -> Iterator[T]:
        """The chat's messages not yet done, in none of its queues' turns yet or in one."""
        line = self._chats.get(chat)
        for queue in line.queues if line is not None else ():
            yield from queue

    @asynccontextmanager
    async def turn(self, chat: int, queue: list[T]) -> AsyncIterator[T]:
        """Until the head of `queue` may go, as the chat's only message on its way; it
        leaves the queue when the block ends."""
        line = self._chats[chat]
        while line.busy or self._next(line) is not queue:
            woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            line.waiting.append(woken)
            try:
                await woken
            finally:
                if woken in line.waiting:
                    line.waiting.remove(woken)
        line.busy = True
        try:
            yield queue[0]
        finally:
            line.busy = False
            del queue[0]
            self._changed(chat, line)

    def leave(self, chat: int, queue: list[T]) -> None:
        """`queue` is done with: what is left in it is not sent now (it goes again later,
        after the one that failed)."""
        line = self._chats.get(chat)
        if line is None or not any(mine is queue for mine in line.queues):
            return
        queue.clear()
        self._changed(chat, line)

    def _next(self, line: _Chat[T]) -> list[T] | None:
        heads = [queue for queue in line.queues if queue]
        urgent = [queue for queue in heads if self._urgent(queue[0])]
        return next(iter(urgent or heads), None)

    def _changed(self, chat: int, line: _Chat[T]) -> None:
        line.queues = [queue for queue in line.queues if queue]
        for woken in line.waiting:
            if not woken.done():
                woken.set_result(None)
        line.waiting.clear()
        if not line.queues and not line.busy:
            del self._chats[chat]
