"""Every message a participant or team receives records the template and the version of its
approved text: the outbox's rows when they are sent, and the direct replies (`SentReply`),
through the real PTB client and the sandbox."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlmodel import col, select

from messages.versions import version_of
from sandbox import SandboxServer
from study.config import StudyConfig
from study.database import Database
from study.export import export_tables
from study.models import OutboxMessage, OutboxStatus, Participant, SentReply
from tests.e2e.test_checkins import P, checkin, is_team_notice, linked
from tests.support.clock import FakeClock
from tests.support.study import ZJU2_ALERTS, ZJU2_COORDINATOR

pytestmark = pytest.mark.usefixtures("bot")
STRANGER = 6001


async def handled(sandbox: SandboxServer, user_id: int) -> None:
    """Wait until the bot has handled (and recorded) every earlier update of this user's
    chat: it handles one chat's updates in order, so once this /help is answered, the
    chat's earlier updates are done (the record of this /help's own answer may still be on
    its way: `replies` leaves them out). Other chats' updates may not be: `recorded_replies`."""
    sent = await sandbox.send_text(user_id=user_id, text="/help")
    await sandbox.wait_for_message(user_id, after_message_id=sent.message_id)


async def recorded_replies(database: Database, count: int) -> list[SentReply]:
    """`replies` once there are `count` of them (or what there is after ten seconds). A
    handler records its reply after Telegram has it, and the handlers of other chats run
    meanwhile, so an answer in another chat (`handled`) does not mean it is recorded."""
    for _ in range(1000):
        rows = await replies(database)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.01)
    return rows


async def replies(database: Database, *, helps: bool = False) -> list[SentReply]:
    """The recorded replies in order (the answers to /help only if `helps`)."""
    async with database.session() as session:
        rows = await session.exec(select(SentReply).order_by(col(SentReply.id)))
    return [row for row in rows if helps or row.template != "help"]


async def test_a_participants_messages_name_their_templates_and_versions(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await checkin(sandbox, {"Q1": ["chest_breathing"]})  # a red flag: advice and a card
    # The notice that the team has it is queued once the card's row is recorded as sent.
    await sandbox.wait_for_message(P, predicate=is_team_notice)
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
        sent = list(await session.exec(select(OutboxMessage).where(OutboxMessage.status == "sent")))
    # Proactive messages: the version of the template in the language it went out in.
    assert "alert_card" in {row.template for row in sent}
    for row in sent:
        assert row.status == OutboxStatus.SENT
        assert row.template_version == version_of(row.template, "zh")
    # Direct replies: the welcome, the first question, the question once answered (its
    # message edited) ...
    await handled(sandbox, P)
    recorded = await replies(database)
    assert [(r.template, r.edited) for r in recorded] == [
        ("welcome", False),
        ("checkin_question", False),
        ("checkin_answered", True),
    ]
    for reply in recorded:
        assert reply.chat_id == P and reply.participant_id == participant.id
        assert reply.template_version == version_of(reply.template, "zh")
        assert reply.template_version.startswith("zh.") and len(reply.template_version) == 15
        shown = sandbox.message(P, reply.telegram_message_id or 0)
        assert shown.from_bot
    # ... and an answer to a command, as the participant reads it.
    asked = await sandbox.send_text(user_id=P, text="/help")
    answer = await sandbox.wait_for_message(P, after_message_id=asked.message_id)
    await handled(sandbox, P)
    (help_reply,) = [
        r for r in await replies(database, helps=True) if r.telegram_message_id == answer.message_id
    ]
    assert (help_reply.template, help_reply.participant_id) == ("help", participant.id)
    assert help_reply.template_version == version_of("help", "zh") and not help_reply.edited
    # The export says which approved text each message was.
    async with database.session() as session:
        tables = await export_tables(session, as_of=date(2026, 3, 2), schema_revision=None)
    exported = {
        (r["study_id"], r["recipient"], r["via"], r["template"], r["template_version"])
        for r in tables["messages.csv"]
    }
    assert ("ZJU2-001", "team", "outbox", "alert_card", version_of("alert_card", "zh")) in exported
    assert ("ZJU2-001", "participant", "reply", "help", version_of("help", "zh")) in exported


async def test_the_teams_replies_and_a_strangers_refusal_are_recorded(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await handled(sandbox, P)
    before = len(await replies(database))
    sent = await sandbox.send_text(
        user_id=ZJU2_COORDINATOR, text="/participant ZJU2-001", chat_id=ZJU2_ALERTS
    )
    await sandbox.wait_for_message(
        ZJU2_ALERTS, after_message_id=sent.message_id, predicate=lambda m: m.kind == "photo"
    )
    team = (await recorded_replies(database, before + 2))[before:]
    assert [(r.template, r.chat_id, r.participant_id) for r in team] == [
        ("team_participant", ZJU2_ALERTS, None),
        ("trend_caption", ZJU2_ALERTS, None),  # the chart's caption
    ]
    assert [r.template_version for r in team] == [
        version_of("team_participant", "zh"),
        version_of("trend_caption", "zh"),
    ]
    # A text in both languages records the version of each.
    sandbox.add_user(STRANGER, "S")
    refused = await sandbox.send_text(user_id=STRANGER, text="/participant ZJU2-001")
    await sandbox.wait_for_message(STRANGER, after_message_id=refused.message_id)
    last = (await recorded_replies(database, before + 4))[-2:]
    assert [(r.template, r.language, r.template_version) for r in last] == [
        ("staff_only", "zh", version_of("staff_only", "zh")),
        ("staff_only", "en", version_of("staff_only", "en")),
    ]
