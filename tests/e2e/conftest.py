"""End-to-end fixtures: the sandbox Bot API server, and the real bot polling it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from telegram.ext import Application

from bot.demo import add_study_teams
from bot.runner import running_bot, running_of
from bot.sender import TelegramRateLimiter
from bot.services import Services
from bot.settings import Settings
from sandbox import SandboxServer
from scheduler.service import SchedulerService
from study.config import StudyConfig
from study.database import Database
from tests.support.clock import FakeClock
from tests.support.refusals import refusals
from tests.support.study import STUDY_TOML

TOKEN = "123456789:TEST-token-for-the-sandbox-0000000000"
BOT_USERNAME = "trialbot_test_bot"


@pytest.fixture
async def sandbox(config: StudyConfig) -> AsyncIterator[SandboxServer]:
    """A sandbox Telegram with the study's coordinators and site groups; at the end, proof
    that Telegram's checks rejected nothing the bot sent."""
    async with SandboxServer(host="127.0.0.1", port=0) as server:
        server.add_bot(TOKEN, username=BOT_USERNAME)
        add_study_teams(server, config)
        yield server
        rejected = refusals(server)
        assert rejected == [], f"the sandbox's Telegram checks rejected: {rejected}"


@pytest.fixture
def study_file(tmp_path: Path) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(STUDY_TOML, encoding="utf-8")
    return path


@pytest.fixture
def settings(sandbox: SandboxServer, database_url: str, study_file: Path) -> Settings:
    return Settings(
        _env_file=None,
        telegram_bot_token=TOKEN,
        telegram_api_url=sandbox.url,
        database_url=database_url,
        trialbot_study_file=study_file,
    )


@pytest.fixture
def services(
    settings: Settings, config: StudyConfig, database: Database, clock: FakeClock
) -> Services:
    return Services(settings=settings, config=config, database=database, clock=clock)


@pytest.fixture
async def bot(services: Services, sandbox: SandboxServer) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    sandbox.set_time(services.clock.now().timestamp())
    # Months of fake time pass in seconds here, so one chat may get many messages a second.
    limiter = TelegramRateLimiter(per_chat_burst=1000, per_group_per_minute=100_000)
    async with running_bot(
        services, token=TOKEN, api_url=sandbox.url, rate_limiter=limiter
    ) as application:
        yield application


@pytest.fixture
def scheduler(bot: Application) -> SchedulerService:  # type: ignore[type-arg]
    """The running bot's scheduler, to run the sweeps and the dispatcher at a test's time."""
    return running_of(bot).scheduler


async def advance_to(
    moment: datetime, scheduler: SchedulerService, sandbox: SandboxServer, clock: FakeClock
) -> None:
    """Move time to `moment`, run the calendar sweeps, and let the dispatcher send all that
    is due; returns when it is idle."""
    clock.set(moment)
    sandbox.set_time(moment.timestamp())
    await scheduler.sweep()
    scheduler.wake()
    await scheduler.idle.wait()
