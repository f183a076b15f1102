"""A button press is answered at once, even while another transaction writes (a sweep, a
batch being recorded): Telegram shows a spinner on the button until the bot answers. So are
a participant's visit buttons and a team's alert card."""

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
from study.models import Alert, AlertStatus, Visit, VisitStatus
from tests.e2e.conftest import advance_to
from tests.e2e.test_checkins import checkin, linked
from tests.e2e.test_reminders import P, link, pending, reminders_in, visits
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import ZJU2_ALERTS, ZJU2_COORDINATOR

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


async def test_an_alert_card_press_is_answered_while_a_long_write_holds_the_database(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await checkin(sandbox, {"Q1": ["chest_breathing"]})
    card = await sandbox.wait_for_message(ZJU2_ALERTS)
    [data] = [d for d in card.button_data() if d.endswith(":ack")]

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
            user_id=ZJU2_COORDINATOR, chat_id=ZJU2_ALERTS, message_id=card.message_id, data=data
        )
        answer = await sandbox.wait_for_callback_answer(query, timeout=5)
        assert answer.text == "已确认收到。"
        assert not writer.done(), "answered while the other transaction still writes"
    finally:
        release.set()
        await writer
    edited = await sandbox.wait_for_edit(ZJU2_ALERTS, card.message_id)
    assert f"✓ 已确认：协调员 {ZJU2_COORDINATOR}" in edited.text
    async with database.session() as session:
        status = (await session.exec(select(Alert.status))).one()
    assert status == AlertStatus.ACKNOWLEDGED
