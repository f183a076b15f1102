"""A live dispatcher whose batch outlasts its lease, on a PostgreSQL database shared with
another dispatcher: only the message in flight when the lease ran out may arrive twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram.ext import ExtBot

from sandbox import FaultRule, SandboxServer
from scheduler.dispatcher import DispatchSettings
from study.config import StudyConfig
from study.database import Database
from tests.reliability.outbox import linked_participants, put_due_reminders
from tests.reliability.workers import TOKEN
from tests.support.clock import FakeClock
from tests.support.dispatch_worker import build_bot, build_dispatcher

pytestmark = pytest.mark.postgres

CHAT = 8101
SLOW_ANSWER = 1.5  # Telegram takes the first message at once but answers this late (real
# seconds); meanwhile the other dispatcher takes the batch over, in milliseconds


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL only: SQLite serves one process by design."""
    return postgres_url


@pytest.fixture
async def bot(sandbox: SandboxServer) -> AsyncIterator[ExtBot[Any]]:
    async with build_bot(sandbox.url, TOKEN, rate_limit=False) as ptb_bot:
        yield ptb_bot


async def test_rows_waiting_behind_a_slow_send_are_not_sent_twice(
    database_url: str,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    participants = await linked_participants(database, sandbox, [CHAT], now=clock.now())
    await put_due_reminders(database, participants, now=clock.now(), each=3)
    sandbox.faults.add(
        FaultRule(
            "sendMessage", "timeout", chat_id=CHAT, count=1, delay=SLOW_ANSWER, delivered=True
        )
    )
    other_process = Database.from_url(database_url)
    first = build_dispatcher(database, bot, clock, config)
    second = build_dispatcher(other_process, bot, clock, config)
    try:
        await second.next_due()  # connected, so that taking over is quick
        batch = asyncio.create_task(first.run_once())  # one chat: its 3 rows go in order
        try:
            await sandbox.wait_for_message(CHAT)  # the first one is in; its answer is not
            clock.advance(DispatchSettings().lease * 2)  # the batch has outlived its lease
            taken_over = await second.run_once()
            answer_pending = not batch.done()
        finally:
            await asyncio.wait_for(batch, 10)
    finally:
        await other_process.dispose()

    assert answer_pending, "the first answer should have been on its way during the takeover"
    assert taken_over.sent == 3  # the lease had run out: taking the rows over is right
    deliveries = sorted(Counter(m.text for m in sandbox.bot_messages(CHAT)).values())
    # Only the first reminder was in flight when the lease ran out; the other two were
    # still waiting in the first dispatcher's batch.
    assert deliveries in ([1, 1, 1], [1, 1, 2]), f"deliveries per reminder: {deliveries}"
