"""What goes first: the rank of the work at hand, where this process's work queues for one
thing at a time (SQLite's one writer, a turn under Telegram's overall limit).

What a participant reported, a claim of what fell due, the record of a message sent and a
lease kept go first; then what someone is waiting on in a chat; then each message at its
own rank (an alert ahead of a reminder); the sweeps last. In order of arrival, the red-flag
advice of a check-in pressed during a burst of 120 /starts waited 2.6 s for SQLite behind
their transactions, and the answer's edit above it waited behind the 120 welcomes.

The rank is set where work begins (`working_at`, `goes_first`) and reaches each wait
through a ContextVar, so the code in between passes nothing down. A task started inside
takes the rank with it (asyncio copies the context into a new task).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from study.outbox import Priority
from study.slots import Rank

FIRST: Rank = (float(Priority.URGENT),)
"""A participant's report (a check-in answer, a tick) and the replies to it, the team acting
on an alert, the read that decides a press's answer, a claim of due messages and the
dispatcher's looks for them, the last look before a send, the record of messages sent, a
lease renewed: ahead of every message, urgent ones too."""
INTERACTIVE: Rank = (Priority.URGENT + 0.5,)
"""Any other handler, and its replies: someone is waiting for them. After T1/T2 alerts and
advice, ahead of every other message."""
PERIODIC: Rank = (float(Priority.INFO + 1),)
"""The sweeps: after everything else. What they write is hours from mattering by the
second; a burst is over in minutes."""

_rank: ContextVar[Callable[[], Rank]] = ContextVar(
    "trialbot_work_rank", default=lambda: INTERACTIVE
)

P = ParamSpec("P")
T = TypeVar("T")


def current_rank() -> Callable[[], Rank]:
    """The rank the work at hand waits at, asked each time a turn comes free."""
    return _rank.get()


@contextmanager
def working_at(rank: Rank | Callable[[], Rank]) -> Iterator[None]:
    """This block waits for its turns at `rank` (or at what it says when asked: a message's
    rank can rise while it waits)."""
    token = _rank.set(rank if callable(rank) else lambda: rank)
    try:
        yield
    finally:
        _rank.reset(token)


def goes_first(
    work: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """`work` waits at `FIRST`: a handler of what a participant reports, or of what the team
    does about an alert."""

    @functools.wraps(work)
    async def first(*args: P.args, **kwargs: P.kwargs) -> T:
        with working_at(FIRST):
            return await work(*args, **kwargs)

    return first
