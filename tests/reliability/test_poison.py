"""One bad row never stops the rest: rows that cannot be composed (a bug, a site removed from
study.toml) are marked failed with their reason while the rest of the batch is sent, and an
alert card among them still reaches the team as a notice that it could not be shown."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select
from telegram.ext import ExtBot

from sandbox import SandboxServer
from scheduler.alert_jobs import escalate_alerts, send_previsit_summaries
from scheduler.sweeps import check_visit_windows
from study.alerts import raise_alert
from study.config import StudyConfig
from study.database import Database
from study.models import Alert, OutboxMessage, OutboxStatus, Participant, Tier
from study.outbox import Priority, enqueue
from tests.reliability.outbox import linked_participants, put_due_reminders, queued_rows
from tests.support.clock import FakeClock
from tests.support.dispatch_worker import build_dispatcher
from tests.support.factories import enrolled
from tests.support.study import PUMCH_ALERTS, ZJU2_ALERTS

CHATS = list(range(8101, 8111))


def without_pumch(config: StudyConfig) -> StudyConfig:
    """study.toml after PUMCH was removed from it (its rows stay in the database)."""
    sites = {code: site for code, site in config.sites.items() if code != "PUMCH"}
    return config.model_copy(update={"sites": sites})


async def pumch_alert(database: Database, config: StudyConfig, clock: FakeClock) -> Alert:
    participant, _ = await enrolled(
        database, config, clock, study_id="PUMCH-001", site="PUMCH", chat_id=8999
    )
    async with database.session() as session:
        return await raise_alert(
            session,
            config=config,
            participant=participant,
            kind="checkin",
            tier=Tier.T1,
            evidence=[{"key": "missed_checkins", "since": "2026-02-01"}],
            now=clock.now(),
        )


async def test_a_poison_row_fails_alone_and_the_rest_of_the_batch_is_sent(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.set_time(clock.now().timestamp())
    sandbox.add_user(8999, "PUMCH participant")
    alert = await pumch_alert(database, config, clock)
    participants = await linked_participants(database, sandbox, CHATS, now=clock.now())
    await put_due_reminders(database, participants, now=clock.now())
    async with database.session() as session:
        # A message whose template does not exist (a bug), due before everything else.
        await enqueue(
            session,
            template="no_such_template",
            dedupe_key="poison:template",
            participant_id=participants[0].id,
            due_at=clock.now() - timedelta(hours=2),
            priority=Priority.URGENT,
            now=clock.now(),
        )
    dispatcher = build_dispatcher(database, bot, clock, without_pumch(config))

    with caplog.at_level(logging.ERROR):
        await dispatcher.drain()

    for chat in CHATS:
        assert len(sandbox.bot_messages(chat)) == 1, f"chat {chat}: the reminder was not sent"
    assert {row.status for row in await queued_rows(database)} == {OutboxStatus.SENT}
    async with database.session() as session:
        poison = (
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.dedupe_key == "poison:template")
            )
        ).one()
        card = (
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.dedupe_key == f"alert:{alert.id}:card")
            )
        ).one()
    assert poison.status == OutboxStatus.FAILED
    assert poison.last_error == "could not be composed: TemplateNotFound"
    assert card.status == OutboxStatus.FAILED
    assert card.last_error == "could not be composed: KeyError"
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"outbox row {poison.id} (no_such_template)" in line for line in logged)
    assert any(f"outbox row {card.id} (alert_card)" in line for line in logged)
    # The site's chat is told that an alert for PUMCH-001 could not be shown.
    [notice] = sandbox.bot_messages(PUMCH_ALERTS)
    first, second, *_ = notice.text.splitlines()
    assert first == "T1 紧急 · PUMCH-001"
    assert "无法" in second and "显示" in second
    assert notice.button_data() == [f"a:{alert.id}:ack", f"a:{alert.id}:res"]


async def test_reminders_of_a_participant_whose_zone_cannot_be_read_stop_nobody_else(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    """Whether a later reminder of the same visit falls due today is read in the
    participant's zone, for the whole claim at once: a zone that cannot be read (bad data)
    must not stop the other chats' reminders."""
    sandbox.set_time(clock.now().timestamp())
    participants = await linked_participants(database, sandbox, CHATS, now=clock.now())
    await put_due_reminders(database, participants[1:], now=clock.now())
    async with database.session() as session:
        broken = await session.get(Participant, participants[0].id)
        assert broken is not None
        broken.timezone = "Mars/Olympus_Mons"
        session.add(broken)
        for days_before, due in ((7, timedelta(hours=-3)), (2, timedelta(hours=3))):
            await enqueue(
                session,
                template="reminder",
                dedupe_key=f"poison:zone:{days_before}",
                participant_id=broken.id,
                event_key="visit:poison",
                due_at=clock.now() + due,
                priority=Priority.ROUTINE,
                now=clock.now(),
            )
    await build_dispatcher(database, bot, clock, config).drain()

    for chat in CHATS[1:]:
        assert len(sandbox.bot_messages(chat)) == 1, f"chat {chat}: the reminder was not sent"


async def test_sweeps_go_on_past_a_row_that_fails(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    zju2, _ = await enrolled(database, config, clock, study_id="ZJU2-001", chat_id=9001)
    pumch, _ = await enrolled(
        database, config, clock, study_id="PUMCH-001", site="PUMCH", chat_id=9002
    )
    async with database.session() as session:
        for participant in (zju2, pumch):
            await raise_alert(
                session,
                config=config,
                participant=participant,
                kind="checkin",
                tier=Tier.T2,
                evidence=[],
                now=clock.now(),
            )
    broken = without_pumch(config)  # PUMCH's rows now fail; ZJU2's must not wait for them

    clock.advance(timedelta(hours=5))  # T2 alerts are escalated after 4 hours
    assert await escalate_alerts(database, clock, broken) == 1
    clock.set(datetime(2026, 5, 30, 1, 0, tzinfo=UTC))  # 09:00, 3 days before month 3
    assert await send_previsit_summaries(database, clock, broken) == 1
    clock.set(datetime(2026, 6, 20, 1, 0, tzinfo=UTC))  # month 3's window closed on 16 June
    found = await check_visit_windows(database, clock, broken)

    async with database.session() as session:
        escalated = list(
            await session.exec(
                select(OutboxMessage.chat_id).where(
                    col(OutboxMessage.dedupe_key).endswith(":escalated")
                )
            )
        )
        summaries = list(
            await session.exec(
                select(OutboxMessage.chat_id).where(OutboxMessage.template == "previsit_summary")
            )
        )
        missed = list(await session.exec(select(Alert).where(Alert.kind == "missed_visit")))
    assert escalated == [config.sites["ZJU2"].escalation_chat_id]
    assert summaries == [ZJU2_ALERTS]
    assert found >= 1 and found == len(missed)
    assert {alert.participant_id for alert in missed} == {zju2.id}
