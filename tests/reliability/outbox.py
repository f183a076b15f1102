"""Reliability helpers: linked participants, due reminders in the outbox, what Telegram got."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from sandbox import SandboxServer
from study.database import Database
from study.models import OutboxMessage, Participant, ParticipantStatus
from study.outbox import REMINDER_TEMPLATE, Priority, enqueue

KEY = "reliability:"  # the dedupe keys of the rows these tests put in the outbox
VISIT_DAY = date(2027, 3, 2)


def daytime_zone(now: datetime) -> str:
    """A time zone where it is about noon at `now`, so that quiet hours hold nothing back
    while a test runs on the real clock."""
    offset = 12 - now.hour  # -11 .. +12 hours from UTC
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT-5 is UTC+5


def visit_reminder(day: date, *, days_before: int) -> dict[str, Any]:
    """The context of a reminder of a visit on `day` (no visit row: the text names the day)."""
    return {
        "kind": "visit",
        "visit_id": None,
        "infusion_id": None,
        "month": 0,
        "date": day.isoformat(),
        "time": None,
        "days_before": days_before,
    }


async def linked_participants(
    database: Database,
    sandbox: SandboxServer,
    chat_ids: Iterable[int],
    *,
    now: datetime,
    timezone: str = "Asia/Shanghai",
) -> list[Participant]:
    """Active participants whose chats are sandbox users who pressed Start.

    They have no calendar, so the outbox holds only what a test puts there
    (`factories.enrolled` plans two years of reminders per person: slow by the dozen, and
    some could fall due by the real clock that worker processes use).
    """
    participants = []
    for chat_id in chat_ids:
        sandbox.add_user(chat_id, f"Participant {chat_id}")
        await sandbox.send_text(chat_id, "/start")
        participants.append(
            Participant(
                study_id=f"ZJU2-{chat_id}",
                site_code="ZJU2",
                arm="standard",
                randomized_on=now.date(),
                language="en",
                timezone=timezone,
                preferred_hour=9,
                status=ParticipantStatus.ACTIVE,
                telegram_chat_id=chat_id,
                linked_at=now,
                created_at=now,
                status_changed_at=now,
            )
        )
    async with database.session() as session:
        session.add_all(participants)
    return participants


async def put_due_reminders(
    database: Database,
    participants: list[Participant],
    *,
    now: datetime,
    each: int = 1,
    first: int = 0,
) -> int:
    """`each` visit reminders per participant, all due an hour ago (each names another visit
    day, so every message of a chat is different; the `first`-th on, for more later).
    Returns how many were queued."""
    queued = 0
    async with database.session() as session:
        session.autoflush = False  # written together at commit (the keys are unique anyway)
        for n in range(first, first + each):
            for participant in participants:
                day = VISIT_DAY + timedelta(days=n)
                await enqueue(
                    session,
                    template=REMINDER_TEMPLATE,
                    dedupe_key=f"{KEY}{participant.id}:{n}",
                    participant_id=participant.id,
                    context=visit_reminder(day, days_before=7),
                    # distinct due times: the dispatcher's order is then well defined
                    due_at=now - timedelta(hours=1) + timedelta(milliseconds=queued),
                    not_after=now + timedelta(days=1),
                    priority=Priority.ROUTINE,
                    now=now,
                )
                queued += 1
    return queued


async def queued_rows(database: Database) -> list[OutboxMessage]:
    """The rows `put_due_reminders` queued, as the database has them now."""
    async with database.session() as session:
        rows = await session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.dedupe_key).startswith(KEY))
            .order_by(col(OutboxMessage.id))
        )
        return list(rows)


async def sent_message_ids(database: Database) -> list[int]:
    """Telegram's message id of each row `put_due_reminders` queued, in the order queued
    (0: not sent). A chat's ids grow as its messages arrive."""
    return [row.telegram_message_id or 0 for row in await queued_rows(database)]


async def assert_all_sent_in_their_order(database: Database) -> None:
    """Every row `put_due_reminders` queued was sent, each chat's in the order queued."""
    ids = await sent_message_ids(database)
    assert 0 not in ids and ids == sorted(ids), f"not all sent in their order: {ids}"


def successful_sends(sandbox: SandboxServer) -> int:
    """How many messages Telegram has accepted so far (duplicates included)."""
    return sum(1 for call in sandbox.calls("sendMessage") if call.ok)
