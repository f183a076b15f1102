"""The product bugs the fuzz test found, one case each, asserting the right behaviour
(these keep them fixed)."""

from __future__ import annotations

import pytest

from bot.demo import add_study_teams
from study.config import StudyConfig
from study.database import Database
from tests.fuzz.actions import Press, Say
from tests.fuzz.cast import ACTIVE
from tests.fuzz.driver import Driver
from tests.fuzz.world import enrol
from tests.support.clock import FakeClock
from tests.support.study import ZJU2_ALERTS, ZJU2_COORDINATOR

COORDINATOR = ZJU2_COORDINATOR
STANDARD, INDIVIDUALIZED = ACTIVE[0], ACTIVE[1]  # ZJU2-001; ZJU2-002 can become pregnant


def problems(driver: Driver) -> list[str]:
    f = driver.figures
    return [str(p) for p in (*f.handler_exceptions, *f.rejections, *f.other_errors)]


async def coordinator_says(driver: Driver, text: str, chat: int = COORDINATOR) -> list[str]:
    driver.sandbox.add_user(COORDINATOR, "coordinator")
    return [m.text for m in await driver.run(Say(COORDINATOR, chat, text))]


async def coordinator_presses(driver: Driver, data: str) -> list[str]:
    """Press the button with `data` under the latest message with buttons (private chat)."""
    asked = [m for m in driver.sandbox.bot_messages(COORDINATOR) if m.button_data()][-1]
    button = asked.button_data().index(data)
    return [m.text for m in await driver.run(Press(COORDINATOR, COORDINATOR, 0, button, None))]


async def test_a_visit_number_in_other_digits_is_refused_politely(
    driver: Driver, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrol(driver, database, config, clock, STANDARD)
    replies = await coordinator_says(driver, "/visit ZJU2-001 ² 2026-06-09")
    assert problems(driver) == []
    assert "²" in replies[-1]  # "the visit number ² was not understood"


async def test_an_overlong_study_id_gets_an_answer(driver: Driver) -> None:
    replies = await coordinator_says(driver, "/participant " + "x" * 4083)
    assert problems(driver) == []
    assert replies


@pytest.mark.parametrize(
    "command", ["/visit ZJU2-002 3 0001-01-01", "/infusion ZJU2-002 9999-12-31"]
)
async def test_a_date_out_of_range_is_refused_or_harmless(
    command: str, driver: Driver, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrol(driver, database, config, clock, INDIVIDUALIZED)
    await coordinator_says(driver, command)
    await driver.sweep()  # the periodic jobs, at the same moment
    assert problems(driver) == []


async def test_checkin_from_a_coordinator_gets_their_greeting(
    request: pytest.FixtureRequest, driver: Driver, database: Database
) -> None:
    replies = await coordinator_says(driver, "/checkin")
    assert problems(driver) == []
    assert "ZJU2" in replies[-1]  # "you are a coordinator of ZJU2"


async def test_a_button_id_beyond_32_bits_is_a_stale_button(
    request: pytest.FixtureRequest,
    driver: Driver,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    chat = STANDARD.chat_id
    assert chat is not None
    await enrol(driver, database, config, clock, STANDARD)
    await driver.run(Say(chat, chat, "/checkin"))
    await driver.run(Press(chat, chat, 0, 0, f"c:{10**12 - 1}:Q1:none"))
    assert problems(driver) == []
    assert driver.figures.callbacks_unanswered == 0


async def test_a_guided_enrolment_in_another_chat_leaves_this_one_alone(driver: Driver) -> None:
    driver.sandbox.add_group(ZJU2_ALERTS, "ZJU2 team", [COORDINATOR])
    await coordinator_says(driver, "/enroll")
    await coordinator_says(driver, "ZJU2-060")
    for data in ("e:arm:standard", "e:day:today", "e:lang:en"):
        await coordinator_presses(driver, data)
    await coordinator_says(driver, "/enroll", chat=ZJU2_ALERTS)  # a second one, in the team chat
    replies = await coordinator_presses(driver, "e:preg:yes")
    assert problems(driver) == []
    assert replies[-1].startswith("✓ 已入组 ZJU2-060")


@pytest.mark.parametrize(
    ("commands", "answer"),
    [
        (["/labs ZJU2-002 1 cd19=2.0"], "✓ ZJU2-002 的输液安排在"),
        (["/enroll", "ZJU2-070"], "入组：随机化日期是哪一天"),
    ],
    ids=["confirm-dose", "guided-enrolment"],
)
async def test_a_button_pressed_on_a_message_without_buttons_still_works(
    commands: list[str],
    answer: str,
    driver: Driver,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await enrol(driver, database, config, clock, INDIVIDUALIZED)
    for command in commands:
        await coordinator_says(driver, command)
    [data, *_] = driver.sandbox.bot_messages(COORDINATOR)[-1].button_data()
    await coordinator_says(driver, "/help")  # the latest message now has no buttons
    replies = await driver.run(Press(COORDINATOR, COORDINATOR, 0, 0, data))  # forged on it
    assert problems(driver) == []
    assert replies and replies[-1].text.startswith(answer)


@pytest.mark.parametrize("mangle", ["keep_id", "cut_last", "as_d", "as_c", "as_x", "extra"])
async def test_a_check_in_button_with_parts_missing_or_swapped_is_answered(
    mangle: str, driver: Driver, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    """`t:<id>`, `d:<id>:Q1:<item>` and the like on the participant's own open check-in."""
    chat = STANDARD.chat_id
    assert chat is not None
    add_study_teams(driver.sandbox, config)  # a mangled press may answer something urgent
    await enrol(driver, database, config, clock, STANDARD)
    await driver.run(Say(chat, chat, "/checkin"))
    for button in range(2):  # an answer, then a tick of the multi-select question
        await driver.run(Press(chat, chat, 0, button, None, mangle=mangle))
    assert problems(driver) == []
    assert driver.figures.callbacks_unanswered == 0
