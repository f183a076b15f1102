"""The outbox dispatcher: claim due rows, compose, send, record; retry, expire, recover.

Guarantees, and how:
- Due rows are delivered across crashes: a row is claimed with a lease (`sending` until
  `lease_until`); a crashed sender's rows are claimed again after the lease, so only a
  message in flight at the crash can arrive twice: at most one per chat, because a chat's
  next message is sent only once the last one is recorded as sent.
- Many chats are sent to at once (`DispatchSettings.concurrency` sends in flight), one
  chat's messages strictly one after another, in the order claimed, except that an urgent
  one (a T1/T2 alert, red-flag advice) goes ahead of those of its chat that are still
  waiting, claimed before it (`ChatTurns`: a group's backlog at twenty a minute would hold
  an alert up for minutes). A chat waits for its
  turn under Telegram's per-chat limit (`Sender.wait_turn`), and a chart is drawn, before
  a slot is taken, so a chat at its limit holds up no other. Slots go to alerts and T1/T2
  advice first, then by the earliest `not_after` (`Priority`, the claim's order), and so
  do the turns under Telegram's overall limit; a chat's message waits at the best rank of
  its chat's messages behind it (they wait for it). What falls due while earlier messages
  are on their way is claimed at once (queued, or put back after a failure: `more_due`; by
  the clock: announced alike at the next pending row's moment); when as many wait for a
  slot as there are slots, only what ranks ahead of one of them is. Messages waiting for
  their own chat (its earlier messages, its limit) do not count.
- Several processes on PostgreSQL never take the same row: claiming uses
  `FOR UPDATE SKIP LOCKED` in its own short transaction. On SQLite (one process) the
  transaction takes the write lock (`BEGIN IMMEDIATE`).
- Nothing stale is sent: a row past its `not_after`, or superseded by a later due reminder
  of the same event, or no longer true when composed, is expired instead.
- Transient failures back off exponentially with jitter (or wait Telegram's
  `retry_after`); permanent ones stop, and an unreachable participant is reported.
- One bad row never stops the others: a row that cannot be composed (a bug, a site gone
  from study.toml) is marked failed with the kind of error, logged with its id, and the
  rest of the batch goes on (each row is prepared in its own savepoint).
- A message for a site team that its chat refuses for good, or that cannot be composed,
  goes at once to the site's other chat and to its coordinators privately
  (`study.delivery.reroute`); when no chat at all can receive it, the log says so at
  CRITICAL. A group that became a supergroup is followed to its new id at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, or_, true, update
from sqlalchemy import select as select_columns
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messages.compose import Composed, compose, drawn
from scheduler.chat_turns import ChatTurns
from scheduler.sender import ChatMoved, PermanentFailure, Sender, TransientFailure
from scheduler.timing import local_date, next_allowed_instant
from study.clock import Clock
from study.config import StudyConfig
from study.database import Database, conflicted
from study.delivery import (
    CHAT_REFUSED,
    NOT_COMPOSED,
    card_delivered,
    is_rerouted,
    reached_nobody,
    reroute,
)
from study.errors import Stale, TrialbotError
from study.message_views import preload
from study.models import CheckIn, OutboxMessage, OutboxStatus, Participant
from study.outbox import OUTBOX_TOUCHED, Priority, is_edit
from study.participants import mark_unreachable
from study.ports import Replanner
from study.precedence import FIRST, working_at
from study.slots import Rank, Slots
from study.team_chats import forget_coordinator_chat, record_migration

log = logging.getLogger(__name__)

LIVE = (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.SENT)
# Sent, but the row was claimed again meanwhile (its message may go twice): the row's id
# leads to its history (status, attempts, last error) without naming anyone.
TAKEN_OVER = "outbox row %s was sent after another dispatcher took it over"
NOT_OURS = "cancelled or taken over meanwhile"
UNSENDABLE = "could not be composed"
NO_DEADLINE = float("inf")


@dataclass
class DispatchSettings:
    batch_size: int = 50
    lease: timedelta = timedelta(minutes=5)
    # A lease guards durations of the wall clock (a send's round trip, a stalled process),
    # so on a clock that runs fast (a time-lapse) it lasts at least this many wall seconds.
    lease_wall_seconds: float = 1.0
    # Sends in flight across chats: at 80 ms a round trip, 12 keep Telegram's 30/s busy with
    # room for the database work of each message. A crash repeats at most one per chat.
    concurrency: int = 12
    backoff_base: timedelta = timedelta(seconds=5)
    backoff_cap: timedelta = timedelta(minutes=15)
    # A chat's next messages wait for the retry of one that Telegram failed, if it comes
    # within this (the back-off of its first four tries); a retry further off lets them go
    # on, so that one message that keeps failing does not hold up its chat.
    chat_waits_for_retry: timedelta = timedelta(minutes=1)


@dataclass
class Claimed:
    """A row this dispatcher holds: its lease (which is also its proof of ownership) and the
    message composed for it."""

    row_id: int
    lease_until: datetime
    message: Composed
    rank: Rank = ()  # who gets a slot first: priority, then the earliest not_after
    # A participant's routine message speaks of their local day ("in 7 days"): their time
    # zone, and when it was composed.
    zone: str | None = None
    composed_at: datetime | None = None
    moved: bool = False  # sent to the new id of a group that became a supergroup
    # The later reminders of the same event, as the claim saw them: whether one has
    # fallen due since is a matter of the clock (`_overtaken`), not of another read.
    later: tuple[Later, ...] = ()


ToRecord = tuple[Claimed, int, datetime, "asyncio.Future[None]"]
"""A message sent, to be recorded: its claim, Telegram's id for it, when, and the future
its sender awaits until the record is committed."""


@dataclass(frozen=True)
class Later:
    """Another reminder of the same event as a row: when it is due, and in what zone
    (that of the participant), or that it was sent already."""

    due_at: datetime
    zone: str | None
    sent: bool = False


@dataclass
class DispatchReport:
    sent: int = 0
    expired: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def handled(self) -> int:
        return self.sent + self.expired + self.retried + self.failed + self.deferred

    def add(self, other: DispatchReport) -> None:
        for name in ("sent", "expired", "retried", "failed", "deferred"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, count in other.reasons.items():
            self.reasons[reason] += count


class NotComposed(TrialbotError):
    """A row of a claim could not be composed (the claim is made again, row by row)."""


class Dispatcher:
    def __init__(
        self,
        database: Database,
        sender: Sender,
        clock: Clock,
        config: StudyConfig,
        replanner: Replanner,
        settings: DispatchSettings | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.database = database
        self.sender = sender
        self.clock = clock
        self.config = config
        self.replanner = replanner
        self.settings = settings or DispatchSettings()
        self.lease = _lease(self.settings, clock)
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not security)
        # Shared by the batches and `send_now`: together they never exceed the bound.
        self._slots = Slots(self.settings.concurrency)
        self._to_record: list[ToRecord] = []
        # Each chat's messages not yet sent, one at a time, the urgent first: the one in front
        # waits for a slot at the best rank among them (`_rank_in_chat`).
        self._chats: ChatTurns[Claimed] = ChatTurns(_urgent)
        # The rows of claimed messages not yet sent (or given up), each with the claim that
        # holds it: never taken over by this dispatcher's own next claim, even when their
        # lease ran out while they waited for Telegram's limits (or a time-lapse's clock).
        # A row is let go by its own claim only: a failed try that ends after its retry
        # was claimed does not let go of the retry (`_let_go`).
        self._holding: dict[int, Claimed] = {}
        self._before_slot: dict[int, Rank] = {}  # of those, not yet in a slot: their ranks
        # Of those, waiting for their chat: its earlier messages, its turn under Telegram's
        # limit, their chart. They hold up no other chat, so they do not count as waiting
        # for a slot (`_room_for_more`), and their leases are kept (`_keep_leases`).
        self._pacing: dict[int, Claimed] = {}
        self._renewing: asyncio.Future[None] | None = None  # leases of those, being renewed
        self._progress = asyncio.Event()
        self._recorder: asyncio.Task[None] | None = None
        self._to_check: list[tuple[Claimed, asyncio.Future[bool]]] = []
        self._checker: asyncio.Task[None] | None = None
        self._more_due = asyncio.Event()
        self._alarm: asyncio.TimerHandle | None = None  # `more_due` when the next falls due
        self._looked_at: datetime | None = None  # the last look for due rows saw until then
        self.first_claim = asyncio.Event()  # set once a claim is over (or has failed)

    async def run_once(self) -> DispatchReport:
        """Claim due rows batch by batch and deliver them, until a batch comes back short
        (nothing more is due) and all are delivered. The next batch is claimed while the
        last is on its way, as soon as the slots would otherwise run dry, so that sends
        never wait for the database (and no sooner: what is held is what waits for a slot,
        fewer than the slots and a batch, and what waits for its own chat). What falls due
        while messages are still on their way (`more_due`: an alert queued while a group
        chat waits for its turn; or a reminder whose moment comes by the clock) is claimed
        then, not after them."""
        report = DispatchReport()
        batches: list[asyncio.Task[None]] = []
        over = asyncio.Event()
        keeper = asyncio.create_task(self._keep_leases(over))
        try:
            while True:
                more = True
                while more:
                    ahead_of = await self._room_for_more() if batches else None
                    if ahead_of is not None and not await self._due_ahead_of(ahead_of):
                        continue
                    claimed, full = await self._claim_batch(report, ahead_of)
                    if claimed:
                        batches.append(asyncio.create_task(self._deliver_all(claimed, report)))
                    if full and ahead_of is not None:
                        self._more_due.set()  # more that goes first may be due: claim it too
                    # After a claim of only what goes first, the rest is still to be claimed.
                    more = full or ahead_of is not None
                if not batches:  # nothing on its way: nothing to wait for, or to look up
                    return report
                await self._wake_when_next_falls_due()
                if not await self._delivered_or_more_due(batches):
                    return report
                batches = [batch for batch in batches if not _delivered(batch)]
        finally:
            self._sleep_through_falling_due()
            try:
                await asyncio.gather(*batches)
            finally:  # the keeper ends with the run, even a cancelled one
                over.set()  # not cancelled: a renewal under way finishes its transaction
                await keeper

    def more_due(self) -> None:
        """Something fell due: a run in progress claims again at once (when it holds all it
        may, only what goes ahead of a message it holds)."""
        self._more_due.set()
        self._progress.set()

    async def _delivered_or_more_due(self, batches: list[asyncio.Task[None]]) -> bool:
        """Until the batches are delivered (False), or `more_due` (True)."""
        delivered = asyncio.ensure_future(asyncio.wait(batches))
        more = asyncio.create_task(self._more_due.wait())
        try:
            await asyncio.wait([delivered, more], return_when=asyncio.FIRST_COMPLETED)
            return not delivered.done()
        finally:  # neither cancels a batch
            delivered.cancel()
            more.cancel()

    async def _wake_when_next_falls_due(self) -> None:
        """While a run is under way, the next pending row to fall due by the clock (a
        reminder's moment, a retry's back-off), which no commit announces, is announced at
        its moment (`more_due`), as a commit would: then it is claimed even while the
        dispatcher holds all it may, if it goes first. In the chaos time-lapse a morning-of
        reminder, and a retry after a 429, missed their noon behind check-in questions that
        had been claimed before they fell due."""
        self._sleep_through_falling_due()
        falls_due_in = await self._until_next_falls_due()
        if falls_due_in is not None:
            loop = asyncio.get_running_loop()
            self._alarm = loop.call_later(falls_due_in, self.more_due)

    def _sleep_through_falling_due(self) -> None:
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None

    async def _keep_leases(self, over: asyncio.Event) -> None:
        """Until the run is `over`: renew the leases of messages waiting for their chat when
        half of each is gone. A group's backlog at twenty a minute outlasts a lease (five
        minutes: a hundred messages); without this, another process would take the last of
        them over and send them out of their chat's order (this one refuses a row no longer
        its own, so none would go twice). Not on SQLite, which serves one process by
        design: this one does not take over what it holds (`_holding`)."""
        if self.database.is_sqlite:
            return
        lost: set[int] = set()  # taken over meanwhile: not renewed again
        while not over.is_set():
            now = self.clock.now()
            lease, half = self.lease, self.lease / 2
            waiting = [item for item in self._pacing.values() if item.row_id not in lost]
            soonest = min((item.lease_until for item in waiting), default=now + lease)
            delay = self.clock.wall_seconds((soonest - half - now).total_seconds())
            if delay > 0:
                with suppress(TimeoutError):
                    await asyncio.wait_for(over.wait(), delay)
                continue
            due = [item for item in waiting if self._lease_runs_out(item, now)]
            lost.update(item.row_id for item in due)
            try:
                lost.difference_update(await self._renew(due, now + lease))
            except Exception:  # not tried again for them: no loop against a database down
                log.exception("renewing the leases of %d waiting messages failed", len(due))
            # Those that reached their chat's turn meanwhile leave the wait before the next
            # renewal (in a time-lapse, a lease's half can be shorter than a renewal).
            await asyncio.sleep(0)

    async def _renew(self, items: list[Claimed], until: datetime) -> set[int]:
        """Renew the leases of `items` still ours, until `until`; the ids of those renewed.
        A message that leaves its chat's wait meanwhile waits for this (`_renewing`), so
        that its lease is the one in its row when it is checked before its send."""
        self._renewing = asyncio.get_running_loop().create_future()
        try:
            rows = [{"id": item.row_id, "lease": item.lease_until} for item in items]
            with working_at(FIRST):  # a lease that ran out would have its message sent twice
                renewals = await self.database.write(
                    _renewal(len(rows)), {"until": until} | _per_row_params(rows)
                )
            renewed = {row.id for row in renewals}
            for item in items:
                if item.row_id in renewed:
                    item.lease_until = until
            return renewed
        finally:
            self._renewing.set_result(None)
            self._renewing = None

    async def _renewals_done(self) -> None:
        """Until no renewal is under way: a lease read after this is the one in its row."""
        while self._renewing is not None:
            await asyncio.shield(self._renewing)

    async def _until_next_falls_due(self) -> float | None:
        """Wall seconds until the next pending row falls due by the clock, after the last
        look for due rows (at once if that moment has passed since: the look missed it);
        None if there is none. Read without a transaction, as `_due_ahead_of` is."""
        now = self.clock.now()
        query = select_columns(func.min(OutboxMessage.available_at)).where(
            col(OutboxMessage.status) == OutboxStatus.PENDING,
            col(OutboxMessage.available_at) > (self._looked_at or now),
        )
        with working_at(FIRST):  # the moment may be an alert's retry
            ((moment,),) = await self.database.rows(query)
        if moment is None:
            return None
        return max(0.0, self.clock.wall_seconds((moment - now).total_seconds()))

    async def _claim_batch(
        self, report: DispatchReport, ahead_of: Rank | None
    ) -> tuple[list[Claimed], bool]:
        """A batch (only of rows ranked ahead of `ahead_of`, when given), and whether it was
        full (then more may be due)."""
        self._more_due.clear()  # this claim sees all that fell due until now
        before = report.handled
        claimed = await self._claim(report, ahead_of=ahead_of)
        selected = len(claimed) + report.handled - before
        self._hold(claimed)
        return claimed, selected >= self.settings.batch_size

    def _hold(self, claimed: list[Claimed]) -> None:
        self._holding.update((item.row_id, item) for item in claimed)
        self._before_slot.update((item.row_id, item.rank) for item in claimed)

    async def _room_for_more(self) -> Rank | None:
        """Until fewer messages wait for a slot than there are slots (those waiting for their
        chat do not count: they hold up no other chat): then None.

        Or until more falls due meanwhile (`more_due`): then the rank of the last message
        still waiting for a slot, which what is claimed now must beat. Earliest deadline
        first then holds across what is held and what falls due after it: a morning-of
        reminder, or an alert, does not wait behind a backlog of later deadlines."""
        alarm_set = False
        while len(self._before_slot) - len(self._pacing) >= self.settings.concurrency:
            if self._more_due.is_set() and self._before_slot:
                return max(self._before_slot.values())
            if not alarm_set:  # only a wait needs it: a look up per wait, not per claim
                await self._wake_when_next_falls_due()
                alarm_set = True
                continue  # what changed during the look up is seen first
            self._progress.clear()
            await self._progress.wait()
        return None

    async def send_now(self, row_ids: list[int]) -> DispatchReport:
        """Send these rows at once, in this order, even before they fall due: a handler's
        reply that must also be durable (red-flag advice) is queued, committed, then sent
        here. A row another dispatcher holds, or already sent, is left alone."""
        report = DispatchReport()
        claimed = await self._claim(report, only=row_ids)
        self._hold(claimed)
        await self._deliver_all(claimed, report)
        return report

    async def _deliver_all(self, claimed: list[Claimed], report: DispatchReport) -> None:
        """Each chat's messages one after another in the order claimed, after those of an
        earlier batch still on their way unless urgent (`ChatTurns`); the chats at once."""
        by_chat: dict[int, list[Claimed]] = defaultdict(list)
        for item in claimed:
            by_chat[item.message.chat_id].append(item)

        async def in_order(chat: int, queue: list[Claimed], items: list[Claimed]) -> None:
            try:
                while queue:
                    async with self._chats.turn(chat, queue) as item:
                        rank = partial(self._rank_in_chat, chat, item)
                        with working_at(rank):  # its writes at its rank; its record goes first
                            retry = await self._deliver(item, report, rank)
                    self._let_go(item)
                    if retry is not None and queue and await self._behind_retry(item, retry, queue):
                        return
            finally:
                # After a failure, the chat's next messages are not sent before the one that
                # failed: put back until its retry (`_behind_retry`), or, after a failure
                # of our own, claimed again once their leases run out.
                self._chats.leave(chat, queue)
                for item in items:
                    self._let_go(item)

        chains = []
        for chat, items in by_chat.items():
            self._pacing.update((item.row_id, item) for item in items)
            queue = self._chats.queue(chat, items)
            chains.append(asyncio.create_task(in_order(chat, queue, items)))
        self._progress.set()  # those waiting for their chat leave room for more
        await asyncio.gather(*chains)

    def _let_go(self, item: Claimed) -> None:
        """`item` is sent or given up (or will be claimed again): no longer held, unless
        its row was claimed again meanwhile (a retry whose back-off ended before this try
        was put away), and is held by that claim."""
        if self._holds(item):
            del self._holding[item.row_id]
            self._before_slot.pop(item.row_id, None)
            self._pacing.pop(item.row_id, None)
        self._progress.set()

    def _rank_in_chat(self, chat: int, item: Claimed) -> Rank:
        """The rank at which `item` waits for a slot: its own, or that of a message behind
        it in its chat's order, if that goes first (an alert, an earlier deadline). The
        message behind waits for it: in the chaos time-lapse a morning-of reminder, claimed
        ahead of a backlog of check-in questions, waited at the rank of its chat's own
        question, claimed earlier, and missed its noon."""
        return min((other.rank for other in self._chats.waiting(chat)), default=item.rank)

    def _in_slot(self, rank: Callable[[], Rank]) -> Callable[[], Rank]:
        """The rank a message in a slot waits at for its turn under the overall limit: its
        own, or that of the message waiting for a slot that goes first, if that is lower
        (followed by its own, so that the slots' messages keep their order among
        themselves). Otherwise routine messages in every slot wait behind a burst's direct
        replies, and an alert waiting for one of their slots with them: red-flag advice
        sent at once waited 3.3 s so, until the 120 welcomes had gone (`bench.burst`)."""

        def ranked() -> Rank:
            own, waiting = rank(), self._slots.best_waiting()
            return own if waiting is None or own <= waiting else waiting + own

        return ranked

    def _holds(self, item: Claimed) -> bool:
        """Whether `item` is the claim that holds its row (not an earlier one of it)."""
        return self._holding.get(item.row_id) is item

    async def drain(self, max_rounds: int = 1000) -> DispatchReport:
        """Run until nothing is due now (tests and shutdown use this)."""
        total = DispatchReport()
        for _ in range(max_rounds):
            report = await self.run_once()
            total.add(report)
            if report.handled == 0:
                break
        return total

    async def next_due(self) -> datetime | None:
        """The earliest moment a row becomes claimable (due, or its lease runs out). Read
        as one query, without a transaction (on SQLite without the write lock): it is asked
        after every run of the dispatcher."""
        pending = select_columns(func.min(OutboxMessage.available_at)).where(
            col(OutboxMessage.status) == OutboxStatus.PENDING
        )
        leased = select_columns(func.min(OutboxMessage.lease_until)).where(
            col(OutboxMessage.status) == OutboxStatus.SENDING
        )
        ((*moments,),) = await self.database.rows(
            select_columns(pending.scalar_subquery(), leased.scalar_subquery())
        )
        moments = [moment for moment in moments if moment is not None]
        return min(moments) if moments else None

    async def release_own_leases(self) -> int:
        """At start on SQLite (one process by design): rows left `sending` by a crash are
        taken up at once instead of after their lease."""
        async with self.database.session() as session:
            result = await session.exec(
                update(OutboxMessage)
                .where(col(OutboxMessage.status) == OutboxStatus.SENDING)
                .values(status=OutboxStatus.PENDING, lease_until=None)
            )
        return int(result.rowcount or 0)

    async def _claim(
        self,
        report: DispatchReport,
        only: list[int] | None = None,
        ahead_of: Rank | None = None,
    ) -> list[Claimed]:
        """In one short transaction: expire what is stale, take a batch of due rows (those
        ranked ahead of `ahead_of`, or the pending rows `only`, in that order) with a lease,
        and compose each from the state as it is now. The rows are written together; if one
        cannot be composed, the claim is made again with each row in its own savepoint, so
        that it fails alone."""
        try:
            for careful in (False, True):
                attempt = DispatchReport()
                try:
                    with working_at(FIRST):  # what falls due may be an alert
                        claimed = await self._claim_rows(attempt, only, ahead_of, careful=careful)
                except NotComposed:
                    continue
                report.add(attempt)
                if claimed:  # at DEBUG each message's way is logged by its row id, not its text
                    log.debug("claimed outbox rows %s", [item.row_id for item in claimed])
                return claimed
            raise AssertionError("a careful claim does not raise NotComposed")
        finally:
            self.first_claim.set()

    async def _claim_rows(
        self,
        report: DispatchReport,
        only: list[int] | None,
        ahead_of: Rank | None,
        *,
        careful: bool,
    ) -> list[Claimed]:
        now = self.clock.now()
        if only is None:
            self._looked_at = now
        claimed: list[Claimed] = []
        async with self.database.session() as session:
            expired = await session.exec(
                update(OutboxMessage)
                .where(self._due(now), col(OutboxMessage.not_after) < now)
                .values(status=OutboxStatus.EXPIRED, lease_until=None, last_error="past not_after")
            )
            report.expired += int(expired.rowcount or 0)
            due = self._due(now)
            if ahead_of is not None:
                due = and_(due, _ranked_ahead_of(ahead_of))
            if only is not None:
                due = and_(
                    col(OutboxMessage.id).in_(only),
                    col(OutboxMessage.status) == OutboxStatus.PENDING,
                )
            rows = list(
                await session.exec(
                    select(OutboxMessage)
                    .where(due)
                    .order_by(
                        col(OutboxMessage.priority),
                        col(OutboxMessage.not_after).is_(None),
                        col(OutboxMessage.not_after),
                        col(OutboxMessage.available_at),
                        col(OutboxMessage.id),
                    )
                    .limit(self.settings.batch_size)
                    .with_for_update(skip_locked=True)
                )
            )
            if only is not None:
                rows.sort(key=lambda row: only.index(row.id or 0))
            if only is None:  # a handler's reply (`send_now`) is for a participant waiting
                rows = await self._behind_retries(session, rows, now, report)
            later = await self._later_reminders(session, rows)
            read_once = await preload(session, rows)  # noqa: F841 (held while composing)
            for row in rows:
                try:
                    async with session.begin_nested() if careful else nullcontext():
                        prepared = await self._prepare(session, row, now, later[row.id or 0])
                        if prepared is not None:
                            row.status = OutboxStatus.SENDING
                            row.lease_until = now + self.lease
                            row.attempts += 1
                        session.add(row)
                except Exception as error:
                    if not careful:
                        raise NotComposed from error
                    await self._unsendable(session, row, error, now)
                    report.failed += 1
                    report.reasons[UNSENDABLE] += 1
                    continue
                if prepared is not None:
                    message, zone = prepared
                    lease = row.lease_until or now
                    row_id = row.id or 0
                    claimed.append(
                        Claimed(row_id, lease, message, _rank(row), zone, now, later=later[row_id])
                    )
                elif row.status == OutboxStatus.EXPIRED:
                    report.expired += 1
                else:
                    report.deferred += 1
        return claimed

    async def _behind_retries(
        self,
        session: AsyncSession,
        rows: list[OutboxMessage],
        now: datetime,
        report: DispatchReport,
    ) -> list[OutboxMessage]:
        """The rows to send now. Those of a chat with a message Telegram failed that is tried
        again within `chat_waits_for_retry` and ranks ahead of them are put back until its
        retry, as `_behind_retry` puts back the rest of its own claim: a message claimed
        later does not pass it. One whose deadline comes before that retry goes on (a
        reminder is not lost for its place). A chat is named by its participant or, for a
        site's chat, by its id."""
        if not rows:  # a claim that found nothing due (most wakes) asks no more
            return rows
        participants = {row.participant_id for row in rows if row.participant_id is not None}
        chats = {
            row.chat_id for row in rows if row.participant_id is None and row.chat_id is not None
        }
        waiting = await (await session.connection()).execute(
            select_columns(  # five columns: more than sqlmodel's select types
                col(OutboxMessage.participant_id),
                col(OutboxMessage.chat_id),
                col(OutboxMessage.priority),
                col(OutboxMessage.not_after),
                col(OutboxMessage.available_at),
            ).where(
                col(OutboxMessage.status) == OutboxStatus.PENDING,
                col(OutboxMessage.available_at) > now,
                col(OutboxMessage.available_at) <= now + self.settings.chat_waits_for_retry,
                col(OutboxMessage.attempts) > 0,
                or_(
                    col(OutboxMessage.participant_id).in_(participants),
                    col(OutboxMessage.chat_id).in_(chats),
                ),
            )
        )
        retries: defaultdict[tuple[int | None, int | None], list[tuple[Rank, datetime]]]
        retries = defaultdict(list)
        for participant_id, chat_id, priority, not_after, retry in waiting:
            chat = _chat_of(participant_id, chat_id)
            retries[chat].append((_rank_of(priority, not_after), retry))
        to_send = []
        for row in rows:
            ahead = [
                retry
                for rank, retry in retries.get(_chat_of(row.participant_id, row.chat_id), [])
                if rank <= _rank(row) and (row.not_after is None or retry <= row.not_after)
            ]
            if not ahead:
                to_send.append(row)
                continue
            row.available_at = max(ahead)
            session.add(row)
            report.deferred += 1
            log.debug("outbox row %s: waits for its chat's retry at %s", row.id, row.available_at)
        return to_send

    def _due(self, now: datetime) -> ColumnElement[bool]:
        """Rows to claim: pending and due, or a crashed sender's whose lease ran out (never
        our own: `_holding`)."""
        not_ours = col(OutboxMessage.id).not_in(list(self._holding)) if self._holding else true()
        return or_(
            and_(
                col(OutboxMessage.status) == OutboxStatus.PENDING,
                col(OutboxMessage.available_at) <= now,
            ),
            and_(
                col(OutboxMessage.status) == OutboxStatus.SENDING,
                col(OutboxMessage.lease_until) < now,
                not_ours,
            ),
        )

    async def _due_ahead_of(self, rank: Rank) -> bool:
        """Whether a due row ranks ahead of `rank`. Looked at without a transaction of its
        own (on SQLite without the write lock), so that a wake while the dispatcher holds
        all it may, which mostly finds nothing, does not hold up the records of sends."""
        self._more_due.clear()  # this look sees all that fell due until now
        self._looked_at = now = self.clock.now()
        query = select_columns(col(OutboxMessage.id)).where(self._due(now), _ranked_ahead_of(rank))
        with working_at(FIRST):  # what fell due may be an alert, as for a claim
            return bool(await self.database.rows(query.limit(1)))

    async def _prepare(
        self, session: AsyncSession, row: OutboxMessage, now: datetime, later: tuple[Later, ...]
    ) -> tuple[Composed, str | None] | None:
        """The message to send for a due row (and the participant's time zone when it is
        routine: see `Claimed.zone`), or None after expiring or deferring it."""
        if _overtaken(later, now):
            row.status = OutboxStatus.EXPIRED
            row.last_error = "superseded by a later reminder"
            return None
        composed = await self._compose(session, row, now)
        if composed is None:
            return None
        zone = await self._routine_zone(session, row)
        deferred_to = self._quiet_hours_deferral(zone, now)
        if deferred_to is not None:
            if row.not_after is not None and deferred_to > row.not_after:
                row.status = OutboxStatus.EXPIRED
                row.last_error = "its time passed during quiet hours"
            else:
                row.status = OutboxStatus.PENDING
                row.available_at = deferred_to
                row.last_error = "quiet hours"
            row.lease_until = None
            return None
        return composed, zone

    async def _compose(
        self, session: AsyncSession, row: OutboxMessage, now: datetime
    ) -> Composed | None:
        """The row's message as true now, or None after expiring it (`Stale`)."""
        try:
            return await compose(session, row, self.config, now)
        except Stale as stale:
            row.status = OutboxStatus.EXPIRED
            row.last_error = str(stale)[:200]
            row.lease_until = None
            return None

    async def _unsendable(
        self, session: AsyncSession, row: OutboxMessage, error: Exception, now: datetime
    ) -> None:
        """A row that could not be composed (its savepoint is rolled back): failed, with
        the kind of error only (an exception's text may carry personal data), and logged;
        a team message goes elsewhere."""
        await session.refresh(row)
        row.status = OutboxStatus.FAILED
        row.lease_until = None
        row.last_error = f"could not be composed: {type(error).__name__}"[:200]
        session.add(row)
        log.error(
            "outbox row %s (%s) could not be composed and is marked failed; the others go on",
            row.id,
            row.template,
            exc_info=error,
        )
        if row.participant_id is None:
            await self._elsewhere(session, row, NOT_COMPOSED, row.last_error, now)

    async def _elsewhere(
        self, session: AsyncSession, row: OutboxMessage, cause: str, reason: str, now: datetime
    ) -> None:
        """A team message failed for good: send it to the team's other chats, and say so
        loudly; CRITICAL when no chat at all can receive it."""
        if is_edit(row):  # the message it would change is in that chat only
            log.warning(
                "outbox row %s (%s), an edit of a message already sent, failed (%s); that "
                "message stays as it was",
                row.id,
                row.template,
                reason,
            )
            return
        try:
            async with session.begin_nested():
                if is_rerouted(row):
                    targets = None
                    nobody = await reached_nobody(session, row)
                else:
                    targets = await reroute(session, row, cause=cause, now=now)
                    nobody = not targets
        except Exception:
            log.critical(
                "outbox row %s (%s) for a site chat failed (%s) and could not be sent "
                "anywhere else",
                row.id,
                row.template,
                reason,
                exc_info=True,
            )
            return
        if nobody:
            log.critical(
                "no chat received outbox row %s (%s) for a site team (%s): check that the bot "
                "is a member of the site's alert and escalation chats and their ids in "
                "study.toml, and that coordinators have started the bot privately",
                row.id,
                row.template,
                reason,
            )
        elif targets:
            log.error(
                "outbox row %s (%s) for site chat %s failed (%s); sent to %d other chats "
                "instead. Check that the bot is a member of that chat and its id in study.toml",
                row.id,
                row.template,
                row.chat_id,
                reason,
                len(targets),
            )
        else:
            log.warning(
                "outbox row %s (%s), a copy sent elsewhere, failed too (%s); other copies "
                "arrived or are on their way",
                row.id,
                row.template,
                reason,
            )

    @staticmethod
    async def _later_reminders(
        session: AsyncSession, rows: list[OutboxMessage]
    ) -> dict[int, tuple[Later, ...]]:
        """For each row, the other live reminders of its event that may make it stale: those
        due later, and those at least as late already sent."""
        later: dict[int, tuple[Later, ...]] = {row.id or 0: () for row in rows}
        events = {row.event_key for row in rows if row.event_key is not None}
        if not events:
            return later
        await session.flush()  # what the session changed counts (as `exec` would flush)
        others = await (await session.connection()).execute(
            select_columns(  # five columns: more than sqlmodel's select types
                col(OutboxMessage.id),
                col(OutboxMessage.event_key),
                col(OutboxMessage.due_at),
                col(OutboxMessage.status),
                col(Participant.timezone),
            )
            .outerjoin(Participant, col(Participant.id) == OutboxMessage.participant_id)
            .where(col(OutboxMessage.event_key).in_(events), col(OutboxMessage.status).in_(LIVE))
        )
        of_event: dict[str, list[Any]] = defaultdict(list)  # rows of five columns
        for other in others:
            of_event[other.event_key].append(other)
        for row in rows:
            if row.event_key is None:
                continue
            later[row.id or 0] = tuple(
                Later(other.due_at, other.timezone, sent=other.status == OutboxStatus.SENT)
                for other in of_event[row.event_key]
                if other.id != row.id
                and (
                    row.due_at < other.due_at
                    or (other.status == OutboxStatus.SENT and other.due_at >= row.due_at)
                )
            )
        return later

    def _entered(self, item: Claimed) -> None:
        if self._holds(item):  # not a later claim's of the same row
            self._before_slot.pop(item.row_id, None)
        self._progress.set()

    async def _deliver(
        self, item: Claimed, report: DispatchReport, rank: Callable[[], Rank]
    ) -> datetime | None:
        """Send `item` in its chat's turn and a slot, and record what came of it; when it
        failed for now, the moment it is tried again."""
        # Its chart drawn and the chat's turn first, holding no slot: a chart being drawn or a
        # chat at its limit delays only that chat.
        log.debug("outbox row %s: its turn in its chat", item.row_id)
        item.message = await drawn(item.message)
        await self.sender.wait_turn(item.message.chat_id)
        await self._renewals_done()  # its lease may be among those being renewed
        if self._pacing.get(item.row_id) is item:  # no renewal from now on counts it
            del self._pacing[item.row_id]
        try:
            async with self._slots.hold(rank):
                self._entered(item)
                # By rank, not in order of arrival (`Sender.wait_overall_turn`): an alert that
                # took the next slot would otherwise wait behind every other slot's routine
                # message (12 at 29 a second: 0.4 s; hours of the chaos time-lapse), and
                # behind a burst's direct replies.
                await self.sender.wait_overall_turn(item.message.chat_id, self._in_slot(rank))
                log.debug("outbox row %s: in a slot, its turn under the overall limit", item.row_id)
                # Its slot and its overall turn are held from here to its record: the last
                # look waits behind no handler's transaction, whatever the message's rank.
                with working_at(FIRST):
                    still = await self._still_to_send(item, report)
                if not still:
                    log.debug("outbox row %s: not sent after all", item.row_id)
                    return None
                log.debug("outbox row %s: sending", item.row_id)
                try:
                    message_id = await self._send(item.message)
                except ChatMoved as moved:
                    message_id = await self._send(await self._follow(item, moved))
                # Recorded before the slot is given up and before the chat's next message:
                # a crash repeats at most one message per chat, and no more in all than
                # there are slots.
                await self._sent(item, message_id)
        except TransientFailure as failure:
            log.debug("outbox row %s: failed for now (%s)", item.row_id, failure.reason)
            retry = await self._retry_at(item, failure)
            report.retried += 1
            report.reasons[failure.reason] += 1
            return retry
        except PermanentFailure as failure:
            log.debug("outbox row %s: failed for good (%s)", item.row_id, failure.reason)
            await self._fail(item, failure)
            report.failed += 1
            report.reasons[failure.reason] += 1
            return None
        log.debug("outbox row %s: sent and recorded", item.row_id)
        report.sent += 1
        return None

    async def _send(self, message: Composed) -> int:
        """The one place a composed message goes to the messenger: its text, or its chart
        as a photo with its caption, or in place of a message already sent (`edits`)."""
        if message.edits is not None:
            await self.sender.edit(message.chat_id, message.edits, message.text, message.keyboard)
            return message.edits
        message = await drawn(message)  # before the slot already, unless composed again since
        if message.photo is not None:
            return await self.sender.send_photo(
                message.chat_id, message.photo.png, message.photo.caption, message.keyboard
            )
        return await self.sender.send(message.chat_id, message.text, message.keyboard)

    async def _follow(self, item: Claimed, moved: ChatMoved) -> Composed:
        """A group became a supergroup: later messages go to its new id (recorded first,
        so that a crash does not forget it), and this one is re-sent there at once."""
        old = item.message.chat_id
        async with self.database.session() as session:
            await record_migration(session, old, moved.new_chat_id, self.clock.now())
        log.warning(
            "Telegram chat %s became a supergroup with the id %s; messages for it go there "
            "now. Put the new id into study.toml (alert_chat_id / escalation_chat_id)",
            old,
            moved.new_chat_id,
        )
        item.message = replace(item.message, chat_id=moved.new_chat_id)
        item.moved = True
        return item.message

    async def _still_to_send(self, item: Claimed, report: DispatchReport) -> bool:
        """Just before a send: whether to send it after all (if not, `report` says why).

        A batch is claimed at one moment and sent over the next seconds, so the row is read
        again: a pause, withdrawal or date change that landed meanwhile cancelled it, another
        process took it over after its lease, its time ran out, or a later reminder of the
        same event fell due. A participant's routine message is composed again if their
        local day changed since ("in 7 days" is then "in 6"). The lease is renewed when
        half of it is gone (`_lease_runs_out`).

        Read on a snapshot first, together with the other messages about to be sent (on
        SQLite without waiting for the write lock); only a row to expire, compose again or
        renew takes a write transaction, which reads it again. The clock is read after each
        read: one that waits (for SQLite's write lock, behind a sweep) may outlast the
        participant's midnight or the row's deadline."""
        if await self._unchanged(item) and not _composed_on_another_day(item, self.clock.now()):
            return True
        async with self.database.session() as session:
            row = await session.get(OutboxMessage, item.row_id)
            now = self.clock.now()
            again = _composed_on_another_day(item, now)
            if row is None or not _still_ours(row.status, row.lease_until, item):
                return _refused(report, NOT_OURS)
            stale = None
            if row.not_after is not None and row.not_after < now:
                stale = "past not_after"
            elif _overtaken((await self._later_reminders(session, [row]))[item.row_id], now):
                stale = "superseded by a later reminder"
            if stale is not None:
                row.status, row.lease_until, row.last_error = OutboxStatus.EXPIRED, None, stale
                session.add(row)
                report.expired += 1
                return _refused(report, stale)
            if again and not await self._compose_again(session, row, item, now, report):
                return False
            if self._lease_runs_out(item, now):
                row.lease_until = item.lease_until = now + self.lease
            session.add(row)
        return True

    async def _unchanged(self, item: Claimed) -> bool:
        """Whether `item`'s row is as claimed: ours, in time, not superseded, its lease far
        from running out. The rows of messages that reach a slot meanwhile are read in the
        same query (one snapshot for many: each read costs a round trip to the database)."""
        unchanged = asyncio.get_running_loop().create_future()
        self._to_check.append((item, unchanged))
        if self._checker is None or self._checker.done():
            self._checker = asyncio.create_task(self._check_unchanged())
        return bool(await asyncio.shield(unchanged))

    async def _check_unchanged(self) -> None:
        while self._to_check:
            batch, self._to_check = self._to_check, []
            try:
                unchanged = await self._read_unchanged([item for item, _ in batch])
            except Exception as error:
                for _, answer in batch:
                    answer.set_exception(error)
                continue
            for item, answer in batch:
                answer.set_result(item.row_id in unchanged)

    async def _read_unchanged(self, items: list[Claimed]) -> set[int]:
        """Of these, the rows still as claimed. Only what another transaction can change in
        the row itself is read (a cancel, a takeover, its deadline); that a later reminder
        fell due meanwhile is seen from the claim's `later`."""
        held = {item.row_id: item for item in items}
        rows = await self.database.rows(
            select_columns(
                col(OutboxMessage.id),
                col(OutboxMessage.status),
                col(OutboxMessage.lease_until),
                col(OutboxMessage.not_after),
            ).where(col(OutboxMessage.id).in_(held))
        )
        now = self.clock.now()  # after the read, which may have waited
        return {
            row.id
            for row in rows
            if _still_ours(row.status, row.lease_until, held[row.id])
            and (row.not_after is None or row.not_after >= now)
            and not _overtaken(held[row.id].later, now)
            and not self._lease_runs_out(held[row.id], now)
        }

    def _lease_runs_out(self, item: Claimed, now: datetime) -> bool:
        """Whether `item`'s lease is to be renewed before its send: half of it is gone. Not
        on SQLite, which serves one process by design (as in `_keep_leases`): nobody else
        would take the row over, and a renewal is a write, which waits for the write lock
        behind a sweep, with every later send of a backlog waiting behind it."""
        if self.database.is_sqlite:
            return False
        return item.lease_until - now <= self.lease / 2

    async def _compose_again(
        self,
        session: AsyncSession,
        row: OutboxMessage,
        item: Claimed,
        now: datetime,
        report: DispatchReport,
    ) -> bool:
        """Compose `item` afresh (its row held by us), or expire it if it is no longer
        true: whether it is still to be sent. Quiet hours were seen to at the claim: a
        message that waited seconds into them goes."""
        try:
            async with session.begin_nested():
                composed = await self._compose(session, row, now)
        except Exception as error:
            await self._unsendable(session, row, error, now)
            report.failed += 1
            return _refused(report, UNSENDABLE)
        if composed is None:
            session.add(row)
            report.expired += 1
            return _refused(report, row.last_error or "stale")
        item.message, item.composed_at = composed, now
        return True

    @staticmethod
    def _owned(item: Claimed) -> tuple[Any, ...]:
        return (
            col(OutboxMessage.id) == item.row_id,
            col(OutboxMessage.status) == OutboxStatus.SENDING,
            col(OutboxMessage.lease_until) == item.lease_until,
        )

    @staticmethod
    async def _routine_zone(session: AsyncSession, row: OutboxMessage) -> str | None:
        """The time zone of the participant a routine (not urgent) message is for."""
        if row.participant_id is None or row.priority <= Priority.URGENT:
            return None
        participant = await session.get(Participant, row.participant_id)
        assert participant is not None
        return participant.timezone

    def _quiet_hours_deferral(self, zone: str | None, now: datetime) -> datetime | None:
        """Participant messages that are not urgent wait for the end of quiet hours."""
        if zone is None:
            return None
        allowed = next_allowed_instant(now, zone, self.config.protocol.quiet_hours)
        return None if allowed <= now else allowed

    def _backoff(self, attempts: int, retry_after: float | None) -> datetime:
        now = self.clock.now()
        if retry_after is not None:
            return now + timedelta(seconds=retry_after + self._rng.uniform(0, 1))
        base = self.settings.backoff_base.total_seconds() * 2 ** max(0, attempts - 1)
        delay = min(base, self.settings.backoff_cap.total_seconds())
        return now + timedelta(seconds=delay * self._rng.uniform(0.5, 1.0))

    async def _retry_at(self, item: Claimed, failure: TransientFailure) -> datetime | None:
        """Put the row back until its back-off has passed, or expire it when that is past
        its deadline; the moment it is tried again (None: it is not)."""
        async with self.database.session() as session:
            row = (await session.exec(select(OutboxMessage).where(*self._owned(item)))).first()
            if row is None:
                return None
            when = self._backoff(row.attempts, failure.retry_after)
            expired = row.not_after is not None and when > row.not_after
            if expired:
                row.status = OutboxStatus.EXPIRED
            else:
                row.status = OutboxStatus.PENDING
                row.available_at = when
                # Announced as a new row is: it falls due by the clock, at a moment the
                # dispatcher has not looked up (a run under way set its alarm before).
                session.info[OUTBOX_TOUCHED] = True
            row.lease_until = None
            row.last_error = failure.reason[:200]
            session.add(row)
        return None if expired else when

    async def _behind_retry(self, failed: Claimed, retry: datetime, items: list[Claimed]) -> bool:
        """Whether `items`, the next messages of the chat of `failed`, which failed for now,
        wait for its `retry`: if it comes within `chat_waits_for_retry`, they are put back
        until then (each no later than its own deadline), to be claimed with it, behind it."""
        if retry - self.clock.now() > self.settings.chat_waits_for_retry:
            return False
        await self._renewals_done()  # their leases may be among those being renewed
        rows = [
            {"id": item.row_id, "lease": item.lease_until, "at": min(retry, _deadline(item))}
            for item in items
        ]
        put_back = await self.database.write(_put_back(len(rows)), _per_row_params(rows))
        log.debug(
            "outbox rows %s: wait for row %s, tried again at %s",
            [row.id for row in put_back],
            failed.row_id,
            retry.isoformat(),
        )
        return True

    async def _sent(self, item: Claimed, message_id: int) -> None:
        """Record the message as sent; returns once committed. The messages sent meanwhile
        to other chats are recorded in the same transaction (one commit for many: SQLite
        has one writer, and each commit waits for the disk)."""
        recorded = asyncio.get_running_loop().create_future()
        self._to_record.append((item, message_id, self.clock.now(), recorded))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_sent())
        await asyncio.shield(recorded)

    async def _record_sent(self) -> None:
        # Ahead of other work in the writers' turn, whatever the messages' rank: a message
        # sent and not recorded holds its slot, and a crash would send it again.
        with working_at(FIRST):
            await self._record_batches()

    async def _record_batches(self) -> None:
        while self._to_record:
            batch, self._to_record = self._to_record, []
            failed: dict[int, Exception] = {}  # by place in `batch`
            plain = [n for n, (item, *_) in enumerate(batch) if not _followed_up(item)]
            followed = [n for n, (item, *_) in enumerate(batch) if _followed_up(item)]
            # Each done again when PostgreSQL breaks a deadlock with it: a record lost here
            # would send its message again once the lease ran out.
            if plain:
                try:
                    await self._record_plain([batch[n] for n in plain])
                except Exception as error:
                    failed |= dict.fromkeys(plain, error)
            if followed:
                try:
                    failed |= await self.database.retried(
                        partial(self._record_followed, batch=batch, numbers=followed)
                    )
                except Exception as error:
                    failed |= dict.fromkeys(followed, error)
            for number, (*_, recorded) in enumerate(batch):
                if number in failed:
                    recorded.set_exception(failed[number])
                else:
                    recorded.set_result(None)

    async def _record_plain(self, sent: list[ToRecord]) -> None:
        """Messages that need nothing more than their row marked sent, in one statement
        that is its own transaction (each with its own message id, time and lease: `CASE`
        on the row's id)."""
        rows = [
            {"id": item.row_id, "lease": item.lease_until, "message": message_id, "at": now}
            for item, message_id, now, _ in sent
        ]
        recorded = await self.database.write(_record_of_sends(len(rows)), _per_row_params(rows))
        for row_id in sorted({item.row_id for item, *_ in sent} - {row.id for row in recorded}):
            log.warning(TAKEN_OVER, row_id)

    async def _record_followed(
        self, session: AsyncSession, batch: list[ToRecord], numbers: list[int]
    ) -> dict[int, Exception]:
        """Record the messages at `numbers` in `batch`, which have more to do than be marked
        sent; the records that failed, by their place in `batch`."""
        failed: dict[int, Exception] = {}
        for number in numbers:
            item, message_id, now, _ = batch[number]
            try:  # one bad record fails only its own message
                async with session.begin_nested():
                    await self._record_one(session, item, message_id, now)
            except Exception as error:
                if conflicted(error):
                    raise  # the whole transaction is done again
                failed[number] = error
        return failed

    async def _record_one(
        self, session: AsyncSession, item: Claimed, message_id: int, now: datetime
    ) -> None:
        values: dict[str, Any] = {
            "status": OutboxStatus.SENT,
            "lease_until": None,
            "telegram_message_id": message_id,
            "sent_at": now,
        }
        if item.moved:
            values["chat_id"] = item.message.chat_id
        # A row cancelled while its message was on its way was still delivered: the record
        # says so.
        delivered = (
            col(OutboxMessage.id) == item.row_id,
            col(OutboxMessage.status).in_([OutboxStatus.SENDING, OutboxStatus.CANCELLED]),
            col(OutboxMessage.lease_until) == item.lease_until,
        )
        result = await session.exec(update(OutboxMessage).where(*delivered).values(**values))
        if not result.rowcount:
            log.warning(TAKEN_OVER, item.row_id)
            return
        if item.message.remember:
            row = await session.get(OutboxMessage, item.row_id)
            if row is not None:
                await after_sent(session, row, now)

    async def _fail(self, item: Claimed, failure: PermanentFailure) -> None:
        now = self.clock.now()
        async with self.database.session() as session:
            row = (await session.exec(select(OutboxMessage).where(*self._owned(item)))).first()
            if row is None:
                return
            row.status = OutboxStatus.FAILED
            row.lease_until = None
            row.last_error = failure.reason[:200]
            session.add(row)
            if row.participant_id is not None:
                log.warning("a message to a participant failed permanently: %s", failure.reason)
                if failure.unreachable:
                    await self._unreachable(session, row.participant_id, failure.reason, now)
                return
            if failure.unreachable and (row.chat_id or 0) > 0:
                # A coordinator's private chat: they blocked the bot.
                await forget_coordinator_chat(session, row.chat_id or 0)
            cause = CHAT_REFUSED if failure.unreachable else NOT_COMPOSED
            await self._elsewhere(session, row, cause, failure.reason, now)

    async def _unreachable(
        self, session: AsyncSession, participant_id: int, reason: str, now: datetime
    ) -> None:
        """Mark the participant unreachable (and tell their site); if that fails, the row
        stays failed rather than being tried again and again."""
        try:
            async with session.begin_nested():
                participant = await session.get(Participant, participant_id)
                if participant is not None:
                    await mark_unreachable(
                        session,
                        participant,
                        reason=reason,
                        now=now,
                        config=self.config,
                        replanner=self.replanner,
                    )
        except Exception:
            log.exception("could not mark participant %s unreachable", participant_id)


