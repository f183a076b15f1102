"""A dispatcher process for reliability tests: the real Dispatcher, real PTB, a real database.

    python -m tests.support.dispatch_worker --database-url URL --api-url URL --token T \
        [--lease-seconds S] [--concurrency N] [--rate-limit | --no-rate-limit]

It prints one line "ready" once it can send, then sends whatever is due until it is stopped:
SIGKILL plays a crash; SIGTERM lets it finish the batch in hand, print "sent N" (how many
messages it sent) and exit 0. Only Telegram (the sandbox at `--api-url`) is fake; time is
the system clock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import signal
import sys
from datetime import timedelta
from typing import Any

from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import Defaults, ExtBot
from telegram.request import HTTPXRequest

from bot.sender import PtbSender, TelegramRateLimiter
from scheduler.dispatcher import Dispatcher, DispatchSettings
from scheduler.planner import Planner
from study.clock import Clock, SystemClock
from study.config import StudyConfig
from study.database import Database
from tests.support.study import study_config

READY = "ready"
POLL_SECONDS = 1.0  # rows written by other processes are seen within this
MIN_WAIT_SECONDS = 0.05  # a row due now but locked by another process: look again soon


def build_bot(
    api_url: str,
    token: str,
    *,
    rate_limit: bool = True,
    read_timeout: float = 5.0,
    per_second: int = 29,
    request: HTTPXRequest | None = None,
) -> ExtBot[Any]:
    """PTB's bot as `bot.app` sets it up (HTML, Telegram's rate limits, `per_second` overall),
    aimed at `api_url` (through `request`, if given, instead of a client that gives up
    waiting for an answer after `read_timeout`)."""
    return ExtBot(
        token,
        base_url=f"{api_url}/bot",
        base_file_url=f"{api_url}/file/bot",
        defaults=Defaults(
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        ),
        request=request or HTTPXRequest(read_timeout=read_timeout),
        rate_limiter=TelegramRateLimiter(per_second=per_second) if rate_limit else None,
    )


def build_dispatcher(
    database: Database,
    bot: ExtBot[Any],
    clock: Clock,
    config: StudyConfig,
    settings: DispatchSettings | None = None,
    rng: random.Random | None = None,
) -> Dispatcher:
    """The dispatcher as `bot.runner` builds it, on PTB's bot."""
    return Dispatcher(database, PtbSender(bot), clock, config, Planner(config), settings, rng)


async def wait_for_work(
    dispatcher: Dispatcher, clock: Clock, wake: asyncio.Event, limit: float = POLL_SECONDS
) -> None:
    """Until the next row falls due (or a lease runs out), a commit of ours wakes us, or
    `limit` seconds pass (other processes' rows)."""
    next_due = await dispatcher.next_due()
    delay = limit if next_due is None else (next_due - clock.now()).total_seconds()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), min(max(delay, MIN_WAIT_SECONDS), limit))


async def serve(arguments: argparse.Namespace) -> None:
    config = study_config()
    clock = SystemClock()
    database = Database.from_url(arguments.database_url)
    wake, stop = asyncio.Event(), asyncio.Event()
    database.on_outbox_commit(wake.set)

    def on_sigterm() -> None:
        stop.set()
        wake.set()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, on_sigterm)
    settings = DispatchSettings()
    if arguments.lease_seconds is not None:
        settings.lease = timedelta(seconds=arguments.lease_seconds)
    if arguments.concurrency is not None:
        settings.concurrency = arguments.concurrency
    bot = build_bot(arguments.api_url, arguments.token, rate_limit=arguments.rate_limit)
    try:
        async with bot:
            dispatcher = build_dispatcher(database, bot, clock, config, settings)
            if database.is_sqlite:  # one process by design: what is `sending` is ours
                await dispatcher.release_own_leases()
            say(READY)
            sent = 0
            while not stop.is_set():
                wake.clear()
                report = await dispatcher.run_once()
                sent += report.sent
                if report.handled == 0:
                    await wait_for_work(dispatcher, clock, wake)
            say(f"sent {sent}")
    finally:
        await database.dispose()


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.support.dispatch_worker")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--api-url", required=True, help="the sandbox's root URL")
    parser.add_argument("--token", required=True)
    parser.add_argument("--lease-seconds", type=float, default=None)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--rate-limit", action=argparse.BooleanOptionalAction, default=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(parse_arguments(argv)))


if __name__ == "__main__":
    main()
