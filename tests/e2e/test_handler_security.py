"""Every handler of the running bot, listed from the Application itself: each team-only one
refuses a participant (and a stranger) and changes nothing."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ConversationHandler

from sandbox import SandboxServer
from study.config import StudyConfig
from study.database import Database
from study.models import AuditEvent, Infusion, Participant, Visit
from tests.support.clock import FakeClock
from tests.support.factories import enrolled

pytestmark = pytest.mark.usefixtures("bot")

P = 5001
TEAM_MODULES = ("bot.team", "bot.team_labs", "bot.team_enroll", "bot.alerts", "bot.team_chats")
PARTICIPANT_MODULES = ("bot.participant", "bot.checkin", "bot.reminders")


def handlers_of(application: Application) -> list[object]:  # type: ignore[type-arg]
    found: list[object] = []
    for group in application.handlers.values():
        for handler in group:
            if isinstance(handler, ConversationHandler):
                found += handler.entry_points
                for state in handler.states.values():
                    found += state
            else:
                found.append(handler)
    return found


def module_of(handler: object) -> str:
    return str(getattr(getattr(handler, "callback", None), "__module__", ""))


def test_every_handler_belongs_to_a_known_audience(bot: Application) -> None:  # type: ignore[type-arg]
    modules = {module_of(h) for h in handlers_of(bot)}
    assert modules <= set(TEAM_MODULES) | set(PARTICIPANT_MODULES), modules


def accepts(handler: CallbackQueryHandler, data: str) -> bool:  # type: ignore[type-arg]
    pattern = handler.pattern
    if isinstance(pattern, re.Pattern):
        return pattern.match(data) is not None
    return callable(pattern) and bool(pattern(data))


async def snapshot(database: Database) -> list[str]:
    async with database.session() as session:
        rows: list[str] = []
        for table in (Participant, Visit, Infusion, AuditEvent):
            rows += [repr(row) for row in await session.exec(select(table))]
    return rows


async def test_every_team_command_refuses_a_participant_and_a_stranger(
    bot: Application,  # type: ignore[type-arg]
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    commands = sorted(
        command
        for handler in handlers_of(bot)
        if isinstance(handler, CommandHandler) and module_of(handler) in TEAM_MODULES
        for command in handler.commands
    )
    assert {"participant", "visit", "labs", "withdraw", "enroll", "alerts"} <= set(commands)
    sandbox.add_user(P, "P")
    sandbox.add_user(6001, "S")
    _, code = await enrolled(database, config, clock)
    sent = await sandbox.send_text(user_id=P, text=f"/start {code}")
    await sandbox.wait_for_message(P, after_message_id=sent.message_id)
    before = await snapshot(database)
    for command in commands:
        for user in (P, 6001):
            sent = await sandbox.send_text(user_id=user, text=f"/{command} ZJU2-001 1 2026-06-09")
            answer = await sandbox.wait_for_message(user, after_message_id=sent.message_id)
            assert "只供研究团队使用" in answer.text, (command, answer.text)
    assert await snapshot(database) == before


async def test_team_buttons_pressed_by_a_participant_change_nothing(
    bot: Application,  # type: ignore[type-arg]
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    buttons = [
        h
        for h in handlers_of(bot)
        if isinstance(h, CallbackQueryHandler) and module_of(h) in TEAM_MODULES
    ]
    forged = ["w:1:yes", "r:1:ok", "a:1:ack"]
    forged += ["e:site:ZJU2", "e:arm:standard", "e:day:today", "e:lang:zh", "e:preg:yes"]
    # Every team button's handler takes one of the forged presses (regex or typed data).
    for handler in buttons:
        assert any(accepts(handler, data) for data in forged), handler.pattern
    sandbox.add_user(P, "P")
    _, code = await enrolled(database, config, clock)
    sent = await sandbox.send_text(user_id=P, text=f"/start {code}")
    welcome = await sandbox.wait_for_message(P, after_message_id=sent.message_id)
    before = await snapshot(database)
    for data in forged:
        query = await sandbox.press(
            user_id=P, chat_id=P, message_id=welcome.message_id, data=data, forge=True
        )
        await sandbox.wait_for_callback_answer(query)
    assert await snapshot(database) == before
