"""Reliability fixtures: a sandbox Telegram with the study's site groups, checked at the end,
and the application's bot without its rate limiter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram.ext import ExtBot

from bot.demo import add_study_teams
from sandbox import SandboxServer
from study.config import StudyConfig
from tests.reliability.workers import TOKEN
from tests.support.dispatch_worker import build_bot
from tests.support.refusals import refusals


@pytest.fixture
async def sandbox(config: StudyConfig) -> AsyncIterator[SandboxServer]:
    """A seeded sandbox with the sites' coordinators and alert groups. At the end: proof that
    Telegram's own checks refused nothing, except sends to people who blocked the bot."""
    async with SandboxServer(host="127.0.0.1", port=0, seed=20261125) as server:
        server.add_bot(TOKEN, username="trialbot_test_bot")
        add_study_teams(server, config)
        yield server
        rejected = refusals(server)
        assert rejected == [], f"the sandbox's Telegram checks rejected: {rejected}"


@pytest.fixture
async def bot(sandbox: SandboxServer) -> AsyncIterator[ExtBot[Any]]:
    """Telegram's real client against the sandbox, without Telegram's limits (a test that
    needs them builds its own with `rate_limit=True`)."""
    async with build_bot(sandbox.url, TOKEN, rate_limit=False) as ptb_bot:
        yield ptb_bot
