"""Invitation links through the real bot: only ever in the coordinator's private chat (as a
QR photo with the link), never in a group; a chat linked by mistake is unlinked and the
participant invited again."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import col, select

from messages import plain, render
from sandbox import SandboxServer
from scheduler.service import SchedulerService
from study.config import StudyConfig
from study.database import Database
from study.models import AuditEvent, OutboxMessage, OutboxStatus, Participant, ParticipantStatus
from tests.e2e.conftest import BOT_USERNAME, advance_to
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import PUMCH_COORDINATOR, ZJU2_ALERTS, ZJU2_COORDINATOR

pytestmark = pytest.mark.usefixtures("bot")

P = 5001
WRONG_PHONE = 5002
LINK_PREFIX = f"https://t.me/{BOT_USERNAME}?start="


async def say(sandbox: SandboxServer, user_id: int, text: str, chat_id: int | None = None) -> str:
    chat = chat_id or user_id
    sent = await sandbox.send_text(user_id=user_id, text=text, chat_id=chat)
    return (await sandbox.wait_for_message(chat, after_message_id=sent.message_id)).text


def links_in(sandbox: SandboxServer, chat_id: int) -> list[str]:
    return [m.text for m in sandbox.messages(chat_id) if "start=" in m.text]


async def private_invitation(sandbox: SandboxServer, coordinator: int, after: int) -> str:
    """The invitation photo in the coordinator's private chat: its caption's link, checked
    against what the QR code in the photo reads."""
    photo = await sandbox.wait_for_message(
        coordinator, after_message_id=after, predicate=lambda m: m.kind == "photo"
    )
    link = next(line for line in photo.text.splitlines() if line.startswith(LINK_PREFIX))
    assert sandbox.scan_photo(photo.extra["photo"][-1]["file_id"]) == [link]
    return link.removeprefix(LINK_PREFIX)


async def test_enrolling_in_the_group_sends_the_qr_invitation_privately(
    sandbox: SandboxServer, database: Database
) -> None:
    await say(sandbox, ZJU2_COORDINATOR, "/team")  # the coordinator has started the bot
    before = sandbox.messages(ZJU2_COORDINATOR)[-1].message_id
    told = await say(
        sandbox, ZJU2_COORDINATOR, "/enroll ZJU2-060 ZJU2 standard 2026-03-02 no", ZJU2_ALERTS
    )
    assert "私聊" in told and "ZJU2-060" in told
    code = await private_invitation(sandbox, ZJU2_COORDINATOR, before)
    assert links_in(sandbox, ZJU2_ALERTS) == [], "an invitation link reached the group"
    sandbox.add_user(P, "P")
    assert "欢迎" in await say(sandbox, P, f"/start {code}")


async def test_a_coordinator_who_never_started_the_bot_is_told_to_without_the_link(
    sandbox: SandboxServer, database: Database
) -> None:
    told = await say(
        sandbox, ZJU2_COORDINATOR, "/enroll ZJU2-061 ZJU2 standard 2026-03-02 no", ZJU2_ALERTS
    )
    assert f"@{BOT_USERNAME}" in told and "/invite ZJU2-061" in told
    assert links_in(sandbox, ZJU2_ALERTS) == []
    assert sandbox.bot_messages(ZJU2_COORDINATOR) == []
    # As told: start the bot privately and ask for a new invitation there.
    await say(sandbox, ZJU2_COORDINATOR, "/start")
    before = sandbox.messages(ZJU2_COORDINATOR)[-1].message_id
    await sandbox.send_text(user_id=ZJU2_COORDINATOR, text="/invite ZJU2-061")
    code = await private_invitation(sandbox, ZJU2_COORDINATOR, before)
    sandbox.add_user(P, "P")
    assert "欢迎" in await say(sandbox, P, f"/start {code}")
    # /invite in the group: again only a note there.
    told = await say(sandbox, ZJU2_COORDINATOR, "/invite ZJU2-061", ZJU2_ALERTS)
    assert "私聊" in told
    assert links_in(sandbox, ZJU2_ALERTS) == []


async def test_a_chat_linked_by_mistake_is_unlinked_and_the_right_one_invited(
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    scheduler: SchedulerService,
) -> None:
    _, code = await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    sandbox.add_user(WRONG_PHONE, "Wrong phone")
    await say(sandbox, WRONG_PHONE, f"/start {code}")
    done = await say(sandbox, ZJU2_COORDINATOR, "/unlink ZJU2-001")
    assert done.startswith("✓ ZJU2-001") and "invite ZJU2-001" in done
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
        pending = list(
            await session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.participant_id == participant.id,
                    col(OutboxMessage.status) == OutboxStatus.PENDING,
                )
            )
        )
        actions = list(await session.exec(select(AuditEvent.action)))
    assert participant.telegram_chat_id is None
    assert participant.status == ParticipantStatus.INVITED
    assert pending == []
    assert "unlink_chat" in actions
    # Nothing reaches the wrong phone any more, not even the visit reminders.
    seen = len(sandbox.messages(WRONG_PHONE))
    await advance_to(clock.now() + timedelta(days=100), scheduler, sandbox, clock)
    assert len(sandbox.messages(WRONG_PHONE)) == seen
    # Again: nothing to unlink.
    assert "尚未连接" in await say(sandbox, ZJU2_COORDINATOR, "/unlink ZJU2-001")
    # A new invitation links the right chat; the old link stays dead.
    before = sandbox.messages(ZJU2_COORDINATOR)[-1].message_id
    await sandbox.send_text(user_id=ZJU2_COORDINATOR, text="/invite ZJU2-001")
    fresh = await private_invitation(sandbox, ZJU2_COORDINATOR, before)
    sandbox.add_user(P, "P")
    assert "欢迎" in await say(sandbox, P, f"/start {fresh}")
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
    assert participant.telegram_chat_id == P
    assert participant.status == ParticipantStatus.ACTIVE


async def test_only_the_sites_coordinators_may_unlink(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    _, code = await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    sandbox.add_user(P, "P")
    await say(sandbox, P, f"/start {code}")
    assert "ZJU2-001" in await say(sandbox, PUMCH_COORDINATOR, "/unlink ZJU2-001")
    assert await say(sandbox, P, "/unlink ZJU2-001") == plain(render("staff_only", "zh"))
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
    assert participant.telegram_chat_id == P
