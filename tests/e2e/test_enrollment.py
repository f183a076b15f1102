"""Enrol with the CLI, link with /start CODE through real PTB and the sandbox Telegram."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.services import Services
from bot.settings import Settings
from sandbox import SandboxServer
from study.config import StudyConfig
from study.database import Database
from study.models import Participant, ParticipantStatus
from tests.e2e.conftest import BOT_USERNAME
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import ZJU2_COORDINATOR

pytestmark = pytest.mark.usefixtures("bot")

PARTICIPANT = 5001
STRANGER = 6001


async def trialbot(settings: Settings, *args: str) -> tuple[int, str, str]:
    """Run the real `trialbot` command in a subprocess, as an operator would."""
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": settings.token or "",
        "TELEGRAM_API_URL": settings.telegram_api_url,
        "DATABASE_URL": settings.database_url,
        "TRIALBOT_STUDY_FILE": str(settings.trialbot_study_file),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=str(Path(settings.trialbot_study_file).parent),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def start(sandbox: SandboxServer, user_id: int, text: str) -> str:
    sent = await sandbox.send_text(user_id=user_id, text=text)
    reply = await sandbox.wait_for_message(user_id, after_message_id=sent.message_id)
    return reply.text


async def test_cli_enrolment_then_start_links_and_greets_in_chinese(
    sandbox: SandboxServer, settings: Settings, database: Database
) -> None:
    code, out, err = await trialbot(
        settings,
        "enroll",
        "--study-id",
        "ZJU2-001",
        "--site",
        "ZJU2",
        "--arm",
        "standard",
        "--randomized",
        "2026-03-02",
        "--can-become-pregnant",
        "yes",
        "--json",
    )
    assert code == 0, err
    invite = json.loads(out)
    assert invite["study_id"] == "ZJU2-001"
    assert invite["link"] == f"https://t.me/{BOT_USERNAME}?start={invite['code']}"

    sandbox.add_user(PARTICIPANT, "P", language_code="zh")
    greeting = await start(sandbox, PARTICIPANT, f"/start {invite['code']}")
    assert "欢迎使用研究随访助手" in greeting
    assert "+86 571 0000 0000" in greeting
    assert "120" in greeting
    assert "避孕" in greeting  # contraception confirmations are announced
    welcome = sandbox.bot_messages(PARTICIPANT)[-1]
    assert welcome.button_data() == ["lang:zh", "lang:en"]
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
    assert participant.status == ParticipantStatus.ACTIVE
    assert participant.telegram_chat_id == PARTICIPANT

    # The participant switches to English; help then comes in English.
    await sandbox.press(
        user_id=PARTICIPANT, chat_id=PARTICIPANT, message_id=welcome.message_id, data="lang:en"
    )
    confirmation = await sandbox.wait_for_message(PARTICIPANT, after_message_id=welcome.message_id)
    assert confirmation.text == "OK, I will write to you in English from now on."
    assert "Your study team: +86 571 0000 0000" in await start(sandbox, PARTICIPANT, "/help")


async def test_greeting_in_english_without_contraception(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    _, code = await enrolled(database, config, clock, language="en")
    sandbox.add_user(PARTICIPANT, "P")
    greeting = await start(sandbox, PARTICIPANT, f"/start {code}")
    assert greeting.startswith("Welcome to your study companion")
    assert "call 120 or go to an emergency department" in greeting
    assert "contraception" not in greeting
    assert "7 days before, 2 days before, on the morning of the visit" in greeting


async def test_wrong_used_and_expired_codes_get_a_polite_answer_that_reveals_nothing(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    _, used = await enrolled(database, config, clock)
    _, expiring = await enrolled(database, config, clock, study_id="ZJU2-002")
    sandbox.add_user(PARTICIPANT, "P")
    sandbox.add_user(STRANGER, "S")
    sandbox.add_user(STRANGER + 1, "T")
    assert "欢迎" in await start(sandbox, PARTICIPANT, f"/start {used}")

    invalid = await start(sandbox, STRANGER, "/start AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert "这个邀请链接无法使用" in invalid and "This invitation link did not work" in invalid
    assert await start(sandbox, STRANGER, f"/start {used}") == invalid
    clock.advance(timedelta(days=14, seconds=1))
    assert await start(sandbox, STRANGER + 1, f"/start {expiring}") == invalid


async def test_strangers_are_told_what_the_bot_is_for(sandbox: SandboxServer) -> None:
    sandbox.add_user(STRANGER, "S")
    for text in ("/start", "hello", "/help", "/language", "/unknown junk"):
        reply = await start(sandbox, STRANGER, text)
        assert "本机器人仅供研究参与者使用" in reply
        assert "This bot is for study participants only" in reply


async def test_a_second_chat_cannot_take_a_linked_participant(
    sandbox: SandboxServer,
    services: Services,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    settings: Settings,
) -> None:
    _, code = await enrolled(database, config, clock)
    sandbox.add_user(PARTICIPANT, "P")
    sandbox.add_user(STRANGER, "S")
    await start(sandbox, PARTICIPANT, f"/start {code}")
    status, out, err = await trialbot(settings, "invite", "ZJU2-001", "--json")
    assert status == 0, err
    fresh = json.loads(out)["code"]
    refused = await start(sandbox, STRANGER, f"/start {fresh}")
    assert "这个邀请已经连接到另一个 Telegram 账号" in refused
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
    assert participant.telegram_chat_id == PARTICIPANT


async def test_guessing_codes_is_slowed_down(sandbox: SandboxServer) -> None:
    sandbox.add_user(STRANGER, "S")
    for attempt in range(5):
        assert "无法使用" in await start(sandbox, STRANGER, f"/start guess{attempt}")
    assert "尝试次数太多" in await start(sandbox, STRANGER, "/start guess5")


async def test_a_coordinator_is_recognised(sandbox: SandboxServer) -> None:
    reply = await start(sandbox, ZJU2_COORDINATOR, "/start")
    assert reply == (
        "您好！您是以下研究中心的协调员：ZJU2。\n"
        "发送 /participants 查看您所在中心的参与者名单，发送 /team 查看研究团队命令。"
    )


async def test_participants_command_lists_without_telegram_ids(
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    settings: Settings,
) -> None:
    await enrolled(database, config, clock, chat_id=PARTICIPANT)
    await enrolled(database, config, clock, study_id="PUMCH-001", site="PUMCH")
    status, out, err = await trialbot(settings, "participants", "--json")
    assert status == 0, err
    rows = json.loads(out)
    assert [(r["study_id"], r["linked"], r["status"]) for r in rows] == [
        ("PUMCH-001", False, "invited"),
        ("ZJU2-001", True, "active"),
    ]
    assert str(PARTICIPANT) not in out
    status, table, _ = await trialbot(settings, "participants")
    assert "ZJU2-001" in table and "2 participants" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--site", "NOPE"], "There is no site with the code NOPE"),
        (["--randomized", "2026-02-30"], "The date 2026-02-30 was not understood"),
        (["--study-id", "bad id"], "The study id bad id cannot be used"),
    ],
)
async def test_cli_errors_are_clear(settings: Settings, args: list[str], message: str) -> None:
    base = {
        "--study-id": "ZJU2-009",
        "--site": "ZJU2",
        "--arm": "standard",
        "--randomized": "2026-03-02",
        "--can-become-pregnant": "no",
    }
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    flat = [part for pair in base.items() for part in pair]
    status, _, err = await trialbot(settings, "enroll", *flat)
    assert status != 0
    assert message in err
    assert "Traceback" not in err
