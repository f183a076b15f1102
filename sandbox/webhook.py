"""Delivering a bot's updates to its webhook, one at a time, in order, retrying on failure."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp

from sandbox.models import BotAccount, WebhookState
from sandbox.world import World

__all__ = ["WebhookDispatcher"]

logger = logging.getLogger(__name__)

_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)


class WebhookDispatcher:
    """One delivery task per bot with a webhook; an update leaves the queue once POSTed 2xx."""

    def __init__(
        self,
        world: World,
        *,
        retry_delay: float = 0.2,
        max_retry_delay: float = 5.0,
        request_timeout: float = 10.0,
    ) -> None:
        self.world = world
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.request_timeout = request_timeout
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

    def start(self, bot: BotAccount) -> None:
        """(Re)start delivery for a bot whose webhook was just set."""
        self._cancel(bot)
        if bot.webhook is not None:
            task = asyncio.get_running_loop().create_task(self._deliver(bot, bot.webhook))
            self._tasks[bot.bot_id] = task

    def stop(self, bot: BotAccount) -> None:
        """Stop delivery for a bot (its webhook was deleted)."""
        self._cancel(bot)

    def _cancel(self, bot: BotAccount) -> None:
        task = self._tasks.pop(bot.bot_id, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        """Stop every delivery task and close the HTTP session."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _deliver(self, bot: BotAccount, webhook: WebhookState) -> None:
        feed = self.world.feed
        delay = self.retry_delay
        while bot.webhook is webhook and not self.world.closing:
            if not bot.updates:
                await feed.wait(feed.version, 30.0)
                continue
            update = bot.updates[0]
            error = await self._post(webhook, update)
            if bot.webhook is not webhook:
                return
            if error is None:
                if bot.updates and bot.updates[0] is update:
                    bot.updates.pop(0)
                delay = self.retry_delay
                feed.bump()
                continue
            logger.info("webhook delivery for bot %s failed: %s", bot.bot_id, error)
            webhook.last_error_date = self.world.now()
            webhook.last_error_message = error
            feed.bump()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_retry_delay)

    async def _post(self, webhook: WebhookState, update: dict[str, Any]) -> str | None:
        """POST one update; None on success, else the error getWebhookInfo reports."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {_SECRET_HEADER: webhook.secret_token} if webhook.secret_token else {}
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        try:
            async with self._session.post(
                webhook.url, json=update, headers=headers, timeout=timeout
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"Wrong response from the webhook: {response.status} {response.reason}"
        except TimeoutError:
            return "Read timeout expired"
        except aiohttp.ClientError as exc:
            return f"Connection failed: {type(exc).__name__}"
