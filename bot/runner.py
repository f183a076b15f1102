"""`trialbot run`: start the database, the bot and the scheduler; stop them cleanly."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal
from urllib.parse import urlparse

from telegram.ext import Application

from bot.app import ALLOWED_UPDATES, build_application
from bot.context import RUNNING
from bot.health import Health, health_server
from bot.logs import configure_logging
from bot.sender import PtbSender, TelegramRateLimiter
from bot.services import Services, build_services, open_database_for_run
from bot.settings import Settings
from bot.sqlite_lock import one_process_per_sqlite_file
from messages.render import warm_up
from scheduler.dispatcher import Dispatcher, DispatchSettings
from scheduler.service import SchedulerService
from study.clock import SimulatedClock

log = logging.getLogger(__name__)

POLL_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Updates:
    """Where updates come from: long polling (one process only), a webhook behind a load
    balancer (any number of processes), or none (a process that only dispatches)."""

    mode: Literal["polling", "webhook", "none"] = "polling"
    webhook_url: str | None = None
    listen: str = "127.0.0.1:8443"
    secret: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Updates:
        secret = settings.trialbot_webhook_secret
        return cls(
            mode=settings.trialbot_updates,
            webhook_url=settings.trialbot_webhook_url,
            listen=settings.trialbot_webhook_listen,
            secret=secret.get_secret_value() if secret else None,
        )


@asynccontextmanager
async def running_bot(
    services: Services,
    *,
    token: str,
    api_url: str,
    rate_limiter: TelegramRateLimiter | None = None,
    updates: Updates | None = None,
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """The bot taking updates from `api_url` until the block ends (then it finishes what it
    holds: the update in hand, the messages in flight)."""
    updates = updates or Updates()
    warm_up()
    application = build_application(
        services, token=token, api_url=api_url, rate_limiter=rate_limiter
    )
    async with application:
        dispatcher = Dispatcher(
            services.database,
            PtbSender(application.bot),
            services.clock,
            services.config,
            services.replanner,
            DispatchSettings(concurrency=services.settings.trialbot_send_concurrency),
        )
        scheduler = SchedulerService(
            database=services.database,
            dispatcher=dispatcher,
            clock=services.clock,
            config=services.config,
            poll_interval=timedelta(seconds=services.settings.trialbot_poll_seconds),
            sweep_interval=timedelta(seconds=services.settings.trialbot_sweep_seconds),
        )
        # Set once, before the first update is taken.
        application.bot_data[RUNNING] = Running(scheduler)
        await application.start()
        await _take_updates(application, updates)
        await scheduler.start()
        # What start-up made (modules, the application, the study) lives as long as the
        # bot: kept out of the garbage collector's full runs, which would walk all of it
        # and hold the event loop 120-220 ms on a slow machine, in a burst as anywhere.
        gc.freeze()
        try:
            yield application
        finally:
            gc.unfreeze()
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            await scheduler.shutdown()
            await application.stop()


@dataclass(frozen=True)
class Running:
    """What exists only while the bot runs: its scheduler (with the dispatcher). Handlers
    see it as `bot.context.SendsQueued`, through which they send queued advice at once."""

    scheduler: SchedulerService

    async def send_now(self, row_ids: list[int]) -> None:
        await self.scheduler.dispatcher.send_now(row_ids)


def running_of(application: Application) -> Running:  # type: ignore[type-arg]
    """The running bot's scheduler (tests and benchmarks drive it)."""
    running = application.bot_data.get(RUNNING)
    assert isinstance(running, Running), "the bot is not running (see running_bot)"
    return running


async def _take_updates(application: Application, updates: Updates) -> None:  # type: ignore[type-arg]
    updater = application.updater
    assert updater is not None
    if updates.mode == "polling":
        await updater.start_polling(timeout=POLL_TIMEOUT_SECONDS, allowed_updates=ALLOWED_UPDATES)
    elif updates.mode == "webhook":
        assert updates.webhook_url is not None and updates.secret is not None
        host, _, port = updates.listen.rpartition(":")
        # PTB's webhook server refuses any request without this secret in Telegram's
        # X-Telegram-Bot-Api-Secret-Token header.
        await updater.start_webhook(
            listen=host,
            port=int(port),
            url_path=urlparse(updates.webhook_url).path.lstrip("/"),
            webhook_url=updates.webhook_url,
            secret_token=updates.secret,
            allowed_updates=ALLOWED_UPDATES,
        )


def run(settings: Settings) -> None:
    """Run until Ctrl-C or SIGTERM."""
    configure_logging(settings)
    asyncio.run(serve(settings))


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """`trialbot run`: refuse a second process on the same SQLite file, refuse to mix the
    sandbox demo with a real study (see `open_database_for_run`), then run until `stop`."""
    stop = stop or _stop_on_signals()
    services = build_services(settings)
    if isinstance(services.clock, SimulatedClock):
        log.info("%s", services.clock.describe())
    async with AsyncExitStack() as stack:
        stack.enter_context(one_process_per_sqlite_file(settings.database_url))
        stack.push_async_callback(services.close)
        await open_database_for_run(services)
        if services.sandbox_mode:
            from bot.demo import start_demo

            token, api_url = await start_demo(stack, services)
        else:
            assert settings.token is not None
            token, api_url = settings.token, settings.telegram_api_url
        application = await stack.enter_async_context(
            running_bot(
                services, token=token, api_url=api_url, updates=Updates.from_settings(settings)
            )
        )
        if settings.trialbot_health_listen:
            health = Health(services, application.bot)
            await stack.enter_async_context(health_server(health, settings.trialbot_health_listen))
        log.info("trialbot is running as @%s", application.bot.username)
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
