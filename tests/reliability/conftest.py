"""Reliability fixtures: a sandbox Telegram with the study's site groups, checked at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sandbox import SandboxServer
from study.config import StudyConfig
from tests.reliability.workers import TOKEN


@pytest.fixture
async def sandbox(config: StudyConfig) -> AsyncIterator[SandboxServer]:
    """A seeded sandbox with the sites' coordinators and alert groups. At the end: proof that
    Telegram's own checks refused nothing, except sends to people who blocked the bot."""
    async with SandboxServer(host="127.0.0.1", port=0, seed=20261125) as server:
        server.add_bot(TOKEN, username="trialbot_test_bot")
        for code, site in config.sites.items():
            members = [c.telegram_user_id for c in site.coordinators]
            for user_id in members:
                server.add_user(user_id, f"{code} coordinator")
            server.add_group(site.alert_chat_id, f"{code} team", members)
            if site.escalation_chat_id is not None:
                server.add_group(site.escalation_chat_id, f"{code} escalation", members)
        yield server
        blocked = {user.user_id for user in server.users() if user.blocked}
        rejected = [
            call
            for call in server.rejections()
            if not (call.error_code == 403 and call.params.get("chat_id") in blocked)
        ]
        assert rejected == [], f"the sandbox's Telegram checks rejected: {rejected}"
