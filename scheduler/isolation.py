"""One bad row never stops the others: each row of a sweep is handled in a savepoint of
its own, and each step of a sweep runs whatever the one before it did.

A row that raises is rolled back to its savepoint (its half-made changes and outbox rows
undone), logged with its id at ERROR, and the sweep goes on; it is tried again at the next
sweep. Savepoints work alike on PostgreSQL and on SQLite (see `study.database`). Where a
row's part is worked out before anything is written (`apart`), a row that raises is logged
and left out alike, and the others are written together.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from study.clock import Clock
from study.config import StudyConfig
from study.database import Database

log = logging.getLogger(__name__)
ROW_FAILED = "%s %s failed; the others go on, and it is tried again later"

Step = Callable[[Database, Clock, StudyConfig], Awaitable[object]]
T = TypeVar("T")


@asynccontextmanager
async def on_its_own(session: AsyncSession, what: str, row_id: object) -> AsyncIterator[None]:
    """Handle one row in a savepoint; if it fails, undo and log it, and carry on."""
    try:
        async with session.begin_nested():
            yield
    except Exception:
        log.exception(ROW_FAILED, what, row_id)


@contextmanager
def apart(what: str, row_id: object) -> Iterator[None]:
    """Work out one row's part that writes nothing yet (the values of its message); if it
    fails, log it and carry on with the others, as `on_its_own` does."""
    try:
        yield
    except Exception:
        log.exception(ROW_FAILED, what, row_id)


async def run_steps(
    steps: list[Step], database: Database, clock: Clock, config: StudyConfig
) -> None:
    """Run every step, even after one of them failed (that one is logged)."""
    for step in steps:
        try:
            await step(database, clock, config)
        except Exception:
            log.exception("the sweep step %s failed; the others go on", step.__name__)


BATCH = 25
"""Rows a sweep handles in one transaction: SQLite's write lock is held for a transaction's
whole length, so a sweep that wrote in one would keep every button press waiting."""


def batches(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    """`items` in slices of `size`, each for a transaction of its own."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def may_be_due(check: Callable[[], bool]) -> bool:
    """A sweep's quick check of a row, before its transaction: a row whose check fails (bad
    data) counts as due, so that handling it on its own logs the failure and the others go
    on."""
    try:
        return check()
    except Exception:
        return True
