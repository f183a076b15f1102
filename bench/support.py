"""What the benchmarks share: a migrated temporary database, participants enrolled and linked
through the real use cases, sandbox chats, and how figures and progress are printed."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bot.services import Services
from bot.settings import Settings
from migrations import upgrade
from sandbox import SandboxServer
from scheduler.planner import Planner
from study.clock import SystemClock
from study.config import StudyConfig
from study.database import Database, create_engine
from study.enrollment import EnrollmentRequest, enroll, link_chat
from study.models import Participant
from study.sites import sync_sites
from tests.support.study import study_config

__all__ = [
    "BOT_USERNAME",
    "TOKEN",
    "Linked",
    "at_latency",
    "configure_logging",
    "daytime_zone",
    "enrol_and_link",
    "migrated_database",
    "percentile",
    "progress",
    "report",
    "start_chats",
    "study_config",
]

TOKEN = "123456789:BENCH-token-for-the-sandbox-00000000"  # noqa: S105 (sandbox only)
BOT_USERNAME = "trialbot_bench_bot"
SITES = ("ZJU2", "PUMCH")
ARMS = ("standard", "individualized")


@dataclass(frozen=True)
class Linked:
    participant_id: int
    chat_id: int


def configure_logging() -> None:
    """Warnings and errors to stderr. A 429 is counted as a figure (`lateness_429s`), so
    PTB's limiter need not print its traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)


def progress(message: str) -> None:
    """A line for the person waiting (stderr; stdout carries only figures)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def report(figures: Mapping[str, float | int]) -> None:
    """Print each figure as `name: value`."""
    for name, value in figures.items():
        shown = str(value) if isinstance(value, int) else f"{value:.4g}"
        print(f"{name}: {shown}", flush=True)


def at_latency(figures: Mapping[str, float | int], latency_ms: float) -> dict[str, float | int]:
    """Figures measured with a simulated round trip carry it in their names
    (`dispatch_ratio_rtt80`); at 0 ms they keep their plain names."""
    if not latency_ms:
        return dict(figures)
    return {f"{name}_rtt{latency_ms:g}": value for name, value in figures.items()}


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated between the nearest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def daytime_zone(now: datetime) -> str:
    """A fixed-offset zone where it is early afternoon now, so that quiet hours never defer
    the messages a benchmark sends (the deferral check itself still runs)."""
    offset = (13 - now.astimezone(UTC).hour) % 24
    if offset > 14:
        offset -= 24
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{-offset:+d}"  # POSIX sign: Etc/GMT-8 is UTC+8


@asynccontextmanager
async def migrated_database(
    url: str, config: StudyConfig, **engine_options: Any
) -> AsyncIterator[Database]:
    """A database at the newest schema with the study's sites, disposed at the end
    (`engine_options` as `create_engine` takes them: a pool's size)."""
    database = Database(create_engine(url, **engine_options))
    try:
        await upgrade(database)
        async with database.session() as session:
            await sync_sites(session, config)
        yield database
    finally:
        await database.dispose()


def randomized_on(today: date, index: int) -> date:
    """Randomisation dates 9-88 days ahead: every visit and infusion, hence every reminder of
    the calendar, is still to come, and none is due during a benchmark (a week ahead would
    not do: where it is already tomorrow, the 7-day reminder of a visit 8 days away is due)."""
    return today + timedelta(days=9 + index % 80)


async def enrol_and_link(
    database: Database,
    config: StudyConfig,
    *,
    now: datetime,
    indices: Iterable[int],
    chat_base: int,
    prefix: str,
    timezone: str | None = None,
) -> list[Linked]:
    """Enrol participants as a coordinator does, then link each chat as its /start does
    (each its own transaction, with the real planner)."""
    planner = Planner(config)
    linked = []
    for index in indices:
        request = EnrollmentRequest(
            study_id=f"{prefix}-{index:05d}",
            site_code=SITES[index % len(SITES)],
            arm=ARMS[index % len(ARMS)],
            randomized_on=randomized_on(now.date(), index),
            language=("zh", "en")[index % 2],
            can_become_pregnant=index % 3 == 0,
            timezone=timezone,
        )
        async with database.session() as session:
            invitation = await enroll(session, request, config=config, now=now, actor="bench")
        chat_id = chat_base + index
        async with database.session() as session:
            participant = await link_chat(
                session, code=invitation.code, chat_id=chat_id, now=now, replanner=planner
            )
        assert isinstance(participant, Participant), participant
        assert participant.id is not None
        linked.append(Linked(participant.id, chat_id))
    return linked


def start_chats(sandbox: SandboxServer, chat_ids: Iterable[int]) -> None:
    """Sandbox users who have pressed Start (so the bot may write to them), without queueing
    a /start update for the bot."""
    for chat_id in chat_ids:
        sandbox.add_user(chat_id, f"Participant {chat_id}").started = True


def bot_services(
    sandbox: SandboxServer, url: str, database: Database, config: StudyConfig
) -> Services:
    """What the real bot runs on in a benchmark: the sandbox as Telegram, the database at
    `url`, the system clock, no .env file."""
    settings = Settings(
        _env_file=None,
        telegram_bot_token=TOKEN,
        telegram_api_url=sandbox.url,
        database_url=url,
    )
    return Services(settings=settings, config=config, database=database, clock=SystemClock())


def postgres_server() -> str | None:
    """The PostgreSQL server the benchmarks that compare databases use, if one is named (a
    variable set to nothing names none)."""
    named = os.environ.get("TRIALBOT_BENCH_POSTGRES_URL") or os.environ.get(
        "TRIALBOT_TEST_POSTGRES_URL"
    )
    return named or None


@asynccontextmanager
async def fresh_database(
    postgres_url: str | None, workdir: Path, *, keep: bool = False
) -> AsyncIterator[str]:
    """A SQLite file in `workdir`, or a new database on the PostgreSQL server (dropped at
    the end unless `keep`: its address is then in `workdir`/database.txt)."""
    if postgres_url is None:
        yield f"sqlite:///{workdir / 'chaos.db'}"
        return
    server = make_url(postgres_url)
    name = f"trialbot_chaos_{uuid.uuid4().hex[:12]}"
    dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = server.set(database=name).render_as_string(hide_password=False)
        if keep:
            (workdir / "database.txt").write_text(url + "\n", encoding="utf-8")
        yield url
    finally:
        if not keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def on_each_database(
    part: str,
    postgres: str | None,
    measure: Callable[[str], Awaitable[dict[str, float | int]]],
) -> dict[str, float | int]:
    """`measure`'s figures on a SQLite file, then, if a PostgreSQL server is named, on a fresh
    database there, with `_postgres` after their names."""
    figures: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory(prefix="trialbot-bench-") as tmp:
        for server, suffix in ((None, ""), (postgres, "_postgres")):
            if suffix and server is None:
                progress(f"{part}: no PostgreSQL server named (TRIALBOT_BENCH_POSTGRES_URL)")
                continue
            async with fresh_database(server, Path(tmp)) as url:
                measured = await measure(url)
            figures |= {f"{name}{suffix}": value for name, value in measured.items()}
    return figures
