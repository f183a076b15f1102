"""Guarded data entry in Telegram (issue 14.4): a visit day outside its protocol window is
set, or recorded as the day the participant came, only once confirmed with a button;
attendance cannot be in the future, and the British spelling of the individualised arm is
understood."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from sandbox import SandboxServer
from study.config import StudyConfig
from study.database import Database
from study.models import Participant, Visit
from tests.e2e.test_team import audit_actions, say
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import PUMCH_COORDINATOR, ZJU2_ALERTS, ZJU2_COORDINATOR

pytestmark = pytest.mark.usefixtures("bot")


async def visit_one(database: Database) -> Visit:
    async with database.session() as session:
        return (await session.exec(select(Visit).where(Visit.number == 1))).one()


async def test_a_day_outside_the_window_is_set_only_after_the_confirm_button(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    window = await visit_one(database)
    assert (window.window_start, window.window_end) == (date(2026, 5, 19), date(2026, 6, 16))
    before = await audit_actions(database)

    sent = await sandbox.send_text(
        user_id=ZJU2_COORDINATOR, text="/visit ZJU2-001 1 2026-06-30 10:30", chat_id=ZJU2_ALERTS
    )
    question = await sandbox.wait_for_message(ZJU2_ALERTS, after_message_id=sent.message_id)
    assert question.text.startswith(
        "2026-06-30 不在 ZJU2-001 第 1 次随访的方案窗口期内："
        "2026-05-19 至 2026-06-16。未做任何更改。"
    )
    assert [b["text"] for row in question.buttons for b in row] == ["仍然设置为 2026-06-30"]
    assert (await visit_one(database)).appointment_date is None
    assert await audit_actions(database) == before

    (data,) = question.button_data()
    # Another site's coordinator cannot press it (and may not be in this chat anyway).
    forged = await sandbox.press(
        PUMCH_COORDINATOR, ZJU2_ALERTS, question.message_id, data, forge=True
    )
    assert (await sandbox.wait_for_callback_answer(forged)).show_alert
    assert (await visit_one(database)).appointment_date is None

    await sandbox.press(ZJU2_COORDINATOR, ZJU2_ALERTS, question.message_id, data)
    done = await sandbox.wait_for_edit(ZJU2_ALERTS, question.message_id)
    assert done.text.startswith("✓ ZJU2-001 第 1 次随访：2026年6月30日星期二 10:30")
    assert not done.buttons
    visit = await visit_one(database)
    assert (str(visit.appointment_date), str(visit.appointment_time)) == ("2026-06-30", "10:30:00")
    assert (await audit_actions(database))[len(before) :] == ["set_appointment"]

    # Inside the window no question is asked.
    inside = await say(sandbox, ZJU2_COORDINATOR, "/visit ZJU2-001 1 2026-06-10")
    assert inside.startswith("✓ ZJU2-001 第 1 次随访：2026年6月10日星期三")


@pytest.mark.parametrize("data", ["va:1:1:20261399:-", "va:1:1:20260630:2561", "va:1:1:2026"])
async def test_a_malformed_confirm_button_is_answered_and_changes_nothing(
    data: str, sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    shown = await sandbox.send_text(user_id=ZJU2_COORDINATOR, text="/team")
    await sandbox.wait_for_message(ZJU2_COORDINATOR, after_message_id=shown.message_id)
    query = await sandbox.press(
        ZJU2_COORDINATOR, ZJU2_COORDINATOR, shown.message_id, data, forge=True
    )
    await sandbox.wait_for_callback_answer(query)
    assert (await visit_one(database)).appointment_date is None


async def test_attendance_on_a_future_day_is_refused(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(database, config, clock, randomized_on=date(2025, 12, 4))
    today = clock.now().date()
    tomorrow = date.fromordinal(today.toordinal() + 1)
    refused = await say(sandbox, ZJU2_COORDINATOR, f"/attended ZJU2-001 1 {tomorrow}")
    assert refused == (f"不能把第 1 次随访记录为在 {tomorrow} 完成：这一天还没有到。未做任何更改。")
    assert (await visit_one(database)).status == "planned"
    done = await say(sandbox, ZJU2_COORDINATOR, f"/attended ZJU2-001 1 {today}")
    assert done.startswith("✓ ZJU2-001 第 1 次随访已记录为完成")
    assert (await visit_one(database)).attended_on == today


async def test_attendance_outside_the_window_is_recorded_only_after_the_confirm_button(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(database, config, clock, randomized_on=date(2025, 12, 4))
    window = await visit_one(database)
    assert (window.window_start, window.window_end) == (date(2026, 2, 18), date(2026, 3, 18))
    before = await audit_actions(database)

    sent = await sandbox.send_text(
        user_id=ZJU2_COORDINATOR, text="/attended ZJU2-001 1 2026-02-10", chat_id=ZJU2_ALERTS
    )
    question = await sandbox.wait_for_message(ZJU2_ALERTS, after_message_id=sent.message_id)
    assert question.text.startswith(
        "2026-02-10 不在 ZJU2-001 第 1 次随访的方案窗口期内："
        "2026-02-18 至 2026-03-18。未做任何更改。"
    )
    assert "如确实在这一天完成（属于方案偏离），请按下面的按钮。" in question.text
    assert [b["text"] for row in question.buttons for b in row] == ["仍然记录为 2026-02-10 完成"]
    assert (await visit_one(database)).status == "planned"
    assert await audit_actions(database) == before

    (data,) = question.button_data()
    forged = await sandbox.press(
        PUMCH_COORDINATOR, ZJU2_ALERTS, question.message_id, data, forge=True
    )
    assert (await sandbox.wait_for_callback_answer(forged)).show_alert
    assert (await visit_one(database)).status == "planned"

    await sandbox.press(ZJU2_COORDINATOR, ZJU2_ALERTS, question.message_id, data)
    done = await sandbox.wait_for_edit(ZJU2_ALERTS, question.message_id)
    assert done.text.startswith("✓ ZJU2-001 第 1 次随访已记录为完成")
    assert not done.buttons
    visit = await visit_one(database)
    assert (visit.status, visit.attended_on) == ("attended", date(2026, 2, 10))
    assert (await audit_actions(database))[len(before) :] == ["mark_attended"]


async def test_enrol_with_the_british_spelling_of_the_arm(
    sandbox: SandboxServer, database: Database
) -> None:
    text = await say(
        sandbox, ZJU2_COORDINATOR, "/enroll ZJU2-051 ZJU2 individualised 2026-03-02 no"
    )
    assert text.startswith("✓ 已入组 ZJU2-051")
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
    assert participant.arm == "individualized"
