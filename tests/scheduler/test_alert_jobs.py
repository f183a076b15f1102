"""Rounds of unacknowledged alerts: which chats get the card again, when, and what it says."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from scheduler.alert_jobs import escalate_alerts
from study import audit
from study.alerts import acknowledge_alert, raise_alert
from study.config import StudyConfig
from study.database import Database
from study.models import Alert, AuditEvent, OutboxMessage, Participant, Tier
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import PUMCH_ALERTS, ZJU2_ALERTS, ZJU2_COORDINATOR, ZJU2_ESCALATION


async def raised(
    database: Database, config: StudyConfig, clock: FakeClock, tier: Tier, site: str = "ZJU2"
) -> int:
    await enrolled(database, config, clock, study_id=f"{site}-001", site=site)
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
        alert = await raise_alert(
            session,
            config=config,
            participant=participant,
            kind="checkin",
            tier=tier,
            evidence=[],
            now=clock.now(),
        )
        assert alert.id is not None
        return alert.id


async def rounds(database: Database) -> list[tuple[int | None, str | None, int | None]]:
    """The re-sent and escalated cards queued: (chat, note, minutes waited)."""
    async with database.session() as session:
        rows = await session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.dedupe_key).contains(":round:"))
            .order_by(col(OutboxMessage.id))
        )
        return [(r.chat_id, r.context["note"], r.context["waited_minutes"]) for r in rows]


async def sweep_at(
    database: Database, clock: FakeClock, config: StudyConfig, start: datetime, minutes: int
) -> None:
    clock.set(start + timedelta(minutes=minutes))
    await escalate_alerts(database, clock, config)


async def test_a_t2_alert_is_escalated_after_four_hours_then_every_four_hours(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await raised(database, config, clock, Tier.T2)
    start = clock.now()
    for minutes in (239, 240, 241, 479, 480, 720):
        await sweep_at(database, clock, config, start, minutes)
    both = [(ZJU2_ALERTS, "escalated"), (ZJU2_ESCALATION, "escalated")]
    assert await rounds(database) == [
        *((chat, note, 240) for chat, note in both),
        *((chat, note, 480) for chat, note in both),
        *((chat, note, 720) for chat, note in both),
    ]


async def test_without_an_escalation_chat_the_alert_chat_gets_every_round(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await raised(database, config, clock, Tier.T1, site="PUMCH")
    start = clock.now()
    for minutes in (30, 60, 90):
        await sweep_at(database, clock, config, start, minutes)
    assert await rounds(database) == [
        (PUMCH_ALERTS, "resent", 30),
        (PUMCH_ALERTS, "escalated", 60),
        (PUMCH_ALERTS, "escalated", 90),
    ]


async def test_after_an_outage_only_the_latest_round_is_sent_and_the_clock_holds(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    alert_id = await raised(database, config, clock, Tier.T1)
    start = clock.now()
    await sweep_at(database, clock, config, start, 5 * 60 + 7)  # down for five hours
    await sweep_at(database, clock, config, start, 5 * 60 + 29)
    await sweep_at(database, clock, config, start, 5 * 60 + 30)
    assert await rounds(database) == [
        (ZJU2_ALERTS, "escalated", 300),
        (ZJU2_ESCALATION, "escalated", 300),
        (ZJU2_ALERTS, "escalated", 330),
        (ZJU2_ESCALATION, "escalated", 330),
    ]
    async with database.session() as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        assert alert.escalation_level == 11
        assert alert.next_escalation_at == start + timedelta(minutes=360)
        audited = list(
            await session.exec(
                select(AuditEvent.action).where(col(AuditEvent.action).startswith("alert_"))
            )
        )
    assert audited == ["alert_escalated", "alert_escalated"]  # each round, once


async def test_an_acknowledged_alert_has_no_more_rounds(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    alert_id = await raised(database, config, clock, Tier.T1)
    start = clock.now()
    await sweep_at(database, clock, config, start, 30)
    async with database.session() as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        await acknowledge_alert(
            session, alert, actor=audit.telegram_actor(ZJU2_COORDINATOR), now=clock.now()
        )
    for minutes in (60, 90, 24 * 60):
        await sweep_at(database, clock, config, start, minutes)
    assert await rounds(database) == [(ZJU2_ALERTS, "resent", 30)]
