"""A dispatcher killed with SIGKILL mid-batch, again and again: every due reminder still
arrives, and a crash repeats at most the messages that were in flight when it struck."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from sandbox import SandboxServer
from scheduler.dispatcher import DispatchSettings
from study.database import Database
from study.models import OutboxStatus
from tests.reliability.outbox import (
    daytime_zone,
    linked_participants,
    put_due_reminders,
    queued_rows,
    successful_sends,
)
from tests.reliability.workers import Worker, running_worker, wait_for

pytestmark = pytest.mark.slow

log = logging.getLogger(__name__)

PARTICIPANTS = 60  # one due reminder each
KILLS = 5
MOST_SENDS_BEFORE_KILL = 8  # each run is killed after 1..8 messages reached Telegram
FIRST_CHAT = 7001

Delivery = tuple[int, int]  # (chat id, message id) of a message Telegram accepted


def deliveries(sandbox: SandboxServer, chats: list[int]) -> set[Delivery]:
    return {(chat, m.message_id) for chat in chats for m in sandbox.bot_messages(chat)}


async def kill_after_sends(sandbox: SandboxServer, worker: Worker, more: int) -> None:
    target = successful_sends(sandbox) + more
    await wait_for(
        sandbox, lambda: successful_sends(sandbox) >= target, f"send #{target}", [worker]
    )
    await worker.crash()


async def finish(sandbox: SandboxServer, worker: Worker, chats: list[int]) -> None:
    def everyone_has_theirs() -> bool:
        return all(sandbox.bot_messages(chat) for chat in chats)

    await wait_for(sandbox, everyone_has_theirs, "a reminder in every chat", [worker])
    await worker.stop()


@pytest.mark.parametrize("concurrency", [1, None], ids=["one-at-a-time", "default-concurrency"])
async def test_every_reminder_arrives_and_a_crash_repeats_only_what_was_in_flight(
    concurrency: int | None, database_url: str, database: Database, sandbox: SandboxServer
) -> None:
    now = datetime.now(UTC)
    chats = list(range(FIRST_CHAT, FIRST_CHAT + PARTICIPANTS))
    participants = await linked_participants(
        database, sandbox, chats, now=now, timezone=daytime_zone(now)
    )
    await put_due_reminders(database, participants, now=now)
    in_flight = concurrency or DispatchSettings().concurrency
    # SQLite has one process by design: a restarted worker takes its leases back at once.
    # PostgreSQL may have several: the rows return when their (here short) lease runs out.
    lease = None if database.is_sqlite else 1.0
    rng = random.Random(f"{database.engine.dialect.name}-{in_flight}")

    snapshots: list[set[Delivery]] = []  # what Telegram had when each run started, and at the end
    for run in range(KILLS + 1):
        async with running_worker(
            database_url, sandbox, lease_seconds=lease, concurrency=concurrency
        ) as worker:
            # Ready takes a second: the killed worker's last requests have been answered.
            snapshots.append(deliveries(sandbox, chats))
            if run < KILLS:
                await kill_after_sends(sandbox, worker, rng.randint(1, MOST_SENDS_BEFORE_KILL))
            else:
                await finish(sandbox, worker, chats)
    snapshots.append(deliveries(sandbox, chats))

    # Every delivery of a chat but its last was never recorded as sent: its worker died
    # with it in flight. Count those per kill (the kill that ended the run that sent it).
    run_of = {d: run for run, (a, b) in enumerate(pairwise(snapshots)) for d in b - a}
    repeated_per_kill = [0] * (KILLS + 1)
    for chat in chats:
        messages = sandbox.bot_messages(chat)
        assert messages, f"the reminder never reached chat {chat}"
        assert len({m.text for m in messages}) == 1, f"chat {chat} got different messages"
        for message in messages[:-1]:
            repeated_per_kill[run_of[(chat, message.message_id)]] += 1
    log.info("messages repeated per kill: %s", repeated_per_kill[:KILLS])
    assert repeated_per_kill[KILLS] == 0, "a message was repeated by a run nobody killed"
    assert max(repeated_per_kill) <= in_flight, repeated_per_kill

    rows = await queued_rows(database)
    assert len(rows) == PARTICIPANTS
    assert {row.status for row in rows} == {OutboxStatus.SENT}
    chat_of = {p.id: p.telegram_chat_id for p in participants}
    recorded = {chat_of[row.participant_id]: row.telegram_message_id for row in rows}
    last = {chat: sandbox.bot_messages(chat)[-1].message_id for chat in chats}
    assert recorded == last, "the database must name the message that reached each chat"
