"""Nothing stale is sent: a change that lands while a batch is being sent stops that batch's
rows it made untrue, a row recovered after a crash past its time is expired, and a reminder
sent after the participant's midnight (also after a wait for Telegram's overall limit) counts
the days from the new day."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from telegram.ext import ExtBot

from bot.sender import PtbSender
from messages import Keyboard
from sandbox import SandboxServer
from scheduler.dispatcher import Dispatcher, DispatchSettings
from scheduler.planner import Planner
from study.clock import SimulatedClock
from study.config import StudyConfig
from study.database import Database
from study.models import OutboxMessage, OutboxStatus, Participant, Visit
from study.outbox import Priority, enqueue
from study.slots import Rank
from study.status import pause
from study.visits import set_appointment, visit_by_number
from tests.reliability.outbox import linked_participants, put_due_reminders, queued_rows
from tests.reliability.workers import TOKEN
from tests.support.clock import FakeClock
from tests.support.dispatch_worker import build_bot
from tests.support.factories import enrolled

Change = Callable[[], Awaitable[None]]


class ChangeAfterFirstSend(PtbSender):
    """Telegram's real client (through the sandbox); after its first message a change of
    the study lands, as a coordinator's command would while the batch is on its way."""

    def __init__(self, bot: ExtBot[Any], change: Change) -> None:
        super().__init__(bot)
        self.change: Change | None = change

    async def send(self, chat_id: int, text: str, keyboard: Keyboard | None) -> int:
        message_id = await super().send(chat_id, text, keyboard)
        if self.change is not None:
            change, self.change = self.change, None
            await change()
        return message_id


def dispatcher(
    database: Database,
    sender: PtbSender,
    clock: FakeClock,
    config: StudyConfig,
    settings: DispatchSettings | None = None,
) -> Dispatcher:
    return Dispatcher(database, sender, clock, config, Planner(config), settings)


def sent_to(sandbox: SandboxServer, chat_id: int) -> int:
    return sum(
        1 for call in sandbox.calls("sendMessage") if call.ok and call.params["chat_id"] == chat_id
    )


async def two_with_visit_one(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    first_chat: int,
    language: str = "zh",
) -> tuple[list[Participant], Visit]:
    """Two linked participants (chats `first_chat` and the next) with the same visit 1,
    whose reminders fall due on the same days, the first one's an hour earlier; and the
    second one's visit 1."""
    people = []
    for chat, hour in ((first_chat, 8), (first_chat + 1, 9)):
        sandbox.add_user(chat, f"P{chat}")
        await sandbox.send_text(chat, "/start")
        participant, _ = await enrolled(
            database,
            config,
            clock,
            study_id=f"ZJU2-{chat}",
            randomized_on=date(2026, 3, 2),
            chat_id=chat,
            preferred_hour=hour,
            language=language,
        )
        people.append(participant)
    async with database.session() as session:
        visit = await visit_by_number(session, people[1], 1)
    return people, visit


