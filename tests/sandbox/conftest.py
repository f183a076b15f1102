"""Fixtures: a running sandbox, a PTB `Bot` pointed at it, and a user who started the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import telegram
from telegram.request import HTTPXRequest

from sandbox import SandboxServer

TOKEN = "123456789:AAHsandboxTestTokenXXXXXXXXXXXXXXXX"
USER = 1001


@pytest.fixture
async def sb() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(seed=7) as server:
        server.add_bot(TOKEN, username="trialbot_test_bot")
        yield server


def make_bot(sb: SandboxServer, *, read_timeout: float = 5.0) -> telegram.Bot:
    request = HTTPXRequest(read_timeout=read_timeout, connect_timeout=2.0)
    return telegram.Bot(
        TOKEN,
        base_url=f"{sb.url}/bot",
        base_file_url=f"{sb.url}/file/bot",
        request=request,
        get_updates_request=HTTPXRequest(read_timeout=5.0),
    )


@pytest.fixture
async def bot(sb: SandboxServer) -> AsyncIterator[telegram.Bot]:
    async with make_bot(sb) as client:
        yield client


@pytest.fixture
async def user(sb: SandboxServer) -> int:
    """A user who has written /start to the bot (so it may answer)."""
    sb.add_user(USER, "Participant", language_code="zh")
    await sb.send_text(USER, "/start")
    return USER
