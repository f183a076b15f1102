"""Throughput of the outbox dispatcher against a bare PTB `send_message` loop.

Both send the same messages to the same sandbox chats in the same run, through the same kind
of PTB bot (an `ExtBot` with the application's defaults and no rate limiter). The dispatcher
does its whole job per message: claim the row (SQLite, `BEGIN IMMEDIATE`), check it is not
superseded, compose the reminder from the database, check quiet hours, send through
`PtbSender`, record it as sent. The bare loop only awaits `send_message`, with as many in
flight as the dispatcher allows (`DispatchSettings.concurrency`, 12 by default), as a naive
bot would, with the texts and keyboards the dispatcher produced.

At 0 ms the sandbox answers within a millisecond, as on one machine; at 80 ms every call
takes a simulated network round trip (`SandboxServer(latency_ms=80)`), as from a server far
from Telegram, and the figures carry `_rtt80` in their names. Fewer messages are sent then
(each waits its round trip); the ratio is what counts.

Run alone: `python -m bench.dispatch [--latency-ms 80]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from telegram import InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import Defaults, ExtBot

from bench.rows import Template, enqueue_copy, planned_reminders
from bench.support import (
    BOT_USERNAME,
    TOKEN,
    at_latency,
    configure_logging,
    daytime_zone,
    enrol_and_link,
    migrated_database,
    progress,
    report,
    start_chats,
    study_config,
)
from bot.sender import PtbSender
from sandbox import SandboxServer
from scheduler.dispatcher import Dispatcher
from scheduler.planner import Planner
from study.clock import SystemClock
from study.database import Database

CHAT_BASE = 5_000_000

NOTES = {
    "dispatch_ratio": "the median over the rounds of (the dispatcher's messages/s / the bare "
    "loop's, sent one after the other in that round); 1.0 would mean the dispatcher costs "
    "nothing beyond the HTTP round trips",
    "dispatch_msgs_per_s": "Dispatcher.drain() over due reminder rows (200 chats x 5, median "
    "of 4 rounds): claim, compose from the database, quiet hours, PtbSender, mark sent; "
    "SQLite file, default settings (batch 50, 12 sends in flight), bot without rate limiter",
    "bare_ptb_msgs_per_s": "`await bot.send_message(...)` of the same texts and keyboards to "
    "the same chats, as many at once as the dispatcher sends, same bot class, same sandbox",
    "dispatch_ratio_rtt80": "the same ratio with 80 ms added to every Bot API call "
    "(120 chats x 3, median of 4 rounds): the dispatcher against a bare loop far from Telegram",
}
PLAIN = (200, 5)  # chats, messages each: at 0 ms
FAR = (120, 3)  # with a round trip: 360 messages, 12 at a time, take ~3 s at 80 ms

Send = tuple[int, str, InlineKeyboardMarkup | None]


def bench_bot(url: str) -> ExtBot[None]:
    """The application's bot without its rate limiter."""
    return ExtBot(
        TOKEN,
        base_url=f"{url}/bot",
        base_file_url=f"{url}/file/bot",
        defaults=Defaults(
            parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
        ),
    )


async def queue_due_reminders(
    database: Database, templates: list[list[Template]], per_chat: int, *, tag: str
) -> int:
    """`per_chat` reminder rows for each participant, all due a second ago, queued one
    round of participants after the other (as reminders for one morning would be)."""
    due = datetime.now(UTC) - timedelta(seconds=1)
    queued = 0
    async with database.session() as session:
        for n in range(per_chat):
            for mine in templates:
                template = mine[n % len(mine)]
                key = f"bench:{tag}:{template.participant_id}:{n}"
                await enqueue_copy(session, template, key=key, due_at=due, now=due)
                queued += 1
    return queued


