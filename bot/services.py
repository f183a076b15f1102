"""The one bootstrap: builds settings, study config, database and clock, and shares them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bot.config import demo_study, load_study_file
from bot.settings import Settings
from migrations import current_revision, head_revision, upgrade
from scheduler.planner import Planner
from scheduler.service import SchedulerService
from study.clock import Clock, SimulatedClock, SystemClock
from study.config import StudyConfig
from study.database import Database
from study.errors import ConfigError
from study.sites import sync_sites

log = logging.getLogger(__name__)

SANDBOX_TOKEN = "1000000001:SANDBOX-demo-token-not-a-secret"  # noqa: S105 (local only)
SANDBOX_USERNAME = "trialbot_demo_bot"


@dataclass
class Services:
    """What handlers, jobs and commands share; built once per process."""

    settings: Settings
    config: StudyConfig
    database: Database
    clock: Clock = field(default_factory=SystemClock)
    replanner: Planner = field(init=False)
    scheduler: SchedulerService | None = None
    bot_username: str | None = None

    def __post_init__(self) -> None:
        self.replanner = Planner(self.config)

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


def build_services(settings: Settings, *, clock: Clock | None = None, **kwargs: Any) -> Services:
    return Services(
        settings=settings,
        config=load_config(settings),
        database=Database.from_url(settings.database_url),
        clock=clock or clock_for(settings),
        **kwargs,
    )


def clock_for(settings: Settings) -> Clock:
    """The wall clock, or simulated time when the settings ask for it (sandbox only)."""
    start, speed = settings.trialbot_clock_start, settings.trialbot_clock_speed
    if start is None and speed == 1.0:
        return SystemClock()
    return SimulatedClock(start or SystemClock().now(), speed)
