"""Two dispatcher processes on one PostgreSQL database: each message is sent exactly once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import pytest

from sandbox import SandboxServer
from study.database import Database
from study.models import OutboxStatus
from tests.reliability.outbox import (
    daytime_zone,
    linked_participants,
    put_due_reminders,
    queued_rows,
    successful_sends,
)
from tests.reliability.workers import running_worker, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

log = logging.getLogger(__name__)

PARTICIPANTS = 50
EACH = 40  # reminders per participant: 2000 in all
FIRST_CHAT = 9001


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL only: SQLite serves one process by design."""
    return postgres_url


async def test_two_dispatchers_send_every_message_exactly_once(
    database_url: str, database: Database, sandbox: SandboxServer
) -> None:
    now = datetime.now(UTC)
    chats = list(range(FIRST_CHAT, FIRST_CHAT + PARTICIPANTS))
    participants = await linked_participants(
        database, sandbox, chats, now=now, timezone=daytime_zone(now)
    )
    total = await put_due_reminders(database, participants, now=now, each=EACH)

    started = time.perf_counter()
    async with AsyncExitStack() as stack:
        workers = await asyncio.gather(
            *(
                stack.enter_async_context(running_worker(database_url, sandbox, rate_limit=False))
                for _ in range(2)
            )
        )
        await wait_for(
            sandbox, lambda: successful_sends(sandbox) >= total, f"{total} messages", workers
        )
        sent_by = [await worker.stop() for worker in workers]
    log.info("two workers sent %s in %.1f s", sent_by, time.perf_counter() - started)

    assert all(sent_by), f"both workers should have taken part: {sent_by}"
    for chat in chats:
        texts = Counter(m.text for m in sandbox.bot_messages(chat))
        assert len(texts) == EACH, f"chat {chat} is missing reminders"
        assert set(texts.values()) == {1}, f"chat {chat} got a reminder twice"
    rows = await queued_rows(database)
    assert len(rows) == total
    assert {row.status for row in rows} == {OutboxStatus.SENT}
    assert sum(sent_by) == total
