"""A live dispatcher whose batch outlasts its lease, on a PostgreSQL database shared with
another dispatcher: only the message in flight when the lease ran out may arrive twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from telegram.ext import ExtBot

from bot.sender import PtbSender
from sandbox import FaultRule, SandboxServer
from scheduler.dispatcher import Claimed, Dispatcher, DispatchSettings
from scheduler.planner import Planner
from study.config import StudyConfig
from study.database import Database
from tests.reliability.outbox import (
    assert_all_sent_in_their_order,
    linked_participants,
    put_due_reminders,
    queued_rows,
)
from tests.reliability.workers import TOKEN
from tests.support.clock import FakeClock
from tests.support.dispatch_worker import build_bot, build_dispatcher

pytestmark = pytest.mark.postgres

CHAT = 8101
SLOW_ANSWER = 1.5  # Telegram takes the first message at once but answers this late (real
# seconds); meanwhile the other dispatcher takes the batch over, in milliseconds


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL only: SQLite serves one process by design."""
    return postgres_url


async def test_rows_waiting_behind_a_slow_send_are_not_sent_twice(
    database_url: str,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    participants = await linked_participants(database, sandbox, [CHAT], now=clock.now())
    await put_due_reminders(database, participants, now=clock.now(), each=3)
    sandbox.faults.add(
        FaultRule(
            "sendMessage", "timeout", chat_id=CHAT, count=1, delay=SLOW_ANSWER, delivered=True
        )
    )
    other_process = Database.from_url(database_url)
    first = build_dispatcher(database, bot, clock, config)
    second = build_dispatcher(other_process, bot, clock, config)
    try:
        await second.next_due()  # connected, so that taking over is quick
        batch = asyncio.create_task(first.run_once())  # one chat: its 3 rows go in order
        try:
            await sandbox.wait_for_message(CHAT)  # the first one is in; its answer is not
            clock.advance(DispatchSettings().lease * 2)  # the batch has outlived its lease
            taken_over = await second.run_once()
            answer_pending = not batch.done()
        finally:
            await asyncio.wait_for(batch, 10)
    finally:
        await other_process.dispose()

    assert answer_pending, "the first answer should have been on its way during the takeover"
    assert taken_over.sent == 3  # the lease had run out: taking the rows over is right
    deliveries = sorted(Counter(m.text for m in sandbox.bot_messages(CHAT)).values())
    # Only the first reminder was in flight when the lease ran out; the other two were
    # still waiting in the first dispatcher's batch.
    assert deliveries in ([1, 1, 1], [1, 1, 2]), f"deliveries per reminder: {deliveries}"


async def six_due_for_one_chat(
    database: Database, sandbox: SandboxServer, clock: FakeClock
) -> None:
    """Six reminders due for one participant's chat: three go at once, three wait their
    turn (one a second)."""
    sandbox.set_time(clock.now().timestamp())
    (participant,) = await linked_participants(database, sandbox, [CHAT], now=clock.now())
    await put_due_reminders(database, [participant], now=clock.now(), each=6)


async def test_messages_waiting_for_their_chat_keep_their_leases(
    database_url: str,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
) -> None:
    """A chat's backlog at its limit (three at once, then one a second; a group at twenty a
    minute) can outlast a lease. Its messages still waiting keep theirs, so another process
    does not take them over and send them out of their chat's order."""
    await six_due_for_one_chat(database, sandbox, clock)
    # Of the test's clock, which the test moves; a lease's half is a real fifth of a second.
    lease = timedelta(seconds=0.4)
    other_process = Database.from_url(database_url)
    async with build_bot(sandbox.url, TOKEN, rate_limit=True) as limited_bot:
        settings = DispatchSettings(lease=lease, lease_wall_seconds=0.4)
        first = build_dispatcher(database, limited_bot, clock, config, settings)
        second = build_dispatcher(other_process, bot, clock, config, settings)
        try:
            await second.next_due()  # connected, so that taking over is quick
            run = asyncio.create_task(first.run_once())
            try:
                await sandbox.wait_for_message(CHAT)  # three at once; three wait their turn
                claimed_until = clock.now() + lease
                clock.advance(lease * 0.75)
                # Before the last of them reaches its turn (three seconds in), which would
                # renew its lease anyway.
                await until_renewed(database, claimed_until, within=2.0)
                clock.advance(lease * 0.5)  # past the lease they were claimed with
                taken_over = await second.run_once()
            finally:
                await asyncio.wait_for(run, 10)
        finally:
            await other_process.dispose()

    assert taken_over.sent == 0, "another process took over messages still waiting"
    texts = [message.text for message in sandbox.bot_messages(CHAT)]
    assert len(texts) == len(set(texts)) == 6, "a message went twice, or not at all"
    await assert_all_sent_in_their_order(database)


async def until_renewed(database: Database, claimed_until: datetime, within: float) -> None:
    """Until the last queued row's lease reaches past `claimed_until` (for at most `within`
    real seconds)."""
    for _ in range(int(within * 100)):
        last = (await queued_rows(database))[-1]
        if last.lease_until is not None and last.lease_until > claimed_until:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the lease of a message waiting for its chat was never renewed")


class RenewalFails(Dispatcher):
    """Its database refuses every renewal of a lease (a connection lost, say)."""

    async def _renew(self, items: list[Claimed], until: datetime) -> set[int]:
        raise ConnectionError("the database went away")


async def test_a_failed_renewal_of_leases_stops_no_message(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
) -> None:
    """Renewing leases is a courtesy to other processes: when it fails, the chat's messages
    still go, in order, and the run ends as usual."""
    await six_due_for_one_chat(database, sandbox, clock)
    settings = DispatchSettings(lease=timedelta(seconds=0.4), lease_wall_seconds=0.4)
    async with build_bot(sandbox.url, TOKEN, rate_limit=True) as limited_bot:
        sending = RenewalFails(
            database, PtbSender(limited_bot), clock, config, Planner(config), settings
        )
        run = asyncio.create_task(sending.run_once())
        await sandbox.wait_for_message(CHAT)  # three at once; three wait their turn
        clock.advance(settings.lease * 0.75)  # the keeper tries, and fails, to renew them

        report = await asyncio.wait_for(run, 10)

    assert report.sent == 6
    await assert_all_sent_in_their_order(database)


async def test_a_run_cancelled_while_it_finishes_leaves_no_keeper_behind(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
) -> None:
    """A shutdown that will not wait for a run's last messages (a second cancel) still ends
    its lease keeper with it, rather than leaving it renewing until the process exits."""
    await six_due_for_one_chat(database, sandbox, clock)
    async with build_bot(sandbox.url, TOKEN, rate_limit=True) as limited_bot:
        run = asyncio.create_task(build_dispatcher(database, limited_bot, clock, config).run_once())
        await sandbox.wait_for_message(CHAT)  # three at once; three wait their turn
        run.cancel()  # it waits for the three to go
        await asyncio.sleep(0)
        run.cancel()  # it does not
        await asyncio.wait([run])

    keepers = [task for task in asyncio.all_tasks() if "_keep_leases" in repr(task.get_coro())]
    assert not keepers, "a lease keeper outlived its run"