def recorded_sends(sandbox: SandboxServer, since: int, bot: ExtBot[None]) -> list[Send]:
    """The messages the sandbox accepted after call number `since`, ready to send again."""
    sends = []
    for call in sandbox.calls()[since:]:
        if call.method != "sendMessage" or not call.ok:
            continue
        raw = call.params.get("reply_markup")
        markup = InlineKeyboardMarkup.de_json(raw, bot) if raw else None
        sends.append((int(call.params["chat_id"]), str(call.params["text"]), markup))
    return sends


async def bare_loop(bot: ExtBot[None], sends: list[Send], concurrency: int) -> float:
    """Seconds to send them in order, `concurrency` at a time (1: one after the other)."""
    queue = list(reversed(sends))

    async def worker() -> None:
        while queue:
            chat_id, text, markup = queue.pop()
            await bot.send_message(chat_id, text, reply_markup=markup)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def dispatch_all(dispatcher: Dispatcher, expected: int) -> float:
    """Seconds for the dispatcher to send every due row."""
    started = time.perf_counter()
    result = await dispatcher.drain()
    elapsed = time.perf_counter() - started
    if result.sent != expected:
        raise RuntimeError(f"the dispatcher sent {result.sent} of {expected}: {result}")
    return elapsed


async def measure(
    latency_ms: float = 0.0,
    chats: int | None = None,
    per_chat: int | None = None,
    rounds: int = 4,
) -> dict[str, float | int]:
    default_chats, default_per_chat = FAR if latency_ms else PLAIN
    chats = chats or default_chats
    per_chat = per_chat or default_per_chat
    config = study_config()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="trialbot-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'dispatch.db'}"
        async with (
            SandboxServer(latency_ms=latency_ms) as sandbox,
            migrated_database(url, config) as database,
        ):
            sandbox.add_bot(TOKEN, username=BOT_USERNAME)
            progress(f"dispatch: enrolling and linking {chats} participants")
            linked = await enrol_and_link(
                database,
                config,
                now=now,
                indices=range(chats),
                chat_base=CHAT_BASE,
                prefix="DSP",
                timezone=daytime_zone(now),
            )
            start_chats(sandbox, (person.chat_id for person in linked))
            templates = await planned_reminders(database, linked)
            async with bench_bot(sandbox.url) as bot:
                dispatcher = Dispatcher(
                    database, PtbSender(bot), SystemClock(), config, Planner(config)
                )
                dispatch_rates, bare_rates = [], []
                for number in range(rounds + 1):  # round 0 warms both up
                    count = per_chat if number else 1
                    expected = await queue_due_reminders(
                        database, templates, count, tag=f"r{number}"
                    )
                    mark = len(sandbox.calls())
                    dispatch_s = await dispatch_all(dispatcher, expected)
                    sends = recorded_sends(sandbox, mark, bot)
                    bare_s = await bare_loop(bot, sends, dispatcher.settings.concurrency)
                    if not number:
                        progress(f"dispatch: warmed up with {expected} messages each way")
                        continue
                    dispatch_rates.append(expected / dispatch_s)
                    bare_rates.append(len(sends) / bare_s)
                    progress(
                        f"dispatch at {latency_ms:g} ms: round {number}/{rounds}: "
                        f"{expected} messages, "
                        f"dispatcher {dispatch_s:.2f} s, bare PTB {bare_s:.2f} s"
                    )
            rejected = sandbox.rejections()
            if rejected:
                raise RuntimeError(f"the sandbox rejected {len(rejected)} calls: {rejected[:3]}")
    # Each round's two figures are taken seconds apart, so their ratio is the least
    # disturbed by a machine whose speed drifts (the bare loop alone varies by half).
    ratios = [ours / bare for ours, bare in zip(dispatch_rates, bare_rates, strict=True)]
    figures = {
        "dispatch_ratio": statistics.median(ratios),
        "dispatch_msgs_per_s": statistics.median(dispatch_rates),
        "bare_ptb_msgs_per_s": statistics.median(bare_rates),
    }
    return at_latency(figures, latency_ms)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dispatch", description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="round trip per call")
    arguments = parser.parse_args()
    configure_logging()
    report(asyncio.run(measure(arguments.latency_ms)))


if __name__ == "__main__":
    main()
