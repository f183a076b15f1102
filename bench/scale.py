"""10,000 participants in a study that is running: planning them, sweeping and dispatching
over them, starting a bot on them.

- The study (`bench.running`): randomisation dates spread over the last 24 months; each
  participant enrolled and linked on their randomisation day through the real use cases
  (the planner plans the whole calendar), then living through the months since: visits
  attended or missed, infusions given, check-ins answered, expired and open, alerts open,
  acknowledged and resolved, what fell due sent; then the real periodic checks once.
- Planning: enrolling and linking costs tens of milliseconds each and living through the
  months a few hundred, too long to do 10,000 times in `make bench`, so a sample is built
  for real on the empty database and copied in SQL (`bench.clone`) up to 10,000 minus a
  sample, and a second sample of new participants (randomised in the weeks ahead) is
  enrolled and linked at that size. `plan_10k_extrapolated_s` is 10,000 x the mean cost of
  enrolling and linking in the two samples (a linear fit between the empty and the full
  database); `--full` builds all 10,000 for real and measures `plan_10k_linked_s` (enrolling and
  linking only; about 45 minutes on the 2-core development machine with the history).
  `--participants N` builds another size (the figures then say N instead of 10k).
- Bulk enrolment (`plan_10k_s`): 10,000 enrolled on an empty database as
  `trialbot enroll --from FILE.csv` does (`study.enrollment_bulk`, 100 a transaction).
- The database then serves the periodic checks: the first run after a start, which works out
  every participant's check-in moment (`sweep_10k_first_s`), then one as every 5 minutes
  (`sweep_10k_s`), with the longest SQLite write transaction during both
  (`lock_hold_max_ms`, and which sweep began it on stderr); a dispatcher round, and the
  start of a real bot process (`bench.startup_probe`) against the sandbox: ready, and
  settled (its first sweep and first dispatch done: `settle_10k_s`).

Run alone: `python -m bench.scale [--full] [--participants N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import greenlet  # type: ignore[import-untyped]
from sqlalchemy import event

from bench.clone import clone_participants
from bench.running import enrol_on_randomisation, live_through, settle
from bench.support import (
    ARMS,
    BOT_USERNAME,
    SITES,
    TOKEN,
    configure_logging,
    enrol_and_link,
    migrated_database,
    progress,
    report,
    study_config,
)
from messages import Keyboard
from sandbox import SandboxServer
from scheduler.dispatcher import Dispatcher
from scheduler.planner import Planner
from scheduler.service import SchedulerService
from study.checkin_due import forget_all
from study.clock import SystemClock
from study.config import StudyConfig
from study.database import READ_ONLY, Database
from study.enrollment import EnrollmentRequest, Invitation
from study.enrollment_bulk import enroll_many
from study.slots import Rank
from tests.support.study import STUDY_TOML

TOTAL = 10_000
BATCH = 100  # as bot.cli_enroll.BATCH (bench does not import the bot's command line)
SAMPLE = 200
WARM_UP = 10
CHAT_BASE = 1_000_000
ROUNDS = 5
REPOSITORY = Path(__file__).resolve().parent.parent

NOTES = {
    "plan_10k_s": "enrolling 10,000 as `trialbot enroll --from FILE.csv` does (participant, "
    "24-month calendar, infusions, invite code, audit; 100 a transaction, bulk inserts) on "
    "an empty SQLite database; their reminder rows are planned when each links (one bulk "
    "insert each, in plan_10k_extrapolated_s)",
    "plan_10k_extrapolated_s": "enrol + link (calendar, infusions, reminder rows) x 10,000 on "
    "SQLite, extrapolated from a sample on the empty database and one at 10,000 (--full "
    "measures plan_10k_linked_s instead)",
    "plan_per_participant_ms": "the mean cost of the two samples (*_empty_db_ms, *_at_10k_ms)",
    "sweep_10k_s": "one run of SchedulerService.sweep() (every 5 min) over a running study of "
    "10,000 (randomised over 24 months, with their history)",
    "sweep_10k_first_s": "the first run after a start, when every participant's check-in "
    "moment (Participant.checkins_due_at) is worked out again",
    "sweep_10k_queued": "messages the first sweep queued (what fell due since the study settled)",
    "lock_hold_max_ms": "the longest SQLite write transaction during those two sweeps, from "
    "BEGIN IMMEDIATE to its COMMIT (progress on stderr names the scheduler line that began "
    "each kind, with its median and longest)",
    "lock_hold_steady_max_ms": "the same during the steady sweep alone (every 5 minutes)",
    "lock_hold_with_commit_max_ms": "lock_hold_max_ms with the commit itself, to the "
    "connection's return to the pool (`Database.session` lets the next writer in only then): "
    "now and then a commit runs SQLite's WAL checkpoint (every 1,000 pages written)",
    "dispatch_round_10k_ms": "one Dispatcher.run_once() at 10,000 (every wake and every 30 s "
    "poll), median of 5, with what is due (usually nothing)",
    "start_10k_s": "bot process: settings -> running_bot entered (migration check, sites, "
    "PTB initialise, polling and scheduler started) at 10,000",
    "start_10k_process_s": "the same from spawning the interpreter (imports included)",
    "settle_10k_s": "settings -> its first sweep and first dispatch finished (start-up with "
    "the first sweep)",
    "rss_10k_mb": "VmRSS of that bot process once settled (its own process, /proc); "
    "rss_10k_peak_mb is its VmHWM",
    "rss_empty_mb": "the same with no participants",
    "study_10k_rows": "rows of the running study: check-ins, outbox messages, alerts, audit "
    "events (study_10k_*)",
}


class Counted:
    """A sender that accepts what a dispatcher round sends, and counts it."""

    def __init__(self) -> None:
        self.sent = 0

    async def wait_turn(self, chat_id: int) -> None:
        return None

    async def wait_overall_turn(self, chat_id: int, rank: Callable[[], Rank]) -> None:
        return None

    async def send(self, chat_id: int, text: str, keyboard: Keyboard | None) -> int:
        self.sent += 1
        return self.sent

    async def send_photo(
        self, chat_id: int, photo: bytes, caption: str, keyboard: Keyboard | None
    ) -> int:
        return await self.send(chat_id, caption, keyboard)

    async def edit(
        self, chat_id: int, message_id: int, text: str, keyboard: Keyboard | None
    ) -> None:
        return None


def size_label(total: int) -> str:
    """`10k` for 10,000; the number itself for sizes that are not whole thousands."""
    return f"{total // 1000}k" if total % 1000 == 0 else str(total)


async def timed_enrolment(
    database: Database, config: StudyConfig, first: int, count: int, warm_up: int = 0
) -> float:
    """Mean seconds to enrol and link one new participant (randomised in the weeks ahead),
    over `count` of them (the first `warm_up` fill SQLAlchemy's caches and are not timed)."""
    now = datetime.now(UTC)
    enrol = partial(enrol_and_link, database, config, now=now, chat_base=CHAT_BASE, prefix="NEW")
    await enrol(indices=range(first, first + warm_up))
    started = time.perf_counter()
    await enrol(indices=range(first + warm_up, first + count))
    return (time.perf_counter() - started) / (count - warm_up)


async def running_sample(
    database: Database, config: StudyConfig, count: int, now: datetime
) -> float:
    """Build `count` participants of the running study for real; the mean seconds their
    enrolment and linking took (their history is not timed)."""
    started = time.perf_counter()
    people = await enrol_on_randomisation(
        database, config, today=now.date(), indices=range(count), chat_base=CHAT_BASE, prefix="RUN"
    )
    planned = (time.perf_counter() - started) / count
    progress(f"scale: {count} enrolled in {planned * count:.1f} s; living through their months")
    started = time.perf_counter()
    await live_through(database, config, people, now)
    progress(f"scale: their history took {time.perf_counter() - started:.1f} s")
    await settle(database, config, now)
    return planned


async def build_and_plan(
    database: Database, config: StudyConfig, total: int, sample: int, full: bool
) -> dict[str, float]:
    label = size_label(total)
    now = datetime.now(UTC)
    if full:
        progress(f"scale: building all {total} participants of the running study (slow)")
        each = await running_sample(database, config, total, now)
        return {f"plan_{label}_linked_s": each * total, "plan_per_participant_ms": each * 1000}
    progress(f"scale: building {sample} participants of the running study on the empty database")
    first = await running_sample(database, config, sample, now)
    copied = total - 2 * sample
    started = time.perf_counter()
    await clone_participants(database, copied // sample, copied % sample)
    progress(f"scale: copied them to {total - sample} in {time.perf_counter() - started:.1f} s")
    progress(f"scale: enrolling and linking {sample} new participants at that size")
    last = await timed_enrolment(database, config, total, sample, WARM_UP)
    return {
        f"plan_{label}_extrapolated_s": total * (first + last) / 2,
        "plan_per_participant_ms": (first + last) / 2 * 1000,
        "plan_per_participant_empty_db_ms": first * 1000,
        f"plan_per_participant_at_{label}_ms": last * 1000,
    }


async def bulk_enrolment(database: Database, config: StudyConfig, total: int) -> float:
    """Seconds to enrol `total` participants as `trialbot enroll --from FILE.csv` does: in
    transactions of `cli_enroll.BATCH` rows, each a handful of bulk inserts."""
    now = datetime.now(UTC)
    requests = [
        EnrollmentRequest(
            study_id=f"BULK-{index:05d}",
            site_code=SITES[index % len(SITES)],
            arm=ARMS[index % len(ARMS)],
            randomized_on=now.date() - timedelta(days=index % 700),
            language=("zh", "en")[index % 2],
            can_become_pregnant=index % 3 == 0,
        )
        for index in range(total)
    ]
    started = time.perf_counter()
    for first in range(0, total, BATCH):
        async with database.session() as session:
            results = await enroll_many(
                session, requests[first : first + BATCH], config=config, now=now, actor="bench"
            )
        assert all(isinstance(result, Invitation) for result in results), results
    return time.perf_counter() - started


async def study_rows(database: Database, label: str) -> dict[str, float]:
    """How big the running study is."""
    figures: dict[str, float] = {}
    async with database.engine.connect() as connection:
        for table, name in (
            ("participant", "participants"),
            ("checkin", "checkins"),
            ("outboxmessage", "outbox_rows"),
            ("alert", "alerts"),
            ("auditevent", "audit_events"),
        ):
            count = await connection.exec_driver_sql(f"SELECT count(*) FROM {table}")  # noqa: S608
            figures[f"study_{label}_{name}"] = count.scalar_one()
        opened = await connection.exec_driver_sql(
            "SELECT count(*) FROM checkin WHERE status = 'open'"
        )
        figures[f"study_{label}_checkins_open"] = opened.scalar_one()
        unanswered = await connection.exec_driver_sql(
            "SELECT count(*) FROM alert WHERE status != 'resolved'"
        )
        figures[f"study_{label}_alerts_not_resolved"] = unanswered.scalar_one()
    return figures


class WriteLocks:
    """How long each SQLite write transaction lasts (every transaction takes the write lock
    at BEGIN IMMEDIATE and holds it to COMMIT or ROLLBACK): a button press waits at most
    the longest. Each is named by the scheduler function (and line) that began it.

    `held` ends where COMMIT is sent; `held_committed` where the connection is back in the
    pool (and `Database.session` lets the next writer in): with the commit, and the WAL
    checkpoint SQLite runs in a commit now and then (when the WAL passes 1,000 pages)."""

    def __init__(self, database: Database) -> None:
        self.held: list[tuple[float, str, float]] = []  # seconds, where, of which collecting
        self.held_committed: list[float] = []
        self.collecting = 0.0  # seconds of garbage collection while transactions were open
        self._collection_began = 0.0
        self._began: dict[int, tuple[float, str, float]] = {}
        self._open: dict[int, float] = {}  # by DBAPI connection, to its return to the pool
        self._engine = database.engine.sync_engine
        self._listeners: list[tuple[Any, str, Callable[..., None]]] = [
            (self._engine, "begin", self._begin),
            (self._engine, "commit", self._end),
            (self._engine, "rollback", self._end),
            (self._engine.pool, "checkin", self._returned),
        ]
        for target, name, listener in self._listeners:
            event.listen(target, name, listener)
        gc.callbacks.append(self._collection)

    def stop(self) -> None:
        for target, name, listener in self._listeners:
            event.remove(target, name, listener)
        gc.callbacks.remove(self._collection)

    def _collection(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._collection_began = time.perf_counter()
        elif self._began:
            self.collecting += time.perf_counter() - self._collection_began

    def _begin(self, connection: Any) -> None:
        if not connection.get_execution_options().get(READ_ONLY):  # takes no lock
            where = _beginner()
            began = time.perf_counter()
            self._began[id(connection)] = (began, where, self.collecting)
            self._open[id(connection.connection.dbapi_connection)] = began

    def _end(self, connection: Any) -> None:
        began = self._began.pop(id(connection), None)
        if began is not None:
            collected = self.collecting - began[2]
            self.held.append((time.perf_counter() - began[0], began[1], collected))

    def _returned(self, dbapi_connection: Any, _record: Any) -> None:
        began = self._open.pop(id(dbapi_connection), None)
        if began is not None:
            self.held_committed.append(time.perf_counter() - began)

    def longest_ms(self) -> float:
        return max((held for held, _, _ in self.held), default=0.0) * 1000

    def longest_committed_ms(self) -> float:
        return max(self.held_committed, default=0.0) * 1000

    def summary(self) -> str:
        """Per place: transactions, median and the three longest (ms) to COMMIT with the
        garbage collection in each, longest first; then the longest with its commit."""
        kinds: dict[str, list[tuple[float, float]]] = {}
        for held, where, collected in self.held:
            kinds.setdefault(where, []).append((held * 1000, collected * 1000))
        lines = [
            f"{where}: {len(ms)} x, median {statistics.median(m for m, _ in ms):.1f}, longest "
            + ", ".join(f"{held:.0f} (gc {gc_ms:.0f})" for held, gc_ms in sorted(ms)[-3:][::-1])
            for where, ms in sorted(kinds.items(), key=lambda kind: -max(kind[1])[0])
        ]
        return "; ".join(
            [
                *lines,
                f"with the commit: max {self.longest_committed_ms():.1f}",
                f"garbage collection inside them: {self.collecting * 1000:.0f} in all",
            ]
        )


def _beginner() -> str:
    """The innermost `scheduler` function on the stack of the coroutine whose statement
    began a transaction (SQLAlchemy runs it in a greenlet; its parent holds that stack)."""
    current = greenlet.getcurrent()
    frame = current.parent.gr_frame if current.parent is not None else sys._getframe()
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.parent.name == "scheduler" and path.stem != "isolation":
            return f"{path.stem}.{frame.f_code.co_name}:{frame.f_lineno}"
        frame = frame.f_back
    return "elsewhere"


async def sweep_and_dispatch(
    database: Database, config: StudyConfig, label: str
) -> dict[str, float]:
    """Dispatcher rounds, then the scheduler's periodic sweeps on the system clock: the
    first after a start (every participant's check-in moment to work out), then one as
    every 5 minutes, timing each and the longest write transaction during them."""
    clock = SystemClock()
    sender = Counted()
    dispatcher = Dispatcher(database, sender, clock, config, Planner(config))
    service = SchedulerService(database=database, dispatcher=dispatcher, clock=clock, config=config)
    progress("scale: dispatcher rounds, and the periodic sweeps")
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        await dispatcher.run_once()
        rounds.append(time.perf_counter() - started)
    async with database.session() as session:
        await session.exec(forget_all())  # as `SchedulerService.start()` does
    first_locks = WriteLocks(database)
    started = time.perf_counter()
    await service.sweep()  # not started: it only sweeps
    first = time.perf_counter() - started
    first_locks.stop()
    progress(f"scale: write transactions of the first sweep: {first_locks.summary()}")
    before = sender.sent
    await dispatcher.drain()
    queued = sender.sent - before
    locks = WriteLocks(database)
    started = time.perf_counter()
    await service.sweep()
    sweep = time.perf_counter() - started
    locks.stop()
    progress(f"scale: write transactions of the steady sweep: {locks.summary()}")
    return {
        f"sweep_{label}_s": sweep,
        f"sweep_{label}_first_s": first,
        f"sweep_{label}_queued": queued,
        "lock_hold_max_ms": max(first_locks.longest_ms(), locks.longest_ms()),
        "lock_hold_steady_max_ms": locks.longest_ms(),
        "lock_hold_with_commit_max_ms": max(
            first_locks.longest_committed_ms(), locks.longest_committed_ms()
        ),
        f"dispatch_round_{label}_ms": statistics.median(rounds) * 1000,
    }


async def start_probe(database_url: str, api_url: str, folder: Path) -> dict[str, Any]:
    """Run `bench.startup_probe` as its own process against the sandbox; its figures."""
    study_file = folder / "study.toml"
    study_file.write_text(STUDY_TOML, encoding="utf-8")
    python_path = os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))
    env = {
        **os.environ,
        "PYTHONPATH": python_path,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api_url,
        "DATABASE_URL": database_url,
        "TRIALBOT_STUDY_FILE": str(study_file),
        "TRIALBOT_LOG_LEVEL": "WARNING",
        "TRIALBOT_LOG_JSON": "false",
    }
    spawned = time.time()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.startup_probe",
        cwd=folder,  # no .env of the repository is read
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the start-up probe failed with exit code {process.returncode}")
    figures: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    figures["process_s"] = figures["ready_at"] - spawned
    return figures


async def measure(total: int = TOTAL, sample: int = SAMPLE, full: bool = False) -> dict[str, float]:
    config = study_config()
    label = size_label(total)
    with tempfile.TemporaryDirectory(prefix="trialbot-bench-") as tmp:
        folder = Path(tmp)
        big_url = f"sqlite:///{folder / 'scale.db'}"
        empty_url = f"sqlite:///{folder / 'empty.db'}"
        async with migrated_database(big_url, config) as database:
            figures = await build_and_plan(database, config, total, sample, full)
            figures |= await study_rows(database, label)
            figures |= await sweep_and_dispatch(database, config, label)
        async with migrated_database(empty_url, config):
            pass
        async with migrated_database(f"sqlite:///{folder / 'bulk.db'}", config) as database:
            progress(f"scale: enrolling {total} in bulk, as from a CSV file")
            figures[f"plan_{label}_s"] = await bulk_enrolment(database, config, total)
        async with SandboxServer() as sandbox:
            sandbox.add_bot(TOKEN, username=BOT_USERNAME)
            progress(f"scale: starting bot processes (a warm-up, then empty, then {total})")
            await start_probe(empty_url, sandbox.url, folder)
            empty = await start_probe(empty_url, sandbox.url, folder)
            big = await start_probe(big_url, sandbox.url, folder)
    return {
        **figures,
        f"start_{label}_s": big["ready_s"],
        f"start_{label}_process_s": big["process_s"],
        f"settle_{label}_s": big["settled_s"],
        "start_empty_s": empty["ready_s"],
        f"rss_{label}_mb": big["rss_settled_mb"],
        f"rss_{label}_peak_mb": big["hwm_mb"],
        "rss_empty_mb": empty["rss_settled_mb"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--full", action="store_true", help="build every participant for real")
    parser.add_argument("--participants", type=int, default=TOTAL, help="how many (10,000)")
    arguments = parser.parse_args()
    configure_logging()
    report(asyncio.run(measure(arguments.participants, full=arguments.full)))


if __name__ == "__main__":
    main()
