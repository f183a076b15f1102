"""Two and three dispatcher processes on one PostgreSQL database: thousands of messages,
each sent exactly once (none lost, none twice), and every process takes its share."""

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


@pytest.mark.parametrize("workers", [2, 3], ids=["two", "three"])
async def test_dispatchers_send_every_message_exactly_once(
    workers: int, database_url: str, database: Database, sandbox: SandboxServer
) -> None:
    now = datetime.now(UTC)
    chats = list(range(FIRST_CHAT, FIRST_CHAT + PARTICIPANTS))
    participants = await linked_participants(
        database, sandbox, chats, now=now, timezone=daytime_zone(now)
    )
    total = await put_due_reminders(database, participants, now=now, each=EACH)

    started = time.perf_counter()
    async with AsyncExitStack() as stack:
        running = await asyncio.gather(
            *(
                stack.enter_async_context(running_worker(database_url, sandbox, rate_limit=False))
                for _ in range(workers)
            )
        )
        await wait_for(
            sandbox,
            lambda: successful_sends(sandbox) >= total,
            f"{total} messages",
            running,
            timeout=90,
        )
        sent_by = [await worker.stop() for worker in running]
    log.info("%d workers sent %s in %.1f s", workers, sent_by, time.perf_counter() - started)

    assert all(sent_by), f"every worker should have taken part: {sent_by}"
    assert successful_sends(sandbox) == total, "Telegram accepted more messages than queued"
    for chat in chats:
        texts = Counter(m.text for m in sandbox.bot_messages(chat))
        assert len(texts) == EACH, f"chat {chat} is missing reminders"
        assert set(texts.values()) == {1}, f"chat {chat} got a reminder twice"
    rows = await queued_rows(database)
    assert len(rows) == total
    assert {row.status for row in rows} == {OutboxStatus.SENT}
    assert sum(sent_by) == total
