"""`trialbot run`: start the database, the bot and the scheduler; stop them cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from telegram.ext import Application

from bot.app import ALLOWED_UPDATES, build_application
from bot.logs import configure_logging
from bot.sender import PtbSender, TelegramRateLimiter
from bot.services import Services, build_services, prepare_database
from bot.settings import Settings
from scheduler.dispatcher import Dispatcher
from scheduler.service import SchedulerService

log = logging.getLogger(__name__)

POLL_TIMEOUT_SECONDS = 10


@asynccontextmanager
async def running_bot(
    services: Services,
    *,
    token: str,
    api_url: str,
    rate_limiter: TelegramRateLimiter | None = None,
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """The bot polling `api_url` until the block ends (then it finishes what it holds)."""
    application = build_application(
        services, token=token, api_url=api_url, rate_limiter=rate_limiter
    )
    async with application:
        services.bot_username = application.bot.username
        dispatcher = Dispatcher(
            services.database,
            PtbSender(application.bot),
            services.clock,
            services.config,
            services.replanner,
        )
        scheduler = SchedulerService(
            database=services.database,
            dispatcher=dispatcher,
            clock=services.clock,
            config=services.config,
        )
        services.scheduler = scheduler
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(
            timeout=POLL_TIMEOUT_SECONDS, allowed_updates=ALLOWED_UPDATES
        )
        await scheduler.start()
        try:
            yield application
        finally:
            await application.updater.stop()
            await scheduler.shutdown()
            await application.stop()
            services.scheduler = None


def run(settings: Settings) -> None:
    """Run until Ctrl-C or SIGTERM."""
    configure_logging(settings)
    asyncio.run(serve(settings))


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    stop = stop or _stop_on_signals()
    services = build_services(settings)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(services.close)
        await prepare_database(services.database, services.config, migrate=False)
        if services.sandbox_mode:
            from bot.demo import start_demo

            token, api_url = await start_demo(stack, services)
        else:
            assert settings.token is not None
            token, api_url = settings.token, settings.telegram_api_url
        await stack.enter_async_context(running_bot(services, token=token, api_url=api_url))
        log.info("trialbot is running as @%s", services.bot_username)
        await stop.wait()
        log.info("stopping")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # not on this platform
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    return stop


def say(line: str) -> None:
    """A line for the person at the terminal (not a log line)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
