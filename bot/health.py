"""A health endpoint for the operator's monitoring: `GET /health` answers JSON, and 200
only while the database answers, Telegram was reachable lately, nothing is overdue and
every open alert's card has reached some team chat.

It reports counts and durations only, never a participant or a message.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import exists, or_, text
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Bot
from telegram.error import TelegramError

from bot.services import Services
from study.models import Alert, AlertStatus, OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

OVERDUE = timedelta(minutes=5)
TELEGRAM_CHECK_EVERY = timedelta(seconds=60)


class Health:
    """Gathers the figures; Telegram is asked at most once a minute."""

    def __init__(self, services: Services, bot: Bot) -> None:
        self.services = services
        self.bot = bot
        self._telegram_ok: bool | None = None
        self._telegram_checked: datetime | None = None

    async def report(self) -> tuple[bool, dict[str, Any]]:
        now = self.services.clock.now()
        database_ok, lag, overdue, failed, unsendable, undelivered = True, None, 0, 0, 0, 0
        try:
            async with self.services.database.session() as session:
                await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
                oldest = (
                    await session.exec(
                        select(func.min(OutboxMessage.available_at)).where(
                            col(OutboxMessage.status) == OutboxStatus.PENDING,
                            col(OutboxMessage.available_at) <= now,
                        )
                    )
                ).one()
                overdue = (
                    await session.exec(
                        select(func.count()).where(
                            col(OutboxMessage.status).in_(
                                [OutboxStatus.PENDING, OutboxStatus.SENDING]
                            ),
                            col(OutboxMessage.available_at) <= now - OVERDUE,
                        )
                    )
                ).one()
                failed = (
                    await session.exec(
                        select(func.count()).where(
                            col(OutboxMessage.status) == OutboxStatus.FAILED,
                            col(OutboxMessage.created_at) >= now - timedelta(days=1),
                        )
                    )
                ).one()
                unsendable = (
                    await session.exec(
                        select(func.count()).where(
                            col(OutboxMessage.status) == OutboxStatus.FAILED,
                            col(OutboxMessage.created_at) >= now - timedelta(days=1),
                            col(OutboxMessage.last_error).startswith("could not be composed"),
                        )
                    )
                ).one()
                undelivered = await undelivered_alerts(session, now)
            lag = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
        except Exception:
            log.exception("health check: the database did not answer")
            database_ok = False
        telegram_ok = await self._telegram(now)
        healthy = database_ok and telegram_ok is not False and overdue == 0 and undelivered == 0
        return healthy, {
            "status": "ok" if healthy else "degraded",
            "database": database_ok,
            "telegram": telegram_ok,
            "dispatcher_lag_seconds": lag,
            "overdue_messages": overdue,
            "failed_messages_last_day": failed,
            "unsendable_messages_last_day": unsendable,
            "undelivered_alerts": undelivered,
            "checked_at": now.isoformat(),
        }

    async def _telegram(self, now: datetime) -> bool | None:
        due = self._telegram_checked is None or now - self._telegram_checked > (
            TELEGRAM_CHECK_EVERY
        )
        if due:
            self._telegram_checked = now
            try:
                await self.bot.get_me()
                self._telegram_ok = True
            except TelegramError as exc:
                log.warning("health check: Telegram not reachable (%s)", type(exc).__name__)
                self._telegram_ok = False
        return self._telegram_ok


async def undelivered_alerts(session: AsyncSession, now: datetime) -> int:
    """Open (unresolved) alerts of which no message reached any chat, once every send has
    ended or after the overdue delay: the team may not know of them."""
    of_alert = col(OutboxMessage.alert_id) == Alert.id
    delivered = exists().where(of_alert, col(OutboxMessage.status) == OutboxStatus.SENT)
    on_its_way = exists().where(
        of_alert, col(OutboxMessage.status).in_([OutboxStatus.PENDING, OutboxStatus.SENDING])
    )
    count = await session.exec(
        select(func.count())
        .select_from(Alert)
        .where(
            col(Alert.status) != AlertStatus.RESOLVED,
            ~delivered,
            or_(~on_its_way, col(Alert.raised_at) <= now - OVERDUE),
        )
    )
    return int(count.one())


@asynccontextmanager
async def health_server(health: Health, listen: str) -> AsyncIterator[str]:
    """Serve /health on HOST:PORT until the block ends; yields the address."""

    async def handle(_request: web.Request) -> web.Response:
        healthy, body = await health.report()
        return web.json_response(body, status=200 if healthy else 503)

    async def alive(_request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    app = web.Application()
    app.router.add_get("/health", handle)
    app.router.add_get("/health/live", alive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, _, port = listen.rpartition(":")
    site = web.TCPSite(runner, host, int(port))
    await site.start()
    address = f"http://{listen}/health"
    log.info("health endpoint on %s", address)
    try:
        yield address
    finally:
        await runner.cleanup()
