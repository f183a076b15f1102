"""When check-ins and contraception questions are put, nudged and expired."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from scheduler.checkin_jobs import expire_checkins, nudge_checkins, put_due_checkins
from scheduler.planner import Planner
from study.config import StudyConfig
from study.database import Database
from study.infusions import record_given, schedule_infusion
from study.models import (
    Alert,
    CheckIn,
    CheckInKind,
    CheckInTrigger,
    Infusion,
    InfusionStatus,
    OutboxMessage,
    Participant,
    PromptStatus,
)
from tests.support.clock import FakeClock
from tests.support.factories import enrolled

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def checkins(database: Database) -> list[CheckIn]:
    async with database.session() as session:
        return list(await session.exec(select(CheckIn).order_by(col(CheckIn.asked_at))))


async def sweep(database: Database, clock: FakeClock, config: StudyConfig) -> None:
    await expire_checkins(database, clock, config)
    await put_due_checkins(database, clock, config)
    await nudge_checkins(database, clock, config)


async def test_the_symptom_checkin_comes_every_14_days_at_the_preferred_hour(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(database, config, clock, chat_id=5001, preferred_hour=10)
    clock.set(datetime(2026, 3, 16, 9, 59, tzinfo=SHANGHAI))
    await sweep(database, clock, config)
    assert await checkins(database) == []
    clock.set(datetime(2026, 3, 16, 10, 0, tzinfo=SHANGHAI))
    await sweep(database, clock, config)
    await sweep(database, clock, config)  # idempotent
    [first] = await checkins(database)
    assert (first.kind, first.trigger) == (CheckInKind.SYMPTOMS, CheckInTrigger.CADENCE)
    async with database.session() as session:
        asks = list(await session.exec(select(OutboxMessage)))
    assert [row.template for row in asks if row.template == "checkin_question"] == [
        "checkin_question"
    ]


async def test_nudged_after_a_day_expired_after_three_and_two_missed_tell_the_site(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(database, config, clock, chat_id=5001)
    start = clock.now()
    for period in (1, 2):
        clock.set(start + timedelta(days=14 * period))
        await sweep(database, clock, config)
        clock.advance(timedelta(hours=24))
        await sweep(database, clock, config)
        clock.advance(timedelta(hours=48))
        await sweep(database, clock, config)
    done = await checkins(database)
    assert [c.status for c in done] == [PromptStatus.EXPIRED, PromptStatus.EXPIRED]
    assert all(c.nudged_at is not None for c in done)
    async with database.session() as session:
        alerts = list(await session.exec(select(Alert)))
    assert [(a.kind, a.tier) for a in alerts] == [("missed_checkins", "T3")]


async def test_questions_after_an_infusion_at_one_and_seven_days(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    # Randomised today: the day-1 infusion is recorded as given.
    await enrolled(database, config, clock, chat_id=5001, randomized_on=date(2026, 3, 2))
    async with database.session() as session:
        infusion = (await session.exec(select(Infusion))).first()
    assert infusion is not None and infusion.status == InfusionStatus.GIVEN
    for day in (3, 9):
        clock.set(datetime(2026, 3, day, 9, 0, tzinfo=SHANGHAI))
        await sweep(database, clock, config)
    infusion_checkins = [c for c in await checkins(database) if c.kind == "post_infusion"]
    assert [c.trigger for c in infusion_checkins] == ["infusion_24h", "infusion_7d"]
    assert all(c.infusion_id == infusion.id for c in infusion_checkins)


async def infusion_given(
    database: Database, config: StudyConfig, clock: FakeClock, day: date, at: time
) -> None:
    """The next planned infusion of ZJU2-001 set for `day` at `at`, then given that day."""
    replanner = Planner(config)
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
        await schedule_infusion(
            session,
            participant,
            day=day,
            at=at,
            actor="test",
            now=clock.now(),
            config=config,
            replanner=replanner,
        )
        await record_given(
            session, participant, on=day, actor="test", now=clock.now(), replanner=replanner
        )


async def asked_after_infusion(database: Database, since: date) -> list[tuple[str, datetime]]:
    return [
        (c.trigger, c.asked_at)
        for c in await checkins(database)
        if c.kind == CheckInKind.POST_INFUSION and c.asked_at.date() >= since
    ]


async def test_questions_after_an_infusion_count_from_its_recorded_time(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(database, config, clock, chat_id=5001, randomized_on=date(2026, 3, 2))
    clock.set(datetime(2026, 9, 1, 10, 0, tzinfo=SHANGHAI))
    # The month-6 infusion, recorded at 15:30 on 2 September.
    await infusion_given(database, config, clock, date(2026, 9, 2), time(15, 30))
    since = date(2026, 9, 1)
    # Not at the preferred hour (9:00) the next day: 24 hours after the recorded time.
    clock.set(datetime(2026, 9, 3, 15, 29, tzinfo=SHANGHAI))
    await sweep(database, clock, config)
    assert await asked_after_infusion(database, since) == []
    clock.set(datetime(2026, 9, 3, 15, 30, tzinfo=SHANGHAI))
    await sweep(database, clock, config)
    assert await asked_after_infusion(database, since) == [
        ("infusion_24h", datetime(2026, 9, 3, 15, 30, tzinfo=SHANGHAI))
    ]
    # The 7-day question likewise: 168 hours after it.
    clock.set(datetime(2026, 9, 9, 15, 29, tzinfo=SHANGHAI))
    await sweep(database, clock, config)
    assert len(await asked_after_infusion(database, since)) == 1
    clock.set(datetime(2026, 9, 9, 15, 30, tzinfo=SHANGHAI))
    await sweep(database, clock, config)
    assert [trigger for trigger, _ in await asked_after_infusion(database, since)] == [
        "infusion_24h",
        "infusion_7d",
    ]


async def test_an_infusion_recorded_late_in_the_day_is_asked_about_when_quiet_hours_end(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(database, config, clock, chat_id=5001, randomized_on=date(2026, 3, 2))
    clock.set(datetime(2026, 9, 1, 10, 0, tzinfo=SHANGHAI))
    await infusion_given(database, config, clock, date(2026, 9, 2), time(21, 45))
    for moment in (datetime(2026, 9, 3, 21, 45), datetime(2026, 9, 4, 7, 59)):
        clock.set(moment.replace(tzinfo=SHANGHAI))
        await sweep(database, clock, config)
    assert await asked_after_infusion(database, date(2026, 9, 1)) == []
    clock.set(datetime(2026, 9, 4, 8, 0, tzinfo=SHANGHAI))
    await sweep(database, clock, config)
    assert await asked_after_infusion(database, date(2026, 9, 1)) == [
        ("infusion_24h", datetime(2026, 9, 4, 8, 0, tzinfo=SHANGHAI))
    ]


async def test_contraception_every_four_weeks_only_for_those_who_can_become_pregnant(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(database, config, clock, chat_id=5001, can_become_pregnant=True)
    await enrolled(database, config, clock, study_id="ZJU2-002", chat_id=5002)
    clock.set(clock.now() + timedelta(days=28))
    await sweep(database, clock, config)
    contraception = [c for c in await checkins(database) if c.kind == "contraception"]
    assert len(contraception) == 1
    assert contraception[0].trigger == CheckInTrigger.CADENCE


async def test_contraception_stops_twelve_months_after_the_last_infusion(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    # Individualised arm: only the day-1 infusion, so questions end a year after it.
    await enrolled(
        database,
        config,
        clock,
        arm="individualized",
        chat_id=5001,
        can_become_pregnant=True,
        randomized_on=date(2026, 3, 2),
    )
    clock.set(datetime(2027, 2, 28, 9, 0, tzinfo=SHANGHAI))  # before 2 March 2027
    await sweep(database, clock, config)
    before = len([c for c in await checkins(database) if c.kind == "contraception"])
    assert before == 1
    clock.advance(timedelta(days=60))
    await sweep(database, clock, config)
    after = [c for c in await checkins(database) if c.kind == "contraception"]
    assert len(after) == before
