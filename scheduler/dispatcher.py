"""The outbox dispatcher: claim due rows, compose, send, record; retry, expire, recover.

Guarantees, and how:
- Due rows are delivered across crashes: a row is claimed with a lease (`sending` until
  `lease_until`); a crashed sender's rows are claimed again after the lease, so only a
  message in flight at the crash can arrive twice.
- Several processes on PostgreSQL never take the same row: claiming uses
  `FOR UPDATE SKIP LOCKED` in its own short transaction. On SQLite (one process) the
  transaction takes the write lock (`BEGIN IMMEDIATE`).
- Nothing stale is sent: a row past its `not_after`, or superseded by a later due reminder
  of the same event, or no longer true when composed, is expired instead.
- Transient failures back off exponentially with jitter (or wait Telegram's
  `retry_after`); permanent ones stop, and an unreachable participant is reported.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scheduler.compose import Stale, compose
from scheduler.sender import PermanentFailure, Sender, TransientFailure
from scheduler.timing import next_allowed_instant
from study.clock import Clock
from study.config import StudyConfig
from study.database import Database
from study.models import Alert, CheckIn, OutboxMessage, OutboxStatus, Participant
from study.outbox import Priority
from study.participants import mark_unreachable
from study.ports import Replanner

log = logging.getLogger(__name__)

LIVE = (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.SENT)


@dataclass
class DispatchSettings:
    batch_size: int = 50
    lease: timedelta = timedelta(minutes=5)
    concurrency: int = 8
    backoff_base: timedelta = timedelta(seconds=5)
    backoff_cap: timedelta = timedelta(minutes=15)


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
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not security)

    async def run_once(self) -> DispatchReport:
        """Claim one batch of due rows and deliver them."""
        report = DispatchReport()
        claimed = await self._claim(report)
        by_recipient: dict[tuple[int | None, int | None], list[OutboxMessage]] = defaultdict(list)
        for row in claimed:
            by_recipient[(row.participant_id, row.chat_id)].append(row)
        limit = asyncio.Semaphore(self.settings.concurrency)

        async def deliver_in_order(rows: list[OutboxMessage]) -> None:
            async with limit:
                for row in rows:  # one chat's messages go one after another, in order
                    await self._deliver(row, report)

        await asyncio.gather(*(deliver_in_order(rows) for rows in by_recipient.values()))
        return report

    async def drain(self, max_rounds: int = 1000) -> DispatchReport:
        """Run until nothing is due now (tests and shutdown use this)."""
        total = DispatchReport()
        for _ in range(max_rounds):
            report = await self.run_once()
            for name in ("sent", "expired", "retried", "failed", "deferred"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            if report.handled == 0:
                break
        return total

    async def next_due(self) -> datetime | None:
        """The earliest moment a row becomes claimable (due, or its lease runs out)."""
        async with self.database.session() as session:
            pending = (
                await session.exec(
                    select(func.min(OutboxMessage.available_at)).where(
                        OutboxMessage.status == OutboxStatus.PENDING
                    )
                )
            ).one()
            leased = (
                await session.exec(
                    select(func.min(OutboxMessage.lease_until)).where(
                        OutboxMessage.status == OutboxStatus.SENDING
                    )
                )
            ).one()
        moments = [moment for moment in (pending, leased) if moment is not None]
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

    async def _claim(self, report: DispatchReport) -> list[OutboxMessage]:
        now = self.clock.now()
        async with self.database.session() as session:
            expired = await session.exec(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.status) == OutboxStatus.PENDING,
                    col(OutboxMessage.not_after) < now,
                )
                .values(status=OutboxStatus.EXPIRED, last_error="past not_after")
            )
            report.expired += int(expired.rowcount or 0)
            due = or_(
                and_(
                    col(OutboxMessage.status) == OutboxStatus.PENDING,
                    col(OutboxMessage.available_at) <= now,
                ),
                and_(
                    col(OutboxMessage.status) == OutboxStatus.SENDING,
                    col(OutboxMessage.lease_until) < now,
                ),
            )
            rows = list(
                await session.exec(
                    select(OutboxMessage)
                    .where(due)
                    .order_by(col(OutboxMessage.priority), col(OutboxMessage.available_at))
                    .limit(self.settings.batch_size)
                    .with_for_update(skip_locked=True)
                )
            )
            claimed = []
            for row in rows:
                if row.event_key is not None and await self._superseded(session, row, now):
                    row.status = OutboxStatus.EXPIRED
                    row.last_error = "superseded by a later reminder"
                    report.expired += 1
                else:
                    row.status = OutboxStatus.SENDING
                    row.lease_until = now + self.settings.lease
                    row.attempts += 1
                    claimed.append(row)
                session.add(row)
        return claimed

    async def _superseded(self, session: AsyncSession, row: OutboxMessage, now: datetime) -> bool:
        """Another reminder of the same event is due later than this one (but already due),
        or one at least as late was already sent: this one would be stale or a repeat."""
        others = await session.exec(
            select(OutboxMessage.due_at, OutboxMessage.status).where(
                OutboxMessage.event_key == row.event_key,
                OutboxMessage.id != row.id,
                col(OutboxMessage.status).in_(LIVE),
            )
        )
        for due_at, status in others:
            if row.due_at < due_at <= now:
                return True
            if status == OutboxStatus.SENT and due_at >= row.due_at:
                return True
        return False

    async def _deliver(self, row: OutboxMessage, report: DispatchReport) -> None:
        try:
            async with self.database.session() as session:
                composed = await compose(session, row, self.config, self.clock.now())
                deferred_to = await self._quiet_hours_deferral(session, row)
        except Stale as stale:
            await self._finish(row, OutboxStatus.EXPIRED, error=str(stale))
            report.expired += 1
            return
        if deferred_to is not None:
            await self._retry_at(row, deferred_to, "quiet hours", count_attempt=False)
            report.deferred += 1
            return
        try:
            message_id = await self.sender.send(composed.chat_id, composed.text, composed.keyboard)
        except TransientFailure as failure:
            await self._retry_at(row, self._backoff(row, failure.retry_after), failure.reason)
            report.retried += 1
            report.reasons[failure.reason] += 1
            return
        except PermanentFailure as failure:
            await self._fail(row, failure)
            report.failed += 1
            report.reasons[failure.reason] += 1
            return
        await self._finish(row, OutboxStatus.SENT, message_id=message_id)
        report.sent += 1

    async def _quiet_hours_deferral(
        self, session: AsyncSession, row: OutboxMessage
    ) -> datetime | None:
        """Participant messages that are not urgent wait for the end of quiet hours."""
        if row.participant_id is None or row.priority <= Priority.URGENT:
            return None
        participant = await session.get(Participant, row.participant_id)
        assert participant is not None
        now = self.clock.now()
        allowed = next_allowed_instant(now, participant.timezone, self.config.protocol.quiet_hours)
        return None if allowed <= now else allowed

    def _backoff(self, row: OutboxMessage, retry_after: float | None) -> datetime:
        now = self.clock.now()
        if retry_after is not None:
            return now + timedelta(seconds=retry_after + self._rng.uniform(0, 1))
        base = self.settings.backoff_base.total_seconds() * 2 ** max(0, row.attempts - 1)
        delay = min(base, self.settings.backoff_cap.total_seconds())
        return now + timedelta(seconds=delay * self._rng.uniform(0.5, 1.0))

    async def _retry_at(
        self, row: OutboxMessage, when: datetime, reason: str, *, count_attempt: bool = True
    ) -> None:
        async with self.database.session() as session:
            fresh = await session.get(OutboxMessage, row.id)
            if fresh is None or fresh.status != OutboxStatus.SENDING:
                return
            if fresh.not_after is not None and when > fresh.not_after:
                fresh.status = OutboxStatus.EXPIRED
            else:
                fresh.status = OutboxStatus.PENDING
                fresh.available_at = when
            if not count_attempt:
                fresh.attempts -= 1
            fresh.lease_until = None
            fresh.last_error = reason[:200]
            session.add(fresh)

    async def _finish(
        self,
        row: OutboxMessage,
        status: OutboxStatus,
        *,
        message_id: int | None = None,
        error: str | None = None,
    ) -> None:
        async with self.database.session() as session:
            fresh = await session.get(OutboxMessage, row.id)
            if fresh is None:
                return
            fresh.status = status
            fresh.lease_until = None
            if status == OutboxStatus.SENT:
                fresh.telegram_message_id = message_id
                fresh.sent_at = self.clock.now()
                await after_sent(session, fresh)
            if error is not None:
                fresh.last_error = error[:200]
            session.add(fresh)

    async def _fail(self, row: OutboxMessage, failure: PermanentFailure) -> None:
        now = self.clock.now()
        async with self.database.session() as session:
            fresh = await session.get(OutboxMessage, row.id)
            if fresh is None:
                return
            fresh.status = OutboxStatus.FAILED
            fresh.lease_until = None
            fresh.last_error = failure.reason[:200]
            session.add(fresh)
            if fresh.participant_id is not None and failure.unreachable:
                participant = await session.get(Participant, fresh.participant_id)
                if participant is not None:
                    await mark_unreachable(
                        session,
                        participant,
                        reason=failure.reason,
                        now=now,
                        config=self.config,
                        replanner=self.replanner,
                    )
        if fresh.participant_id is None:
            # A site chat refused us (bot removed from the group?): nobody in Telegram
            # can be told, so this is for the operator's logs and health check.
            log.critical(
                "a message to a site chat failed permanently (%s); check the bot is a member "
                "of that group and the chat id in study.toml",
                failure.reason,
            )
        else:
            log.warning("a message to a participant failed permanently: %s", failure.reason)


async def after_sent(session: AsyncSession, row: OutboxMessage) -> None:
    """Remember where a message landed when later steps need to edit it."""
    checkin_id = row.context.get("checkin_id")
    if checkin_id is not None:
        checkin = await session.get(CheckIn, checkin_id)
        if checkin is not None:
            checkin.message_id = row.telegram_message_id
            session.add(checkin)
    if row.alert_id is not None and row.telegram_message_id is not None:
        alert = await session.get(Alert, row.alert_id)
        if alert is not None and alert.card_message_id is None:
            alert.card_chat_id = row.chat_id
            alert.card_message_id = row.telegram_message_id
            session.add(alert)
