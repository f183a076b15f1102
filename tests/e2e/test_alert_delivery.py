"""A failed alert is loud and goes somewhere else: through the real bot and the sandbox, when
the site's alert chat refuses the card (bot kicked, chat gone, group migrated)."""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

import httpx
import pytest
from sqlmodel import col, select
from telegram.ext import Application

from bot.health import Health, health_server
from bot.services import Services
from sandbox import FaultRule, SandboxServer
from scheduler.service import SchedulerService
from study import audit
from study.alerts import resolve_alert
from study.config import StudyConfig
from study.database import Database
from study.models import (
    Alert,
    AlertStatus,
    ChatMigration,
    CoordinatorChat,
    OutboxMessage,
    OutboxStatus,
)
from tests.e2e.conftest import advance_to
from tests.e2e.test_checkins import NONE, P, checkin, linked
from tests.support.clock import FakeClock
from tests.support.study import (
    ADMIN,
    PUMCH_ALERTS,
    PUMCH_COORDINATOR,
    ZJU2_ALERTS,
    ZJU2_COORDINATOR,
    ZJU2_ESCALATION,
    ZJU2_INVESTIGATOR,
)

pytestmark = pytest.mark.usefixtures("bot")

RED_FLAG = {"Q1": ["chest_breathing"]}
RECEIVED_ZH = "研究团队已经收到了您报告的情况"
UNREACHABLE_ZH = "提醒群收不到消息"
NEW_SUPERGROUP = -1009999999999


async def start_bot_privately(sandbox: SandboxServer, user_id: int) -> None:
    """A coordinator opens a private chat with the bot and sends /start."""
    sent = await sandbox.send_text(user_id, "/start")
    await sandbox.wait_for_message(user_id, after_message_id=sent.message_id)


async def card_rows(database: Database) -> list[OutboxMessage]:
    async with database.session() as session:
        rows = await session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.alert_id).is_not(None))
            .order_by(col(OutboxMessage.id))
        )
        return list(rows)


def received(sandbox: SandboxServer) -> list[str]:
    return [m.text for m in sandbox.bot_messages(P) if RECEIVED_ZH in m.text]


