"""When check-ins and contraception questions are put, nudged and expired."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from scheduler.checkin_jobs import (
    _put_due,
    _read_due,
    expire_checkins,
    nudge_checkins,
    put_due_checkins,
)
from scheduler.planner import Planner
from study.checkins import start_on_demand
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
    saved_id,
)
from study.team import Pause
from tests.support.clock import FakeClock
from tests.support.factories import enrolled, team_of

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


async def test_no_cadence_checkin_while_the_participant_has_one_of_their_own_open(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    """A check-in the participant started (/checkin) the day before the cadence one is due
    holds it back until it closes: never two symptom check-ins at once."""
    participant, _ = await enrolled(database, config, clock, chat_id=5001, preferred_hour=10)
    await sweep(database, clock, config)
    clock.set(datetime(2026, 3, 15, 20, 0, tzinfo=SHANGHAI))
    async with database.session() as session:
        await start_on_demand(session, participant, now=clock.now(), config=config)
    clock.set(datetime(2026, 3, 16, 10, 0, tzinfo=SHANGHAI))  # the cadence check-in's hour
    await sweep(database, clock, config)
    assert [c.trigger for c in await checkins(database)] == [CheckInTrigger.ON_DEMAND]
    clock.set(datetime(2026, 3, 18, 20, 0, tzinfo=SHANGHAI))  # the participant's expires
    await sweep(database, clock, config)
    assert [(c.trigger, c.status, c.asked_at) for c in await checkins(database)] == [
        (CheckInTrigger.ON_DEMAND, PromptStatus.EXPIRED, datetime(2026, 3, 15, 12, 0, tzinfo=UTC)),
        (CheckInTrigger.CADENCE, PromptStatus.OPEN, datetime(2026, 3, 18, 12, 0, tzinfo=UTC)),
    ]


async def test_a_question_after_an_infusion_is_put_late_until_it_would_have_expired(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    """Sweeps that did not run (the bot was down) put the question in its last minute, and
    not after it."""
    await enrolled(database, config, clock, chat_id=5001, randomized_on=date(2026, 3, 2))
    clock.set(datetime(2026, 9, 1, 10, 0, tzinfo=SHANGHAI))
    await infusion_given(database, config, clock, date(2026, 9, 2), time(15, 30))
    clock.set(datetime(2026, 9, 6, 15, 29, tzinfo=SHANGHAI))  # asked at 3 Sept 15:30, + 72 h
    await sweep(database, clock, config)
    clock.set(datetime(2026, 9, 12, 15, 30, tzinfo=SHANGHAI))  # the 7-day one's 72 h are up
    await sweep(database, clock, config)
    assert await asked_after_infusion(database, date(2026, 9, 1)) == [
        ("infusion_24h", datetime(2026, 9, 6, 15, 29, tzinfo=SHANGHAI))
    ]


async def test_a_change_after_the_sweep_read_what_was_due_is_not_overwritten(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    """The sweep reads what is due for many participants at once, then puts it for each in a
    transaction of their own. A check-in the participant started, or a pause, in between
    wins over what was read before it."""
    started, _ = await enrolled(database, config, clock, study_id="ZJU2-001", chat_id=5001)
    paused, _ = await enrolled(database, config, clock, study_id="ZJU2-002", chat_id=5002)
    unchanged, _ = await enrolled(database, config, clock, study_id="ZJU2-003", chat_id=5003)
    await sweep(database, clock, config)
    clock.advance(timedelta(days=15))
    ids = [saved_id(participant) for participant in (started, paused, unchanged)]
    read = await _read_due(database, ids, clock.now(), config)
    assert [[checkin.trigger for checkin in read[key][1]] for key in ids] == [["cadence"]] * 3
    async with database.session() as session:
        await start_on_demand(session, started, now=clock.now(), config=config)
        await Pause("ZJU2-002").run(session, team_of(config, clock))
    for key in ids:
        async with database.session() as session:
            await _put_due(session, key, read, clock.now(), config)
    assert sorted((c.participant_id, c.trigger) for c in await checkins(database)) == [
        (ids[0], CheckInTrigger.ON_DEMAND),
        (ids[2], CheckInTrigger.CADENCE),
    ]