async def test_a_pause_while_a_batch_is_sent_stops_the_rest_of_it(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    sandbox.set_time(clock.now().timestamp())
    [participant] = await linked_participants(database, sandbox, [8201], now=clock.now())
    await put_due_reminders(database, [participant], now=clock.now(), each=3)

    async def pause_them() -> None:
        async with database.session() as session:
            row = await session.get(Participant, participant.id)
            assert row is not None
            await pause(
                session,
                row,
                actor="test",
                now=clock.now(),
                config=config,
                replanner=Planner(config),
            )

    sender = ChangeAfterFirstSend(bot, pause_them)
    report = await dispatcher(database, sender, clock, config).run_once()
    assert sent_to(sandbox, 8201) == 1  # the one on its way when the pause landed
    statuses = [row.status for row in await queued_rows(database)]
    assert statuses == [OutboxStatus.SENT, OutboxStatus.CANCELLED, OutboxStatus.CANCELLED]
    assert report.sent == 1


async def test_a_visit_moved_while_a_batch_is_sent_is_not_reminded_at_its_old_date(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    people, visit = await two_with_visit_one(database, config, clock, sandbox, 8301)
    # The morning a week before visit 1: both 7-day reminders are due.
    week_before = visit.visit_date - timedelta(days=7)
    clock.set(datetime.combine(week_before, time(10), tzinfo=ZoneInfo("Asia/Shanghai")))
    sandbox.set_time(clock.now().timestamp())

    async def move_the_second() -> None:
        async with database.session() as session:
            row = await session.get(Visit, visit.id)
            assert row is not None
            await set_appointment(
                session,
                row,
                day=visit.visit_date + timedelta(days=5),
                at=None,
                actor="test",
                now=clock.now(),
                replanner=Planner(config),
            )

    sender = ChangeAfterFirstSend(bot, move_the_second)
    # One send at a time, so that the change lands before the second chat's turn (with
    # several at once, its message may be on its way already, which is as it should be).
    one_at_a_time = DispatchSettings(concurrency=1)
    await dispatcher(database, sender, clock, config, one_at_a_time).run_once()
    assert sent_to(sandbox, 8301) == 1
    assert sent_to(sandbox, 8302) == 0  # its reminder named the old date
    async with database.session() as session:
        old = list(
            await session.exec(
                select(OutboxMessage.status).where(
                    OutboxMessage.participant_id == people[1].id,
                    col(OutboxMessage.dedupe_key).contains(visit.visit_date.isoformat()),
                    col(OutboxMessage.dedupe_key).endswith(":d7"),
                )
            )
        )
    assert old == [OutboxStatus.CANCELLED]


async def test_a_row_recovered_after_a_crash_past_its_time_is_expired_not_sent(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    sandbox.set_time(clock.now().timestamp())
    [participant] = await linked_participants(database, sandbox, [8401], now=clock.now())
    async with database.session() as session:
        row = await enqueue(
            session,
            template="visit_missed_participant",
            dedupe_key="crashed:1",
            participant_id=participant.id,
            context={"date": "2026-03-01"},
            due_at=clock.now() - timedelta(hours=3),
            not_after=clock.now() - timedelta(hours=1),
            priority=Priority.ROUTINE,
            now=clock.now() - timedelta(hours=3),
        )
        # Claimed by a sender that crashed two hours ago, before its time ran out.
        row.status = OutboxStatus.SENDING
        row.lease_until = clock.now() - timedelta(hours=2)
        row.attempts = 1
    await dispatcher(database, PtbSender(bot), clock, config).drain()
    assert sent_to(sandbox, 8401) == 0
    async with database.session() as session:
        again = (await session.exec(select(OutboxMessage))).one()
    assert again.status == OutboxStatus.EXPIRED and again.last_error == "past not_after"


def awake_at_midnight(config: StudyConfig) -> StudyConfig:
    """No quiet hours around midnight, so that reminders may go on either side of it."""
    protocol = config.protocol.model_copy(update={"quiet_hours": (1, 6)})
    return config.model_copy(update={"protocol": protocol})


def texts_to(sandbox: SandboxServer, chat_id: int) -> list[str]:
    return [
        str(call.params["text"])
        for call in sandbox.calls("sendMessage")
        if call.ok and call.params["chat_id"] == chat_id
    ]


async def test_a_reminder_sent_after_local_midnight_counts_the_days_from_the_new_day(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    config = awake_at_midnight(config)
    _, visit = await two_with_visit_one(database, config, clock, sandbox, 8501, language="en")
    visit_day = visit.visit_date
    shanghai = ZoneInfo("Asia/Shanghai")
    clock.set(datetime.combine(visit_day - timedelta(days=7), time(23, 59, 58), tzinfo=shanghai))
    sandbox.set_time(clock.now().timestamp())

    async def midnight_passes() -> None:
        clock.advance(timedelta(seconds=4))

    sender = ChangeAfterFirstSend(bot, midnight_passes)
    # Both are composed before midnight; the second is sent after it.
    await dispatcher(database, sender, clock, config, DispatchSettings(concurrency=1)).run_once()
    [before_midnight] = texts_to(sandbox, 8501)
    [after_midnight] = texts_to(sandbox, 8502)
    assert "In 7 days" in before_midnight
    assert "In 6 days" in after_midnight


async def test_a_reminder_that_waited_for_telegrams_overall_limit_past_midnight_is_recounted(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
) -> None:
    """The last look at a message comes after its wait for Telegram's 30 a second, not
    before: a reminder held back past the participant's midnight says "in 6 days"."""
    config = awake_at_midnight(config)
    _, visit = await two_with_visit_one(database, config, clock, sandbox, 8601, language="en")
    shanghai = ZoneInfo("Asia/Shanghai")
    seven_days_before = visit.visit_date - timedelta(days=7)
    # A minute a second; an overall limit of one a second: the first reminder goes at once,
    # before midnight, the second a second (a minute) later, after it.
    time_lapse = SimulatedClock(datetime.combine(seven_days_before, time(23, 59, 20), shanghai), 60)
    async with build_bot(sandbox.url, TOKEN, per_second=1) as one_a_second:
        await Dispatcher(
            database, PtbSender(one_a_second), time_lapse, config, Planner(config)
        ).run_once()
    [first] = texts_to(sandbox, 8601)
    [second] = texts_to(sandbox, 8602)
    assert "In 7 days" in first
    assert "In 6 days" in second


class MidnightAtTheLastLook(PtbSender):
    """The participant's midnight passes while the dispatcher reads a message's row for the
    last look before its send (in a time-lapse a read that waits behind a sweep's write
    lock lasts minutes): after the message's turn under the overall limit, before the read
    answers. `lease_spent` of its lease has gone by then."""

    def __init__(self, bot: ExtBot[Any], clock: FakeClock, lease_spent: float) -> None:
        super().__init__(bot)
        self.clock, self.lease_spent = clock, lease_spent
        self.passed = False

    async def wait_overall_turn(self, chat_id: int, rank: Callable[[], Rank]) -> None:
        await super().wait_overall_turn(chat_id, rank)
        if not self.passed:
            self.passed = True
            self.clock.advance(DispatchSettings().lease * self.lease_spent)
            # Runs once the dispatcher waits for its read, before the read can answer.
            asyncio.get_running_loop().call_soon(self.clock.advance, timedelta(minutes=2))


@pytest.mark.parametrize(
    "lease_spent", [0.0, 0.6], ids=["read on a snapshot", "read in a write transaction"]
)
async def test_a_reminder_whose_last_look_outlasted_midnight_is_recounted(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
    lease_spent: float,
) -> None:
    """The day of a message is judged by the clock after the last look's read, not before
    it: a reminder whose read outlasted the participant's midnight says "in 6 days"."""
    config = awake_at_midnight(config)
    _, visit = await two_with_visit_one(database, config, clock, sandbox, 8701, language="en")
    start = DispatchSettings().lease * lease_spent + timedelta(minutes=1)
    six_days_before = visit.visit_date - timedelta(days=6)
    clock.set(datetime.combine(six_days_before, time(0), ZoneInfo("Asia/Shanghai")) - start)
    sandbox.set_time(clock.now().timestamp())
    sender = MidnightAtTheLastLook(bot, clock, lease_spent)

    await dispatcher(database, sender, clock, config, DispatchSettings(concurrency=1)).run_once()

    [first] = texts_to(sandbox, 8701)
    assert sender.passed
    assert "In 6 days" in first, "counted from the day before"