async def after_sent(session: AsyncSession, row: OutboxMessage, now: datetime) -> None:
    """Remember where a message landed when later steps need to edit it; the first card
    of an alert to land has consequences (`study.delivery.card_delivered`)."""
    checkin_id = row.context.get("checkin_id")
    if checkin_id is not None:
        checkin = await session.get(CheckIn, checkin_id)
        if checkin is not None:
            checkin.message_id = row.telegram_message_id
            session.add(checkin)
    await card_delivered(session, row, now)


def _lease(settings: DispatchSettings, clock: Clock) -> timedelta:
    """How long a claim holds its row, in `clock`'s time: `settings.lease`, or longer on a
    clock that runs fast. In the chaos time-lapse (7,200 times real speed) five minutes are
    42 ms of wall time, shorter than a send: every message's lease was renewed, often
    twice, which a real server never needs."""
    floor = settings.lease_wall_seconds / clock.wall_seconds(1.0)
    return max(settings.lease, timedelta(seconds=floor))


def _delivered(batch: asyncio.Task[None]) -> bool:
    """A batch done without an error (one that failed is kept for `run_once` to raise)."""
    return batch.done() and not batch.cancelled() and batch.exception() is None


def _composed_on_another_day(item: Claimed, now: datetime) -> bool:
    """A participant's routine message whose local day changed since it was composed (a
    batch claimed ahead waits seconds for its turn, in a time-lapse hours)."""
    if item.zone is None or item.composed_at is None:
        return False
    return local_date(now, item.zone) != local_date(item.composed_at, item.zone)


