"""How fast a button press is answered while the bot is busy sending and sweeping.

The real bot (`running_bot`: PTB application with `TelegramRateLimiter`, polling, the
`SchedulerService` on the system clock, default settings) runs against the sandbox with
Telegram's flood limits on. 120 linked participants get two reminders each at once (a burst
of 240 messages, 8 s at Telegram's 30/s) while the periodic checks run back to back; during
the burst, each participant presses "I will come" under a visit reminder as soon as their
first message arrived, one press every `PRESS_EVERY` seconds (the handler records the answer
in the database, then edits the message and thanks them). A press is answered when the
sandbox receives the bot's answerCallbackQuery; the figure is the 95th percentile of that
minus the moment of the press, in milliseconds. Telegram shows a spinner on the button until
then.

Measured on a SQLite file and, when a PostgreSQL server is named
(`TRIALBOT_BENCH_POSTGRES_URL`, or `TRIALBOT_TEST_POSTGRES_URL` as the tests use), on a fresh
database there (`_postgres` figures). At 0 ms of simulated network: the figure is the bot's
own delay, which a round trip to Telegram adds to.

Run alone: `python -m bench.buttons [--postgres URL]`.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

from bench.dispatch import queue_due_reminders
from bench.rows import planned_reminders
from bench.support import (
    BOT_USERNAME,
    TOKEN,
    bot_services,
    configure_logging,
    daytime_zone,
    enrol_and_link,
    migrated_database,
    on_each_database,
    percentile,
    postgres_server,
    progress,
    report,
    start_chats,
    study_config,
)
from bot.runner import running_bot, running_of
from messages.callbacks import VisitAnswer, VisitReply
from sandbox import SandboxServer

CHAT_BASE = 9_000_000
PARTICIPANTS = 120
PER_CHAT = 2
PRESS_EVERY = 0.04  # seconds between presses: 120 presses over about 5 s of the burst
PATIENCE = 120.0
STALL_PROBE = 0.002  # seconds a probe task sleeps; what it oversleeps, the loop was held

NOTES = {
    "button_p95_ms": "95th percentile of (the bot's answerCallbackQuery - the press) over 120 "
    "presses of a visit reminder's button made during a burst of 240 messages while the "
    "periodic checks run back to back; real bot, Telegram's limits on, SQLite file",
    "button_p95_ms_postgres": "the same on PostgreSQL",
    "button_p50_ms": "the median of the same (SQLite); button_max_ms: the slowest",
    "loop_stall_max_ms": "the longest the event loop (the bot's, shared here with the sandbox) "
    "was held by one piece of work during those presses, measured by a task sleeping "
    f"{STALL_PROBE * 1000:g} ms at a time (SQLite; _postgres: the same on PostgreSQL)",
}


async def measure(postgres: str | None = None) -> dict[str, float | int]:
    """`button_*` on SQLite, and `button_*_postgres` on a fresh database on `postgres`."""

    async def presses(url: str) -> dict[str, float | int]:
        latencies, stalls = await presses_during_a_burst(url)
        return {
            "button_p95_ms": percentile(latencies, 95),
            "button_p50_ms": percentile(latencies, 50),
            "button_max_ms": max(latencies),
            "button_presses": len(latencies),
            "loop_stall_max_ms": max(stalls) * 1000,
        }

    return await on_each_database("buttons", postgres, presses)


async def presses_during_a_burst(url: str) -> tuple[list[float], list[float]]:
    """Milliseconds from each press to its answer; the event loop's stalls meanwhile, in
    seconds (`loop_stalls`)."""
    config = study_config()
    now = datetime.now(UTC)
    async with (
        SandboxServer() as sandbox,
        migrated_database(url, config) as database,
    ):
        sandbox.add_bot(TOKEN, username=BOT_USERNAME)
        progress(f"buttons: enrolling and linking {PARTICIPANTS} participants")
        linked = await enrol_and_link(
            database,
            config,
            now=now,
            indices=range(PARTICIPANTS),
            chat_base=CHAT_BASE,
            prefix="BTN",
            timezone=daytime_zone(now),
        )
        start_chats(sandbox, (person.chat_id for person in linked))
        templates = await planned_reminders(database, linked)
        visit_of = {
            person.chat_id: next(
                t.context["visit_id"] for t in mine if t.context.get("visit_id") is not None
            )
            for person, mine in zip(linked, templates, strict=True)
        }
        sandbox.enforce_rate_limits(True)
        services = bot_services(sandbox, url, database, config)
        pressed: dict[str, float] = {}  # callback query id -> when
        async with running_bot(services, token=TOKEN, api_url=sandbox.url) as application:
            await sandbox.wait_until(lambda: bool(sandbox.calls("getUpdates")), 30, "polling")
            scheduler = running_of(application).scheduler
            await scheduler.sweep()  # the first run after start-up, as in production
            progress(f"buttons: a burst of {PARTICIPANTS * PER_CHAT} messages, presses, sweeps")
            await queue_due_reminders(database, templates, PER_CHAT, tag="buttons")
            burst_over = asyncio.Event()

            async def sweeping() -> None:
                while not burst_over.is_set():
                    await scheduler.sweep()
                    await asyncio.sleep(0)

            sweeps = asyncio.create_task(sweeping())
            stalls: list[float] = []
            probe = asyncio.create_task(loop_stalls(burst_over, stalls))
            waiting = set(visit_of)
            while waiting:
                ready = [chat for chat in waiting if sandbox.bot_messages(chat)]
                for chat in ready[:1]:
                    first = sandbox.bot_messages(chat)[0]
                    data = VisitAnswer(visit_of[chat], VisitReply.COMING).pack()
                    at = time.time()
                    query = await sandbox.press(chat, chat, first.message_id, data, forge=True)
                    pressed[query] = at
                    waiting.discard(chat)
                await asyncio.sleep(PRESS_EVERY)
            await sandbox.wait_until(
                lambda: all(sandbox.callback_answers(query) for query in pressed),
                PATIENCE,
                "every press answered",
            )
            sent = sum(call.ok for call in sandbox.calls("sendMessage"))
            progress(f"buttons: {len(pressed)} presses answered; {sent} messages sent by then")
            burst_over.set()
            await sweeps
            await probe
        answered = {
            str(call.params["callback_query_id"]): call.time
            for call in sandbox.calls("answerCallbackQuery")
            if call.ok
        }
        throttled = sum(call.error_code == 429 for call in sandbox.calls())
        if throttled:
            progress(f"buttons: {throttled} answers of 429 from the sandbox")
    return [(answered[query] - at) * 1000 for query, at in pressed.items()], stalls


async def loop_stalls(over: asyncio.Event, stalls: list[float]) -> None:
    """Until `over`: how much longer than `STALL_PROBE` each short sleep took (the loop was
    held by other work: a long step of a coroutine, a full garbage collection)."""
    while not over.is_set():
        before = time.perf_counter()
        await asyncio.sleep(STALL_PROBE)
        stalls.append(time.perf_counter() - before - STALL_PROBE)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.buttons", description=__doc__)
    parser.add_argument("--postgres", metavar="URL", default=postgres_server())
    arguments = parser.parse_args()
    configure_logging()
    report(asyncio.run(measure(arguments.postgres)))


if __name__ == "__main__":
    main()
