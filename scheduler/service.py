"""APScheduler wiring: it only wakes the dispatcher and runs the periodic sweeps.

Durable state lives in our tables, so the job store is in memory and rebuilt at every start
with explicit ids (`replace_existing=True`). Misfires run late rather than being skipped
(`misfire_grace_time=None`), and a backlog of runs collapses into one (`coalesce`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scheduler.alert_jobs import escalate_alerts, run_alert_sweeps
from scheduler.checkin_jobs import run_checkin_sweeps
from scheduler.dispatcher import Dispatcher
from scheduler.housekeeping import run_housekeeping
from scheduler.sweeps import run_all_sweeps
from study.checkin_due import forget_all
from study.clock import Clock
from study.config import StudyConfig
from study.database import Database
from study.precedence import FIRST, PERIODIC, working_at

log = logging.getLogger(__name__)

DISPATCH_JOB = "outbox-dispatch"
POLL_JOB = "outbox-poll"
SWEEP_JOB = "calendar-sweeps"
ESCALATION_JOB = "alert-escalation"
FIRST_SWEEP_WAITS_AT_MOST = 5.0
"""Wall seconds a start's first sweep waits for the dispatcher's first claim."""
# A wake only sets a flag, so overlapping runs are harmless; with APScheduler's default of one,
# a wake due while the loop was busy finishing the last would be skipped (and logged).
WAKE_INSTANCES = 10


class SchedulerService:
    """Owns the AsyncIOScheduler; `wake()` makes the dispatcher run at once."""

    def __init__(
        self,
        *,
        database: Database,
        dispatcher: Dispatcher,
        clock: Clock,
        config: StudyConfig,
        poll_interval: timedelta = timedelta(seconds=30),
        sweep_interval: timedelta = timedelta(minutes=5),
        escalation_interval: timedelta = timedelta(minutes=1),
    ) -> None:
        self.database = database
        self.dispatcher = dispatcher
        self.clock = clock
        self.config = config
        self.poll_interval = poll_interval
        self.sweep_interval = sweep_interval
        self.escalation_interval = escalation_interval
        self.scheduler: AsyncIOScheduler | None = None
        self._dispatching: asyncio.Task[None] | None = None
        self._again = False
        self._stopped = True
        self._sweeping = asyncio.Lock()
        self._swept_since_start = False
        self._background: set[asyncio.Task[None]] = set()
        self.idle = asyncio.Event()
        # Set when a start's first sweep is over: from then on the participants' stored
        # check-in moments are this run's, worked out under its study.toml.
        self.first_sweep_over = asyncio.Event()
        database.on_outbox_commit(self.wake)

    async def start(self) -> None:
        if self.database.is_sqlite:
            released = await self.dispatcher.release_own_leases()
            if released:
                log.info("took up %d messages left in flight by the previous run", released)
        async with self.database.session() as session:
            # Each participant's next check-in moment was worked out under the protocol of
            # the last run: study.toml may have changed it, so the first sweep works it out.
            await session.exec(forget_all())
        self._stopped = False
        self._swept_since_start = False
        self.first_sweep_over.clear()
        self.scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.scheduler.add_job(
            self._wake_job,
            IntervalTrigger(seconds=self.poll_interval.total_seconds()),
            id=POLL_JOB,
            replace_existing=True,
            max_instances=WAKE_INSTANCES,
        )
        self.scheduler.add_job(
            self._sweep_job,
            IntervalTrigger(seconds=self.sweep_interval.total_seconds()),
            id=SWEEP_JOB,
            replace_existing=True,
            next_run_time=_wall_now(),
        )
        self.scheduler.add_job(
            self._escalate_job,
            IntervalTrigger(seconds=self.escalation_interval.total_seconds()),
            id=ESCALATION_JOB,
            replace_existing=True,
        )
        self.scheduler.start()
        self.wake()

    async def shutdown(self) -> None:
        """Stop waking; let a dispatch or sweep in progress finish (in-flight sends, open
        transactions) rather than be cancelled half-way."""
        self._stopped = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
        running = [*self._background, *([self._dispatching] if self._dispatching else [])]
        if running:
            await asyncio.gather(*(asyncio.shield(task) for task in running))

    def wake(self) -> None:
        """Dispatch now (or right after the run in progress)."""
        if self._stopped:
            return
        self.idle.clear()
        if self._dispatching is not None:
            self._again = True
            self.dispatcher.more_due()
            return
        # In a context of its own: the run does not wait at the rank of whatever woke it
        # (a sweep's commit would put its writes last; `study.precedence`).
        self._dispatching = asyncio.get_running_loop().create_task(
            self._dispatch(), context=contextvars.Context()
        )

    # APScheduler's jobs are coroutines, so that its asyncio executor runs them on the loop;
    # they only start our own tasks, because it cancels the jobs still running when it shuts
    # down, and a transaction cancelled half-way is worse than one allowed to finish.
    async def _wake_job(self) -> None:
        self.wake()

    async def _sweep_job(self) -> None:
        self._spawn(self.sweep if self._swept_since_start else self._first_sweep)
        self._swept_since_start = True

    async def _first_sweep(self) -> None:
        """A start's first sweep lets the dispatcher claim first (waiting for it a few
        seconds at most): what fell due while the bot was down goes before the periodic
        checks. They share its event loop, and on a slow machine the first sweep after a
        start (every check-in moment worked out again) held the first claim up a second."""
        try:
            await asyncio.wait_for(self.dispatcher.first_claim.wait(), FIRST_SWEEP_WAITS_AT_MOST)
        except TimeoutError:
            log.info("no claim after %s s; the first sweep goes on", FIRST_SWEEP_WAITS_AT_MOST)
        try:
            await self.sweep()
        finally:
            self.first_sweep_over.set()

    async def _escalate_job(self) -> None:
        self._spawn(self.escalate)

    def _spawn(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if self._stopped:
            return
        task = asyncio.get_running_loop().create_task(work())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def sweep(self) -> None:
        """Every periodic check: visits, check-ins, contraception, alerts and digests, then
        housekeeping (stale enrolment drafts).

        With several processes on one PostgreSQL database only one sweeps at a time."""
        async with self._sweeping, self.database.exclusive("sweeps") as mine:
            if not mine:
                return
            with working_at(PERIODIC):
                await self._each_sweep()

    async def _each_sweep(self) -> None:
        for name, job in (
            ("visits", run_all_sweeps),
            ("check-ins", run_checkin_sweeps),
            ("alerts", run_alert_sweeps),
            ("housekeeping", run_housekeeping),
        ):
            log.debug("the %s sweep begins", name)
            try:
                await job(self.database, self.clock, self.config)
            except Exception:
                log.exception("the %s sweep failed; it runs again later", name)
            log.debug("the %s sweep is over", name)

    async def escalate(self) -> None:
        """Unacknowledged urgent alerts are re-sent and escalated on the minute."""
        async with self._sweeping, self.database.exclusive("sweeps") as mine:
            if not mine:
                return
            try:
                with working_at(FIRST):  # an unanswered urgent alert, sent on
                    await escalate_alerts(self.database, self.clock, self.config)
            except Exception:
                log.exception("alert escalation failed; it runs again in a minute")

    async def _dispatch(self) -> None:
        try:
            while True:
                self._again = False
                report = await self.dispatcher.run_once()
                if report.handled:
                    continue
                await self._schedule_next()
                if not self._again:
                    break
        except Exception:
            log.exception("dispatching failed; retrying at the next poll")
        finally:
            # No await between the last check of `_again` and here: a wake() from now on
            # starts a new run.
            self._dispatching = None
            self.idle.set()

    async def _schedule_next(self) -> None:
        next_due = await self.dispatcher.next_due()
        if next_due is None:
            return
        delay = self.clock.wall_seconds((next_due - self.clock.now()).total_seconds())
        if delay >= self.poll_interval.total_seconds():
            return  # the poll will come first
        run_at = _wall_now() + timedelta(seconds=max(0.0, delay))
        if self.scheduler is None:
            return
        self.scheduler.add_job(
            self._wake_job,
            DateTrigger(run_date=run_at),
            id=DISPATCH_JOB,
            replace_existing=True,
            max_instances=WAKE_INSTANCES,
        )


def _wall_now() -> datetime:
    # APScheduler's triggers run on the wall clock; the domain's clock may be a test's.
    return datetime.now(UTC)
