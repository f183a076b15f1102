"""An unacknowledged urgent alert goes round until someone acknowledges it, and the site's
on-call people may acknowledge and resolve it from the escalation chat (CLINICAL.md,
Refinements): through the real bot and the sandbox."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.services import Services
from sandbox import SandboxMessage, SandboxServer
from scheduler.service import SchedulerService
from study.alerts import raise_alert
from study.config import StudyConfig
from study.database import Database
from study.models import Alert, AlertStatus, AuditEvent, Participant, Tier
from tests.e2e.conftest import advance_to
from tests.e2e.test_checkins import NONE, P, answer_one, checkin, linked, tick
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import (
    ZJU2_ALERTS,
    ZJU2_COORDINATOR,
    ZJU2_ESCALATION,
    ZJU2_ON_CALL,
)

pytestmark = pytest.mark.usefixtures("bot")

REFUSED = "抱歉，您不能执行这个操作。"


def cards(sandbox: SandboxServer, chat: int) -> list[SandboxMessage]:
    return [m for m in sandbox.bot_messages(chat) if m.text.startswith("T")]


async def alert_of_the_test(database: Database) -> Alert:
    async with database.session() as session:
        return (await session.exec(select(Alert))).one()


async def press(
    sandbox: SandboxServer, user: int, chat: int, card: SandboxMessage, action: str
) -> str | None:
    """`user` presses Acknowledge ("ack") or Resolve ("res") on `card`; the bot's answer."""
    [data] = [d for d in card.button_data() if d.endswith(f":{action}")]
    query = await sandbox.press(user_id=user, chat_id=chat, message_id=card.message_id, data=data)
    return (await sandbox.wait_for_callback_answer(query)).text


async def test_an_urgent_alert_goes_round_until_the_on_call_doctor_acknowledges_it(
    sandbox: SandboxServer,
    services: Services,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox)
    await checkin(sandbox, {"Q1": ["chest_breathing"]})
    raised = clock.now()
    await sandbox.wait_for_message(ZJU2_ALERTS)

    async def at(minutes: int) -> tuple[list[str], list[str]]:
        """Time moves on; the cards each chat got since the last look."""
        seen = len(cards(sandbox, ZJU2_ALERTS)), len(cards(sandbox, ZJU2_ESCALATION))
        await advance_to(raised + timedelta(minutes=minutes), scheduler, sandbox, clock)
        return (
            [m.text for m in cards(sandbox, ZJU2_ALERTS)[seen[0] :]],
            [m.text for m in cards(sandbox, ZJU2_ESCALATION)[seen[1] :]],
        )

    assert await at(29) == ([], [])
    # Round 1, at 30 minutes: the alert chat again, saying so and how often it comes.
    [resent], escalated = await at(30)
    assert escalated == []
    assert resent.startswith("T1 紧急 · ZJU2-001")
    assert "30 分钟内无人确认，再次发送" in resent
    assert "在有人确认之前，每 30 分钟再发送一次" in resent
    # Round 2, at 60 minutes: escalated, to the escalation chat and the alert chat.
    [again], [escalated_card] = await at(60)
    for text in (again, escalated_card):
        assert text.startswith("T1 紧急 · ZJU2-001")
        assert "1 小时内无人确认，已升级处理" in text and "每 30 分钟" in text
    # Round 3, at 90 minutes: both chats once more.
    [third], [third_escalated] = await at(90)
    assert "90 分钟内无人确认，已升级处理" in third and "90 分钟内" in third_escalated

    # The on-call doctor acknowledges it in the escalation chat: the card shows who.
    latest = cards(sandbox, ZJU2_ESCALATION)[-1]
    assert await press(sandbox, ZJU2_ON_CALL, ZJU2_ESCALATION, latest, "ack") == "已确认收到。"
    edited = await sandbox.wait_for_edit(ZJU2_ESCALATION, latest.message_id)
    assert f"✓ 已确认：值班人员 {ZJU2_ON_CALL}" in edited.text
    assert [d.split(":")[2] for d in edited.button_data()] == ["res"]
    alert = await alert_of_the_test(database)
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.acknowledged_by == ZJU2_ON_CALL
    assert alert.escalation_level == 3 and alert.next_escalation_at is None

    # No more rounds, however long.
    assert await at(120) == ([], [])
    assert await at(600) == ([], [])

    # They resolve it there too; both changes are audited under their name.
    assert (
        await press(sandbox, ZJU2_ON_CALL, ZJU2_ESCALATION, latest, "res") == "已标记为处理完毕。"
    )
    resolved = await sandbox.wait_for_edit(ZJU2_ESCALATION, latest.message_id, min_edits=2)
    assert f"✓ 已处理：值班人员 {ZJU2_ON_CALL}" in resolved.text
    assert resolved.button_data() == []
    async with database.session() as session:
        audited = list(
            await session.exec(
                select(AuditEvent.actor, AuditEvent.action)
                .where(AuditEvent.entity == "alert")
                .order_by(col(AuditEvent.id))
            )
        )
    assert audited == [
        ("system", "raise_alert"),
        ("system", "alert_resent"),
        ("system", "alert_escalated"),
        ("system", "alert_escalated"),
        (f"tg:{ZJU2_ON_CALL}", "acknowledge_alert"),
        (f"tg:{ZJU2_ON_CALL}", "resolve_alert"),
    ]


