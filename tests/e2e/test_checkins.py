"""Check-ins, triage and alerts through the real bot: what the participant and the team see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from sandbox import SandboxMessage, SandboxServer
from scheduler.service import SchedulerService
from study.config import StudyConfig
from study.database import Database
from study.models import Alert, AlertStatus, CheckIn, OutboxMessage, PromptStatus
from study.questionnaire import CHECKIN, question
from tests.e2e.conftest import advance_to
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import (
    PUMCH_COORDINATOR,
    ZJU2_ALERTS,
    ZJU2_COORDINATOR,
    ZJU2_ESCALATION,
    study_config,
)

pytestmark = pytest.mark.usefixtures("bot")

P = 5001
# Every question answered with its first button.
NONE: dict[str, list[str]] = {q.code: [] for q in CHECKIN}


async def linked(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    **extra: Any,
) -> None:
    sandbox.add_user(P, "P")
    _, code = await enrolled(database, config, clock, **extra)
    sent = await sandbox.send_text(user_id=P, text=f"/start {code}")
    await sandbox.wait_for_message(P, after_message_id=sent.message_id)


def is_question(message: SandboxMessage) -> bool:
    return any(data[:2] in ("c:", "t:") for data in message.button_data())


def is_team_notice(message: SandboxMessage) -> bool:
    """The "your study team has received your report" message: it follows the delivery of
    an urgent alert's card, whenever that happens, so tests do not count on its place."""
    return "研究团队已经收到了您报告的情况" in message.text


def is_reply(message: SandboxMessage) -> bool:
    """A message answering what the participant did (not a question, not the notice)."""
    return not is_question(message) and not is_team_notice(message)


def latest_question(sandbox: SandboxServer) -> SandboxMessage:
    for message in reversed(sandbox.bot_messages(P)):
        if is_question(message):
            return message
    raise AssertionError("no check-in question in the chat")


async def press(sandbox: SandboxServer, message: SandboxMessage, data: str) -> str:
    return await sandbox.press(user_id=P, chat_id=P, message_id=message.message_id, data=data)


async def tick(sandbox: SandboxServer, code: str, item: str) -> None:
    """Tick an item of the question on screen and wait until the bot has shown it: on the
    question itself, or (an urgent item) as advice followed by the question again."""
    message = latest_question(sandbox)
    checkin_id = message.button_data()[0].split(":")[1]
    last = sandbox.bot_messages(P)[-1].message_id
    await press(sandbox, message, f"t:{checkin_id}:{code}:{item}")
    edited = await sandbox.wait_for_edit(P, message.message_id, min_edits=len(message.edits) + 1)
    if not edited.button_data():
        await sandbox.wait_for_message(P, after_message_id=last, predicate=is_question)


async def answer_one(
    sandbox: SandboxServer, code: str, items: list[str], *, then: str = "any"
) -> SandboxMessage:
    """Answer the question on screen; return the bot's next message (`then="question"`: the
    next question, after any advice; `then="end"`: the message that ends the check-in)."""
    message = latest_question(sandbox)
    assert any(d.split(":")[2] == code for d in message.button_data() if d[:2] in ("c:", "t:"))
    checkin_id = message.button_data()[0].split(":")[1]
    q = question(code)
    if q.multi and not q.stops and items:
        for item in items:
            await tick(sandbox, code, item)
        message = latest_question(sandbox)
    last = sandbox.bot_messages(P)[-1].message_id
    if not items:
        await press(sandbox, message, f"c:{checkin_id}:{code}:{q.benign}")
    elif not q.multi or q.stops:
        await press(sandbox, message, f"c:{checkin_id}:{code}:{items[0]}")
    else:
        await press(sandbox, message, f"d:{checkin_id}:{code}")
    predicate = {
        "any": lambda m: not is_team_notice(m),
        "question": is_question,
        "end": is_reply,
    }
    return await sandbox.wait_for_message(P, after_message_id=last, predicate=predicate[then])


