"""Reliability fixtures: a sandbox Telegram with the study's site groups, checked at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.demo import add_study_teams
from sandbox import SandboxServer
from study.config import StudyConfig
from tests.reliability.workers import TOKEN
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