def _overtaken(later: tuple[Later, ...], now: datetime) -> bool:
    """Whether one of a reminder's later reminders makes it stale now: it is due, or due
    later today in the participant's zone (a reminder caught up after downtime would say
    what that one says in a few hours: "in 2 days" twice), or one at least as late was
    sent already (a repeat)."""
    return any(
        other.sent or other.due_at <= now or _due_by_today(other.due_at, now, other.zone)
        for other in later
    )


def _due_by_today(due_at: datetime, now: datetime, zone: str | None) -> bool:
    """Whether `due_at` falls on today or before, in the participant's zone. A zone that
    cannot be read (bad data) counts as not: the rest of the claim goes on, and the row
    fails alone where its zone is needed."""
    if zone is None:
        return False
    try:
        return local_date(due_at, zone) <= local_date(now, zone)
    except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        return False


def _still_ours(status: str, lease_until: datetime | None, item: Claimed) -> bool:
    return status == OutboxStatus.SENDING and lease_until == item.lease_until


def _refused(report: DispatchReport, reason: str) -> bool:
    report.reasons[reason] += 1
    return False


_TABLE = OutboxMessage.__table__.c  # type: ignore[attr-defined]
# The type of each per-row value (`_per_row`), as its column's.
_PER_ROW_TYPES = {
    "id": _TABLE.id.type,
    "lease": _TABLE.lease_until.type,
    "message": _TABLE.telegram_message_id.type,
    "at": _TABLE.sent_at.type,
}


