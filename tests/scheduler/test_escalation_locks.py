"""A round of escalation due while its alert's row is being written (PostgreSQL locks it
until that transaction ends): the round waits for the write, it is not passed over."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text

from scheduler.alert_jobs import escalate_alerts
from study.config import StudyConfig
from study.database import Database
from study.models import Alert, Tier
from tests.scheduler.test_alert_jobs import raised, rounds
from tests.support.clock import FakeClock
from tests.support.study import ZJU2_ALERTS

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL only: SQLite has no row locks (a writer waits for the whole file)."""
    return postgres_url


# Connections to this test's database waiting for a lock (other tests may run beside it).
WAITING = text(
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def until_waiting_for_a_lock(database: Database, task: asyncio.Task[int]) -> None:
    """Until `task` ended, or a transaction waits for a lock."""
    while not task.done():
        ((waiting,),) = await database.rows(WAITING)
        if waiting:
            return
        await asyncio.sleep(0.01)


async def test_a_round_due_while_the_first_card_is_recorded_waits_for_the_record(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    """The record of an alert's first card writes where the card is into the alert's row.
    Before, a round due at that moment passed the alert over, until the next escalation a
    minute later."""
    alert_id = await raised(database, config, clock, Tier.T1)
    start = clock.now()
    async with database.session() as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        alert.card_chat_id, alert.card_message_id = ZJU2_ALERTS, 1  # as the record does
        session.add(alert)
        await session.flush()  # the row is locked until this transaction ends
        clock.set(start + timedelta(minutes=30))
        escalating = asyncio.create_task(escalate_alerts(database, clock, config))
        await until_waiting_for_a_lock(database, escalating)

    assert await escalating == 1
    assert await rounds(database) == [(ZJU2_ALERTS, "resent", 30)]
