"""The set-up of `study.database` that the rest relies on (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.config import StudyConfig
from study.database import CONNECTIONS_AT_ONCE, Database, create_engine
from study.enrollment import find_by_chat_sync
from study.errors import DomainError
from study.models import Participant, Visit, VisitStatus
from study.precedence import FIRST, INTERACTIVE, PERIODIC, working_at
from study.slots import Rank
from study.visits import own_visit_sync
from tests.conftest import _asyncpg_dsn
from tests.support.clock import FakeClock
from tests.support.factories import enrolled

T = TypeVar("T")


async def test_a_connection_left_in_a_transaction_is_rolled_back_before_it_is_used_again(
    tmp_path: Path,
) -> None:
    """The pool does not roll back every connection it takes back (that would cost a round
    trip per transaction); one still in a transaction is, so no later user inherits it or
    waits for its write lock."""
    database = Database.from_url(f"sqlite:///{tmp_path / 'trialbot.db'}")
    try:
        async with database.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            await driver.execute("BEGIN IMMEDIATE")  # left open by its user
            assert driver.in_transaction
        async with asyncio.timeout(5):
            async with database.session() as session:
                await session.exec(text("CREATE TABLE kept (x INTEGER)"))  # type: ignore[call-overload]
            async with database.reading() as session:
                assert list(await session.exec(text("SELECT count(*) FROM kept"))) == [(0,)]  # type: ignore[call-overload]
    finally:
        await database.dispose()


async def in_a_deadlock(postgres_url: str, work: Callable[[Database], Coroutine[Any, Any, T]]) -> T:
    """What `work` returns: it adds 10 to both rows of a table `pair`, row 1 first, while
    another transaction holds row 2 and then asks for row 1. PostgreSQL aborts `work`, which
    waited first; what it was to write is written all the same (both rows are 11)."""
    database = Database.from_url(postgres_url)
    other = await asyncpg.connect(_asyncpg_dsn(postgres_url))
    try:
        async with database.session() as session:
            await session.exec(text("CREATE TABLE pair (id INTEGER PRIMARY KEY, v INTEGER)"))  # type: ignore[call-overload]
            await session.exec(text("INSERT INTO pair VALUES (1, 0), (2, 0)"))  # type: ignore[call-overload]
        await other.execute("BEGIN")
        await other.execute("UPDATE pair SET v = v + 1 WHERE id = 2")
        working = asyncio.create_task(work(database))
        async with asyncio.timeout(10):  # until it holds row 1 and waits for row 2
            while not await other.fetchval(  # noqa: ASYNC110 (another process; no event to wait on)
                "SELECT count(*) FROM pg_locks WHERE NOT granted"
            ):
                await asyncio.sleep(0.01)
        await other.execute("UPDATE pair SET v = v + 1 WHERE id = 1")  # the deadlock
        await other.execute("COMMIT")
        async with asyncio.timeout(10):
            result = await working
        rows = await other.fetch("SELECT id, v FROM pair ORDER BY id")
        assert [tuple(row) for row in rows] == [(1, 11), (2, 11)]
        return result
    finally:
        await other.close()
        await database.dispose()


async def test_a_transaction_postgresql_gives_up_to_break_a_deadlock_is_done_again(
    postgres_url: str,
) -> None:
    """Two transactions that lock two rows in opposite orders: PostgreSQL aborts the one that
    waited first. `retried` does it again, so what it was to write is written (the
    dispatcher's record of messages sent: lost, they would be sent twice)."""
    attempts = 0

    async def both(session: AsyncSession) -> None:
        nonlocal attempts
        attempts += 1
        await session.exec(text("UPDATE pair SET v = v + 10 WHERE id = 1"))  # type: ignore[call-overload]
        await session.exec(text("UPDATE pair SET v = v + 10 WHERE id = 2"))  # type: ignore[call-overload]

    await in_a_deadlock(postgres_url, lambda database: database.retried(both))
    assert attempts == 2


# The pool's connections: those to the test's database but the one asking.
POOLED = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"


async def test_connections_postgresql_dropped_are_replaced_without_an_error(
    postgres_url: str,
) -> None:
    """A restart of PostgreSQL (or a firewall's idle timeout) ends the connections the pool
    keeps. The next reads and writes still succeed: each connection is checked as it is
    taken from the pool, and a dead one is replaced, rather than a send or a button press
    failing on it."""
    database = Database.from_url(postgres_url)
    admin = await asyncpg.connect(_asyncpg_dsn(postgres_url))
    try:
        async with database.session() as session:
            await session.exec(text("CREATE TABLE kept (x INTEGER)"))  # type: ignore[call-overload]
        await asyncio.gather(*(database.rows(text("SELECT pg_sleep(0.05)")) for _ in range(3)))
        kept = database.engine.pool.checkedin()  # type: ignore[attr-defined]
        assert kept >= 3, "the pool should keep the connections it used"
        dropped = await admin.fetchval(f"SELECT count(pg_terminate_backend(pid)) {POOLED}")
        assert dropped >= kept

        async with asyncio.timeout(10):
            while await admin.fetchval(f"SELECT count(*) {POOLED}"):  # noqa: ASYNC110 (another process)
                await asyncio.sleep(0.01)  # until they are gone, not only told to go
            for _ in range(kept + 1):  # each connection the pool kept, and one more
                assert list(await database.rows(text("SELECT 1"))) == [(1,)]
            async with database.session() as session:
                await session.exec(text("INSERT INTO kept VALUES (1)"))  # type: ignore[call-overload]
            async with database.reading() as session:
                assert list(await session.exec(text("SELECT count(*) FROM kept"))) == [(1,)]  # type: ignore[call-overload]
    finally:
        await admin.close()
        await database.dispose()


async def test_one_statement_written_waits_for_a_transaction_and_is_committed_by_itself(
    database_url: str,
) -> None:
    """`write` (the dispatcher's record of each send) runs one statement with no BEGIN or
    COMMIT of its own: it still waits, without an error, for a transaction that holds
    what it writes, writes after it, and what it wrote is committed as it returns, seen
    from another connection."""
    database = Database.from_url(database_url)
    try:
        async with database.session() as session:
            await session.exec(text("CREATE TABLE sent (id INTEGER PRIMARY KEY, v INTEGER)"))  # type: ignore[call-overload]
            await session.exec(text("INSERT INTO sent VALUES (1, 0), (2, 0)"))  # type: ignore[call-overload]
        update = text("UPDATE sent SET v = v + :by WHERE id = 1 RETURNING id, v")
        holding, release = asyncio.Event(), asyncio.Event()

        async def transaction() -> None:
            async with database.session() as session:
                await session.exec(text("UPDATE sent SET v = v + 1 WHERE id = 1"))  # type: ignore[call-overload]
                holding.set()
                await release.wait()

        held = asyncio.create_task(transaction())
        await holding.wait()
        written = asyncio.create_task(database.write(update, {"by": 10}))
        for _ in range(20):  # as far as it goes while the transaction is open
            await asyncio.sleep(0)
        release.set()
        async with asyncio.timeout(10):
            await held
            assert [tuple(row) for row in await written] == [(1, 11)]
        other = Database.from_url(database_url)
        try:
            assert list(await other.rows(text("SELECT v FROM sent ORDER BY id"))) == [(11,), (0,)]
        finally:
            await other.dispose()
    finally:
        await database.dispose()


async def test_a_statement_on_its_own_on_sqlite_wakes_the_event_loop_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dispatcher's check before each send (`rows`) and record after it (`write`) come
    back to the event loop once each, not once for each call into the driver: every
    return waits its turn behind what the loop has ready (the sends in flight). What they
    read and wrote is the database's, seen by a session; and `dispose` ends their thread."""
    database = Database.from_url(f"sqlite:///{tmp_path / 'trialbot.db'}")
    try:
        async with database.session() as session:
            await session.exec(text("CREATE TABLE sent (id INTEGER PRIMARY KEY, v INTEGER)"))  # type: ignore[call-overload]
            await session.exec(text("INSERT INTO sent VALUES (1, 0)"))  # type: ignore[call-overload]
        wakes = counting_wakes(monkeypatch)
        written = await database.write(text("UPDATE sent SET v = 5 RETURNING id"), {})
        assert (len(wakes), [tuple(row) for row in written]) == (1, [(1,)])
        read = await database.rows(text("SELECT v FROM sent"))
        assert (len(wakes), [tuple(row) for row in read]) == (2, [(5,)])
        monkeypatch.undo()
        async with database.reading() as session:
            assert list(await session.exec(text("SELECT v FROM sent"))) == [(5,)]  # type: ignore[call-overload]
    finally:
        await database.dispose()
    assert not [t for t in threading.enumerate() if t.name.startswith("trialbot-sqlite")]


async def test_a_read_on_its_own_does_not_wait_behind_a_write_waiting_for_another_process(
    tmp_path: Path,
) -> None:
    """While another process (the CLI, say) holds SQLite's write lock, the dispatcher's
    record waits for it; its checks before other sends are still read at once."""
    path = tmp_path / "trialbot.db"
    database = Database.from_url(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        async with database.session() as session:
            await session.exec(text("CREATE TABLE sent (id INTEGER PRIMARY KEY, v INTEGER)"))  # type: ignore[call-overload]
            await session.exec(text("INSERT INTO sent VALUES (1, 0)"))  # type: ignore[call-overload]
        other.execute("BEGIN IMMEDIATE")
        written = asyncio.create_task(database.write(text("UPDATE sent SET v = 1"), {}))
        for _ in range(20):  # until it is handed to its thread, which waits for the lock
            await asyncio.sleep(0)
        async with asyncio.timeout(2):  # well within the write's busy timeout of 10 s
            assert [tuple(row) for row in await database.rows(text("SELECT v FROM sent"))] == [(0,)]
        assert not written.done()
        other.execute("COMMIT")
        async with asyncio.timeout(10):
            await written
        assert [tuple(row) for row in await database.rows(text("SELECT v FROM sent"))] == [(1,)]
    finally:
        other.close()
        await database.dispose()


async def test_one_statement_postgresql_gives_up_to_break_a_deadlock_is_written_again(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """One statement that locks two rows in turn, while another transaction locks them in
    the opposite order: PostgreSQL aborts the statement, which waited first. `write` runs
    it again, so what it was to write is written (a record of sends lost would send them
    twice)."""
    caplog.set_level(logging.INFO, logger="study.database")
    both = text("UPDATE pair SET v = v + 10 WHERE id IN (1, 2) RETURNING id")
    written = await in_a_deadlock(postgres_url, lambda database: database.write(both, {}))
    assert sorted(row.id for row in written) == [1, 2]
    assert "gave way to another" in caplog.text


RANKED_ORDER = ["report", *(f"handler {n}" for n in range(5)), "sweep"]


async def order_of_turns(
    database: Database,
    hold: Callable[[], AbstractAsyncContextManager[Any]],
    insert: Callable[[str], Awaitable[None]],
) -> list[str]:
    """While `hold()` is held, a sweep, then five handlers, then a participant's report
    each `insert` their name into `turns`, at their ranks; the order the names went in."""
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with hold():
            holding.set()
            await release.wait()

    async def write(who: str, rank: Rank) -> None:
        with working_at(rank):
            await insert(who)

    held = asyncio.create_task(holder())
    await holding.wait()
    writers = [asyncio.create_task(write("sweep", PERIODIC))]
    writers += [asyncio.create_task(write(f"handler {n}", INTERACTIVE)) for n in range(5)]
    writers.append(asyncio.create_task(write("report", FIRST)))
    for _ in range(20):  # each has asked for its turn
        await asyncio.sleep(0)
    release.set()
    async with asyncio.timeout(10):
        await asyncio.gather(held, *writers)
    return [row.who for row in await database.rows(text("SELECT who FROM turns ORDER BY n"))]


async def test_sqlite_writers_take_their_turns_by_rank_not_by_arrival(tmp_path: Path) -> None:
    """On SQLite this process's writers queue for the one write lock: a participant's report
    (`FIRST`) goes before the handlers' transactions that asked earlier, and the sweeps'
    (`PERIODIC`) after them, whenever they asked. In order of arrival, a red flag pressed
    during a burst of 120 /starts waited 2.6 s behind their transactions (`bench.burst`)."""
    database = Database.from_url(f"sqlite:///{tmp_path / 'trialbot.db'}")
    try:
        async with database.session() as session:
            await session.exec(text("CREATE TABLE turns (n INTEGER PRIMARY KEY, who TEXT)"))  # type: ignore[call-overload]

        async def insert(who: str) -> None:
            await database.write(text("INSERT INTO turns (who) VALUES (:who)"), {"who": who})

        assert await order_of_turns(database, database.session, insert) == RANKED_ORDER
    finally:
        await database.dispose()


async def test_postgresql_connections_are_taken_by_rank_not_by_arrival(postgres_url: str) -> None:
    """On PostgreSQL the pool's connections go by rank too: a participant's report
    (`FIRST`) gets the next one before the handlers that asked earlier, and the sweeps
    (`PERIODIC`) after them. In the pool's order of arrival, a red flag's alert card reached
    its site 1.4 s after the press during a burst of 120 /starts, 0.08 s on SQLite
    (`bench.burst`)."""
    # Two connections: one is kept for `exclusive`, the other is held (`order_of_turns`).
    database = Database(create_engine(postgres_url, pool_size=2, max_overflow=0))
    try:
        async with database.session() as session:
            await session.exec(text("CREATE TABLE turns (n SERIAL PRIMARY KEY, who TEXT)"))  # type: ignore[call-overload]

        async def insert(who: str) -> None:
            async with database.session() as session:
                await session.exec(
                    text("INSERT INTO turns (who) VALUES (:who)"), params={"who": who}
                )  # type: ignore[call-overload]

        assert await order_of_turns(database, database.reading, insert) == RANKED_ORDER
        async with asyncio.timeout(10), database.exclusive("sweeps") as mine:
            assert mine, "the connection kept for the sweeps was taken"
    finally:
        await database.dispose()


async def test_postgresql_keeps_a_few_transactions_open_at_once_and_a_report_goes_next(
    postgres_url: str,
) -> None:
    """However many connections the pool holds, this process has `CONNECTIONS_AT_ONCE`
    transactions open at once on PostgreSQL: with 23 at once (the pool's 24 but one), each
    statement's answer waited behind the others' in the event loop, and a red flag's T1
    card arrived 2.3-3.8 s after the press during a burst of 120 /starts at 80 ms from
    Telegram (0.8-0.9 s with 4, `bench.burst`). A report that asks after twenty handlers
    takes the next connection that comes free."""
    database = Database.from_url(postgres_url)  # the default pool: 12, and 12 more
    open_now, most, entered = 0, 0, []
    release, all_in = asyncio.Event(), asyncio.Event()

    async def transaction(who: str, rank: Rank) -> None:
        nonlocal open_now, most
        with working_at(rank):
            async with database.session() as session:
                open_now += 1
                most = max(most, open_now)
                entered.append(who)  # in the order of the turns, not of the first answers
                await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
                if len(entered) == CONNECTIONS_AT_ONCE:
                    all_in.set()
                await release.wait()
                open_now -= 1

    try:
        handlers = [
            asyncio.create_task(transaction(f"handler {n}", INTERACTIVE)) for n in range(20)
        ]
        async with asyncio.timeout(10):
            await all_in.wait()
        for _ in range(50):  # the others have asked for their turns, or would be in by now
            await asyncio.sleep(0)
        report = asyncio.create_task(transaction("report", FIRST))
        for _ in range(20):
            await asyncio.sleep(0)
        assert most == CONNECTIONS_AT_ONCE < 20, f"{most} transactions open at once"
        release.set()
        async with asyncio.timeout(10):
            await asyncio.gather(report, *handlers)
        assert entered.index("report") == CONNECTIONS_AT_ONCE, entered
    finally:
        release.set()
        await database.dispose()


async def test_a_press_is_decided_on_a_snapshot_that_waits_for_no_writer(
    database: Database,
    database_url: str,
    config: StudyConfig,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a button press is answered by (`snapshot`): the participant and their visit as
    last committed, read while a transaction holds the write lock and has changed it; on
    a SQLite file in one return to the event loop for the whole decision, not one for each
    call into the driver (about ten through `reading`), each waiting behind the sends in
    flight. The rule refusing a press is the rule's own; what was read stays readable."""
    participant, _ = await enrolled(database, config, clock, chat_id=42)
    async with database.reading() as session:
        planned = (Visit.participant_id == participant.id, Visit.status == VisitStatus.PLANNED)
        visit = (await session.exec(select(Visit).where(*planned))).first()
    assert visit is not None and visit.id is not None
    visit_id = visit.id

    def decide(session: Session) -> tuple[Participant | None, Visit]:
        found = find_by_chat_sync(session, 42)
        assert found is not None
        return found, own_visit_sync(session, found, visit_id)

    async with database.session() as writing:
        changed = await writing.get(Visit, visit_id)
        assert changed is not None
        changed.status = VisitStatus.ATTENDED
        writing.add(changed)
        await writing.flush()
        wakes = counting_wakes(monkeypatch)
        async with asyncio.timeout(2):  # well within the writer's busy timeout of 10 s
            found, open_visit = await database.snapshot(decide)
        monkeypatch.undo()
    assert found is not None and found.study_id == participant.study_id
    assert (open_visit.id, open_visit.status) == (visit_id, VisitStatus.PLANNED)
    if database_url.startswith("sqlite"):
        assert len(wakes) == 1
    with pytest.raises(DomainError) as refused:  # attended now: the button is stale
        await database.snapshot(decide)
    assert refused.value.key == "button_inactive"


def counting_wakes(monkeypatch: pytest.MonkeyPatch) -> list[None]:
    """One item for each time another thread wakes the running event loop (a return from
    a database thread), until `monkeypatch.undo()`."""
    loop = asyncio.get_running_loop()
    wakes: list[None] = []
    wake = loop.call_soon_threadsafe

    def counted(*args: Any, **kwargs: Any) -> Any:
        wakes.append(None)
        return wake(*args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
    return wakes