# One statement writes many rows, each its own values (`CASE` on the row's id). It is built
# and compiled once for each number of rows: anew each time, that cost more than running it.
# Records are of at most a few sends each (one per slot); a renewal can be of a long backlog:
# the cache keeps the last 64 sizes.
@lru_cache(maxsize=64)
def _record_of_sends(rows: int) -> Any:
    """Mark `rows` rows sent, each with its message id and time, where the lease is still
    the sender's (or the row was cancelled while its message was on its way)."""
    return (
        update(OutboxMessage)
        .where(*_under_their_leases(rows, OutboxStatus.SENDING, OutboxStatus.CANCELLED))
        .values(
            status=OutboxStatus.SENT,
            lease_until=None,
            telegram_message_id=_per_row("message", rows),
            sent_at=_per_row("at", rows),
        )
        .returning(col(OutboxMessage.id))
        .execution_options(synchronize_session=False)
    )


@lru_cache(maxsize=64)
def _put_back(rows: int) -> Any:
    """Put `rows` rows back to wait, each until its own moment, where each is still ours;
    their claim is not counted as a try."""
    return (
        update(OutboxMessage)
        .where(*_under_their_leases(rows, OutboxStatus.SENDING))
        .values(
            status=OutboxStatus.PENDING,
            lease_until=None,
            available_at=_per_row("at", rows),
            attempts=col(OutboxMessage.attempts) - 1,
        )
        .returning(col(OutboxMessage.id))
        .execution_options(synchronize_session=False)
    )


