"""How late due messages reach Telegram when the whole bot runs by itself.

The real bot (`running_bot`: PTB application with `TelegramRateLimiter`, polling, and the
`SchedulerService` on the system clock) runs against the sandbox, which enforces Telegram's
flood limits. Reminder rows are queued before it starts, due at staggered moments over a
short window: a steady stream to random chats plus two bursts (one message to each of many
chats at once; two messages to each of half as many chats at once). Lateness of a message is
the wall-clock time the sandbox recorded the successful `sendMessage` minus the row's
`due_at`. The floor is what a perfect scheduler would achieve under Telegram's limits as the
sandbox enforces them (30 messages/s per bot; 1/s per chat after a burst of 3), so lateness
above it is ours. That floor sends the earliest due first; the dispatcher must send the
earliest deadline first (`not_after`), and the same perfect scheduler in that order
(`lateness_deadline_first_p99_s`) is later on this schedule. The bot's own limiter keeps a
notch under Telegram's limits (29 a second in bursts of 20): in the dispatcher's order under
it a perfect scheduler reaches `lateness_limiter_floor_p99_s`; what is left of the lateness
above that is the dispatcher's. Rows that were never sent (expired, failed, or still
pending when the benchmark gave up) have no lateness: they are counted (`lateness_expired`,
`lateness_failed`, `lateness_unsent`), not left out silently.

At 80 ms every Bot API call takes a simulated network round trip (`_rtt80` figures); the
floor is then half a round trip higher (the sandbox receives a call halfway through it),
which `lateness_floor_*` does not include.

Run alone: `python -m bench.lateness [--latency-ms 80]`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import col, select

from bench.rows import Template, enqueue_copy, planned_reminders
from bench.support import (
    BOT_USERNAME,
    TOKEN,
    Linked,
    at_latency,
    bot_services,
    configure_logging,
    daytime_zone,
    enrol_and_link,
    migrated_database,
    percentile,
    progress,
    report,
    start_chats,
    study_config,
)
from bot.runner import running_bot
from bot.sender import OVERALL_BURST, OVERALL_PER_SECOND
from sandbox import SandboxServer
from sandbox.faults import BOT_PER_SECOND, PRIVATE_BURST, PRIVATE_PER_SECOND, TokenBucket
from study.database import Database
from study.models import OutboxMessage, OutboxStatus

CHAT_BASE = 6_000_000
KEY_PREFIX = "bench-late:"
OPEN = (OutboxStatus.PENDING, OutboxStatus.SENDING)

NOTES = {
    "lateness_p50_s": "median of (sandbox receipt time - due_at) over the messages, with the "
    "real bot running alone: TelegramRateLimiter on, SchedulerService waking the dispatcher",
    "lateness_p99_s": "99th percentile of the same",
    "lateness_floor_p99_s": "p99 a perfect scheduler would reach under Telegram's limits "
    "(30/s per bot; 1/s per chat after a burst of 3) for the same schedule",
    "lateness_deadline_first_p99_s": "p99 of a scheduler sending, under the same limits, "
    "whatever is due in the order the dispatcher must (alerts first, then the earliest "
    "not_after), not the earliest due first: the floor of that order is higher",
    "lateness_limiter_floor_p99_s": "p99 of a scheduler sending in that order the moment the "
    "bot's own limiter allows (29/s in bursts of 20, a notch under Telegram's 30 and 30; "
    "1/s per chat after a burst of 3): the least the dispatcher could reach",
    "lateness_429s": "429 answers the sandbox gave (it enforces Telegram's flood limits)",
    "lateness_expired": "rows of the schedule that expired instead of being sent (no "
    "lateness); lateness_failed: that failed; lateness_unsent: that were still pending",
    "lateness_p99_s_rtt80": "the same p99 with 80 ms added to every Bot API call",
}


@dataclass(frozen=True)
class Due:
    offset: float  # seconds after the start of the window
    chat_index: int


def schedule(chats: int, window: float, stream: int, rng: random.Random) -> list[Due]:
    """A steady stream to random chats, plus a burst to many chats at 30% of the window
    and a burst of two messages each to half as many chats at 70%."""
    due = [Due(window * i / stream, rng.randrange(chats)) for i in range(stream)]
    burst = min(chats, 100)
    due += [Due(window * 0.3, chat) for chat in rng.sample(range(chats), burst)]
    pairs = rng.sample(range(chats), burst // 2)
    due += [Due(window * 0.7, chat) for chat in pairs for _ in range(2)]
    return sorted(due, key=lambda item: item.offset)


def floor_lateness(
    due: list[Due],
    first: Callable[[int], tuple[float, ...]] | None = None,
    per_second: float = BOT_PER_SECOND,
    burst: float = BOT_PER_SECOND,
) -> list[float]:
    """Lateness of each message if each went out the moment the limits allowed (Telegram's
    unless said: `per_second` per bot in bursts of `burst`; 1/s per chat with a burst of 3),
    earliest due first (or, of those ready, the least by `first`, given its index in
    `due`)."""
    waiting = sorted(range(len(due)), key=lambda i: due[i].offset)
    overall = TokenBucket(burst, per_second, burst, 0.0)
    chats: dict[int, TokenBucket] = defaultdict(
        lambda: TokenBucket(PRIVATE_BURST, PRIVATE_PER_SECOND, PRIVATE_BURST, 0.0)
    )
    lateness = [0.0] * len(due)
    clock = 0.0
    while waiting:
        chat_ready = {i: chats[due[i].chat_index].ready_at(clock) for i in waiting}
        ready = [i for i in waiting if due[i].offset <= clock and chat_ready[i] <= clock]
        overall_ready = overall.ready_at(clock)
        if ready and overall_ready <= clock:
            chosen = ready[0] if first is None else min(ready, key=first)
            waiting.remove(chosen)
            overall.tokens -= 1
            chats[due[chosen].chat_index].tokens -= 1
            lateness[chosen] = clock - due[chosen].offset
            continue
        moments = [max(due[i].offset, chat_ready[i]) for i in waiting]
        if ready:
            moments.append(overall_ready)
        clock = min(moment for moment in moments if moment > clock)
    return lateness


async def queue_schedule(
    database: Database, templates: list[list[Template]], due: list[Due], start: datetime
) -> None:
    """A reminder row for each item of the schedule, due `offset` seconds after `start`."""
    now = datetime.now(UTC)
    async with database.session() as session:
        for number, item in enumerate(due):
            mine = templates[item.chat_index]
            await enqueue_copy(
                session,
                mine[number % len(mine)],
                key=f"{KEY_PREFIX}{number}",
                due_at=start + timedelta(seconds=item.offset),
                now=now,
            )


def received_times(sandbox: SandboxServer, chat_ids: set[int]) -> dict[int, list[float]]:
    """When the sandbox accepted each successful sendMessage to these chats, per chat."""
    times: dict[int, list[float]] = defaultdict(list)
    for call in sandbox.calls("sendMessage"):
        if call.ok and int(call.params.get("chat_id", 0)) in chat_ids:
            times[int(call.params["chat_id"])].append(call.time)
    return times


def receipt_times(sandbox: SandboxServer, chat_ids: set[int]) -> dict[tuple[int, int], float]:
    """(chat, message id) -> when the sandbox accepted the sendMessage that made it.

    A chat's n-th successful sendMessage made its n-th bot message: pair them in order.
    """
    times = received_times(sandbox, chat_ids)
    received = {}
    for chat_id in chat_ids:
        messages = sandbox.bot_messages(chat_id)
        for message, at in zip(messages, times[chat_id], strict=True):
            received[(chat_id, message.message_id)] = at
    return received


async def settled_rows(database: Database) -> list[OutboxMessage]:
    async with database.session() as session:
        rows = await session.exec(
            select(OutboxMessage).where(col(OutboxMessage.dedupe_key).startswith(KEY_PREFIX))
        )
        return list(rows)


async def wait_until_settled(
    sandbox: SandboxServer, database: Database, chat_ids: set[int], total: int, patience: float
) -> None:
    """Return once every benchmark message arrived, or no benchmark row is pending or in
    flight any more, or after `patience` seconds (what is left is counted as unsent).
    Polls twice a second, so as not to load the loop the bot runs on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    for tick in itertools.count():
        if sum(map(len, received_times(sandbox, chat_ids).values())) >= total:
            return
        if tick % 4 == 3:
            rows = await settled_rows(database)
            if not any(row.status in OPEN for row in rows):
                return
        if loop.time() > deadline:
            progress(f"lateness: messages still pending after {patience:.0f} s; counted unsent")
            return
        await asyncio.sleep(0.5)


