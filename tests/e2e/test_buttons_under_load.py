"""A button press is answered at once, even while another transaction writes (a sweep, a
batch being recorded): Telegram shows a spinner on the button until the bot answers. So are
a participant's visit and language buttons, a stale button, a team's alert card, and a page
of the roster (which only reads, so it is shown meanwhile too)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from sandbox import SandboxServer
from scheduler.service import SchedulerService
from study.config import StudyConfig
from study.database import Database
from study.models import Alert, AlertStatus, Participant, Visit, VisitStatus
from tests.e2e.conftest import advance_to
from tests.e2e.test_checkins import checkin, linked
from tests.e2e.test_reminders import P, link, pending, reminders_in, visits
from tests.e2e.test_roster import ask
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import ZJU2_ALERTS, ZJU2_COORDINATOR

pytestmark = pytest.mark.usefixtures("bot")


@asynccontextmanager
async def a_long_write(database: Database) -> AsyncIterator[asyncio.Task[None]]:
    """Another transaction holds the database for writing (as a sweep over a large study
    would) until the block ends; yields it, to check it is still writing."""
    holding, release = asyncio.Event(), asyncio.Event()

    async def long_write() -> None:
        async with database.session() as session:
            await session.exec(update(Visit).where(col(Visit.id) == 0).values(confirmed_at=None))
            holding.set()
            await release.wait()

    writer = asyncio.create_task(long_write())
    await holding.wait()
    try:
        yield writer
    finally:
        release.set()
        await writer


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

    async with a_long_write(database) as writer:
        query = await sandbox.press(
            user_id=P, chat_id=P, message_id=reminder.message_id, data=f"v:{first.id}:ok"
        )
        await sandbox.wait_for_callback_answer(query, timeout=5)
        assert not writer.done(), "answered while the other transaction still writes"
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

    async with a_long_write(database) as writer:
        query = await sandbox.press(
            user_id=ZJU2_COORDINATOR, chat_id=ZJU2_ALERTS, message_id=card.message_id, data=data
        )
        answer = await sandbox.wait_for_callback_answer(query, timeout=5)
        assert answer.text == "已确认收到。"
        assert not writer.done(), "answered while the other transaction still writes"
    edited = await sandbox.wait_for_edit(ZJU2_ALERTS, card.message_id)
    assert f"✓ 已确认：协调员 {ZJU2_COORDINATOR}" in edited.text
    async with database.session() as session:
        status = (await session.exec(select(Alert.status))).one()
    assert status == AlertStatus.ACKNOWLEDGED


async def test_a_language_press_is_answered_while_a_long_write_holds_the_database(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    welcome = sandbox.bot_messages(P)[-1]
    assert "lang:en" in welcome.button_data()
    async with a_long_write(database) as writer:
        query = await sandbox.press(
            user_id=P, chat_id=P, message_id=welcome.message_id, data="lang:en"
        )
        await sandbox.wait_for_callback_answer(query, timeout=5)
        assert not writer.done(), "answered while the other transaction still writes"
    # Then stored, and confirmed in the language chosen.
    confirmation = await sandbox.wait_for_message(P, after_message_id=welcome.message_id)
    assert confirmation.text == "OK, I will write to you in English from now on."
    async with database.session() as session:
        assert (await session.exec(select(Participant.language))).one() == "en"


async def test_a_stale_button_is_answered_while_a_long_write_holds_the_database(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    welcome = sandbox.bot_messages(P)[-1]
    async with a_long_write(database) as writer:
        query = await sandbox.press(P, P, welcome.message_id, "zz:1", forge=True)
        answer = await sandbox.wait_for_callback_answer(query, timeout=5)
        assert not writer.done(), "answered while the other transaction still writes"
    assert answer.text is not None and "这个按钮已经失效" in answer.text


async def test_a_roster_page_is_shown_while_a_long_write_holds_the_database(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    for number in range(1, 26):
        await enrolled(
            database, config, clock, study_id=f"ZJU2-{number:03d}", randomized_on=date(2026, 3, 2)
        )
    first = await ask(sandbox, ZJU2_COORDINATOR, "/participants")
    async with a_long_write(database) as writer:
        query = await sandbox.press(ZJU2_COORDINATOR, ZJU2_COORDINATOR, first.message_id, "ro:2")
        await sandbox.wait_for_callback_answer(query, timeout=5)
        page = await sandbox.wait_for_edit(ZJU2_COORDINATOR, first.message_id, timeout=5)
        assert not writer.done(), "shown while the other transaction still writes"
    assert "第 2/2 页" in page.text and "ZJU2-025" in page.text
