"""An alert acknowledged or resolved anywhere shows so on each of its cards in the chats: on
the command line (`trialbot ack|resolve`, no button pressed) and with a button on one copy
while the alert went round to other chats."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.cli import build_parser
from bot.cli_team import run as run_team_command
from bot.services import Services
from sandbox import SandboxMessage, SandboxServer
from scheduler.service import SchedulerService
from study.config import StudyConfig
from study.database import Database
from tests.e2e.conftest import advance_to
from tests.e2e.test_checkins import checkin, linked
from tests.e2e.test_escalation import alert_of_the_test, cards, press
from tests.support.clock import FakeClock
from tests.support.study import ZJU2_ALERTS, ZJU2_COORDINATOR, ZJU2_ESCALATION

pytestmark = pytest.mark.usefixtures("bot")

ACKNOWLEDGED_ON_SERVER = "✓ 已确认：服务器命令行"
RESOLVED_ON_SERVER = "✓ 已处理：服务器命令行"


async def gone_round(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> list[tuple[int, SandboxMessage]]:
    """A T1 alert nobody acknowledged for an hour: its card, re-sent and escalated, in both
    of the site's chats; each (chat, card)."""
    await linked(database, config, clock, sandbox)
    await checkin(sandbox, {"Q1": ["chest_breathing"]})
    raised = clock.now()
    await sandbox.wait_for_message(ZJU2_ALERTS)
    for minutes in (30, 60):
        await advance_to(raised + timedelta(minutes=minutes), scheduler, sandbox, clock)
    shown = [
        (chat, card) for chat in (ZJU2_ALERTS, ZJU2_ESCALATION) for card in cards(sandbox, chat)
    ]
    assert [chat for chat, _ in shown] == [ZJU2_ALERTS] * 3 + [ZJU2_ESCALATION]
    assert all(":ack" in " ".join(card.button_data()) for _, card in shown)
    return shown


async def on_the_server(services: Services, *words: str) -> None:
    """`trialbot WORDS` as another process runs it: a database connection of its own (it
    wakes no dispatcher here; the running bot's polls find what it queued)."""
    database = Database.from_url(services.settings.database_url)
    try:
        cli = Services(
            settings=services.settings,
            config=services.config,
            database=database,
            clock=services.clock,
        )
        await run_team_command(cli, build_parser().parse_args(list(words)), "cli:nurse")
    finally:
        await database.dispose()


async def test_an_alert_acknowledged_on_the_command_line_shows_so_on_every_card(
    sandbox: SandboxServer,
    services: Services,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    shown = await gone_round(sandbox, scheduler, database, config, clock)
    alert_id = str((await alert_of_the_test(database)).id)

    await on_the_server(services, "ack", alert_id)
    scheduler.wake()  # what the bot's next poll does
    for chat, card in shown:
        edited = await sandbox.wait_for_edit(chat, card.message_id)
        assert edited.text.startswith("T1 紧急 · ZJU2-001")
        assert ACKNOWLEDGED_ON_SERVER in edited.text and "已处理" not in edited.text
        assert [data.split(":")[2] for data in edited.button_data()] == ["res"]

    await on_the_server(services, "resolve", alert_id)
    await on_the_server(services, "resolve", alert_id)  # again: nothing more to show
    scheduler.wake()
    for chat, card in shown:
        resolved = await sandbox.wait_for_edit(chat, card.message_id, min_edits=2)
        assert RESOLVED_ON_SERVER in resolved.text and resolved.button_data() == []
    await scheduler.idle.wait()
    assert [len(sandbox.message(chat, card.message_id).edits) for chat, card in shown] == [2] * 4


async def test_a_card_pressed_in_one_chat_changes_the_copies_in_the_others(
    sandbox: SandboxServer,
    services: Services,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    shown = await gone_round(sandbox, scheduler, database, config, clock)
    (pressed_chat, pressed), *others = reversed(shown)  # the escalation chat's card
    answer = await press(sandbox, ZJU2_COORDINATOR, pressed_chat, pressed, "ack")
    assert answer == "已确认收到。"
    for chat, card in [(pressed_chat, pressed), *others]:
        edited = await sandbox.wait_for_edit(chat, card.message_id)
        assert f"✓ 已确认：协调员 {ZJU2_COORDINATOR}" in edited.text
        assert [data.split(":")[2] for data in edited.button_data()] == ["res"]
    await scheduler.idle.wait()
    assert [len(sandbox.message(chat, card.message_id).edits) for chat, card in shown] == [1] * 4

    # Acknowledged again on the server: nothing changed, so no card is touched.
    await on_the_server(services, "ack", str((await alert_of_the_test(database)).id))
    scheduler.wake()
    await scheduler.idle.wait()
    assert [len(sandbox.message(chat, card.message_id).edits) for chat, card in shown] == [1] * 4
