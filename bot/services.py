"""The one bootstrap: builds settings, study config, database and clock, and shares them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import insert
from sqlalchemy.engine import Connection, make_url
from sqlmodel import select

from bot.config import demo_study, load_study_file
from bot.settings import Settings
from migrations import current_revision, head_revision, upgrade
from scheduler.planner import Planner
from study import audit
from study.clock import Clock, SimulatedClock, SystemClock
from study.config import StudyConfig
from study.database import Database
from study.errors import ConfigError
from study.models import AuditEvent
from study.sites import sync_sites

log = logging.getLogger(__name__)

SANDBOX_TOKEN = "1000000001:SANDBOX-demo-token-not-a-secret"  # noqa: S105 (local only)
SANDBOX_USERNAME = "trialbot_demo_bot"
# The audit event that marks a database as the demo's, written with its schema.
DEMO_DATABASE_MARK = "demo_database_created"

DatabaseKind = Literal["empty", "demo", "study"]


@dataclass(frozen=True)
class Services:
    """What handlers, jobs and commands share; built once per process and never changed.
    (What exists only while the bot runs, its scheduler, is `bot.runner.Running`.)"""

    settings: Settings
    config: StudyConfig
    database: Database
    clock: Clock = field(default_factory=SystemClock)
    replanner: Planner = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "replanner", Planner(self.config))  # derived, set once

    @property
    def sandbox_mode(self) -> bool:
        return self.settings.token is None

    async def close(self) -> None:
        await self.database.dispose()


def load_config(settings: Settings) -> StudyConfig:
    """study.toml; with no token and no study file, the bundled demo study."""
    if settings.token is None and not settings.trialbot_study_file.exists():
        log.info("no study file and no token: using the bundled demo study")
        return demo_study()
    return load_study_file(settings.trialbot_study_file)


async def prepare_database(database: Database, config: StudyConfig, *, migrate: bool) -> None:
    """Upgrade an empty database (or any, with migrate=True), then mirror the sites.

    A database at an older revision is not upgraded silently: the operator backs it up and
    runs `trialbot db upgrade`.
    """
    current = await current_revision(database)
    head = head_revision()
    if current is None or migrate:
        await upgrade(database)
    elif current != head:
        raise ConfigError(
            "DATABASE_URL",
            [
                f"the database schema is at revision {current}, this trialbot needs {head}: "
                "back it up, then run `trialbot db upgrade`"
            ],
        )
    async with database.session() as session:
        await sync_sites(session, config)


async def database_kind(database: Database) -> DatabaseKind:
    """What a database holds: nothing yet (no schema), the sandbox demo's made-up study
    (marked when the demo created it), or a real study (any other database with a schema)."""
    if await current_revision(database) is None:
        return "empty"
    async with database.session() as session:
        marks = await session.exec(
            select(AuditEvent.id).where(AuditEvent.action == DEMO_DATABASE_MARK).limit(1)
        )
        return "study" if marks.first() is None else "demo"


async def open_database_for_run(services: Services) -> None:
    """Get the database ready for `trialbot run`, keeping the demo and real studies apart.

    Without a token (the sandbox demo) the database must be empty, and is then created and
    marked as the demo's in one transaction, or be one the demo made. With a token, a database
    the demo made is refused. A refusal (ConfigError) comes before anything is written.
    """
    database, settings = services.database, services.settings
    kind = await database_kind(database)
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    if services.sandbox_mode:
        if kind == "study":
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN",
                [
                    "not set (or blank), so `trialbot run` would start the sandbox demo, but "
                    f"DATABASE_URL {shown} holds a real study, which the demo never touches. "
                    "Set TELEGRAM_BOT_TOKEN (environment or .env) to run the bot, or set "
                    "DATABASE_URL to another database (a new SQLite file) for the demo. "
                    "Nothing was changed."
                ],
            )
        if kind == "empty":
            now = services.clock.now()
            await upgrade(database, then=lambda connection: _mark_demo(connection, now))
        # The demo's own database follows the program's schema without asking.
        await prepare_database(database, services.config, migrate=True)
        return
    if kind == "demo":
        raise ConfigError(
            "DATABASE_URL",
            [
                f"{shown} was made by the sandbox demo (run without TELEGRAM_BOT_TOKEN) and "
                "holds its made-up participants, so the bot does not start on it with a "
                "token. Set DATABASE_URL to a fresh database (a new SQLite file or an empty "
                "PostgreSQL database) for the real study. Nothing was changed."
            ],
        )
    await prepare_database(database, services.config, migrate=False)


def _mark_demo(connection: Connection, now: datetime) -> None:
    connection.execute(
        insert(AuditEvent).values(
            at=now, actor=audit.SYSTEM, action=DEMO_DATABASE_MARK, entity="database"
        )
    )


def build_services(settings: Settings, *, clock: Clock | None = None) -> Services:
    return Services(
        settings=settings,
        config=load_config(settings),
        database=Database.from_url(settings.database_url),
        clock=clock or clock_for(settings),
    )


def clock_for(settings: Settings) -> Clock:
    """The wall clock, or simulated time when the settings ask for it (sandbox only)."""
    start, speed = settings.trialbot_clock_start, settings.trialbot_clock_speed
    if start is None and speed == 1.0:
        return SystemClock()
    return SimulatedClock(start or SystemClock().now(), speed)
