"""Periodic work proportional to what is due: a sweep reads nobody whose moment has not come,
and every change that may bring a participant's check-ins forward makes it look again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event
from sqlalchemy.util import await_only
from sqlmodel import select

from scheduler.alert_jobs import run_alert_sweeps, send_previsit_summaries
from scheduler.checkin_jobs import expire_checkins, put_due_checkins, run_checkin_sweeps
from scheduler.sweeps import check_visit_windows, run_all_sweeps
from study.checkin_due import NEVER, forget_all, working_out
from study.config import StudyConfig
from study.database import READ_ONLY, Database
from study.models import (
    Alert,
    CheckIn,
    CheckInKind,
    OutboxMessage,
    Participant,
    PromptStatus,
    Visit,
    saved_id,
)
from study.team import Pause, RecordGiven, Resume, SetCanBecomePregnant, SetVisit, Team, Withdraw
from tests.support.clock import FakeClock
from tests.support.factories import enrolled, team_of

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def sweep(database: Database, clock: FakeClock, config: StudyConfig) -> None:
    """Every periodic check, as `SchedulerService.sweep` runs them."""
    for job in (run_all_sweeps, run_checkin_sweeps, run_alert_sweeps):
        await job(database, clock, config)


class Reads:
    """Statements sent and participant rows loaded while counting."""

    def __init__(self, database: Database) -> None:
        self.statements = 0
        self.participants = 0
        self._engine = database.engine.sync_engine
        event.listen(self._engine, "after_cursor_execute", self._statement)
        event.listen(Participant, "load", self._participant)

    def _statement(self, *_: Any) -> None:
        self.statements += 1

    def _participant(self, *_: Any) -> None:
        self.participants += 1

    def stop(self) -> None:
        event.remove(self._engine, "after_cursor_execute", self._statement)
        event.remove(Participant, "load", self._participant)


async def quiet_sweep(
    database: Database, config: StudyConfig, clock: FakeClock, first: int, count: int
) -> Reads:
    """Enrol and link `count` more participants, sweep once (their moments are worked out),
    then count what a sweep an hour later reads, when nothing is due."""
    for index in range(first, first + count):
        await enrolled(
            database,
            config,
            clock,
            study_id=f"ZJU2-{index:03d}",
            chat_id=7000 + index,
            can_become_pregnant=index % 2 == 0,
        )
    await sweep(database, clock, config)
    clock.advance(timedelta(hours=1))
    reads = Reads(database)
    try:
        await sweep(database, clock, config)
    finally:
        reads.stop()
    return reads


async def test_a_sweep_reads_none_of_the_participants_with_nothing_due(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 3, 2, 12, 0, tzinfo=SHANGHAI))
    few = await quiet_sweep(database, config, clock, 0, 3)
    many = await quiet_sweep(database, config, clock, 3, 12)
    assert few.participants == many.participants == 0
    assert few.statements == many.statements  # the same work for 3 as for 15
    async with database.session() as session:
        moments = [p.checkins_due_at for p in await session.exec(select(Participant))]
    assert len(moments) == 15 and all(m is not None and m > clock.now() for m in moments)


async def moment(database: Database, study_id: str) -> datetime | None:
    async with database.session() as session:
        participant = (
            await session.exec(select(Participant).where(Participant.study_id == study_id))
        ).one()
    return participant.checkins_due_at


async def test_each_change_that_may_bring_a_checkin_forward_forgets_the_moment(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 3, 2, 12, 0, tzinfo=SHANGHAI))
    await enrolled(
        database, config, clock, chat_id=5001, can_become_pregnant=True, randomized_on=None
    )
    assert await moment(database, "ZJU2-001") is None  # linked: not known yet
    await sweep(database, clock, config)
    worked_out = await moment(database, "ZJU2-001")
    assert worked_out is not None and clock.now() < worked_out < NEVER

    def team() -> Team:
        return team_of(config, clock)

    async def forgets(change: Callable[[Any], Awaitable[object]]) -> None:
        await sweep(database, clock, config)
        assert await moment(database, "ZJU2-001") is not None
        async with database.session() as session:
            await change(session)
        assert await moment(database, "ZJU2-001") is None

    visit_day = date(2026, 6, 1)
    await forgets(lambda s: SetVisit("ZJU2-001", 1, visit_day).run(s, team()))
    await forgets(lambda s: SetCanBecomePregnant("ZJU2-001", False).run(s, team()))
    await forgets(lambda s: SetCanBecomePregnant("ZJU2-001", True).run(s, team()))
    await forgets(lambda s: Pause("ZJU2-001").run(s, team()))
    await sweep(database, clock, config)
    assert await moment(database, "ZJU2-001") is None  # paused: not looked at
    async with database.session() as session:
        await Resume("ZJU2-001").run(session, team())
    await forgets(lambda s: RecordGiven("ZJU2-001", date(2026, 3, 2)).run(s, team()))

    # A check-in put and then closed (here: expired) forgets it too.
    clock.set(datetime(2026, 3, 16, 12, 0, tzinfo=SHANGHAI))
    await sweep(database, clock, config)
    async with database.session() as session:
        statuses = list(
            await session.exec(select(CheckIn.status).where(CheckIn.kind == CheckInKind.SYMPTOMS))
        )
    assert statuses == [PromptStatus.OPEN]
    assert await moment(database, "ZJU2-001") is not None
    clock.advance(timedelta(days=4))
    await expire_checkins(database, clock, config)
    assert await moment(database, "ZJU2-001") is None

    await forgets(lambda s: Withdraw("ZJU2-001").run(s, team()))


class Meanwhile:
    """Runs `change` once, in a transaction of its own, right after the sweep has read what
    a batch of moments is worked out from and before it stores them: the read-only
    transaction that asked when each was last asked ends (the sweep holds no lock then, so
    a button press or a team member can write)."""

    def __init__(self, database: Database, change: Callable[[Any], Awaitable[object]]) -> None:
        self.done = False
        self._reading_moments = False
        self._database = database
        self._change = change
        self._engine = database.engine.sync_engine
        event.listen(self._engine, "after_cursor_execute", self._statement)
        event.listen(self._engine, "rollback", self._ended)

    def _statement(self, connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY)
        if read_only and "max(checkin.asked_at)" in statement:
            self._reading_moments = True

    def _ended(self, connection: Any) -> None:
        if self._reading_moments and not self.done:
            self.done = True
            await_only(self._commit())  # the event runs in SQLAlchemy's greenlet: await there

    async def _commit(self) -> None:
        async with self._database.session() as session:
            await self._change(session)

    def stop(self) -> None:
        event.remove(self._engine, "after_cursor_execute", self._statement)
        event.remove(self._engine, "rollback", self._ended)


async def test_an_infusion_recorded_while_the_sweep_works_moments_out_is_asked_about(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    """The moments are worked out without the write lock; what changes meanwhile is not
    overwritten by a moment worked out before it: the question after an infusion recorded
    then is put in that same sweep, not days later at the stale moment."""
    clock.set(datetime(2026, 3, 2, 12, 0, tzinfo=SHANGHAI))
    await enrolled(database, config, clock, chat_id=5001)
    await sweep(database, clock, config)
    async with database.session() as session:
        await session.exec(forget_all())  # a start: every moment is worked out again
    team = team_of(config, clock)
    yesterday = RecordGiven("ZJU2-001", date(2026, 3, 1))
    meanwhile = Meanwhile(database, lambda s: yesterday.run(s, team))
    try:
        await put_due_checkins(database, clock, config)
    finally:
        meanwhile.stop()
    assert meanwhile.done
    async with database.session() as session:
        kinds = list(await session.exec(select(CheckIn.kind)))
    assert kinds == [CheckInKind.POST_INFUSION]


async def test_a_participant_left_marked_by_a_sweep_that_stopped_half_way_is_still_asked(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    """A sweep that stopped between marking a moment as being worked out and storing it (a
    crash, a failure) leaves the mark; the next sweep still puts what is due to them."""
    clock.set(datetime(2026, 3, 2, 12, 0, tzinfo=SHANGHAI))
    participant, _ = await enrolled(database, config, clock, chat_id=5001)
    async with database.session() as session:
        await session.exec(working_out([saved_id(participant)]))
    clock.advance(timedelta(days=15))  # the first check-in came a day ago
    await put_due_checkins(database, clock, config)
    async with database.session() as session:
        kinds = list(await session.exec(select(CheckIn.kind)))
    assert kinds == [CheckInKind.SYMPTOMS]
    stored = await moment(database, "ZJU2-001")
    assert stored is not None and stored > clock.now()


class Writes:
    """Statements sent on connections that may write (not `Database.reading`)."""

    def __init__(self, database: Database) -> None:
        self.statements = 0
        self._engine = database.engine.sync_engine
        event.listen(self._engine, "after_cursor_execute", self._statement)

    def _statement(self, connection: Any, *_: Any) -> None:
        if not connection.get_execution_options().get(READ_ONLY):
            self.statements += 1

    def stop(self) -> None:
        event.remove(self._engine, "after_cursor_execute", self._statement)


async def test_a_previsit_summary_already_queued_takes_no_write_in_later_sweeps(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    """After the digest hour each sweep looks for the coming days' visits; a visit whose
    summary is queued is passed over in the reading, so the write lock is not taken for it
    every five minutes (at 10,000 participants: 15 write transactions a sweep)."""
    clock.set(datetime(2026, 3, 1, 10, 0, tzinfo=SHANGHAI))  # visit 1 on 3 March
    await enrolled(database, config, clock, chat_id=5001, randomized_on=date(2025, 12, 3))
    assert await send_previsit_summaries(database, clock, config) == 1
    clock.advance(timedelta(minutes=5))
    writes = Writes(database)
    try:
        assert await send_previsit_summaries(database, clock, config) == 0
    finally:
        writes.stop()
    assert writes.statements == 0
    async with database.session() as session:
        summaries = await session.exec(
            select(OutboxMessage).where(OutboxMessage.template == "previsit_summary")
        )
        assert len(list(summaries)) == 1

    # Moved to another day, the visit gets a summary of its new day.
    team = team_of(config, clock)
    async with database.session() as session:
        await SetVisit("ZJU2-001", 1, date(2026, 3, 4)).run(session, team)
    assert await send_previsit_summaries(database, clock, config) == 1


async def test_the_previsit_summaries_of_many_visits_are_written_a_batch_at_a_time(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    """26 visits on the same day: their summaries go in with a few statements for each batch
    of 25, not a savepoint and a query for each visit, so the write lock is held briefly."""
    clock.set(datetime(2026, 3, 1, 10, 0, tzinfo=SHANGHAI))  # visit 1 on 3 March
    for number in range(26):
        await enrolled(
            database,
            config,
            clock,
            study_id=f"ZJU2-{100 + number}",
            chat_id=5100 + number,
            randomized_on=date(2025, 12, 3),
        )
    writes = Writes(database)
    try:
        assert await send_previsit_summaries(database, clock, config) == 26
    finally:
        writes.stop()
    assert writes.statements <= 10  # two batches: BEGIN, the visits, the keys, one insert
    async with database.session() as session:
        summaries = await session.exec(
            select(OutboxMessage.dedupe_key).where(OutboxMessage.template == "previsit_summary")
        )
        assert len(set(summaries)) == 26


async def test_a_visit_left_unrecorded_is_noticed_once_and_takes_no_write_after(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    """Its window closed with nothing recorded: the site is told once and the participant
    gets one kind message. Left so (nobody records it missed), it is passed over in the
    reading of later sweeps, so the write lock is not taken for it every five minutes for
    the rest of the study. Moved to a new day that passes unrecorded too, it is noticed
    again."""
    clock.set(datetime(2026, 3, 1, 10, 0, tzinfo=SHANGHAI))  # visit 1 on 3 March
    await enrolled(database, config, clock, chat_id=5001, randomized_on=date(2025, 12, 3))
    async with database.session() as session:
        visit = (await session.exec(select(Visit).where(Visit.number == 1))).one()
    clock.set(datetime.combine(visit.window_end + timedelta(days=1), datetime.min.time(), SHANGHAI))
    assert await check_visit_windows(database, clock, config) == 1
    clock.advance(timedelta(minutes=5))
    writes = Writes(database)
    try:
        assert await check_visit_windows(database, clock, config) == 0
    finally:
        writes.stop()
    assert writes.statements == 0

    async def told() -> tuple[int, int]:
        async with database.session() as session:
            notices = await session.exec(select(Alert).where(Alert.kind == "missed_visit"))
            kind = await session.exec(
                select(OutboxMessage).where(OutboxMessage.template == "visit_missed_participant")
            )
            return len(list(notices)), len(list(kind))

    assert await told() == (1, 1)

    team = team_of(config, clock)
    new_day = clock.now().date() + timedelta(days=2)
    async with database.session() as session:
        await SetVisit("ZJU2-001", 1, new_day, force=True).run(session, team)
    clock.set(datetime.combine(new_day + timedelta(days=1), datetime.min.time(), SHANGHAI))
    assert await check_visit_windows(database, clock, config) == 1
    assert await told() == (2, 2)