@lru_cache(maxsize=64)
def _renewal(rows: int) -> Any:
    """Renew the leases of `rows` rows until `until`, where each is still ours."""
    return (
        update(OutboxMessage)
        .where(*_under_their_leases(rows, OutboxStatus.SENDING))
        .values(lease_until=bindparam("until", type_=_PER_ROW_TYPES["lease"]))
        .returning(col(OutboxMessage.id))
        .execution_options(synchronize_session=False)
    )


def _under_their_leases(rows: int, *statuses: str) -> tuple[Any, ...]:
    """`rows` rows (`id<n>`), each in one of `statuses` and still under its lease
    (`lease<n>`): the many-row `_owned`."""
    return (
        col(OutboxMessage.id).in_(_row_ids(rows)),
        col(OutboxMessage.status).in_(statuses),
        col(OutboxMessage.lease_until) == _per_row("lease", rows),
    )


def _row_ids(rows: int) -> list[Any]:
    return [bindparam(f"id{n}", type_=_PER_ROW_TYPES["id"]) for n in range(rows)]


def _per_row(name: str, rows: int) -> Any:
    """For each of `rows` rows (the row whose id is `id<n>`), the value `<name><n>`."""
    ids, kind = _row_ids(rows), _PER_ROW_TYPES[name]
    return case(
        *(
            (col(OutboxMessage.id) == ids[n], bindparam(f"{name}{n}", type_=kind))
            for n in range(rows)
        )
    )


