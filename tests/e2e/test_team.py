"""The study team's commands through the real bot: who may use them, and what they change."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import col, select

from bot.services import Services
from sandbox import SandboxServer
from scheduler.service import SchedulerService
from study.config import StudyConfig
from study.database import Database
from study.models import (
    AuditEvent,
    Infusion,
    InfusionStatus,
    OutboxMessage,
    OutboxStatus,
    Participant,
    ParticipantStatus,
    Visit,
)
from tests.e2e.conftest import advance_to
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import PUMCH_COORDINATOR, ZJU2_ALERTS, ZJU2_COORDINATOR

pytestmark = pytest.mark.usefixtures("bot")

P = 5001
STRANGER = 6001
COMMANDS = [
    "/participant ZJU2-001",
    "/visit ZJU2-001 1 2026-06-09",
    "/attended ZJU2-001 0 2026-03-02",
    "/missed ZJU2-001 1",
    "/infusion ZJU2-001 2026-06-09",
    "/given ZJU2-001",
    "/labs ZJU2-001 1 cd19=2.0",
    "/confirm ZJU2-001 1",
    "/reject ZJU2-001 1",
    "/can_become_pregnant ZJU2-001 yes",
    "/pause ZJU2-001",
    "/resume ZJU2-001",
    "/withdraw ZJU2-001",
]


async def say(sandbox: SandboxServer, user_id: int, text: str, chat_id: int | None = None) -> str:
    chat = chat_id or user_id
    sent = await sandbox.send_text(user_id=user_id, text=text, chat_id=chat)
    return (await sandbox.wait_for_message(chat, after_message_id=sent.message_id)).text


async def linked(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    arm: str = "standard",
) -> None:
    sandbox.add_user(P, "P")
    _, code = await enrolled(database, config, clock, arm=arm, randomized_on=date(2026, 3, 2))
    await say(sandbox, P, f"/start {code}")


async def audit_actions(database: Database) -> list[str]:
    async with database.session() as session:
        return list(await session.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))))


@pytest.mark.parametrize("command", COMMANDS)
async def test_only_the_sites_coordinators_may_act(
    command: str,
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox)
    sandbox.add_user(STRANGER, "S")
    before = await audit_actions(database)
    # A participant, a stranger and another site's coordinator: refused, nothing changes.
    assert await say(sandbox, P, command) == "抱歉，这个命令只供研究团队使用。"
    assert "Sorry, this command is only for the study team." in await say(
        sandbox, STRANGER, command
    )
    assert "没有研究编号为 ZJU2-001 的参与者" in await say(sandbox, PUMCH_COORDINATOR, command)
    assert await audit_actions(database) == before
    # The site's own coordinator is obeyed.
    answer = await say(sandbox, ZJU2_COORDINATOR, command)
    obeyed = ("✓", "ZJU2-001", "确定让 ZJU2-001 退出研究吗", "参与者 ZJU2-001 目前没有暂停")
    assert answer.startswith(obeyed), answer


async def test_commands_work_in_the_sites_alert_chat(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    text = await say(sandbox, ZJU2_COORDINATOR, "/participant ZJU2-001", chat_id=ZJU2_ALERTS)
    assert text.startswith("ZJU2-001 · ZJU2 · 标准剂量组")
    assert "2. 2026-09-02（第 6 月）已计划" in text


async def test_moving_a_visit_replans_its_reminders_and_tells_the_participant(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    answer = await say(sandbox, ZJU2_COORDINATOR, "/visit ZJU2-001 1 2026-06-09 10:30")
    assert answer.startswith("✓ ZJU2-001 第 1 次随访：2026年6月9日星期二 10:30")
    told = await sandbox.wait_for_message(P, predicate=lambda m: "随访时间已更新" in m.text)
    assert "2026年6月9日星期二 10:30" in told.text
    async with database.session() as session:
        rows = list(
            await session.exec(
                select(OutboxMessage).where(col(OutboxMessage.template) == "reminder")
            )
        )
    visit_one = [r for r in rows if r.context.get("visit_number") == 1]
    assert {r.context["date"] for r in visit_one if r.status == OutboxStatus.CANCELLED} == {
        "2026-06-02"
    }
    assert {r.context["date"] for r in visit_one if r.status == OutboxStatus.PENDING} == {
        "2026-06-09"
    }
    assert "set_appointment" in await audit_actions(database)


async def test_the_individualised_redose_flow_from_labs_to_reminders(
    sandbox: SandboxServer,
    services: Services,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox, arm="individualized")
    first = await say(
        sandbox, ZJU2_COORDINATOR, "/labs ZJU2-001 1 cd19=0.2 dsdna=100+ c3=0.9 lln=0.8"
    )
    assert "不符合任何条件" in first
    clock.set(clock.now() + timedelta(days=180))
    second = await say(
        sandbox, ZJU2_COORDINATOR, "/labs ZJU2-001 2 cd19=0.3 dsdna=250+ c3=0.3 lln=0.8"
    )
    assert "个体化给药规则：符合" in second
    assert "抗 dsDNA 阳性且比上次升高超过 100%" in second
    assert "C3 低于正常下限且比上次下降超过 50%" in second
    card = sandbox.bot_messages(ZJU2_COORDINATOR)[-1]
    confirm, reject = card.button_data()
    assert confirm.endswith(":ok") and reject == confirm.removesuffix(":ok") + ":no"
    await sandbox.press(
        user_id=ZJU2_COORDINATOR, chat_id=ZJU2_COORDINATOR, message_id=card.message_id, data=confirm
    )
    done = await sandbox.wait_for_message(ZJU2_COORDINATOR, after_message_id=card.message_id)
    assert done.text.startswith("✓ ZJU2-001 的输液安排在")
    told = await sandbox.wait_for_message(P, predicate=lambda m: "您的输液预约时间是" in m.text)
    assert told.text.startswith("来自您的研究团队的消息")
    async with database.session() as session:
        infusion = (
            await session.exec(select(Infusion).where(col(Infusion.reason) == "redose"))
        ).one()
        reminders = list(
            await session.exec(
                select(OutboxMessage).where(
                    col(OutboxMessage.status) == OutboxStatus.PENDING,
                    col(OutboxMessage.template) == "reminder",
                )
            )
        )
    assert infusion.status == InfusionStatus.PLANNED
    assert infusion.criteria == ["anti_dsdna", "c3"]
    assert infusion.confirmed_by == ZJU2_COORDINATOR
    assert any(r.context.get("infusion_id") == infusion.id for r in reminders)


async def test_missing_previous_labs_are_reported_not_guessed(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox, arm="individualized")
    text = await say(
        sandbox, ZJU2_COORDINATOR, "/labs ZJU2-001 1 cd19=0.2 dsdna=400+ c3=0.2 lln=0.8"
    )
    assert "无法判断（缺少数据，且没有之前的化验可比较）" in text
    async with database.session() as session:
        assert list(await session.exec(select(Infusion).where(Infusion.reason == "redose"))) == []


async def test_labs_of_the_standard_arm_are_recorded_only(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    text = await say(sandbox, ZJU2_COORDINATOR, "/labs ZJU2-001 1 cd19=5")
    assert "标准剂量组：仅记录" in text
    assert sandbox.bot_messages(ZJU2_COORDINATOR)[-1].button_data() == []


async def test_withdrawal_stops_every_future_message(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox)
    question = await say(sandbox, ZJU2_COORDINATOR, "/withdraw ZJU2-001")
    assert question.startswith("确定让 ZJU2-001 退出研究吗")
    message = sandbox.bot_messages(ZJU2_COORDINATOR)[-1]
    await sandbox.press(
        user_id=ZJU2_COORDINATOR,
        chat_id=ZJU2_COORDINATOR,
        message_id=message.message_id,
        data=message.button_data()[0],
    )
    await sandbox.wait_for_edit(ZJU2_COORDINATOR, message.message_id)
    assert sandbox.message(ZJU2_COORDINATOR, message.message_id).text.startswith(
        "✓ ZJU2-001 已退出研究"
    )
    before = len(sandbox.bot_messages(P))
    for days in (30, 90, 200, 400, 800):
        await advance_to(clock.now() + timedelta(days=days), scheduler, sandbox, clock)
    assert len(sandbox.bot_messages(P)) == before
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
        visits = list(await session.exec(select(Visit)))
    assert participant.status == ParticipantStatus.WITHDRAWN
    assert len(visits) == 9  # the data are kept


async def test_guided_enrolment_with_buttons_ends_with_a_working_link(
    sandbox: SandboxServer, database: Database
) -> None:
    coordinator = ZJU2_COORDINATOR
    assert "请输入研究编号" in await say(sandbox, coordinator, "/enroll")
    assert "请选择组别" in await say(sandbox, coordinator, "ZJU2-050")

    async def press_last(data: str) -> str:
        last = sandbox.bot_messages(coordinator)[-1]
        assert data in last.button_data(), last.button_data()
        await sandbox.press(
            user_id=coordinator, chat_id=coordinator, message_id=last.message_id, data=data
        )
        return (await sandbox.wait_for_message(coordinator, after_message_id=last.message_id)).text

    assert "随机化日期是哪一天" in await press_last("e:arm:individualized")
    assert "使用哪种语言" in await press_last("e:day:today")
    assert "是否有可能怀孕" in await press_last("e:lang:en")
    enrolled_text = await press_last("e:preg:yes")
    assert enrolled_text.startswith("✓ 已入组 ZJU2-050")
    link = enrolled_text.splitlines()[-1]
    code = link.split("start=")[1]
    sandbox.add_user(P, "P")
    welcome = await say(sandbox, P, f"/start {code}")
    assert welcome.startswith("Welcome to your study companion")
    assert "contraception" in welcome
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
    assert (participant.arm, participant.language, participant.can_become_pregnant) == (
        "individualized",
        "en",
        True,
    )


async def test_one_line_enrolment_and_a_refusal_for_another_sites_code(
    sandbox: SandboxServer,
) -> None:
    text = await say(sandbox, ZJU2_COORDINATOR, "/enroll ZJU2-051 ZJU2 standard 2026-03-02 no")
    assert text.startswith("✓ 已入组 ZJU2-051") and "?start=" in text
    refused = await say(sandbox, ZJU2_COORDINATOR, "/enroll ZJU2-052 PUMCH standard 2026-03-02 no")
    assert "没有代码为 PUMCH 的研究中心" in refused
