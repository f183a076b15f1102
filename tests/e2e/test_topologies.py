"""How trialbot takes updates: a webhook with Telegram's secret header, a dispatch-only
process, and the health endpoint an operator monitors."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import sys
from datetime import timedelta
from pathlib import Path

import httpx
from sqlmodel import select

from bot.health import Health, health_server
from bot.runner import Updates, running_bot, running_of
from bot.sender import TelegramRateLimiter
from bot.services import Services
from sandbox import SandboxServer
from study.config import StudyConfig
from study.database import Database
from study.models import Participant
from study.outbox import enqueue
from tests.e2e.conftest import TOKEN
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.run_process import clean_environment, start_run

P = 5001
SECRET = "a-long-webhook-secret-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def limiter() -> TelegramRateLimiter:
    return TelegramRateLimiter(per_chat_burst=1000, per_group_per_minute=100_000)


async def test_webhook_mode_takes_updates_and_refuses_requests_without_the_secret(
    sandbox: SandboxServer,
    services: Services,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    updates = Updates("webhook", webhook_url=url, listen=f"127.0.0.1:{port}", secret=SECRET)
    _, code = await enrolled(database, config, clock)
    sandbox.add_user(P, "P")
    async with running_bot(
        services, token=TOKEN, api_url=sandbox.url, rate_limiter=limiter(), updates=updates
    ):
        sent = await sandbox.send_text(user_id=P, text=f"/start {code}")
        welcome = await sandbox.wait_for_message(P, after_message_id=sent.message_id)
        assert welcome.text.startswith("欢迎使用研究随访助手")
        forged = {
            "update_id": 999999,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 6001, "type": "private"},
                "from": {"id": 6001, "is_bot": False, "first_name": "X"},
                "text": "/start x",
            },
        }
        async with httpx.AsyncClient() as client:
            missing = await client.post(url, json=forged)
            wrong = await client.post(
                url, json=forged, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
            )
        assert (missing.status_code, wrong.status_code) == (403, 403)
    assert not sandbox.calls("getUpdates"), "a webhook process must not poll"
    assert sandbox.bot_messages(6001) == []


async def test_trialbot_run_with_the_webhook_option_takes_updates_by_webhook(
    sandbox: SandboxServer,
    database: Database,
    database_url: str,
    config: StudyConfig,
    clock: FakeClock,
    study_file: Path,
) -> None:
    port = free_port()
    _, code = await enrolled(database, config, clock)
    sandbox.add_user(P, "P")
    sandbox.set_time(clock.now().timestamp())
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TRIALBOT_", "TELEGRAM_")) and name != "DATABASE_URL"
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--webhook",
        f"http://127.0.0.1:{port}/telegram",
        cwd=study_file.parent,
        env={
            **inherited,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": sandbox.url,
            "DATABASE_URL": database_url,
            "TRIALBOT_STUDY_FILE": str(study_file),
            "TRIALBOT_WEBHOOK_LISTEN": f"127.0.0.1:{port}",
            "TRIALBOT_WEBHOOK_SECRET": SECRET,
            "TRIALBOT_CLOCK_START": clock.now().isoformat(),  # the invitation is still valid
        },
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        async with asyncio.timeout(60):
            while b"trialbot is running as" not in (line := await process.stderr.readline()):
                assert line, "trialbot run exited before it was ready"
        webhook = sandbox.calls("setWebhook")[-1].params
        assert webhook["url"] == f"http://127.0.0.1:{port}/telegram"
        assert webhook["secret_token"] == SECRET

        sent = await sandbox.send_text(user_id=P, text=f"/start {code}")
        welcome = await sandbox.wait_for_message(P, after_message_id=sent.message_id)
        assert welcome.text.startswith("欢迎使用研究随访助手")
        assert not sandbox.calls("getUpdates"), "a webhook process must not poll"
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        stderr = await asyncio.wait_for(process.stderr.read(), 30)
        exit_code = await asyncio.wait_for(process.wait(), 30)
    assert exit_code == 0, stderr.decode(errors="replace")[-2000:]


async def test_a_dispatch_only_process_sends_but_takes_no_updates(
    sandbox: SandboxServer,
    services: Services,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    sandbox.add_user(P, "P")
    await sandbox.send_text(user_id=P, text="hello")  # the user has written to the bot
    participant, _ = await enrolled(database, config, clock, chat_id=P)
    async with running_bot(
        services, token=TOKEN, api_url=sandbox.url, rate_limiter=limiter(), updates=Updates("none")
    ):
        async with database.session() as session:
            await enqueue(
                session,
                template="visit_missed_participant",
                dedupe_key="t:1",
                participant_id=participant.id,
                context={"date": "2026-03-02"},
                due_at=clock.now(),
                now=clock.now(),
            )
        message = await sandbox.wait_for_message(P)
        assert message.text.startswith("来自您的研究团队的消息")
    assert not sandbox.calls("getUpdates")


async def test_the_health_endpoint_reports_overdue_messages(
    sandbox: SandboxServer,
    services: Services,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    participant, _ = await enrolled(database, config, clock, chat_id=P)
    sandbox.add_user(P, "P")
    port = free_port()
    async with running_bot(
        services, token=TOKEN, api_url=sandbox.url, rate_limiter=limiter(), updates=Updates("none")
    ) as application:
        health = Health(services, application.bot)
        async with health_server(health, f"127.0.0.1:{port}") as address:
            async with httpx.AsyncClient() as client:
                good = await client.get(address)
                assert good.status_code == 200
                assert good.json()["database"] is True and good.json()["telegram"] is True
                assert good.json()["overdue_messages"] == 0
                # The host stops dispatching (the scheduler is stopped); a message falls due
                # and ten minutes pass.
                await running_of(application).scheduler.shutdown()
                async with database.session() as session:
                    await enqueue(
                        session,
                        template="visit_missed_participant",
                        dedupe_key="t:2",
                        participant_id=participant.id,
                        context={"date": "2026-03-02"},
                        due_at=clock.now(),
                        now=clock.now(),
                    )
                clock.advance(timedelta(minutes=10))
                bad = await client.get(address)
    assert bad.status_code == 503
    body = bad.json()
    assert body["status"] == "degraded" and body["overdue_messages"] == 1
    assert body["dispatcher_lag_seconds"] == 600.0
    assert "ZJU2-001" not in bad.text and str(P) not in bad.text
    async with database.session() as session:
        assert (await session.exec(select(Participant))).one().study_id == "ZJU2-001"


async def test_one_sqlite_file_serves_one_trialbot_run_while_postgresql_serves_several(
    sandbox: SandboxServer,
    database: Database,
    database_url: str,
    study_file: Path,
) -> None:
    env = clean_environment(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=sandbox.url,
        DATABASE_URL=database_url,
        TRIALBOT_STUDY_FILE=str(study_file),
    )
    first = await start_run(study_file.parent, env)
    assert await first.ready_or_exited() is None, first.log
    second = await start_run(study_file.parent, env, "--updates", "none")
    try:
        second_exit = await second.ready_or_exited()
        if database.is_sqlite:
            # Refused before it touched the database: the first one's messages in flight
            # stay the first one's, instead of being taken for abandoned and sent again.
            assert second_exit == 1, second.log
            assert "another `trialbot run` (process " in second.log
            assert "one SQLite file serves one process" in second.log
            assert "Traceback" not in second.log
            assert first.process.returncode is None, "the first one keeps running"
            lock = database_url.removeprefix("sqlite:///") + ".lock"
            assert stat.S_IMODE(os.stat(lock).st_mode) == 0o600
        else:
            assert second_exit is None, second.log
    finally:
        assert await second.stop() in (0, 1), second.log
        # A killed process leaves no stale lock: the kernel releases it with the process.
        assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
    third = await start_run(study_file.parent, env)
    try:
        assert await third.ready_or_exited() is None, third.log
    finally:
        assert await third.stop() == 0, third.log
