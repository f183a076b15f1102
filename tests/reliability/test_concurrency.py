"""Many chats at once, each in order: several sends in flight, a chat's messages one after
another as queued, a chat held back by Telegram's per-chat limit delaying no other chat, and
alerts before routine reminders (in a chat too, ahead of its routine messages still waiting),
the earliest deadline first among those, and what falls due while a chat waits for its turn
sent then."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from sqlmodel import col, select
from telegram.ext import ExtBot

from bench.support import migrated_database
from bot.participant import press_decided
from bot.sender import PtbSender
from bot.services import Services
from bot.settings import Settings
from messages import Keyboard
from sandbox import FaultRule, SandboxServer
from scheduler.checkin_jobs import nudge_checkins, put_due_checkins
from scheduler.dispatcher import Claimed, Dispatcher, DispatchSettings
from scheduler.planner import Planner
from scheduler.sender import TransientFailure
from study.config import StudyConfig
from study.database import Database
from study.models import OutboxMessage, OutboxStatus, Participant
from study.outbox import REMINDER_TEMPLATE, Priority, enqueue
from study.precedence import FIRST, INTERACTIVE, working_at
from study.slots import Rank
from tests.conftest import _asyncpg_dsn
from tests.reliability.outbox import (
    VISIT_DAY,
    assert_all_sent_in_their_order,
    linked_participants,
    put_due_reminders,
    queued_rows,
    sent_message_ids,
    successful_sends,
    visit_reminder,
)
from tests.reliability.workers import TOKEN
from tests.support.clock import FakeClock
from tests.support.dispatch_worker import build_bot
from tests.support.factories import enrolled


class InFlight(PtbSender):
    """Telegram's real client (through the sandbox), counting the sends on their way."""

    def __init__(self, bot: ExtBot[Any]) -> None:
        super().__init__(bot)
        self.now: set[int] = set()  # chats with a send on its way
        self.most = 0
        self.same_chat_overlaps = 0

    async def send(self, chat_id: int, text: str, keyboard: Keyboard | None) -> int:
        self.same_chat_overlaps += chat_id in self.now
        self.now.add(chat_id)
        self.most = max(self.most, len(self.now))
        try:
            return await super().send(chat_id, text, keyboard)
        finally:
            self.now.discard(chat_id)


@pytest.fixture
async def limited_bot(sandbox: SandboxServer) -> AsyncIterator[ExtBot[Any]]:
    """With Telegram's limits as the application sets them (3 at once per chat, then 1/s)."""
    async with build_bot(sandbox.url, TOKEN, rate_limit=True) as ptb_bot:
        yield ptb_bot


def dispatcher(
    database: Database, sender: PtbSender, clock: FakeClock, config: StudyConfig, concurrency: int
) -> Dispatcher:
    settings = DispatchSettings(concurrency=concurrency)
    return Dispatcher(database, sender, clock, config, Planner(config), settings)


async def queue(
    database: Database,
    who: Participant,
    now: datetime,
    *,
    not_after: datetime,
    due_in: timedelta = timedelta(minutes=-10),
    priority: Priority = Priority.ROUTINE,
) -> int:
    """A visit reminder for `who`, due `due_in` from `now` (by default a while ago); its
    row's id."""
    async with database.session() as session:
        row = await enqueue(
            session,
            template=REMINDER_TEMPLATE,
            dedupe_key=f"priority:{who.id}",
            participant_id=who.id,
            context=visit_reminder(VISIT_DAY, days_before=2),
            due_at=now + due_in,
            not_after=not_after,
            priority=priority,
            now=now,
        )
        await session.flush()
        assert row.id is not None
        return row.id


