"""A restart: the next process resumes a check-in at the same question, and sends what fell due
while it was down before it sweeps."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.runner import running_bot, running_of
from bot.sender import TelegramRateLimiter
from bot.services import Services
from sandbox import SandboxServer
from study.config import StudyConfig
from study.database import Database
from study.outbox import enqueue
from tests.e2e.conftest import TOKEN
from tests.e2e.test_checkins import P, answer_one, latest_question, linked
from tests.support.clock import FakeClock
from tests.support.factories import enrolled


def limiter() -> TelegramRateLimiter:
    return TelegramRateLimiter(per_chat_burst=1000, per_group_per_minute=100_000)


async def test_a_restart_mid_checkin_resumes_at_the_same_question(
    sandbox: SandboxServer,
    services: Services,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    sandbox.set_time(clock.now().timestamp())
    async with running_bot(services, token=TOKEN, api_url=sandbox.url, rate_limiter=limiter()):
        await linked(database, config, clock, sandbox)
        sent = await sandbox.send_text(user_id=P, text="/checkin")
        await sandbox.wait_for_message(P, after_message_id=sent.message_id)
        await answer_one(sandbox, "Q1", [])
        await answer_one(sandbox, "Q2", [])
        await answer_one(sandbox, "Q3", ["cough"])
    on_screen = latest_question(sandbox)
    assert "（4/13）" in on_screen.text
    # A new process on the same database: the old message's buttons carry on.
    async with running_bot(services, token=TOKEN, api_url=sandbox.url, rate_limiter=limiter()):
        following = await answer_one(sandbox, "Q4", [])
    assert "（5/13）" in following.text
    assert "<b>" not in following.text and "出血和瘀青" in following.text


async def test_after_a_start_what_fell_due_is_claimed_before_the_first_sweep_begins(
    sandbox: SandboxServer,
    services: Services,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What fell due while the bot was down goes first: a start's first sweep (every
    check-in moment worked out again) shares the dispatcher's event loop, and on a slow
    machine it held the first claim up a second, in which "your visit is today" missed its
    noon in the chaos time-lapse. So the first sweep waits for the first claim."""
    sandbox.set_time(clock.now().timestamp())
    sandbox.add_user(P, "P")
    await sandbox.send_text(user_id=P, text="hello")  # the user has written to the bot
    participant, _ = await enrolled(database, config, clock, chat_id=P)
    async with database.session() as session:
        await enqueue(
            session,
            template="visit_missed_participant",
            dedupe_key="while-down",
            participant_id=participant.id,
            context={"date": "2026-03-02"},
            due_at=clock.now(),
            now=clock.now(),
        )
    caplog.set_level(logging.DEBUG, logger="scheduler")
    async with running_bot(
        services, token=TOKEN, api_url=sandbox.url, rate_limiter=limiter()
    ) as application:
        message = await sandbox.wait_for_message(P)
        while not message.text.startswith("来自您的研究团队的消息"):
            message = await sandbox.wait_for_message(P, after_message_id=message.message_id)
        # The first sweep is a task the service spawned at start.
        await asyncio.gather(*running_of(application).scheduler._background)
    steps = [
        record.getMessage()
        for record in caplog.records
        if record.getMessage().startswith(("claimed outbox rows", "the visits sweep begins"))
    ]
    assert steps[:2] == [steps[0], "the visits sweep begins"], steps
    assert steps[0].startswith("claimed outbox rows"), steps
