"""/next (and its button in /help): what comes next for a participant, in their language."""

from __future__ import annotations

from datetime import date

import pytest
from babel.dates import format_date

from sandbox import SandboxMessage, SandboxServer
from study.config import StudyConfig
from study.database import Database
from tests.support.clock import FakeClock
from tests.support.factories import enrolled

pytestmark = pytest.mark.usefixtures("bot")

P = 5001


def zh(day: date) -> str:
    return format_date(day, "full", locale="zh_CN")


async def say(sandbox: SandboxServer, text: str) -> SandboxMessage:
    sent = await sandbox.send_text(user_id=P, text=text)
    return await sandbox.wait_for_message(P, after_message_id=sent.message_id)


async def linked(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock, arm: str
) -> None:
    sandbox.add_user(P, "P")
    _, code = await enrolled(database, config, clock, arm=arm, randomized_on=date(2026, 3, 2))
    await say(sandbox, f"/start {code}")


async def test_next_names_the_visit_its_window_the_infusion_and_what_to_bring(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(sandbox, database, config, clock, "standard")
    text = (await say(sandbox, "/next")).text
    assert "您的下一次研究随访：" + zh(date(2026, 6, 2)) in text
    assert zh(date(2026, 5, 19)) in text and zh(date(2026, 6, 16)) in text  # the window
    assert "您的下一次输液：" + zh(date(2026, 9, 2)) in text  # month 6, standard arm
    assert "门诊楼 3 楼" in text and "请空腹。" in text
    assert "+86 571 0000 0000" in text and "120" in text


async def test_the_help_button_shows_the_same_and_the_individualised_arm_hears_no_promise(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(sandbox, database, config, clock, "individualized")
    help_message = await say(sandbox, "/help")
    [data] = [
        d
        for d, t in zip(help_message.button_data(), help_message.button_texts(), strict=True)
        if t == "下次随访和输液"
    ]
    await sandbox.press(user_id=P, chat_id=P, message_id=help_message.message_id, data=data)
    shown = await sandbox.wait_for_message(P, after_message_id=help_message.message_id)
    assert "研究医生会在随访时决定您是否需要输液" in shown.text
    assert "您的下一次输液" not in shown.text  # no infusion is planned for this arm
