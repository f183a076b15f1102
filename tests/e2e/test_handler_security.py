"""Every handler of the running bot, listed from the Application itself: each team-only one
refuses a participant (and a stranger) and changes nothing. Alert cards' buttons are tried
on a real alert: pressed by anyone but the site's team, they change nothing."""

from __future__ import annotations

import pytest
from sqlmodel import select
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ConversationHandler

from bot.services import Services
from sandbox import SandboxServer
from study.alerts import raise_alert
from study.config import StudyConfig
from study.database import Database
from study.models import Alert, AlertStatus, AuditEvent, Infusion, Participant, Tier, Visit
from tests.e2e.conftest import advance_to
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import PUMCH_COORDINATOR, ZJU2_ALERTS, ZJU2_COORDINATOR

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


async def snapshot(database: Database) -> list[str]:
    async with database.session() as session:
        rows: list[str] = []
        for table in (Participant, Visit, Infusion, Alert, AuditEvent):
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
    patterns = [
        h.pattern.pattern  # type: ignore[union-attr]
        for h in handlers_of(bot)
        if isinstance(h, CallbackQueryHandler) and module_of(h) in TEAM_MODULES
    ]
    forged = {"w": "w:1:yes", "r": "r:1:ok", "a": "a:1:ack", "e": "e:arm:standard"}
    assert {p[1] for p in patterns} <= set(forged), patterns
    sandbox.add_user(P, "P")
    _, code = await enrolled(database, config, clock)
    sent = await sandbox.send_text(user_id=P, text=f"/start {code}")
    welcome = await sandbox.wait_for_message(P, after_message_id=sent.message_id)
    before = await snapshot(database)
    for data in forged.values():
        query = await sandbox.press(
            user_id=P, chat_id=P, message_id=welcome.message_id, data=data, forge=True
        )
        await sandbox.wait_for_callback_answer(query)
    assert await snapshot(database) == before


async def test_alert_card_buttons_pressed_by_anyone_but_the_site_team_change_nothing(
    bot: Application,  # type: ignore[type-arg]
    sandbox: SandboxServer,
    services: Services,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    sandbox.add_user(P, "P")
    participant, code = await enrolled(database, config, clock)
    sent = await sandbox.send_text(user_id=P, text=f"/start {code}")
    welcome = await sandbox.wait_for_message(P, after_message_id=sent.message_id)
    async with database.session() as session:
        alert = await raise_alert(
            session,
            config=config,
            participant=participant,
            kind="checkin",
            tier=Tier.T1,
            evidence=[],
            now=clock.now(),
        )
    await advance_to(clock.now(), services, sandbox, clock)
    [card] = [m for m in sandbox.bot_messages(ZJU2_ALERTS) if m.button_data()]
    assert set(card.button_data()) == {f"a:{alert.id}:ack", f"a:{alert.id}:res"}
    team_chat = sandbox.world.chat(ZJU2_ALERTS)
    team_chat.members |= {P, PUMCH_COORDINATOR}  # added to the site's group by mistake
    before = await snapshot(database)

    for data in card.button_data():
        for user in (P, PUMCH_COORDINATOR):  # the participant; another site's coordinator
            query = await sandbox.press(user, ZJU2_ALERTS, card.message_id, data)
            await sandbox.wait_for_callback_answer(query)
        query = await sandbox.press(P, P, welcome.message_id, data, forge=True)
        await sandbox.wait_for_callback_answer(query)
    assert await snapshot(database) == before

    # The buttons work for the site's team: the alert was there to be changed.
    query = await sandbox.press(ZJU2_COORDINATOR, ZJU2_ALERTS, card.message_id, f"a:{alert.id}:ack")
    await sandbox.wait_for_callback_answer(query)
    async with database.session() as session:
        acknowledged = await session.get(Alert, alert.id)
    assert acknowledged is not None and acknowledged.status == AlertStatus.ACKNOWLEDGED