HALF_SECOND = timedelta(seconds=0.5)
HOUR = timedelta(hours=1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def arrivals(sandbox: SandboxServer) -> list[tuple[int, str]]:
    """(chat, text) of each message Telegram accepted, in the order it accepted them."""
    return [
        (int(call.params["chat_id"]), str(call.params["text"]))
        for call in sandbox.calls("sendMessage")
        if call.ok
    ]


async def test_many_chats_at_once_and_each_chats_messages_in_order(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    sandbox.set_time(clock.now().timestamp())
    sandbox.set_latency(20)  # a round trip: sends overlap only if the dispatcher lets them
    chats = list(range(8501, 8511))
    participants = await linked_participants(database, sandbox, chats, now=clock.now())
    await put_due_reminders(database, participants, now=clock.now(), each=4)
    sender = InFlight(bot)

    report = await dispatcher(database, sender, clock, config, concurrency=6).drain()

    assert report.sent == 40
    assert 1 < sender.most <= 6, "several chats at once, never more than the setting"
    assert sender.same_chat_overlaps == 0, "one chat's messages one after another"
    # Each chat's four were queued one after another (each names a later visit day): the
    # message ids Telegram gave them, chat by chat, rise in that order.
    landed: dict[int | None, list[int]] = {}
    for row in await queued_rows(database):
        assert row.telegram_message_id is not None
        landed.setdefault(row.participant_id, []).append(row.telegram_message_id)
    for participant in participants:
        ids = landed[participant.id]
        assert ids == sorted(ids) and len(set(ids)) == 4, f"out of order: {ids}"
        texts = [text for to, text in arrivals(sandbox) if to == participant.telegram_chat_id]
        assert len(set(texts)) == 4


async def test_a_chat_at_its_limit_holds_up_no_other_chat(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    limited_bot: ExtBot[Any],
) -> None:
    sandbox.set_time(clock.now().timestamp())
    busy, other = await linked_participants(database, sandbox, [8601, 8602], now=clock.now())
    # The busy chat's four are queued first: the fourth must wait a second for its turn
    # (three at once, then one a second), the other chat's one must not.
    await put_due_reminders(database, [busy], now=clock.now() - timedelta(minutes=1), each=4)
    await put_due_reminders(database, [other], now=clock.now(), each=1)

    report = await dispatcher(
        database, PtbSender(limited_bot), clock, config, concurrency=1
    ).run_once()

    assert report.sent == 5
    order = [chat for chat, _ in arrivals(sandbox)]
    assert order.count(8601) == 4
    assert order[-1] == 8601, f"the other chat waited for the busy chat's limit: {order}"


async def test_alerts_first_then_the_earliest_deadline(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    sandbox.set_time(clock.now().timestamp())
    late, soon, urgent = await linked_participants(
        database, sandbox, [8701, 8702, 8703], now=clock.now()
    )
    now = clock.now()
    # Queued in the opposite order of what must go first.
    await queue(
        database, late, now, not_after=now + timedelta(hours=48), due_in=timedelta(minutes=-30)
    )
    await queue(
        database, soon, now, not_after=now + timedelta(hours=2), due_in=timedelta(minutes=-20)
    )
    await queue(
        database,
        urgent,
        now,
        not_after=now + timedelta(hours=48),
        due_in=timedelta(minutes=-10),
        priority=Priority.URGENT,
    )

    await dispatcher(database, PtbSender(bot), clock, config, concurrency=1).drain()

    assert [chat for chat, _ in arrivals(sandbox)] == [8703, 8702, 8701]


async def test_a_visit_today_goes_before_check_in_nudges_due_days_later(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    """Reminders and check-in questions are routine alike: the earliest deadline first.
    Questions went before every reminder once, so at 08:00, when quiet hours end and the
    night's messages fall due together, "your visit is today" (its deadline noon) could
    wait past noon behind nudges whose check-ins stayed open two more days."""
    sandbox.set_time(clock.now().timestamp())
    for chat in (9601, 9602):
        sandbox.add_user(chat, f"Participant {chat}")
        await sandbox.send_text(chat, "/start")
    # Both are asked their check-in on 16 March at 08:00 and nudged a day later, when
    # ZJU2-602 has their month-3 visit.
    await enrolled(database, config, clock, study_id="ZJU2-601", chat_id=9601, preferred_hour=8)
    await enrolled(
        database,
        config,
        clock,
        study_id="ZJU2-602",
        chat_id=9602,
        preferred_hour=8,
        randomized_on=date(2025, 12, 17),
    )
    sending = dispatcher(database, PtbSender(bot), clock, config, concurrency=1)
    for day in (16, 17):
        clock.set(datetime(2026, 3, day, 8, 0, tzinfo=SHANGHAI))
        await put_due_checkins(database, clock, config)
        await nudge_checkins(database, clock, config)
        before = len(arrivals(sandbox))
        await sending.drain()

    morning = arrivals(sandbox)[before:]
    assert [chat for chat, _ in morning] == [9602, 9601, 9602]
    assert "是您的研究随访：" in morning[0][1] and "今天" in morning[0][1]
    assert all("您还有一份没有完成的问答" in text for _, text in morning[1:])


class OutlivesItsLease(PtbSender):
    """Each send waits longer than a lease before reaching Telegram, as a message can wait
    behind Telegram's limits (and does in the chaos bench's time-lapse, where a lease of five
    simulated minutes is 42 ms of wall time)."""

    def __init__(self, bot: ExtBot[Any], clock: FakeClock, lease: timedelta) -> None:
        super().__init__(bot)
        self.clock, self.lease = clock, lease

    async def send(self, chat_id: int, text: str, keyboard: Keyboard | None) -> int:
        self.clock.advance(self.lease + timedelta(seconds=1))
        return await super().send(chat_id, text, keyboard)


async def test_a_message_outliving_its_lease_is_not_taken_over_by_its_own_dispatcher(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    sandbox.set_time(clock.now().timestamp())
    chats = list(range(8601, 8613))
    participants = await linked_participants(database, sandbox, chats, now=clock.now())
    await put_due_reminders(database, participants, now=clock.now(), each=1)
    settings = DispatchSettings(concurrency=3, batch_size=3)
    sender = OutlivesItsLease(bot, clock, settings.lease)
    # The next batches are claimed while earlier messages are still on their way, with their
    # leases run out: a crashed sender's rows would be taken over then, but these are ours.
    report = await Dispatcher(database, sender, clock, config, Planner(config), settings).drain()

    texts = arrivals(sandbox)
    assert len(texts) == len(set(texts)) == 12, "each reminder once"
    assert report.sent == 12
    assert all(row.telegram_message_id is not None for row in await queued_rows(database))


class SweepAfterClaim(Dispatcher):
    """Right after its claim, a sweep takes SQLite's write lock and keeps it until Telegram
    has the message (or gives up after `patience`); the clock passes half the lease."""

    def __init__(self, *args: Any, sandbox: SandboxServer, chat: int, patience: float) -> None:
        super().__init__(*args)
        self.sandbox, self.chat, self.patience = sandbox, chat, patience
        self.sweep: asyncio.Task[None] | None = None

    async def _claim_rows(
        self, report: Any, only: Any, ahead_of: Any, *, careful: bool
    ) -> list[Claimed]:
        claimed = await super()._claim_rows(report, only, ahead_of, careful=careful)
        if claimed and self.sweep is None:
            holding = asyncio.Event()
            self.sweep = asyncio.create_task(self._sweep(holding))
            await holding.wait()
            assert isinstance(self.clock, FakeClock)
            self.clock.advance(self.settings.lease * 0.6)
        return claimed

    async def _sweep(self, holding: asyncio.Event) -> None:
        async with self.database.session():
            holding.set()
            await self.sandbox.wait_for_message(self.chat, timeout=self.patience)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_on_sqlite_a_send_does_not_wait_for_a_sweep_to_renew_its_lease(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    """SQLite serves one process by design: nobody would take the row over, so half a
    lease gone is no reason to wait for the write lock (behind a sweep, and every later send
    of a backlog behind that)."""
    sandbox.set_time(clock.now().timestamp())
    (participant,) = await linked_participants(database, sandbox, [9501], now=clock.now())
    await put_due_reminders(database, [participant], now=clock.now())
    dispatching = SweepAfterClaim(
        database,
        PtbSender(bot),
        clock,
        config,
        Planner(config),
        sandbox=sandbox,
        chat=9501,
        patience=5.0,
    )

    report = await dispatching.run_once()

    assert dispatching.sweep is not None
    await dispatching.sweep  # Telegram had the message while the sweep held the lock
    assert report.sent == 1
    assert [row.telegram_message_id is not None for row in await queued_rows(database)] == [True]


class TimeLapse(FakeClock):
    """A clock running `speed` times faster than the wall clock, as in the chaos benchmark
    (it stands still here: the test reads what a claim wrote)."""

    def __init__(self, start: datetime, speed: float) -> None:
        super().__init__(start)
        self.speed = speed

    def wall_seconds(self, seconds: float) -> float:
        return seconds / self.speed


@pytest.mark.parametrize(
    ("speed", "held"), [(1.0, timedelta(minutes=5)), (7200.0, timedelta(hours=2))]
)
async def test_a_claim_holds_its_row_for_a_second_of_wall_time_at_least(
    speed: float,
    held: timedelta,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    """A lease guards durations of the wall clock (a send's round trip, a stalled process).
    In a time-lapse of 7,200 times real speed, five minutes are 42 ms of wall time, shorter
    than a send: each lease had to be renewed before its send, a write transaction for
    every message that a real server never makes."""
    lapse = TimeLapse(clock.now(), speed)
    sandbox.set_time(lapse.now().timestamp())
    (participant,) = await linked_participants(database, sandbox, [9502], now=lapse.now())
    await put_due_reminders(database, [participant], now=lapse.now())
    # Telegram makes the message at once and answers a moment later: the row is in flight.
    sandbox.faults.add(
        FaultRule("sendMessage", "timeout", chat_id=9502, count=1, delay=0.3, delivered=True)
    )
    dispatching = Dispatcher(database, PtbSender(bot), lapse, config, Planner(config))

    run = asyncio.create_task(dispatching.run_once())
    await sandbox.wait_for_message(9502)
    (in_flight,) = await queued_rows(database)
    report = await run

    assert in_flight.status == OutboxStatus.SENDING
    assert in_flight.lease_until == lapse.now() + held
    assert report.sent == 1


class RetriedAtOnce(Dispatcher):
    """Its clock reaches a failed message's retry, and the run claims the message again,
    before the failure has been put away (in a time-lapse, a back-off of seconds is a
    fraction of a millisecond)."""

    async def _retry_at(self, item: Claimed, failure: TransientFailure) -> None:
        await super()._retry_at(item, failure)
        assert isinstance(self.clock, FakeClock)
        self.clock.advance(self.settings.backoff_cap)
        self.more_due()
        await until_claimed(self.database, item.row_id)


SLOW_ANSWER = 1.5  # real seconds: Telegram made the message, its answer comes this late


async def test_a_message_claimed_again_as_its_failure_is_put_away_goes_once(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The claim of a message's retry holds the message from then on, even though the
    failed try ends after it: while the retry is on its way, its lease run out, the
    dispatcher's next claim does not take it over and send it again."""
    sandbox.set_time(clock.now().timestamp())
    (participant,) = await linked_participants(database, sandbox, [9401], now=clock.now())
    await put_due_reminders(database, [participant], now=clock.now())
    sandbox.faults.add(FaultRule("sendMessage", "server_error", chat_id=9401, count=1))
    sandbox.faults.add(
        FaultRule(
            "sendMessage", "timeout", chat_id=9401, count=1, delay=SLOW_ANSWER, delivered=True
        )
    )
    sending = RetriedAtOnce(database, PtbSender(bot), clock, config, Planner(config))
    run = asyncio.create_task(sending.run_once())
    await sandbox.wait_for_message(9401)  # the retry is in; its answer is not
    clock.advance(sending.settings.lease * 2)
    sending.more_due()  # something else fell due: the run claims again

    report = await asyncio.wait_for(run, 10)

    assert len(sandbox.bot_messages(9401)) == 1, "the reminder arrived twice"
    assert "took it over" not in caplog.text
    assert report.sent == 1 and report.retried == 1
    assert all(row.telegram_message_id is not None for row in await queued_rows(database))


async def test_what_falls_due_while_a_chat_waits_for_its_turn_goes_at_once(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    limited_bot: ExtBot[Any],
) -> None:
    """A run of the dispatcher lasts as long as its slowest chat (three at once, then one a
    second): a message queued meanwhile, such as a site's alert, is claimed and sent then,
    not after that chat's last message."""
    sandbox.set_time(clock.now().timestamp())
    busy, other = await linked_participants(database, sandbox, [8801, 8802], now=clock.now())
    await put_due_reminders(database, [busy], now=clock.now(), each=6)
    sending = dispatcher(database, PtbSender(limited_bot), clock, config, concurrency=12)
    run = asyncio.create_task(sending.run_once())
    await sandbox.wait_for_message(8801)  # the run is under way; three more wait their turn
    await put_due_reminders(database, [other], now=clock.now())
    sending.more_due()  # what the outbox's commit does through `SchedulerService.wake`

    await sandbox.wait_for_message(8802)

    busy_arrived = [chat for chat, _ in arrivals(sandbox)].count(8801)
    report = await run
    assert busy_arrived < 6, "the other chat's message waited for the busy chat's last"
    assert report.sent == 7


@pytest.mark.parametrize("sent_at_once", [False, True], ids=["claimed", "sent at once"])
async def test_an_alert_goes_ahead_of_its_chats_routine_messages_still_waiting(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    limited_bot: ExtBot[Any],
    sent_at_once: bool,
) -> None:
    """A chat's routine backlog waits for its turns (three at once, then one a second; a
    site's group, twenty a minute): an urgent message queued for that chat meanwhile goes
    next, after the message on its way, not after the backlog. Claimed by the run (a T1
    alert's card), or sent at once by the handler that queued it (red-flag advice). Still
    one message of the chat at a time, and the routine ones in their order."""
    sandbox.set_time(clock.now().timestamp())
    now = clock.now()
    (busy,) = await linked_participants(database, sandbox, [9501], now=now)
    await put_due_reminders(database, [busy], now=now, each=8)
    sender = InFlight(limited_bot)
    sending = dispatcher(database, sender, clock, config, concurrency=12)
    run = asyncio.create_task(sending.run_once())
    await sandbox.wait_for_message(9501)  # the run is under way; the chat waits its turns
    in_two_days = now + timedelta(days=2)
    alert = await queue(database, busy, now, not_after=in_two_days, priority=Priority.URGENT)
    if sent_at_once:
        assert (await sending.send_now([alert])).sent == 1
    else:
        sending.more_due()  # what the outbox's commit does through `SchedulerService.wake`

    report = await run

    assert report.sent == (8 if sent_at_once else 9)
    assert sender.same_chat_overlaps == 0, "one message of the chat at a time"
    routine = [row.telegram_message_id or 0 for row in await queued_rows(database)]
    assert routine == sorted(routine), "the routine messages went out of their order"
    alert_id = (await row_of(database, alert)).telegram_message_id or 0
    ahead = sum(message_id < alert_id for message_id in routine)
    assert ahead <= 4, f"the alert waited for {ahead} of the chat's 8 routine messages"


class SlotsWatched(PtbSender):
    """Telegram's real client (through the sandbox), telling when the `routine` chats have
    each begun to wait for their turn under the overall limit, in their slots, and how many
    messages Telegram had accepted when the `urgent` chat's message began to wait for a slot
    (its chat's turn comes just before)."""

    def __init__(
        self, bot: ExtBot[Any], sandbox: SandboxServer, routine: set[int], urgent: int
    ) -> None:
        super().__init__(bot)
        self.sandbox, self.routine, self.urgent = sandbox, routine, urgent
        self.routine_waiting = asyncio.Event()
        self.accepted_when_urgent_waited: int | None = None

    async def wait_turn(self, chat_id: int) -> None:
        await super().wait_turn(chat_id)
        if chat_id == self.urgent:
            self.accepted_when_urgent_waited = successful_sends(self.sandbox)

    async def wait_overall_turn(self, chat_id: int, rank: Callable[[], Rank]) -> None:
        self.routine.discard(chat_id)
        if not self.routine:
            self.routine_waiting.set()
        await super().wait_overall_turn(chat_id, rank)


async def started_chats(sandbox: SandboxServer, first: int, count: int = 60) -> list[int]:
    """Chats of people who pressed Start, for a burst of direct replies to them."""
    chats = list(range(first, first + count))
    for chat in chats:
        sandbox.add_user(chat, f"Participant {chat}")
        await sandbox.send_text(chat, "/start")
    return chats


def assert_urgent_ahead_of_the_replies(
    sandbox: SandboxServer, sender: SlotsWatched, replied: list[int]
) -> None:
    """The urgent message went before all but at most three of the replies still waiting
    when it began to wait for a slot (and at least ten were, or nothing was tested)."""
    accepted = [chat for chat, _ in arrivals(sandbox)]
    waited = sender.accepted_when_urgent_waited
    assert waited is not None
    left = sum(chat in replied for chat in accepted[waited:])
    assert left >= 10, f"only {left} replies were left when the advice waited: no test"
    ahead = sum(chat in replied for chat in accepted[waited : accepted.index(sender.urgent)])
    assert ahead <= 3, f"the advice waited for a slot behind {ahead} of the {left} replies left"


async def test_urgent_advice_does_not_wait_for_a_slot_held_by_routine_messages_behind_replies(
    database: Database, config: StudyConfig, clock: FakeClock, sandbox: SandboxServer
) -> None:
    """Every slot is held by a routine message waiting for its turn under the overall limit,
    which the direct replies of a burst (the welcomes of participants linking at once) take
    first. Red-flag advice sent at once waited for one of those slots until the last reply had
    gone: 4.4 s in `bench.burst` on a fast machine. The messages in the slots now wait at the
    rank of the advice waiting for their slot: one goes, and the advice takes its slot."""
    sandbox.set_time(clock.now().timestamp())
    now = clock.now()
    *routine, reporter = await linked_participants(database, sandbox, [9611, 9612, 9613], now=now)
    await put_due_reminders(database, routine, now=now)
    in_a_day = now + timedelta(days=1)  # not claimed by the run: sent at once, as advice is
    advice = await queue(
        database, reporter, now, not_after=in_a_day, due_in=HOUR, priority=Priority.URGENT
    )
    replied = await started_chats(sandbox, 9700)
    reporter_chat = reporter.telegram_chat_id or 0
    # 20 replies at once, then 20 a second: those left take two seconds.
    async with build_bot(sandbox.url, TOKEN, per_second=20) as ptb_bot:
        routine_chats = {who.telegram_chat_id or 0 for who in routine}
        sender = SlotsWatched(ptb_bot, sandbox, routine_chats, reporter_chat)
        sending = dispatcher(database, sender, clock, config, concurrency=len(routine))
        replies = [asyncio.create_task(ptb_bot.send_message(chat, "Welcome")) for chat in replied]
        run = asyncio.create_task(sending.run_once())
        await sender.routine_waiting.wait()  # both slots held, behind the replies waiting

        assert (await sending.send_now([advice])).sent == 1

        await asyncio.gather(*replies)
        assert (await run).sent == len(routine)
    assert_urgent_ahead_of_the_replies(sandbox, sender, replied)


async def test_messages_in_slots_keep_their_deadline_order_while_an_alert_waits_for_a_slot(
    database: Database, config: StudyConfig, clock: FakeClock, sandbox: SandboxServer
) -> None:
    """Both slots are held by routine messages waiting behind a burst's replies: the first
    claimed has the later deadline, the one claimed after it (it fell due since) the
    earlier. While urgent advice waits for one of their slots, both wait at its rank, and
    still in their own order: the earlier deadline goes first, not the one that began to
    wait first; the advice, in the slot the first leaves, goes before the replies."""
    sandbox.set_time(clock.now().timestamp())
    now = clock.now()
    later, sooner, reporter = await linked_participants(
        database, sandbox, [9621, 9622, 9623], now=now
    )
    chat = {who.id: who.telegram_chat_id or 0 for who in (later, sooner, reporter)}
    await queue(database, later, now, not_after=now + timedelta(days=5))
    replied = await started_chats(sandbox, 9800)
    async with build_bot(sandbox.url, TOKEN, per_second=20) as ptb_bot:
        sender = SlotsWatched(ptb_bot, sandbox, {chat[later.id]}, chat[reporter.id])
        sending = dispatcher(database, sender, clock, config, concurrency=2)
        replies = [asyncio.create_task(ptb_bot.send_message(c, "Welcome")) for c in replied]
        run = asyncio.create_task(sending.run_once())
        await sender.routine_waiting.wait()  # the later deadline in a slot, behind the replies
        sender.routine, sender.routine_waiting = {chat[sooner.id]}, asyncio.Event()
        await queue(database, sooner, now, not_after=now + timedelta(hours=2))
        sending.more_due()
        await sender.routine_waiting.wait()  # the sooner one in the other slot, behind it
        advice = await queue(
            database,
            reporter,
            now,
            not_after=now + timedelta(days=1),
            due_in=HOUR,
            priority=Priority.URGENT,
        )

        assert (await sending.send_now([advice])).sent == 1

        await asyncio.gather(*replies)
        assert (await run).sent == 2
    accepted = [chat_id for chat_id, _ in arrivals(sandbox)]
    order = [c for c in accepted if c in (chat[later.id], chat[sooner.id])]
    assert order == [chat[sooner.id], chat[later.id]], "the slots' messages out of their order"
    assert_urgent_ahead_of_the_replies(sandbox, sender, replied)


async def test_what_falls_due_by_the_clock_while_a_chat_waits_for_its_turn_goes_then(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    limited_bot: ExtBot[Any],
) -> None:
    """A reminder that falls due by the clock while a run is under way, with nothing
    committed to wake the dispatcher, is claimed at its moment: not after the run's slowest
    chat (three at once, then one a second), nor at the next poll."""
    sandbox.set_time(clock.now().timestamp())
    now = clock.now()
    busy, other = await linked_participants(database, sandbox, [9301, 9302], now=now)
    await put_due_reminders(database, [busy], now=now, each=6)
    await queue(database, other, now, not_after=now + timedelta(days=2), due_in=HALF_SECOND)
    sending = dispatcher(database, PtbSender(limited_bot), clock, config, concurrency=12)
    run = asyncio.create_task(sending.run_once())
    await sandbox.wait_for_message(9301)  # the run is under way; three more wait their turn
    clock.advance(HALF_SECOND)

    report = await run

    chats = [chat for chat, _ in arrivals(sandbox)]
    assert report.sent == 7, "the run ended without the message that fell due meanwhile"
    assert chats.index(9302) < len(chats) - 1, "it waited for the busy chat's last message"


async def test_a_send_put_back_after_a_failure_goes_at_its_moment_while_a_chat_waits(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    limited_bot: ExtBot[Any],
) -> None:
    """A send that Telegram failed (a 500) is put back until its back-off has passed. A run
    under way, waiting for a busy chat (three at once, then one a second), tries it again
    then: not after that chat's last message, nor at the next poll. Its own record
    announces it, as a new row's does; the run's alarm was set before it failed."""
    sandbox.set_time(clock.now().timestamp())
    now = clock.now()
    busy, other = await linked_participants(database, sandbox, [9311, 9312], now=now)
    await put_due_reminders(database, [busy], now=now, each=6)
    failing = await queue(database, other, now, not_after=now + timedelta(days=2))
    sandbox.faults.add(FaultRule("sendMessage", "server_error", chat_id=9312, count=1))
    settings = DispatchSettings(concurrency=12, backoff_base=HALF_SECOND)
    sending = Dispatcher(database, PtbSender(limited_bot), clock, config, Planner(config), settings)
    database.on_outbox_commit(sending.more_due)  # as `SchedulerService` does
    run = asyncio.create_task(sending.run_once())
    await until_put_back(database, failing)

    clock.advance(HALF_SECOND)  # the longest back-off of a first failure
    report = await run

    chats = [chat for chat, _ in arrivals(sandbox)]
    assert (report.sent, report.retried) == (7, 1), "the run ended without trying it again"
    assert chats.index(9312) < len(chats) - 1, "it waited for the busy chat's last message"


async def test_a_chat_with_a_long_backlog_holds_up_no_other_chat(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    limited_bot: ExtBot[Any],
) -> None:
    """Messages waiting for their chat's turn do not count against what the dispatcher may
    hold: a chat with more queued than that (a site's group after an outage, at twenty a
    minute) does not keep another chat's message, of a later deadline, from being claimed."""
    sandbox.set_time(clock.now().timestamp())
    now = clock.now()
    busy, other = await linked_participants(database, sandbox, [9101, 9102], now=now)
    await put_due_reminders(database, [busy], now=now, each=10)  # until tomorrow
    await queue(database, other, now, not_after=now + timedelta(days=2))
    # One row a claim: a cap on what is held, counted in batches, would be a few messages.
    settings = DispatchSettings(concurrency=12, batch_size=1)
    sending = Dispatcher(database, PtbSender(limited_bot), clock, config, Planner(config), settings)
    run = asyncio.create_task(sending.run_once())

    await sandbox.wait_for_message(9102)

    busy_arrived = [chat for chat, _ in arrivals(sandbox)].count(9101)
    report = await run
    assert busy_arrived <= 4, f"it waited for {busy_arrived} of the busy chat's ten"
    assert report.sent == 11


class FailsOnce(PtbSender):
    """The first send fails in a way the dispatcher does not expect (a bug, a lost database
    connection), not with a failure of Telegram's."""

    def __init__(self, bot: ExtBot[Any]) -> None:
        super().__init__(bot)
        self.failed = False

    async def send(self, chat_id: int, text: str, keyboard: Keyboard | None) -> int:
        if not self.failed:
            self.failed = True
            raise RuntimeError("unexpected")
        return await super().send(chat_id, text, keyboard)


async def test_a_chats_messages_after_an_unexpected_failure_are_sent_later_in_order(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    """A send that fails unexpectedly stops its chat's next messages (they must not go
    before it); all of them are claimed again once their leases run out, by the same
    dispatcher, and go in their order. None stays held by a dispatcher that gave up on it."""
    sandbox.set_time(clock.now().timestamp())
    (participant,) = await linked_participants(database, sandbox, [9201], now=clock.now())
    await put_due_reminders(database, [participant], now=clock.now(), each=3)
    sending = dispatcher(database, FailsOnce(bot), clock, config, concurrency=2)

    with pytest.raises(RuntimeError):
        await sending.run_once()
    assert arrivals(sandbox) == []
    clock.advance(DispatchSettings().lease + timedelta(seconds=1))
    report = await sending.drain()

    assert report.sent == 3
    await assert_all_sent_in_their_order(database)


async def due_the_first_failing_once(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
    backoff: timedelta,
    each: int = 3,
) -> tuple[Participant, Dispatcher]:
    """`each` reminders due for one chat, whose first send Telegram fails once (a 500); the
    participant, and the dispatcher, whose first back-off lasts up to `backoff`."""
    sandbox.set_time(clock.now().timestamp())
    (participant,) = await linked_participants(database, sandbox, [9211], now=clock.now())
    await put_due_reminders(database, [participant], now=clock.now(), each=each)
    sandbox.faults.add(FaultRule("sendMessage", "server_error", chat_id=9211, count=1))
    settings = DispatchSettings(concurrency=2, backoff_base=backoff)
    sending = Dispatcher(database, PtbSender(bot), clock, config, Planner(config), settings)
    return participant, sending


async def test_a_chats_next_messages_wait_for_the_retry_of_one_telegram_failed(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    """A send that Telegram failed (a 500) is tried again after its back-off, and its chat's
    next messages wait for it (put back until then), rather than go before it. In the chaos
    time-lapse a morning-of reminder that failed once was tried again behind its chat's
    check-in question, which had taken its place, and missed its noon."""
    _, sending = await due_the_first_failing_once(
        database, config, clock, sandbox, bot, HALF_SECOND
    )

    first = await sending.run_once()
    assert (first.sent, first.retried) == (0, 1), "the next messages went before it"
    assert all(row.attempts <= 1 for row in await queued_rows(database))
    clock.advance(HALF_SECOND)
    report = await sending.drain()

    assert report.sent == 3
    await assert_all_sent_in_their_order(database)


async def test_a_chats_next_messages_go_on_when_the_retry_of_one_is_far_off(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    """A message whose retry is more than `chat_waits_for_retry` away (its back-off has
    grown, or Telegram asked for a long wait) holds up its chat no longer: one message that
    keeps failing must not keep the others from their participant."""
    far_off = timedelta(minutes=4)
    _, sending = await due_the_first_failing_once(database, config, clock, sandbox, bot, far_off)

    first = await sending.run_once()
    assert (first.sent, first.retried) == (2, 1), "the others waited for a retry far off"
    clock.advance(far_off)
    assert (await sending.drain()).sent == 1
    assert 0 not in await sent_message_ids(database)


async def one_failed_waiting_for_its_retry(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> tuple[Participant, Dispatcher]:
    """One reminder due for a chat, which Telegram failed once (a 500): it waits for its
    retry, up to half a second away. The participant and the dispatcher."""
    participant, sending = await due_the_first_failing_once(
        database, config, clock, sandbox, bot, HALF_SECOND, each=1
    )
    assert (await sending.run_once()).retried == 1
    return participant, sending


async def test_a_message_queued_after_one_telegram_failed_waits_for_its_retry_too(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    """A message of the same chat queued while a failed one waits for its retry (claimed
    later, not with it) does not pass it either: it waits for that retry, and goes after."""
    participant, sending = await one_failed_waiting_for_its_retry(
        database, config, clock, sandbox, bot
    )

    await put_due_reminders(database, [participant], now=clock.now(), first=1)
    waiting = await sending.run_once()
    assert (waiting.sent, waiting.deferred) == (0, 1), "it went before the failed one"
    clock.advance(HALF_SECOND)
    assert (await sending.drain()).sent == 2
    await assert_all_sent_in_their_order(database)


@pytest.mark.parametrize(
    ("priority", "deadline_in"),
    [
        pytest.param(Priority.URGENT, timedelta(days=2), id="an-alert-ranks-ahead"),
        pytest.param(Priority.INFO, timedelta(milliseconds=100), id="its-deadline-comes-first"),
    ],
)
async def test_a_message_queued_after_one_failed_goes_at_once_when_it_would_lose_by_waiting(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
    priority: Priority,
    deadline_in: timedelta,
) -> None:
    """Only what the failed message ranks ahead of waits for its retry: an alert goes at
    once, as it would have gone first had both been due together; and so does a message
    that would be past its deadline by then (its place is not worth losing it)."""
    participant, sending = await one_failed_waiting_for_its_retry(
        database, config, clock, sandbox, bot
    )

    now = clock.now()
    await queue(database, participant, now, not_after=now + deadline_in, priority=priority)
    assert (await sending.run_once()).sent == 1
    assert await sent_message_ids(database) == [0], "the failed reminder is still to go"


class HeldAtFirst(PtbSender):
    """The first send waits until the test lets it go: with one slot, the dispatcher's
    messages all wait behind it."""

    def __init__(self, bot: ExtBot[Any]) -> None:
        super().__init__(bot)
        self.holding = asyncio.Event()
        self.go = asyncio.Event()

    async def send(self, chat_id: int, text: str, keyboard: Keyboard | None) -> int:
        if not self.holding.is_set():
            self.holding.set()
            await self.go.wait()
        return await super().send(chat_id, text, keyboard)


async def row_of(database: Database, row_id: int) -> OutboxMessage:
    async with database.session() as session:
        row = await session.get(OutboxMessage, row_id)
        assert row is not None
        return row


async def status_of(database: Database, row_id: int) -> OutboxStatus:
    return OutboxStatus((await row_of(database, row_id)).status)


async def until_row(
    database: Database, row_id: int, reached: Callable[[OutboxMessage], bool], what: str
) -> None:
    """Until the row has `reached` a state: a thousand looks at most, 10 ms apart."""
    for _ in range(1000):
        if reached(await row_of(database, row_id)):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"row {row_id} was never {what}")


async def until_claimed(database: Database, row_id: int) -> None:
    await until_row(database, row_id, lambda row: row.status != OutboxStatus.PENDING, "claimed")


async def until_put_back(database: Database, row_id: int) -> None:
    """Until the row's send failed and it waits to be tried again."""
    await until_row(
        database,
        row_id,
        lambda row: row.status == OutboxStatus.PENDING and row.attempts == 1,
        "put back",
    )


@pytest.mark.parametrize(
    ("priority", "hours_left"),
    [(Priority.URGENT, 48), (Priority.ROUTINE, 2)],
    ids=["an alert", "an earlier deadline"],
)
@pytest.mark.parametrize("by_the_clock", [False, True], ids=["queued", "by the clock"])
async def test_what_goes_first_is_claimed_even_while_the_dispatcher_holds_all_it_may(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
    priority: Priority,
    hours_left: int,
    by_the_clock: bool,
) -> None:
    """A dispatcher claims no more while it holds as much as it may; what falls due then
    and goes ahead of what it holds (an alert, or a reminder whose window closes sooner) is
    claimed anyway, and takes the next slot: whether it was queued then, or queued before
    to fall due then (a reminder's moment, a retry's back-off). In the chaos time-lapse a
    morning-of reminder missed its noon waiting behind 7-day reminders claimed before it
    was queued, and another (and a retry after a 429) behind check-in questions claimed
    before they fell due."""
    sandbox.set_time(clock.now().timestamp())
    now = clock.now()
    chats = [9001, 9002, 9003, 9004, 9005]
    held = await linked_participants(database, sandbox, chats, now=now)
    ahead, behind = await linked_participants(database, sandbox, [9010, 9011], now=now)
    await put_due_reminders(database, held, now=now)  # until tomorrow
    deadline = now + timedelta(hours=hours_left)
    if by_the_clock:
        first = await queue(
            database, ahead, now, not_after=deadline, priority=priority, due_in=HALF_SECOND
        )
        after = await queue(
            database, behind, now, not_after=now + timedelta(days=2), due_in=HALF_SECOND
        )
    sender = HeldAtFirst(bot)
    settings = DispatchSettings(concurrency=1, batch_size=5)
    sending = Dispatcher(database, sender, clock, config, Planner(config), settings)
    run = asyncio.create_task(sending.run_once())
    await sender.holding.wait()  # one in the slot, four waiting for it: all it may hold

    if by_the_clock:
        clock.advance(HALF_SECOND)  # nothing announces it: the run wakes at its moment
    else:
        first = await queue(database, ahead, now, not_after=deadline, priority=priority)
        after = await queue(database, behind, now, not_after=now + timedelta(days=2))
        sending.more_due()  # what the outbox's commit does through `SchedulerService.wake`
    await until_claimed(database, first)
    assert await status_of(database, after) == OutboxStatus.PENDING, "it waits for room"
    sender.go.set()
    report = await run

    order = [chat for chat, _ in arrivals(sandbox)]
    assert order[1] == 9010, f"it waited behind the reminders held before it: {order}"
    assert order[-1] == 9011
    assert report.sent == 7


async def test_what_goes_first_takes_its_chats_earlier_message_along_to_the_next_slot(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    """A message that goes first (here a reminder whose window closes in two hours),
    claimed while its chat's earlier message, of a later deadline, waits for a slot behind
    others, does not wait at that message's rank: the earlier message takes the next slot,
    then it follows. A chat's messages still go in their order. In the chaos time-lapse a
    morning-of reminder missed its noon behind its chat's check-in question, claimed before
    it fell due, which waited behind the other participants' questions."""
    sandbox.set_time(clock.now().timestamp())
    now = clock.now()
    chats = [9021, 9022, 9023, 9024, 9025]
    held = await linked_participants(database, sandbox, chats, now=now)
    await put_due_reminders(database, held, now=now)  # until tomorrow, in this order
    sender = HeldAtFirst(bot)
    settings = DispatchSettings(concurrency=1, batch_size=5)
    sending = Dispatcher(database, sender, clock, config, Planner(config), settings)
    run = asyncio.create_task(sending.run_once())
    await sender.holding.wait()  # one in the slot, four waiting for it; 9025's the last

    soon = await queue(database, held[-1], now, not_after=now + timedelta(hours=2))
    sending.more_due()
    await until_claimed(database, soon)
    sender.go.set()
    report = await run

    order = [chat for chat, _ in arrivals(sandbox)]
    assert order[1] == 9025, f"the chat's earlier message waited at its own rank: {order}"
    # The slot it leaves is handed out before its chat's next message asks for one: that
    # one takes the slot after (at Telegram's thirty a second, 33 ms later).
    assert order[2:4].count(9025) == 1, f"it waited at its chat's rank: {order}"
    assert report.sent == 6
    async with database.session() as session:
        chats_rows = await session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.participant_id == held[-1].id)
            .order_by(col(OutboxMessage.telegram_message_id))
        )
        assert [row.id for row in chats_rows][-1] == soon, "its chat's order was not kept"


async def test_an_alert_takes_the_next_turn_under_telegrams_limit_not_the_last(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    limited_bot: ExtBot[Any],
) -> None:
    """At Telegram's limit every slot waits for a turn under it (29 a second). An alert
    queued then takes the next slot, and the next turn too: not the turn after every
    other slot's reminder, as the limiter's own order (that of arrival) would give it."""
    sandbox.set_time(clock.now().timestamp())
    now = clock.now()
    chats = list(range(9700, 9760))
    participants = await linked_participants(database, sandbox, chats, now=now)
    (urgent,) = await linked_participants(database, sandbox, [9760], now=now)
    await put_due_reminders(database, participants, now=now)
    sending = dispatcher(database, PtbSender(limited_bot), clock, config, concurrency=12)
    run = asyncio.create_task(sending.run_once())
    await sandbox.wait_for_message(9729)  # past the first burst: the slots wait their turns

    alert = await queue(
        database, urgent, now, not_after=now + timedelta(days=2), priority=Priority.URGENT
    )
    sending.more_due()
    await until_claimed(database, alert)  # counted from its claim: a loaded machine is slow
    sent_before = len(arrivals(sandbox))
    report = await run

    order = [chat for chat, _ in arrivals(sandbox)]
    after = order.index(9760) - sent_before
    # In order of arrival at the limiter it would go after the other 11 slots' reminders.
    assert after <= 5, f"the alert went {after} messages after it was claimed"
    assert report.sent == 61


async def test_many_chats_at_once_stay_within_telegrams_thirty_a_second(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    limited_bot: ExtBot[Any],
) -> None:
    """The overall turn is taken in the slot, ahead of the last look at each message: the
    sends still keep to Telegram's limit (the sandbox answers 429 above 30 a second)."""
    sandbox.set_time(clock.now().timestamp())
    sandbox.enforce_rate_limits(True)
    chats = list(range(8901, 8971))
    participants = await linked_participants(database, sandbox, chats, now=clock.now())
    await put_due_reminders(database, participants, now=clock.now())

    report = await dispatcher(database, PtbSender(limited_bot), clock, config, 12).drain()

    assert report.sent == 70
    assert sandbox.rejections() == []


def one_connection(postgres_url: str, config: StudyConfig) -> AbstractAsyncContextManager[Database]:
    """A migrated PostgreSQL database whose pool leaves one connection to take turns for."""
    return migrated_database(postgres_url, config, pool_size=2, max_overflow=0)


class Handlers:
    """Handlers' transactions, each holding the one connection until the test lets it go."""

    def __init__(self, database: Database, count: int) -> None:
        self.database = database
        self.entered = [asyncio.Event() for _ in range(count)]
        self.let_go = [asyncio.Event() for _ in range(count)]
        self.tasks: list[asyncio.Task[None]] = []

    async def queue_behind_the_first(self) -> None:
        """Handler 0 holds the connection; the others wait for it, in order."""
        self.tasks.append(asyncio.create_task(self._handle(0)))
        await self.entered[0].wait()
        self.tasks += [asyncio.create_task(self._handle(n)) for n in range(1, len(self.entered))]
        for _ in range(50):
            await asyncio.sleep(0)  # each has asked for its turn

    async def _handle(self, n: int) -> None:
        with working_at(INTERACTIVE):
            async with self.database.reading():
                self.entered[n].set()
                await self.let_go[n].wait()

    async def through(self, n: int) -> None:
        """Let handler `n` go once the next has its connection, and what waited for it has
        reached its next wait."""
        self.let_go[n].set()
        await self.entered[n + 1].wait()
        for _ in range(50):
            await asyncio.sleep(0)

    async def finish(self) -> None:
        for event in self.let_go:
            event.set()
        async with asyncio.timeout(10):
            await asyncio.gather(*self.tasks)


async def test_a_message_holding_its_turn_to_send_takes_its_last_look_before_handlers_wait(
    postgres_url: str,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    """A routine reminder in a slot, with its turn under Telegram's overall limit, reads its
    row once more before it goes (`_still_to_send`). On PostgreSQL that read waited for a
    connection at the reminder's rank, behind every handler's transaction: the slot and
    the overall turn held all that while, and everything behind them with it. It now goes
    first, as the claim and the record after the send do."""
    async with one_connection(postgres_url, config) as database:
        sandbox.set_time(clock.now().timestamp())
        now = clock.now()
        (who,) = await linked_participants(database, sandbox, [9801], now=now)
        await queue(database, who, now, not_after=now + HOUR)
        handlers = Handlers(database, 4)
        await handlers.queue_behind_the_first()
        drain = asyncio.create_task(dispatcher(database, PtbSender(bot), clock, config, 1).drain())
        await handlers.through(0)  # the claim went first; the reminder is in its slot

        await handlers.through(1)
        await sandbox.wait_until(lambda: len(arrivals(sandbox)) == 1, 10, "the reminder")
        assert not handlers.entered[3].is_set(), "the reminder waited behind the handlers"
        await handlers.finish()
        assert (await drain).sent == 1


async def test_on_postgresql_an_alert_is_looked_for_before_handlers_while_all_are_held(
    postgres_url: str,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    """While the dispatcher holds all it may, a commit that queued something wakes it to
    look whether that goes first (`_due_ahead_of`). On PostgreSQL the look waited for a
    connection behind the handlers' transactions: during a burst of 120 /starts at 80 ms
    from Telegram, a red flag's T1 card was claimed 1.5 s after its commit, and arrived
    2.2 s after the press (`bench.burst`). The look now goes first, as the claim does."""
    async with one_connection(postgres_url, config) as database:
        sandbox.set_time(clock.now().timestamp())
        now = clock.now()
        held = await linked_participants(database, sandbox, [9811, 9812, 9813], now=now)
        (reporter,) = await linked_participants(database, sandbox, [9820], now=now)
        await put_due_reminders(database, held, now=now)
        sender = HeldAtFirst(bot)
        settings = DispatchSettings(concurrency=1, batch_size=3)
        sending = Dispatcher(database, sender, clock, config, Planner(config), settings)
        run = asyncio.create_task(sending.run_once())
        await sender.holding.wait()  # one in the slot, two waiting for it: all it may hold
        alert = await queue(database, reporter, now, not_after=now + HOUR, priority=Priority.URGENT)
        handlers = Handlers(database, 3)
        await handlers.queue_behind_the_first()
        sending.more_due()  # what the alert's commit does through `SchedulerService.wake`

        await handlers.through(0)  # the look goes, then handler 1; the claim waits for it
        await handlers.through(1)
        assert await status_now(postgres_url, alert) == OutboxStatus.SENDING, "not claimed"
        await handlers.finish()
        sender.go.set()
        assert (await run).sent == 4
        assert [chat for chat, _ in arrivals(sandbox)][1] == 9820


async def status_now(postgres_url: str, row_id: int) -> str:
    """A row's status, read on a connection of its own (none of the database's turns)."""
    connection = await asyncpg.connect(_asyncpg_dsn(postgres_url))
    try:
        status = await connection.fetchval("SELECT status FROM outboxmessage WHERE id = $1", row_id)
        return str(status)
    finally:
        await connection.close()


async def test_on_postgresql_a_press_is_decided_before_handlers_that_waited_longer(
    postgres_url: str, config: StudyConfig, clock: FakeClock, sandbox: SandboxServer
) -> None:
    """Someone watches a spinner until a press is answered, and the answer is decided by one
    read (`press_decided`). During a burst of /starts on PostgreSQL that read waited for a
    connection behind the handlers' transactions (bench.buttons p95 195 ms); it now goes
    first, as what a participant reports does."""
    async with one_connection(postgres_url, config) as database:
        services = Services(Settings(_env_file=None), config, database, clock)
        (who,) = await linked_participants(database, sandbox, [9831], now=clock.now())
        handlers = Handlers(database, 3)
        await handlers.queue_behind_the_first()
        press = asyncio.create_task(press_decided(services, 9831, lambda session, p: None))

        await handlers.through(0)
        assert press.done(), "the press waited behind the handlers"
        participant, refused = await press
        assert participant is not None and participant.id == who.id and refused is None
        await handlers.finish()


async def test_on_postgresql_the_next_moment_to_wake_is_read_before_handlers(
    postgres_url: str,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    """While it holds all it may, the dispatcher reads when the next row falls due, to wake
    then; until that read is done it sees no alert a commit announces. On PostgreSQL the
    read waited behind the handlers' transactions, and an alert committed meanwhile was
    claimed after all of them. It now goes first, as the claim does."""
    async with one_connection(postgres_url, config) as database:
        sandbox.set_time(clock.now().timestamp())
        now = clock.now()
        held = await linked_participants(database, sandbox, [9841, 9842, 9843], now=now)
        (reporter,) = await linked_participants(database, sandbox, [9850], now=now)
        await put_due_reminders(database, held, now=now)
        handlers = Handlers(database, 5)
        await handlers.queue_behind_the_first()
        sender = HeldAtFirst(bot)
        settings = DispatchSettings(concurrency=1, batch_size=3)
        sending = Dispatcher(database, sender, clock, config, Planner(config), settings)
        run = asyncio.create_task(sending.run_once())
        await handlers.through(0)  # the claim goes; then the read of the next moment waits

        async def report() -> int:  # a participant's report commits an alert, at FIRST
            with working_at(FIRST):
                return await queue(
                    database, reporter, now, not_after=now + HOUR, priority=Priority.URGENT
                )

        committing = asyncio.create_task(report())
        await handlers.through(1)
        alert = await committing
        sending.more_due()  # what the alert's commit does through `SchedulerService.wake`
        await handlers.through(2)  # the look for what goes first
        await handlers.through(3)  # its claim
        assert await status_now(postgres_url, alert) == OutboxStatus.SENDING, "not claimed"
        await handlers.finish()
        sender.go.set()
        assert (await run).sent == 4