async def measure(
    latency_ms: float = 0.0,
    chats: int = 200,
    stream: int = 400,
    window: float = 30.0,
    lead: float = 3.0,
) -> dict[str, float | int]:
    config = study_config()
    now = datetime.now(UTC)
    due = schedule(chats, window, stream, random.Random(20260302))
    with tempfile.TemporaryDirectory(prefix="trialbot-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'lateness.db'}"
        async with (
            SandboxServer(latency_ms=latency_ms) as sandbox,
            migrated_database(url, config) as database,
        ):
            sandbox.add_bot(TOKEN, username=BOT_USERNAME)
            progress(f"lateness: enrolling and linking {chats} participants")
            linked: list[Linked] = await enrol_and_link(
                database,
                config,
                now=now,
                indices=range(chats),
                chat_base=CHAT_BASE,
                prefix="LAT",
                timezone=daytime_zone(now),
            )
            chat_of = {person.participant_id: person.chat_id for person in linked}
            start_chats(sandbox, chat_of.values())
            templates = await planned_reminders(database, linked)
            sandbox.enforce_rate_limits(True)
            start = datetime.now(UTC) + timedelta(seconds=lead)
            await queue_schedule(database, templates, due, start)
            services = bot_services(sandbox, url, database, config)
            progress(
                f"lateness at {latency_ms:g} ms: {len(due)} messages due over {window:.0f} s, "
                "bot running"
            )
            async with running_bot(services, token=TOKEN, api_url=sandbox.url):
                await wait_until_settled(
                    sandbox, database, set(chat_of.values()), len(due), lead + window + 120
                )
            rows = await settled_rows(database)
            received = receipt_times(sandbox, set(chat_of.values()))
            throttled = sum(call.error_code == 429 for call in sandbox.calls("sendMessage"))
    lateness = []
    for row in rows:
        if row.status != OutboxStatus.SENT or row.participant_id is None:
            continue
        at = received[(chat_of[row.participant_id], row.telegram_message_id or 0)]
        lateness.append(at - row.due_at.timestamp())
    statuses = Counter(row.status for row in rows)
    unsent = len(rows) - len(lateness)
    if unsent:
        progress(f"lateness: {unsent} messages were not sent: {dict(statuses)}")
    floor = floor_lateness(due)
    deadline_first = floor_lateness(due, first=_dispatch_order(rows))
    own_limit = floor_lateness(
        due, first=_dispatch_order(rows), per_second=OVERALL_PER_SECOND, burst=OVERALL_BURST
    )
    figures: dict[str, float | int] = {
        "lateness_p50_s": percentile(lateness, 50),
        "lateness_p99_s": percentile(lateness, 99),
        "lateness_max_s": max(lateness, default=float("nan")),
        "lateness_floor_p50_s": percentile(floor, 50),
        "lateness_floor_p99_s": percentile(floor, 99),
        "lateness_deadline_first_p99_s": percentile(deadline_first, 99),
        "lateness_limiter_floor_p99_s": percentile(own_limit, 99),
        "lateness_messages": len(lateness),
        "lateness_expired": statuses[OutboxStatus.EXPIRED],
        "lateness_failed": statuses[OutboxStatus.FAILED],
        "lateness_unsent": sum(statuses[status] for status in OPEN),
        "lateness_429s": throttled,
    }
    return at_latency(figures, latency_ms)


def _dispatch_order(rows: list[OutboxMessage]) -> Callable[[int], tuple[float, ...]]:
    """The dispatcher's order (`Priority`, then the earliest `not_after`) for the schedule's
    items, by their index."""
    rank = {
        int(row.dedupe_key.removeprefix(KEY_PREFIX)): (
            row.priority,
            row.not_after.timestamp() if row.not_after else float("inf"),
        )
        for row in rows
    }
    return lambda index: (*rank[index], index)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lateness", description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="round trip per call")
    arguments = parser.parse_args()
    configure_logging()
    report(asyncio.run(measure(arguments.latency_ms)))


if __name__ == "__main__":
    main()
