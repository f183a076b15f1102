"""The planner: which reminders exist, when, and how they follow changes."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from scheduler.planner import Planner
from study.config import StudyConfig
from study.database import Database
from study.models import (
    OutboxMessage,
    OutboxStatus,
    Participant,
    ParticipantStatus,
    Visit,
)
from tests.support.clock import FakeClock
from tests.support.factories import enrolled

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def reminders(database: Database, status: str | None = None) -> list[OutboxMessage]:
    async with database.session() as session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.due_at))
        if status:
            query = query.where(OutboxMessage.status == status)
        return list(await session.exec(query))


async def test_nothing_is_planned_before_the_participant_links(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    assert await reminders(database) == []


async def test_standard_arm_reminders_for_the_whole_follow_up(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    # Linked at 09:00 on day 1: the day-1 visit is under way; 8 visits remain, 3 reminders each.
    await enrolled(database, config, clock, randomized_on=date(2026, 3, 2), chat_id=5001)
    rows = await reminders(database)
    assert len(rows) == 8 * 3
    assert {row.status for row in rows} == {OutboxStatus.PENDING}
    kinds = [row.context["kind"] for row in rows if row.context["days_before"] == 7]
    # Months 3..24: infusions at 6, 12, 18, 24 make those visits "visit and infusion".
    assert kinds == ["visit", "visit_infusion"] * 4
    for row in rows:
        local = row.due_at.astimezone(SHANGHAI)
        assert (local.hour, local.minute) == (9, 0)
        assert local.date() == date.fromisoformat(row.context["date"]) - timedelta(
            days=row.context["days_before"]
        )
        assert row.not_after is not None and row.due_at < row.not_after


async def test_individualised_arm_is_never_promised_an_infusion(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(
        database, config, clock, arm="individualized", randomized_on=date(2026, 3, 2), chat_id=5001
    )
    kinds = {row.context["kind"] for row in await reminders(database)}
    assert kinds == {"visit_dose_decided_at_visit"}


async def test_replanning_is_idempotent(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    participant, _ = await enrolled(database, config, clock, chat_id=5001)
    before = [(row.dedupe_key, row.due_at) for row in await reminders(database)]
    async with database.session() as session:
        await Planner(config).replan(session, participant, clock.now())
        await Planner(config).replan(session, participant, clock.now())
    assert [(row.dedupe_key, row.due_at) for row in await reminders(database)] == before


async def test_moving_a_visit_cancels_its_old_reminders_and_plans_new_ones(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    participant, _ = await enrolled(
        database, config, clock, randomized_on=date(2026, 3, 2), chat_id=5001
    )
    async with database.session() as session:
        visit = (await session.exec(select(Visit).where(Visit.number == 1))).one()
        visit.appointment_date = date(2026, 6, 9)
        session.add(visit)
        await Planner(config).replan(session, participant, clock.now())
    cancelled = await reminders(database, OutboxStatus.CANCELLED)
    assert {row.context["date"] for row in cancelled} == {"2026-06-02"}
    assert len(cancelled) == 3
    pending = [
        r for r in await reminders(database, OutboxStatus.PENDING) if r.context["visit_number"] == 1
    ]
    assert {row.context["date"] for row in pending} == {"2026-06-09"}
    assert len(pending) == 3


async def test_pause_cancels_everything_and_resume_brings_it_back(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    participant, _ = await enrolled(database, config, clock, chat_id=5001)
    planned = len(await reminders(database))
    async with database.session() as session:
        row = await session.get(Participant, participant.id)
        assert row is not None
        row.status = ParticipantStatus.PAUSED
        await Planner(config).replan(session, row, clock.now())
    assert len(await reminders(database, OutboxStatus.CANCELLED)) == planned
    async with database.session() as session:
        row = await session.get(Participant, participant.id)
        assert row is not None
        row.status = ParticipantStatus.ACTIVE
        await Planner(config).replan(session, row, clock.now())
    assert len(await reminders(database, OutboxStatus.PENDING)) == planned


async def test_a_participant_in_a_dst_zone_keeps_the_local_hour(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(
        database,
        config,
        clock,
        randomized_on=date(2026, 1, 5),
        chat_id=5001,
        timezone="Europe/Berlin",
    )
    berlin = ZoneInfo("Europe/Berlin")
    utc_hours = set()
    for row in await reminders(database):
        local = row.due_at.astimezone(berlin)
        assert (local.hour, local.minute) == (9, 0)
        utc_hours.add(row.due_at.hour)
    assert utc_hours == {7, 8}  # summer and winter time