async def test_on_call_people_may_not_act_in_the_alert_chat_nor_on_other_sites_alerts(
    sandbox: SandboxServer,
    services: Services,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox)
    await checkin(sandbox, {"Q1": ["chest_breathing"]})
    first = await sandbox.wait_for_message(ZJU2_ALERTS)
    # In the site's alert chat (they are a member of it): refused, nothing changes.
    assert await press(sandbox, ZJU2_ON_CALL, ZJU2_ALERTS, first, "ack") == REFUSED
    assert await press(sandbox, ZJU2_ON_CALL, ZJU2_ALERTS, first, "res") == REFUSED
    # Another site's alert, forged into the escalation chat: refused too.
    pumch = await pumch_alert(database, config, clock)
    query = await sandbox.press(
        user_id=ZJU2_ON_CALL,
        chat_id=ZJU2_ESCALATION,
        message_id=first.message_id,
        data=f"a:{pumch}:ack",
        forge=True,
    )
    assert (await sandbox.wait_for_callback_answer(query)).text == REFUSED
    # A team command from them is refused as from anyone who is not a coordinator.
    sent = await sandbox.send_text(user_id=ZJU2_ON_CALL, text="/alerts", chat_id=ZJU2_ESCALATION)
    reply = await sandbox.wait_for_message(ZJU2_ESCALATION, after_message_id=sent.message_id)
    assert reply.text.startswith("抱歉，这个命令只供研究团队使用。")
    async with database.session() as session:
        alerts = list(await session.exec(select(Alert).order_by(col(Alert.id))))
    assert [(a.site_code, a.status) for a in alerts] == [
        ("ZJU2", AlertStatus.OPEN),
        ("PUMCH", AlertStatus.OPEN),
    ]
    assert [m.edits for m in cards(sandbox, ZJU2_ALERTS)] == [[]]
    # The coordinator may still act, anywhere the card is.
    assert await press(sandbox, ZJU2_COORDINATOR, ZJU2_ALERTS, first, "ack") == "已确认收到。"


async def test_a_tier_that_rises_starts_the_rounds_of_its_new_tier(
    sandbox: SandboxServer,
    services: Services,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox)
    sent = await sandbox.send_text(user_id=P, text="/checkin")
    await sandbox.wait_for_message(P, after_message_id=sent.message_id)
    await answer_one(sandbox, "Q1", [], then="question")
    await answer_one(sandbox, "Q2", ["once"], then="question")  # fever: T2 at once
    t2_at = clock.now()
    await sandbox.wait_for_message(ZJU2_ALERTS)
    # Twenty minutes later the participant reports thoughts of self-harm: the alert is T1.
    await advance_to(t2_at + timedelta(minutes=20), scheduler, sandbox, clock)
    for code in ("Q3", "Q4", "Q5", "Q6", "Q7", "Q8"):
        await answer_one(sandbox, code, NONE[code], then="question")
    await tick(sandbox, "Q9", "halluc_self_harm")  # T1
    t1_at = clock.now()
    updated = await sandbox.wait_for_message(
        ZJU2_ALERTS, predicate=lambda m: "参与者补充了新的回答" in m.text
    )
    assert updated.text.startswith("T1 紧急 · ZJU2-001")

    async def rounds_until(moment: datetime) -> tuple[int, int]:
        await advance_to(moment, scheduler, sandbox, clock)
        return len(cards(sandbox, ZJU2_ALERTS)), len(cards(sandbox, ZJU2_ESCALATION))

    before = len(cards(sandbox, ZJU2_ALERTS))
    # The T1 clock starts at the rise: re-sent 30 minutes after it, escalated after 60,
    # then both chats every 30 minutes.
    assert await rounds_until(t1_at + timedelta(minutes=29)) == (before, 0)
    assert await rounds_until(t1_at + timedelta(minutes=30)) == (before + 1, 0)
    assert await rounds_until(t1_at + timedelta(minutes=59)) == (before + 1, 0)
    assert await rounds_until(t1_at + timedelta(minutes=60)) == (before + 2, 1)
    assert await rounds_until(t1_at + timedelta(minutes=90)) == (before + 3, 2)
    assert "1 小时内无人确认，已升级处理" in cards(sandbox, ZJU2_ESCALATION)[0].text


async def pumch_alert(database: Database, config: StudyConfig, clock: FakeClock) -> int:
    """An open T1 alert of a PUMCH participant; its id."""
    await enrolled(database, config, clock, study_id="PUMCH-001", site="PUMCH")
    async with database.session() as session:
        participant = (
            await session.exec(select(Participant).where(Participant.study_id == "PUMCH-001"))
        ).one()
        alert = await raise_alert(
            session,
            config=config,
            participant=participant,
            kind="checkin",
            tier=Tier.T1,
            evidence=[],
            now=clock.now(),
        )
        assert alert.id is not None
        return alert.id
