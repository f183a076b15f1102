"""Every handler of the running bot, listed from the Application itself: each team-only one
refuses a participant (and a stranger) and changes nothing. Alert cards' buttons are tried
on a real alert: pressed by anyone but the site's team, they change nothing."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlmodel import select
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ConversationHandler

from sandbox import SandboxServer
from scheduler.service import SchedulerService
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
TEAM_MODULES = (
    "bot.team",
    "bot.team_labs",
    "bot.team_enroll",
    "bot.team_roster",
    "bot.team_visit",
    "bot.team_invite",
    "bot.alerts",
    "bot.team_chats",
)
# Taken only from a coordinator with a guided enrolment under way; anyone else's goes on to
# the usual answers.
WHILE_ENROLLING = {"cancel"}
PARTICIPANT_MODULES = ("bot.participant", "bot.checkin", "bot.reminders")
# Runs first for every update and answers nothing: what its replies are recorded with.
EVERY_UPDATE = {"bot.context": "remember_services"}


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
    handlers = [h for h in handlers_of(bot) if module_of(h) not in EVERY_UPDATE]
    modules = {module_of(h) for h in handlers}
    assert modules <= set(TEAM_MODULES) | set(PARTICIPANT_MODULES), modules
    others = {(module_of(h), h.callback.__name__) for h in handlers_of(bot)}  # type: ignore[attr-defined]
    assert {m: f for m, f in others if m in EVERY_UPDATE} == EVERY_UPDATE


def accepts(handler: CallbackQueryHandler, data: str) -> bool:  # type: ignore[type-arg]
    pattern = handler.pattern
    if isinstance(pattern, re.Pattern):
        return pattern.match(data) is not None
    return callable(pattern) and bool(pattern(data))


async def snapshot(database: Database, scheduler: SchedulerService) -> list[str]:
    """The rows a press or command could change, once the start's first sweep has worked
    out the participants' check-in moments (it runs after the first claim: the welcome)."""
    async with asyncio.timeout(10):
        await scheduler.first_sweep_over.wait()
    async with database.session() as session:
        rows: list[str] = []
        for table in (Participant, Visit, Infusion, Alert, AuditEvent):
            rows += [repr(row) for row in await session.exec(select(table))]
    return rows


async def test_every_team_command_refuses_a_participant_and_a_stranger(
    bot: Application,  # type: ignore[type-arg]
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    commands = sorted(
        command
        for handler in handlers_of(bot)
        if isinstance(handler, CommandHandler) and module_of(handler) in TEAM_MODULES
        for command in handler.commands
        if command not in WHILE_ENROLLING
    )
    assert {
        "participant",
        "visit",
        "labs",
        "withdraw",
        "enroll",
        "alerts",
        "invite",
        "unlink",
    } <= set(commands)
    sandbox.add_user(P, "P")
    sandbox.add_user(6001, "S")
    _, code = await enrolled(database, config, clock)
    sent = await sandbox.send_text(user_id=P, text=f"/start {code}")
    await sandbox.wait_for_message(P, after_message_id=sent.message_id)
    before = await snapshot(database, scheduler)
    for command in commands:
        for user in (P, 6001):
            sent = await sandbox.send_text(user_id=user, text=f"/{command} ZJU2-001 1 2026-06-09")
            answer = await sandbox.wait_for_message(user, after_message_id=sent.message_id)
            assert "只供研究团队使用" in answer.text, (command, answer.text)
    assert await snapshot(database, scheduler) == before


async def test_team_buttons_pressed_by_a_participant_change_nothing(
    bot: Application,  # type: ignore[type-arg]
    sandbox: SandboxServer,
    scheduler: SchedulerService,
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
    forged += ["ro:1", "va:1:1:20260630:-", "aa:1:1:20260210"]
    # Every team button's handler takes one of the forged presses (regex or typed data).
    for handler in buttons:
        assert any(accepts(handler, data) for data in forged), handler.pattern
    sandbox.add_user(P, "P")
    _, code = await enrolled(database, config, clock)
    sent = await sandbox.send_text(user_id=P, text=f"/start {code}")
    welcome = await sandbox.wait_for_message(P, after_message_id=sent.message_id)
    before = await snapshot(database, scheduler)
    for data in forged:
        query = await sandbox.press(
            user_id=P, chat_id=P, message_id=welcome.message_id, data=data, forge=True
        )
        await sandbox.wait_for_callback_answer(query)
    assert await snapshot(database, scheduler) == before


@pytest.mark.parametrize(
    "data",
    ["c:3000000000:Q1:none", "t:3000000000:Q1:fever", "x:3000000000", "v:3000000000:ok"],
)
async def test_a_forged_id_beyond_what_the_database_holds_gets_the_polite_answer(
    data: str,
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    """An id no table can hold (PostgreSQL's ids are 32-bit) is not looked up: on
    PostgreSQL the lookup itself failed and the participant got an apology instead."""
    sandbox.add_user(P, "P")
    _, code = await enrolled(database, config, clock)
    sent = await sandbox.send_text(user_id=P, text=f"/start {code}")
    welcome = await sandbox.wait_for_message(P, after_message_id=sent.message_id)
    before = await snapshot(database, scheduler)
    query = await sandbox.press(
        user_id=P, chat_id=P, message_id=welcome.message_id, data=data, forge=True
    )
    answer = await sandbox.wait_for_callback_answer(query)
    assert answer.text is not None and answer.text.startswith("这个按钮已经失效。")
    assert "+86 571 0000 0000" in answer.text  # how to reach a person
    assert [m.message_id for m in sandbox.bot_messages(P)][-1] == welcome.message_id
    assert await snapshot(database, scheduler) == before


async def test_alert_card_buttons_pressed_by_anyone_but_the_site_team_change_nothing(
    bot: Application,  # type: ignore[type-arg]
    sandbox: SandboxServer,
    scheduler: SchedulerService,
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
    await advance_to(clock.now(), scheduler, sandbox, clock)
    [card] = [m for m in sandbox.bot_messages(ZJU2_ALERTS) if m.button_data()]
    assert set(card.button_data()) == {f"a:{alert.id}:ack", f"a:{alert.id}:res"}
    team_chat = sandbox.world.chat(ZJU2_ALERTS)
    team_chat.members |= {P, PUMCH_COORDINATOR}  # added to the site's group by mistake
    before = await snapshot(database, scheduler)

    for data in card.button_data():
        for user in (P, PUMCH_COORDINATOR):  # the participant; another site's coordinator
            query = await sandbox.press(user, ZJU2_ALERTS, card.message_id, data)
            await sandbox.wait_for_callback_answer(query)
        query = await sandbox.press(P, P, welcome.message_id, data, forge=True)
        await sandbox.wait_for_callback_answer(query)
    assert await snapshot(database, scheduler) == before

    # The buttons work for the site's team: the alert was there to be changed.
    query = await sandbox.press(ZJU2_COORDINATOR, ZJU2_ALERTS, card.message_id, f"a:{alert.id}:ack")
    await sandbox.wait_for_callback_answer(query)
    await sandbox.wait_for_edit(ZJU2_ALERTS, card.message_id)  # done once answered
    async with database.session() as session:
        acknowledged = await session.get(Alert, alert.id)
    assert acknowledged is not None and acknowledged.status == AlertStatus.ACKNOWLEDGED