def _per_row_params(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The parameters of a statement of `_per_row` values: each row's, numbered."""
    return {f"{name}{n}": value for n, row in enumerate(rows) for name, value in row.items()}


def _followed_up(item: Claimed) -> bool:
    """Whether recording `item` as sent takes more than marking its row: what it sent is
    remembered (`after_sent`), or its chat moved."""
    return item.message.remember or item.moved


def _urgent(item: Claimed) -> bool:
    """T1/T2 alerts and red-flag advice: they go ahead of their chat's other messages."""
    return item.rank[0] <= Priority.URGENT


def _deadline(item: Claimed) -> datetime:
    """The latest moment `item` may be sent (far off when it has no deadline)."""
    deadline = item.rank[1]
    return (
        datetime.max.replace(tzinfo=UTC)
        if deadline == NO_DEADLINE
        else datetime.fromtimestamp(deadline, UTC)
    )


def _rank(row: OutboxMessage) -> Rank:
    """Alerts and T1/T2 advice first (`Priority`), then the earliest deadline."""
    return _rank_of(row.priority, row.not_after)


def _chat_of(participant_id: int | None, chat_id: int | None) -> tuple[int | None, int | None]:
    """A row's chat as the claim knows it before composing: its participant's, or a site's."""
    return (participant_id, None) if participant_id is not None else (None, chat_id)


def _rank_of(priority: int, not_after: datetime | None) -> Rank:
    deadline = not_after.timestamp() if not_after is not None else NO_DEADLINE
    return (float(priority), deadline)


def _ranked_ahead_of(rank: Rank) -> ColumnElement[bool]:
    """Rows whose `_rank` is lower than `rank`, as a condition of the claim's query."""
    priority, deadline = rank
    earlier: ColumnElement[bool] = col(OutboxMessage.not_after).is_not(None)
    if deadline != NO_DEADLINE:
        earlier = and_(
            earlier, col(OutboxMessage.not_after) < datetime.fromtimestamp(deadline, UTC)
        )
    return or_(
        col(OutboxMessage.priority) < priority,
        and_(col(OutboxMessage.priority) == priority, earlier),
    )