async def checkin(sandbox: SandboxServer, answers: dict[str, list[str]]) -> list[str]:
    """Run /checkin and answer (the last answer ends it); returns the texts the bot sent
    after the last answer."""
    sent = await sandbox.send_text(user_id=P, text="/checkin")
    await sandbox.wait_for_message(P, after_message_id=sent.message_id)
    codes = list(answers)
    for code in codes[:-1]:
        await answer_one(sandbox, code, answers[code], then="question")
    before = len(sandbox.bot_messages(P))
    await answer_one(sandbox, codes[-1], answers[codes[-1]], then="end")
    return [m.text for m in sandbox.bot_messages(P)[before:] if not is_team_notice(m)]


async def test_all_none_is_recorded_without_an_alert(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    texts = await checkin(sandbox, NONE)
    assert texts[-1].startswith("谢谢您的回答，已经记录下来。")
    assert "下一次问答大约在" in texts[-1]
    assert sandbox.bot_messages(ZJU2_ALERTS) == []
    async with database.session() as session:
        done = (await session.exec(select(CheckIn))).one()
    assert done.status == PromptStatus.COMPLETED and done.tier is None
    assert done.questionnaire_version == "2026.2"


@pytest.mark.parametrize("red_flag", question("Q1").items)
async def test_each_red_flag_stops_the_questionnaire_and_alerts_at_once(
    red_flag: str,
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox)
    texts = await checkin(sandbox, {"Q1": [red_flag]})
    advice = texts[-1]
    assert "请立即拨打 120 或去最近的急诊" in advice
    assert "+86 571 0000 0000" in advice
    assert "通知" not in advice  # it does not claim the team knows before the card is sent
    assert "/checkin" in advice  # an offer to finish later
    card = await sandbox.wait_for_message(ZJU2_ALERTS)
    assert card.text.startswith("T1 紧急 · ZJU2-001")
    async with database.session() as session:
        alert = (await session.exec(select(Alert))).one()
    assert alert.tier == "T1" and alert.evidence[0]["answer"] == red_flag


@pytest.mark.parametrize(
    ("answers", "tier", "advice"),
    [
        ({"Q2": ["once"]}, "T2 当天处理", "请今天就致电研究团队"),
        ({"Q3": ["cough"]}, "T3 复核", "研究团队会在一个工作日内查看"),
        ({"Q6": ["hair_loss"], "Q12": ["much_worse"]}, "T3 复核", "一个工作日内"),
        ({"Q7": ["swollen_1_2"], "Q12": ["much_worse"]}, "T2 当天处理", "请今天就致电"),
    ],
)
async def test_tiers_reach_the_team_and_the_participant(
    answers: dict[str, list[str]],
    tier: str,
    advice: str,
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox)
    texts = await checkin(sandbox, {**NONE, **answers})
    assert advice in texts[-1]
    card = await sandbox.wait_for_message(ZJU2_ALERTS)
    assert card.text.startswith(f"{tier} · ZJU2-001")


async def test_buttons_of_a_finished_checkin_change_nothing(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await checkin(sandbox, NONE)
    # The first question, now showing its answer and no buttons.
    old = next(m for m in sandbox.bot_messages(P) if m.text == "当前情况：都没有")
    async with database.session() as session:
        checkin_id = (await session.exec(select(CheckIn.id))).one()
    query = await sandbox.press(
        user_id=P, chat_id=P, message_id=old.message_id, data=f"c:{checkin_id}:Q1:none", forge=True
    )
    answer = await sandbox.wait_for_callback_answer(query)
    assert answer.text is not None and answer.text.startswith("这份问答已经结束，不能再更改。")
    assert "+86 571 0000 0000" in answer.text and "120" in answer.text  # how to reach a person
    assert sandbox.bot_messages(ZJU2_ALERTS) == []


async def test_urgent_alerts_are_resent_escalated_and_only_the_sites_team_may_act(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox)
    await checkin(sandbox, {"Q1": ["chest_breathing"]})
    raised = clock.now()
    first = await sandbox.wait_for_message(ZJU2_ALERTS)
    await advance_to(raised + timedelta(minutes=29), scheduler, sandbox, clock)
    assert len(sandbox.bot_messages(ZJU2_ALERTS)) == 1
    await advance_to(raised + timedelta(minutes=30), scheduler, sandbox, clock)
    resent = sandbox.bot_messages(ZJU2_ALERTS)[-1]
    assert resent.message_id != first.message_id and "再次发送" in resent.text
    await advance_to(raised + timedelta(minutes=60), scheduler, sandbox, clock)
    escalated = await sandbox.wait_for_message(ZJU2_ESCALATION)
    assert escalated.text.startswith("T1 紧急 · ZJU2-001") and "已升级" in escalated.text

    [team] = [c for c in sandbox.chats() if c.chat_id == ZJU2_ALERTS]
    team.members.add(PUMCH_COORDINATOR)
    ack = first.button_data()[0]
    query = await sandbox.press(
        user_id=PUMCH_COORDINATOR, chat_id=ZJU2_ALERTS, message_id=first.message_id, data=ack
    )
    assert (await sandbox.wait_for_callback_answer(query)).text == "抱歉，您不能执行这个操作。"
    await sandbox.press(
        user_id=ZJU2_COORDINATOR, chat_id=ZJU2_ALERTS, message_id=first.message_id, data=ack
    )
    await sandbox.wait_for_edit(ZJU2_ALERTS, first.message_id)
    async with database.session() as session:
        alert = (await session.exec(select(Alert))).one()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == ZJU2_COORDINATOR
    assert alert.escalation_level == 2


async def test_a_possible_pregnancy_is_a_t2_alert_at_the_c2_answer_and_its_clock_starts_there(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox, can_become_pregnant=True)
    # Four weeks after linking, the contraception questions come by themselves.
    await advance_to(clock.now() + timedelta(days=28), scheduler, sandbox, clock)
    prompt = next(m for m in sandbox.bot_messages(P) if "（1/3）" in m.text)
    assert prompt.text.startswith("来自您的研究团队的消息")
    await answer_one(sandbox, "C1", [], then="question")
    answered_c2 = clock.now()
    advice = await answer_one(sandbox, "C2", ["yes"])  # at once, before C3 (`is_reply`)
    assert "请今天就致电研究团队" in advice.text and "如果有腹痛或出血" in advice.text
    assert "120" in advice.text and "+86 571 0000 0000" in advice.text
    await sandbox.wait_for_message(P, after_message_id=advice.message_id, predicate=is_question)
    card = await sandbox.wait_for_message(ZJU2_ALERTS)
    assert card.text.startswith("T2 当天处理 · ZJU2-001")
    assert "可能怀孕" in card.text and "24 小时报告时限从此时开始" in card.text
    # C3 a day later does not move the 24-hour reporting clock.
    clock.advance(timedelta(days=1))
    sandbox.set_time(clock.now().timestamp())
    await answer_one(sandbox, "C3", [], then="end")
    async with database.session() as session:
        alert = (await session.exec(select(Alert))).one()
    assert alert.kind == "possible_pregnancy" and alert.answered_at == answered_c2
    assert alert.raised_at == answered_c2


async def test_free_text_is_not_watched_not_stored_and_not_forwarded(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    sent = await sandbox.send_text(user_id=P, text="我头疼，怎么办？ <b>急</b>")
    reply = await sandbox.wait_for_message(P, after_message_id=sent.message_id)
    assert "本聊天不是实时有人查看的" in reply.text and "/checkin" in reply.text
    assert "+86 571 0000 0000" in reply.text and "120" in reply.text
    assert sandbox.bot_messages(ZJU2_ALERTS) == []
    async with database.session() as session:
        rows = list(await session.exec(select(OutboxMessage)))
    assert not any("头疼" in str(row.context) for row in rows)


def forwarding_free_text() -> StudyConfig:
    """The test study, with free text passed on to the site team (`forward_free_text`)."""
    config = study_config()
    return config.model_copy(
        update={"study": config.study.model_copy(update={"forward_free_text": True})}
    )


@pytest.mark.parametrize("config", [forwarding_free_text()])  # the bot starts with it
async def test_free_text_reaches_the_team_when_the_study_turns_forwarding_on(
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox)
    sent = await sandbox.send_text(user_id=P, text="我头疼 <b>急</b> & 想问问")
    reply = await sandbox.wait_for_message(P, after_message_id=sent.message_id)
    assert "您的消息已转给研究团队" in reply.text
    forwarded = await sandbox.wait_for_message(ZJU2_ALERTS)
    assert forwarded.text == "参与者留言 · ZJU2-001\n我头疼 <b>急</b> & 想问问"
