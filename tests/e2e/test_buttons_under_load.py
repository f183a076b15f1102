"""A button press is answered at once, even while another transaction writes (a sweep, a
batch being recorded): Telegram shows a spinner on the button until the bot answers."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from sandbox import SandboxServer
from scheduler.service import SchedulerService
from study.config import StudyConfig
from study.database import Database
from study.models import Visit, VisitStatus
from tests.e2e.conftest import advance_to
from tests.e2e.test_reminders import P, link, pending, reminders_in, visits
from tests.support.clock import FakeClock
from tests.support.factories import enrolled

pytestmark = pytest.mark.usefixtures("bot")


async def test_a_press_is_answered_while_a_long_write_holds_the_database(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    _, code = await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    await link(sandbox, code)
    first = (await visits(database))[1]
    week_before = next(r for r in await pending(database, 1) if r.context["days_before"] == 7)
    await advance_to(week_before.due_at, scheduler, sandbox, clock)
    reminder = reminders_in(sandbox)[-1]

    holding, release = asyncio.Event(), asyncio.Event()

    async def long_write() -> None:  # as a sweep over a large study would
        async with database.session() as session:
            await session.exec(update(Visit).where(col(Visit.id) == 0).values(confirmed_at=None))
            holding.set()
            await release.wait()

    writer = asyncio.create_task(long_write())
    await holding.wait()
    try:
        query = await sandbox.press(
            user_id=P, chat_id=P, message_id=reminder.message_id, data=f"v:{first.id}:ok"
        )
        await sandbox.wait_for_callback_answer(query, timeout=5)
        assert not writer.done(), "answered while the other transaction still writes"
    finally:
        release.set()
        await writer
    # Then the answer is recorded, and the pressed reminder edited (other messages, such as
    # a check-in due the same moment, may come first).
    await sandbox.wait_for_edit(P, reminder.message_id)
    async with database.session() as session:
        status = (await session.exec(select(Visit.status).where(col(Visit.id) == first.id))).one()
    assert status == VisitStatus.CONFIRMED
