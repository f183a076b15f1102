"""A restart in the middle of a check-in: the next process resumes at the same question."""

from __future__ import annotations

from bot.runner import running_bot
from bot.sender import TelegramRateLimiter
from bot.services import Services
from sandbox import SandboxServer
from study.config import StudyConfig
from study.database import Database
from tests.e2e.conftest import TOKEN
from tests.e2e.test_checkins import P, answer_one, latest_question, linked
from tests.support.clock import FakeClock


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