@pytest.mark.parametrize("refusal", ["kicked", "chat_not_found"])
async def test_an_alert_the_alert_chat_refuses_reaches_the_escalation_chat_and_coordinators(
    refusal: str,
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await start_bot_privately(sandbox, ZJU2_COORDINATOR)  # ZJU2_INVESTIGATOR never did
    sandbox.faults.add(FaultRule("sendMessage", refusal, chat_id=ZJU2_ALERTS))  # type: ignore[arg-type]
    await linked(database, config, clock, sandbox)
    await checkin(sandbox, RED_FLAG)

    for chat in (ZJU2_ESCALATION, ZJU2_COORDINATOR):
        message = await sandbox.wait_for_message(chat, predicate=lambda m: "ZJU2-001" in m.text)
        first, second, *_ = message.text.splitlines()
        assert first == "T1 紧急 · ZJU2-001"
        assert UNREACHABLE_ZH in second
        assert "胸痛或呼吸困难" in message.text  # what the participant reported
    await advance_to(clock.now(), scheduler, sandbox, clock)
    assert sandbox.bot_messages(ZJU2_INVESTIGATOR) == []  # Telegram would refuse: not started
    assert sandbox.bot_messages(ZJU2_ALERTS) == []
    card, *copies = await card_rows(database)
    assert card.status == OutboxStatus.FAILED and card.chat_id == ZJU2_ALERTS
    assert {(row.chat_id, row.status) for row in copies} == {
        (ZJU2_ESCALATION, OutboxStatus.SENT),
        (ZJU2_COORDINATOR, OutboxStatus.SENT),
    }
    # The team has it, so the participant is told so (once).
    await sandbox.wait_for_message(P, predicate=lambda m: RECEIVED_ZH in m.text)
    await advance_to(clock.now() + timedelta(minutes=1), scheduler, sandbox, clock)
    assert len(received(sandbox)) == 1

    # The coordinator can act on it in their private chat.
    private = next(m for m in sandbox.bot_messages(ZJU2_COORDINATOR) if "ZJU2-001" in m.text)
    ack = next(data for data in private.button_data() if data.endswith(":ack"))
    await sandbox.press(
        user_id=ZJU2_COORDINATOR,
        chat_id=ZJU2_COORDINATOR,
        message_id=private.message_id,
        data=ack,
    )
    await sandbox.wait_for_edit(ZJU2_COORDINATOR, private.message_id)
    async with database.session() as session:
        alert = (await session.exec(select(Alert))).one()
    assert alert.status == AlertStatus.ACKNOWLEDGED


async def test_without_an_escalation_chat_the_sites_coordinators_get_the_alert_privately(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    assert config.sites["PUMCH"].escalation_chat_id is None
    await start_bot_privately(sandbox, PUMCH_COORDINATOR)
    await start_bot_privately(sandbox, ZJU2_COORDINATOR)  # of another site: not told
    sandbox.faults.add(FaultRule("sendMessage", "kicked", chat_id=PUMCH_ALERTS))
    await linked(database, config, clock, sandbox, study_id="PUMCH-001", site="PUMCH")
    await checkin(sandbox, RED_FLAG)

    message = await sandbox.wait_for_message(
        PUMCH_COORDINATOR, predicate=lambda m: "PUMCH-001" in m.text
    )
    assert message.text.startswith("T1 紧急 · PUMCH-001\n")
    assert UNREACHABLE_ZH in message.text
    await sandbox.wait_for_message(P, predicate=lambda m: RECEIVED_ZH in m.text)
    assert not any("PUMCH-001" in m.text for m in sandbox.bot_messages(ZJU2_COORDINATOR))


async def test_an_alert_no_chat_received_is_critical_and_unhealthy_until_it_reaches_someone(
    sandbox: SandboxServer,
    services: Services,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    bot: Application,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.faults.add(FaultRule("sendMessage", "kicked", chat_id=PUMCH_ALERTS))
    await linked(database, config, clock, sandbox, study_id="PUMCH-001", site="PUMCH")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    async with (
        health_server(Health(services, bot.bot), f"127.0.0.1:{port}") as address,
        httpx.AsyncClient() as client,
    ):
        assert (await client.get(address)).status_code == 200
        with caplog.at_level(logging.CRITICAL):
            await checkin(sandbox, RED_FLAG)
            await advance_to(clock.now(), scheduler, sandbox, clock)
        assert any(
            record.levelno == logging.CRITICAL and "no chat received" in record.getMessage()
            for record in caplog.records
        )
        unhealthy = await client.get(address)
        assert unhealthy.status_code == 503
        assert unhealthy.json()["undelivered_alerts"] == 1
        assert received(sandbox) == []  # nobody has it: the participant is not told so

        # The coordinator starts the bot; the 30-minute re-send, refused again by the alert
        # chat, now reaches them, and only then is the participant told.
        await start_bot_privately(sandbox, PUMCH_COORDINATOR)
        await advance_to(clock.now() + timedelta(minutes=29), scheduler, sandbox, clock)
        assert received(sandbox) == []
        await advance_to(clock.now() + timedelta(minutes=1), scheduler, sandbox, clock)
        resent = await sandbox.wait_for_message(
            PUMCH_COORDINATOR, predicate=lambda m: "PUMCH-001" in m.text
        )
        assert resent.text.startswith("T1 紧急 · PUMCH-001\n")
        await sandbox.wait_for_message(P, predicate=lambda m: RECEIVED_ZH in m.text)
        healthy = await client.get(address)
        assert healthy.status_code == 200, healthy.json()
        assert healthy.json()["undelivered_alerts"] == 0


async def test_health_recovers_when_an_undelivered_alert_is_resolved(
    sandbox: SandboxServer,
    services: Services,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    bot: Application,  # type: ignore[type-arg]
) -> None:
    sandbox.faults.add(FaultRule("sendMessage", "kicked", chat_id=PUMCH_ALERTS))
    await linked(database, config, clock, sandbox, study_id="PUMCH-001", site="PUMCH")
    await checkin(sandbox, RED_FLAG)
    await advance_to(clock.now(), scheduler, sandbox, clock)
    health = Health(services, bot.bot)
    healthy, body = await health.report()
    assert not healthy and body["undelivered_alerts"] == 1
    async with database.session() as session:
        alert = (await session.exec(select(Alert))).one()
        await resolve_alert(
            session, alert, actor=audit.telegram_actor(PUMCH_COORDINATOR), now=clock.now()
        )
    healthy, body = await health.report()
    assert healthy and body["undelivered_alerts"] == 0


async def test_the_participant_hears_the_team_has_the_report_only_once_the_card_landed(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    # Telegram fails the card twice (5xx): it is retried with backoff, and lands later.
    sandbox.faults.add(FaultRule("sendMessage", "server_error", chat_id=ZJU2_ALERTS, count=2))
    await linked(database, config, clock, sandbox)
    await checkin(sandbox, RED_FLAG)
    await advance_to(clock.now(), scheduler, sandbox, clock)
    assert sandbox.bot_messages(ZJU2_ALERTS) == []
    assert received(sandbox) == []
    for _ in range(10):
        if sandbox.bot_messages(ZJU2_ALERTS):
            break
        await advance_to(clock.now() + timedelta(minutes=1), scheduler, sandbox, clock)
    [card] = sandbox.bot_messages(ZJU2_ALERTS)
    assert card.text.startswith("T1 紧急 · ZJU2-001")
    message = await sandbox.wait_for_message(P, predicate=lambda m: RECEIVED_ZH in m.text)
    first = message.text.splitlines()[0]
    assert first == "来自您的研究团队的消息"  # neutral on a lock screen
    assert "120" in message.text and "+86 571 0000 0000" in message.text
    assert sandbox.bot_messages(ZJU2_ESCALATION) == []  # nothing was refused for good


async def test_a_group_that_became_a_supergroup_is_followed_to_its_new_id(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    team = [c.telegram_user_id for c in config.sites["ZJU2"].coordinators]
    sandbox.add_group(NEW_SUPERGROUP, "ZJU2 team", members=team)
    sandbox.faults.add(
        FaultRule("sendMessage", "migrated", chat_id=ZJU2_ALERTS, migrate_to_chat_id=NEW_SUPERGROUP)
    )
    await linked(database, config, clock, sandbox)
    with caplog.at_level(logging.WARNING):
        await checkin(sandbox, RED_FLAG)
        card = await sandbox.wait_for_message(NEW_SUPERGROUP)
    assert card.text.startswith("T1 紧急 · ZJU2-001")
    assert any(
        record.levelno == logging.WARNING
        and str(NEW_SUPERGROUP) in record.getMessage()
        and "study.toml" in record.getMessage()
        for record in caplog.records
    )
    async with database.session() as session:
        moved = await session.get(ChatMigration, ZJU2_ALERTS)
    assert moved is not None and moved.new_chat_id == NEW_SUPERGROUP

    # Later messages for the alert chat go straight to the supergroup.
    await advance_to(clock.now() + timedelta(minutes=30), scheduler, sandbox, clock)
    resent = sandbox.bot_messages(NEW_SUPERGROUP)[-1]
    assert resent.message_id != card.message_id and "再次发送" in resent.text
    to_old = [c for c in sandbox.calls("sendMessage") if c.params["chat_id"] == ZJU2_ALERTS]
    assert len(to_old) == 1
    assert sandbox.bot_messages(ZJU2_ESCALATION) == []  # followed, not refused
    await sandbox.wait_for_message(P, predicate=lambda m: RECEIVED_ZH in m.text)


async def test_a_coordinator_writing_privately_is_remembered_once(
    sandbox: SandboxServer, database: Database
) -> None:
    await start_bot_privately(sandbox, ZJU2_COORDINATOR)
    await start_bot_privately(sandbox, ZJU2_COORDINATOR)
    async with database.session() as session:
        rows = list(await session.exec(select(CoordinatorChat)))
    assert [row.telegram_user_id for row in rows] == [ZJU2_COORDINATOR]


async def test_t3_alerts_and_the_digest_take_the_same_path_and_nothing_refused_counts_as_sent(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    sandbox.faults.add(FaultRule("sendMessage", "kicked", chat_id=ZJU2_ALERTS))
    await linked(database, config, clock, sandbox)
    await checkin(sandbox, {**NONE, "Q3": ["cough"]})
    await advance_to(clock.now(), scheduler, sandbox, clock)
    [t3] = sandbox.bot_messages(ZJU2_ESCALATION)
    assert t3.text.startswith("T3 复核 · ZJU2-001\n") and UNREACHABLE_ZH in t3.text
    assert received(sandbox) == []  # only T1/T2 reports are confirmed to the participant

    # The next morning's digest of open T3 alerts is refused too, and goes the same way.
    next_morning = clock.now().replace(hour=1, minute=0) + timedelta(days=1)  # 09:00 local
    await advance_to(next_morning, scheduler, sandbox, clock)
    digest = sandbox.bot_messages(ZJU2_ESCALATION)[-1]
    assert digest.text.startswith("每日汇总 · ZJU2")
    assert "ZJU2-001" in digest.text and UNREACHABLE_ZH in digest.text
    async with database.session() as session:
        to_alert_chat = list(
            await session.exec(select(OutboxMessage).where(OutboxMessage.chat_id == ZJU2_ALERTS))
        )
    assert {row.template for row in to_alert_chat} == {"alert_card", "digest"}
    assert {row.status for row in to_alert_chat} == {OutboxStatus.FAILED}


async def test_a_coordinator_who_blocked_the_bot_is_not_counted_on_any_more(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await start_bot_privately(sandbox, ZJU2_COORDINATOR)
    await start_bot_privately(sandbox, ADMIN)
    sandbox.block(ADMIN)
    sandbox.faults.add(FaultRule("sendMessage", "kicked", chat_id=ZJU2_ALERTS))
    await linked(database, config, clock, sandbox)
    await checkin(sandbox, RED_FLAG)
    await advance_to(clock.now(), scheduler, sandbox, clock)
    assert any("ZJU2-001" in m.text for m in sandbox.bot_messages(ZJU2_COORDINATOR))
    async with database.session() as session:
        remembered = list(await session.exec(select(CoordinatorChat.telegram_user_id)))
    assert remembered == [ZJU2_COORDINATOR]
