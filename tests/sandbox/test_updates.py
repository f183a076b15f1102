"""Getting updates: getUpdates offsets and long polling, conflicts, webhooks, a PTB Application."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from typing import Any

import pytest
import telegram
from aiohttp import web
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from sandbox import SandboxServer
from tests.sandbox.conftest import TOKEN, USER


@pytest.fixture
async def chatty(sb: SandboxServer) -> int:
    """A user who has written three messages (updates 1-3)."""
    sb.add_user(USER, "P")
    for text in ("one", "two", "three"):
        await sb.send_text(USER, text)
    return USER


def texts(updates: tuple[Update, ...]) -> list[str | None]:
    return [u.message.text if u.message else None for u in updates]


async def test_offset_confirms_earlier_updates(bot: telegram.Bot, chatty: int) -> None:
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [1, 2, 3]
    assert texts(await bot.get_updates()) == ["one", "two", "three"]  # not confirmed yet
    assert texts(await bot.get_updates(offset=3)) == ["three"]
    assert texts(await bot.get_updates(offset=4)) == []
    assert texts(await bot.get_updates(offset=1)) == []  # confirmed updates are gone


async def test_negative_offset_keeps_the_last_updates_and_limit_caps(
    bot: telegram.Bot, chatty: int
) -> None:
    assert texts(await bot.get_updates(limit=1)) == ["one"]
    assert texts(await bot.get_updates(offset=-2)) == ["two", "three"]
    assert texts(await bot.get_updates()) == ["two", "three"]


async def test_long_polling_returns_as_soon_as_an_update_arrives(
    sb: SandboxServer, bot: telegram.Bot
) -> None:
    sb.add_user(USER, "P")
    account = sb.world.bots[TOKEN]
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=4))
    await sb.wait_until(lambda: account.poll_generation == 1, 2.0, "the long poll to start")
    await sb.send_text(USER, "wake up")
    updates = await asyncio.wait_for(poll, 3.0)
    assert texts(updates) == ["wake up"]
    assert loop.time() - started < 3.0


async def test_second_poller_ends_the_first_with_409(sb: SandboxServer, bot: telegram.Bot) -> None:
    account = sb.world.bots[TOKEN]
    first = asyncio.create_task(bot.get_updates(timeout=4))
    await sb.wait_until(lambda: account.poll_generation == 1, 2.0, "the first poll to start")
    assert await bot.get_updates(timeout=0) == ()
    with pytest.raises(telegram.error.Conflict, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, 3.0)


async def test_allowed_updates_filter_what_is_queued(sb: SandboxServer, bot: telegram.Bot) -> None:
    sb.add_user(USER, "P")
    await bot.get_updates(allowed_updates=["callback_query"])
    await sb.send_text(USER, "ignored")
    assert await bot.get_updates() == ()
    await bot.get_updates(allowed_updates=[])
    await sb.send_text(USER, "seen")
    assert texts(await bot.get_updates()) == ["seen"]


class Receiver:
    """A tiny webhook endpoint that fails its first `failures` requests."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: asyncio.Queue[tuple[int, dict[str, Any], str | None]] = asyncio.Queue()

    async def handle(self, request: web.Request) -> web.Response:
        status = 500 if self.failures > 0 else 200
        self.failures -= 1
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        await self.requests.put((status, await request.json(), secret))
        return web.Response(status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hook = Receiver(failures=1)
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield hook, f"http://127.0.0.1:{port}/hook"
    await runner.cleanup()


async def test_webhook_delivers_with_secret_and_retries(
    sb: SandboxServer, bot: telegram.Bot, receiver: tuple[Receiver, str]
) -> None:
    hook, url = receiver
    sb.add_user(USER, "P")
    assert await bot.set_webhook(url, secret_token="s3cret-token_1")
    with pytest.raises(telegram.error.Conflict, match="webhook is active"):
        await bot.get_updates()
    await sb.send_text(USER, "via webhook")

    first = await asyncio.wait_for(hook.requests.get(), 5.0)
    retried = await asyncio.wait_for(hook.requests.get(), 5.0)
    assert first[0] == 500 and retried[0] == 200
    assert retried[1] == first[1]
    assert retried[1]["message"]["text"] == "via webhook"
    assert retried[2] == "s3cret-token_1"
    account = sb.world.bots[TOKEN]
    await sb.wait_until(lambda: not account.updates, 2.0, "the update to leave the queue")

    info = await bot.get_webhook_info()
    assert info.url == url and info.pending_update_count == 0
    assert info.last_error_message and "500" in info.last_error_message
    assert await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.get_updates() == ()


async def test_ptb_application_answers_by_long_polling(sb: SandboxServer) -> None:
    async def shout(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Reply with the user's text in bold."""
        assert update.effective_message and update.effective_message.text
        await update.effective_message.reply_html(
            f"<b>{html.escape(update.effective_message.text)}</b>"
        )

    app = (
        Application.builder()
        .token(TOKEN)
        .base_url(f"{sb.url}/bot")
        .base_file_url(f"{sb.url}/file/bot")
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, shout))
    sb.add_user(USER, "P", language_code="zh")
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=5)
        sent = await sb.send_text(USER, "hello <world> & you")
        reply = await sb.wait_for_message(USER, sent.message_id, timeout=5)
        await app.updater.stop()
        await app.stop()
    assert reply.html == "<b>hello &lt;world&gt; &amp; you</b>"
    assert reply.text == "hello <world> & you"
    assert reply.entities == [{"type": "bold", "offset": 0, "length": 19}]
    assert sb.rejections() == []
