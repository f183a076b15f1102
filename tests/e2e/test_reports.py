"""What a participant reports is acted on at once and never lost: a tick, an answer left
without Done, a check-in stopped, expired, replaced or closed by a pause; new evidence after
an alert; advice that Telegram failed to deliver the first time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from sandbox import FaultRule, SandboxMessage, SandboxServer
from scheduler.service import SchedulerService
from study.config import StudyConfig
from study.database import Database
from study.models import Alert, AlertStatus, CheckIn, CheckInKind, PromptStatus
from tests.e2e.conftest import advance_to
from tests.e2e.test_checkins import (
    P,
    answer_one,
    is_question,
    is_reply,
    is_team_notice,
    latest_question,
    linked,
    press,
    tick,
)
from tests.e2e.test_checkins import (
    checkin as checkin_until_end,
)
from tests.support.clock import FakeClock
from tests.support.study import ZJU2_ALERTS, ZJU2_COORDINATOR

pytestmark = pytest.mark.usefixtures("bot")

T1_ADVICE = "请立即拨打 120 或去最近的急诊"
T2_ADVICE = "请今天就致电研究团队"
INACTIVE = "这个按钮已经失效。"


async def start(sandbox: SandboxServer) -> SandboxMessage:
    sent = await sandbox.send_text(user_id=P, text="/checkin")
    return await sandbox.wait_for_message(P, after_message_id=sent.message_id)


async def alerts(database: Database) -> list[Alert]:
    async with database.session() as session:
        return list(await session.exec(select(Alert).order_by(col(Alert.id))))


async def the_checkin(database: Database) -> CheckIn:
    """The latest symptom check-in."""
    async with database.session() as session:
        checkin = (
            await session.exec(
                select(CheckIn)
                .where(CheckIn.kind == CheckInKind.SYMPTOMS)
                .order_by(col(CheckIn.id).desc())
            )
        ).first()
    assert checkin is not None
    return checkin


async def handled(sandbox: SandboxServer) -> None:
    """Wait until the bot has handled everything the participant did so far: it handles one
    update at a time, so once /help is answered, every earlier update is done."""
    sent = await sandbox.send_text(user_id=P, text="/help")
    await sandbox.wait_for_message(
        P, after_message_id=sent.message_id, predicate=lambda m: "/language" in m.text
    )


def after(sandbox: SandboxServer, message_id: int) -> list[str]:
    """The bot's replies after a message (the team's "received" notice left out)."""
    return [
        m.text
        for m in sandbox.bot_messages(P)
        if m.message_id > message_id and not is_team_notice(m)
    ]


async def test_an_old_q1_tick_button_is_the_answer_advice_and_alert_at_once(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    """A Q1 tick (from a keyboard of the earlier multi-select Q1) acts on the tap: nothing
    else needs pressing, not Done, not Stop."""
    await linked(database, config, clock, sandbox)
    question = await start(sandbox)
    checkin_id = question.button_data()[0].split(":")[1]
    await sandbox.press(
        user_id=P,
        chat_id=P,
        message_id=question.message_id,
        data=f"t:{checkin_id}:Q1:faint_seizure",
        forge=True,
    )
    advice = await sandbox.wait_for_message(
        P, after_message_id=question.message_id, predicate=is_reply
    )
    assert T1_ADVICE in advice.text and "+86 571 0000 0000" in advice.text
    card = await sandbox.wait_for_message(ZJU2_ALERTS)
    assert card.text.startswith("T1 紧急 · ZJU2-001") and "晕倒或抽搐" in card.text
    checkin = await the_checkin(database)
    assert checkin.status == PromptStatus.STOPPED and checkin.tier == "T1"


async def test_a_t2_answer_alerts_and_advises_at_once_even_if_the_participant_leaves(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await start(sandbox)
    await answer_one(sandbox, "Q1", [], then="question")
    advice = await answer_one(sandbox, "Q2", ["repeated"])
    assert T2_ADVICE in advice.text and "120" in advice.text
    # Nothing more is pressed: the card is already on its way to the site team.
    card = await sandbox.wait_for_message(ZJU2_ALERTS)
    assert card.text.startswith("T2 当天处理 · ZJU2-001") and "发热" in card.text
    [alert] = await alerts(database)
    assert alert.raised_at == clock.now() and alert.tier == "T2"
    assert (await the_checkin(database)).status == PromptStatus.OPEN


async def test_an_urgent_tick_alerts_at_once_and_the_question_comes_again_below_the_advice(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await start(sandbox)
    for code in ("Q1", "Q2", "Q3"):
        await answer_one(sandbox, code, [], then="question")
    last = sandbox.bot_messages(P)[-1].message_id
    await tick(sandbox, "Q4", "much_less_urine")  # T2, not submitted with Done
    texts = after(sandbox, last)
    assert T2_ADVICE in texts[0] and is_question(sandbox.bot_messages(P)[-1])
    assert "已选：小便比平时少很多" in sandbox.bot_messages(P)[-1].text
    card = await sandbox.wait_for_message(ZJU2_ALERTS)
    assert "小便比平时少很多" in card.text and "已勾选，未提交" in card.text
    # The participant goes on and submits: no second card, no second advice.
    await answer_one(sandbox, "Q4", ["much_less_urine"], then="question")
    assert len(sandbox.bot_messages(ZJU2_ALERTS)) == 1
    advice = [m for m in sandbox.bot_messages(P) if T2_ADVICE in m.text and is_reply(m)]
    assert len(advice) == 1


async def test_ticked_then_stop_triages_the_ticks(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await start(sandbox)
    for code in ("Q1", "Q2"):
        await answer_one(sandbox, code, [], then="question")
    await tick(sandbox, "Q3", "cough")  # T3: waits for the end of the check-in
    assert sandbox.bot_messages(ZJU2_ALERTS) == []
    question = latest_question(sandbox)
    await press(sandbox, question, f"x:{question.button_data()[0].split(':')[1]}")
    card = await sandbox.wait_for_message(ZJU2_ALERTS)
    assert card.text.startswith("T3 复核 · ZJU2-001") and "新出现的咳嗽" in card.text
    reply = await sandbox.wait_for_message(
        P, after_message_id=question.message_id, predicate=lambda m: "一个工作日内" in m.text
    )
    assert "+86 571 0000 0000" in reply.text


async def test_a_tick_then_none_of_these_still_counts(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await start(sandbox)
    for code in ("Q1", "Q2"):
        await answer_one(sandbox, code, [], then="question")
    await tick(sandbox, "Q3", "red_hot_wound")
    await answer_one(sandbox, "Q3", [], then="question")  # "None of these" after the tick
    for code in ("Q4", "Q5", "Q6", "Q7", "Q8", "Q9", "Q10", "Q11", "Q12"):
        await answer_one(sandbox, code, [], then="question")
    await answer_one(sandbox, "Q13", [], then="end")
    card = await sandbox.wait_for_message(ZJU2_ALERTS)
    assert card.text.startswith("T3 复核 · ZJU2-001") and "伤口发红、发热" in card.text
    checkin = await the_checkin(database)
    assert checkin.answers["Q3"] == ["none"] and checkin.tier == "T3"


async def test_a_pause_mid_checkin_triages_what_was_answered(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await start(sandbox)
    await answer_one(sandbox, "Q1", [], then="question")
    await answer_one(sandbox, "Q2", ["unmeasured"], then="question")  # T3
    sent = await sandbox.send_text(user_id=ZJU2_COORDINATOR, text="/pause ZJU2-001")
    await sandbox.wait_for_message(ZJU2_COORDINATOR, after_message_id=sent.message_id)
    card = await sandbox.wait_for_message(ZJU2_ALERTS)
    assert card.text.startswith("T3 复核 · ZJU2-001")
    checkin = await the_checkin(database)
    assert checkin.status == PromptStatus.STOPPED and checkin.tier == "T3"


async def test_expiry_triages_an_unsubmitted_tick(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox)
    await start(sandbox)
    for code in ("Q1", "Q2", "Q3", "Q4", "Q5"):
        await answer_one(sandbox, code, [], then="question")
    await tick(sandbox, "Q6", "rash")  # T3, and the phone is put down
    await advance_to(clock.now() + timedelta(hours=73), scheduler, sandbox, clock)
    card = await sandbox.wait_for_message(ZJU2_ALERTS)
    assert card.text.startswith("T3 复核 · ZJU2-001") and "新出现的皮疹" in card.text
    assert (await the_checkin(database)).status == PromptStatus.EXPIRED


async def test_a_new_checkin_starts_at_q1_and_the_open_one_is_triaged_first(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await start(sandbox)
    await answer_one(sandbox, "Q1", [], then="question")
    await answer_one(sandbox, "Q2", ["unmeasured"], then="question")  # T3
    again = await start(sandbox)
    assert is_question(again) and "（1/13）" in again.text
    card = await sandbox.wait_for_message(ZJU2_ALERTS)
    assert card.text.startswith("T3 复核 · ZJU2-001")
    async with database.session() as session:
        checkins = list(
            await session.exec(
                select(CheckIn)
                .where(CheckIn.kind == CheckInKind.SYMPTOMS)
                .order_by(col(CheckIn.id))
            )
        )
    assert [c.status for c in checkins] == [PromptStatus.STOPPED, PromptStatus.OPEN]
    assert checkins[0].tier == "T3" and checkins[1].current_question == "Q1"


async def test_help_has_a_report_a_symptom_button_that_starts_at_q1(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    sent = await sandbox.send_text(user_id=P, text="/help")
    help_message = await sandbox.wait_for_message(P, after_message_id=sent.message_id)
    assert help_message.button_texts() == ["报告身体不适", "下次随访和输液"]
    await press(sandbox, help_message, help_message.button_data()[0])
    question = await sandbox.wait_for_message(P, after_message_id=help_message.message_id)
    assert is_question(question) and "（1/13）" in question.text


async def test_a_later_t1_after_an_acknowledged_alert_is_a_new_card_and_new_advice(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await start(sandbox)
    await answer_one(sandbox, "Q1", [], then="question")
    await answer_one(sandbox, "Q2", ["once"], then="question")  # T2: alert and advice
    first = await sandbox.wait_for_message(ZJU2_ALERTS)
    await sandbox.press(
        user_id=ZJU2_COORDINATOR,
        chat_id=ZJU2_ALERTS,
        message_id=first.message_id,
        data=first.button_data()[0],
    )
    await sandbox.wait_for_edit(ZJU2_ALERTS, first.message_id)
    for code in ("Q3", "Q4", "Q5"):
        await answer_one(sandbox, code, [], then="question")
    last = sandbox.bot_messages(P)[-1].message_id
    await tick(sandbox, "Q6", "blister_peel_eye")  # T1
    assert T1_ADVICE in after(sandbox, last)[0]
    second = await sandbox.wait_for_message(ZJU2_ALERTS, after_message_id=first.message_id)
    assert second.text.startswith("T1 紧急 · ZJU2-001") and "起水疱" in second.text
    [acknowledged, new] = await alerts(database)
    assert acknowledged.status == AlertStatus.ACKNOWLEDGED and acknowledged.tier == "T2"
    assert new.status == AlertStatus.OPEN and new.tier == "T1"
    assert new.next_escalation_at == clock.now() + timedelta(minutes=30)


async def test_a_more_urgent_answer_on_an_open_alert_sends_the_card_again(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await start(sandbox)
    await answer_one(sandbox, "Q1", [], then="question")
    await answer_one(sandbox, "Q2", ["once"], then="question")  # T2
    first = await sandbox.wait_for_message(ZJU2_ALERTS)
    for code in ("Q3", "Q4", "Q5", "Q6", "Q7", "Q8"):
        await answer_one(sandbox, code, [], then="question")
    await tick(sandbox, "Q9", "halluc_self_harm")  # T1
    again = await sandbox.wait_for_message(ZJU2_ALERTS, after_message_id=first.message_id)
    assert again.text.startswith("T1 紧急 · ZJU2-001") and "补充" in again.text
    [alert] = await alerts(database)
    assert alert.tier == "T1" and alert.escalation_level == 0
    assert {(f["question"], f["answer"]) for f in alert.evidence} >= {
        ("Q2", "once"),
        ("Q9", "halluc_self_harm"),
    }


async def test_red_flag_advice_arrives_even_if_telegram_fails_the_first_send(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox)
    question = await start(sandbox)
    failure = FaultRule(method="sendMessage", chat_id=P, kind="server_error", count=1)
    sandbox.faults.add(failure)
    # The card is held up too, so that the team's notice to the participant (which follows
    # the card) cannot be the message the first fault hits: that one is the advice.
    sandbox.faults.add(
        FaultRule(method="sendMessage", chat_id=ZJU2_ALERTS, kind="server_error", count=1)
    )
    checkin_id = question.button_data()[0].split(":")[1]
    await press(sandbox, question, f"c:{checkin_id}:Q1:chest_breathing")
    await handled(sandbox)
    await advance_to(clock.now(), scheduler, sandbox, clock)  # the card's first try, failing
    assert failure.fired == 1
    assert not any(T1_ADVICE in text for text in after(sandbox, question.message_id))
    await advance_to(clock.now() + timedelta(minutes=1), scheduler, sandbox, clock)
    await sandbox.wait_for_message(ZJU2_ALERTS)
    advice = await sandbox.wait_for_message(
        P,
        after_message_id=question.message_id,
        predicate=lambda m: is_reply(m) and T1_ADVICE in m.text,
    )
    assert "+86 571 0000 0000" in advice.text


@pytest.mark.parametrize("shape", ["d:{id}", "c:{id}", "t:{id}", "b:{id}", "c:{id}:Q1", "x:0"])
async def test_malformed_checkin_buttons_are_answered_politely(
    shape: str, sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    question = await start(sandbox)
    checkin_id = question.button_data()[0].split(":")[1]
    query = await sandbox.press(
        user_id=P,
        chat_id=P,
        message_id=question.message_id,
        data=shape.format(id=checkin_id),
        forge=True,
    )
    answer = (await sandbox.wait_for_callback_answer(query)).text or ""
    assert answer.startswith(INACTIVE) and "+86 571 0000 0000" in answer and "120" in answer
    assert (await the_checkin(database)).status == PromptStatus.OPEN


async def test_self_harm_advice_names_the_sites_crisis_line_after_120(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await start(sandbox)
    for code in ("Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q7", "Q8"):
        await answer_one(sandbox, code, [], then="question")
    last = sandbox.bot_messages(P)[-1].message_id
    await tick(sandbox, "Q9", "halluc_self_harm")
    advice = after(sandbox, last)[0]
    emergency = advice.index("120")
    crisis = advice.index("心理危机干预热线：+86 571 0000 0009")
    assert emergency < crisis < advice.index("研究团队：+86 571 0000 0000")


async def test_other_t1_advice_has_no_crisis_line(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    texts = await checkin_until_end(sandbox, {"Q1": ["stroke_signs"]})
    assert T1_ADVICE in texts[-1] and "危机" not in texts[-1]
