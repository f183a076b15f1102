"""Writing proactive messages to the outbox, in the caller's transaction.

Nothing proactive is sent from a handler or a job: it is a row here first, committed with the
state change that caused it, and the dispatcher (scheduler/) sends it. Rows are idempotent by
`dedupe_key`: enqueueing the same key twice keeps the first.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import IntEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.models import OutboxMessage, OutboxStatus, Participant

OUTBOX_TOUCHED = "outbox_touched"
REMINDER_TEMPLATE = "reminder"  # a visit or infusion reminder (the planner's rows)
# In a row's context: the Telegram message id, in the row's chat, that the row replaces in
# place (its text and buttons) instead of sending a new message.
EDITS = "edits"


class Priority(IntEnum):
    """Lower goes first."""

    URGENT = 0  # T1/T2 alerts
    ALERT = 2  # T3 alerts, site tasks and notices
    NOTICE = 4  # a date moved: told before the reminders of the new date queued with it
    # Reminders and questions (check-ins, contraception): among them the earliest deadline
    # goes first, so a nudge due in two days never holds up "your visit is today" (noon).
    ROUTINE = 5
    INFO = 8


async def enqueue(
    session: AsyncSession,
    *,
    template: str,
    dedupe_key: str,
    due_at: datetime,
    now: datetime,
    participant_id: int | None = None,
    chat_id: int | None = None,
    language: str | None = None,
    context: dict[str, Any] | None = None,
    not_after: datetime | None = None,
    priority: int = Priority.INFO,
    event_key: str | None = None,
    alert_id: int | None = None,
) -> OutboxMessage:
    """Add a message unless one with this dedupe key exists; return the row either way.

    A message to a participant names `participant_id`: their chat and language are read when
    it is sent, so a re-linked chat or a new language is honoured. A message to a site's chat
    names `chat_id` and `language`.
    """
    existing = (
        await session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key))
    ).first()
    if existing is not None:
        return existing
    row = new_message(
        template=template,
        dedupe_key=dedupe_key,
        due_at=due_at,
        now=now,
        participant_id=participant_id,
        chat_id=chat_id,
        language=language,
        context=context,
        not_after=not_after,
        priority=priority,
        event_key=event_key,
        alert_id=alert_id,
    )
    session.add(row)
    session.info[OUTBOX_TOUCHED] = True
    return row


async def enqueue_new(session: AsyncSession, messages: list[dict[str, Any]]) -> int:
    """Add these messages (`message_values`) but those whose dedupe key exists, with one
    insert; how many were added."""
    if not messages:
        return 0
    keys = [message["dedupe_key"] for message in messages]
    existing = set(
        await session.exec(
            select(OutboxMessage.dedupe_key).where(col(OutboxMessage.dedupe_key).in_(keys))
        )
    )
    new = [message for message in messages if message["dedupe_key"] not in existing]
    if new:
        await session.exec(insert(OutboxMessage), params=new)
        session.info[OUTBOX_TOUCHED] = True
    return len(new)


def new_message(
    *,
    template: str,
    dedupe_key: str,
    due_at: datetime,
    now: datetime,
    participant_id: int | None = None,
    chat_id: int | None = None,
    language: str | None = None,
    context: dict[str, Any] | None = None,
    not_after: datetime | None = None,
    priority: int = Priority.INFO,
    event_key: str | None = None,
    alert_id: int | None = None,
) -> OutboxMessage:
    """An outbox row, not yet added: for callers that checked the dedupe keys themselves
    (the planner adds a participant's reminders together). See `enqueue`."""
    return OutboxMessage(
        **message_values(
            template=template,
            dedupe_key=dedupe_key,
            due_at=due_at,
            now=now,
            participant_id=participant_id,
            chat_id=chat_id,
            language=language,
            context=context,
            not_after=not_after,
            priority=priority,
            event_key=event_key,
            alert_id=alert_id,
        )
    )


def message_values(
    *,
    template: str,
    dedupe_key: str,
    due_at: datetime,
    now: datetime,
    participant_id: int | None = None,
    chat_id: int | None = None,
    language: str | None = None,
    context: dict[str, Any] | None = None,
    not_after: datetime | None = None,
    priority: int = Priority.INFO,
    event_key: str | None = None,
    alert_id: int | None = None,
) -> dict[str, Any]:
    """The columns of a new outbox row, for a bulk insert of many (`new_message`'s row)."""
    if (participant_id is None) == (chat_id is None):
        raise ValueError("a message goes either to a participant or to a chat")
    return {
        "participant_id": participant_id,
        "chat_id": chat_id,
        "template": template,
        "template_version": "1",
        "language": language or "",
        "context": context or {},
        "priority": priority,
        "dedupe_key": dedupe_key,
        "event_key": event_key,
        "due_at": due_at,
        "available_at": due_at,
        "not_after": not_after,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "lease_until": None,
        "last_error": None,
        "telegram_message_id": None,
        "sent_at": None,
        "alert_id": alert_id,
        "created_at": now,
    }


def is_edit(row: OutboxMessage) -> bool:
    """A row that changes a message already in its chat (`EDITS`) rather than sending one."""
    return EDITS in row.context


async def cancel_pending(
    session: AsyncSession,
    *,
    participant_id: int,
) -> int:
    """Cancel every unsent message to a participant, also one claimed for sending (the
    dispatcher looks again just before it sends). Returns how many were cancelled."""
    rows = await session.exec(
        select(OutboxMessage).where(
            OutboxMessage.participant_id == participant_id,
            col(OutboxMessage.status).in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
        )
    )
    cancelled = 0
    for row in rows:
        row.status = OutboxStatus.CANCELLED
        session.add(row)
        cancelled += 1
    return cancelled


async def tell_new_date(
    session: AsyncSession,
    participant: Participant,
    *,
    template: str,
    key: str,
    day: date,
    at: time | None,
    now: datetime,
) -> None:
    """Tell a participant the new date (and time) of something of theirs, until that day
    has passed; the same date told twice is one message."""
    await enqueue(
        session,
        template=template,
        dedupe_key=f"{key}:{day.isoformat()}:{at}",
        participant_id=participant.id,
        context={"date": day.isoformat(), "time": at.isoformat("minutes") if at else None},
        due_at=now,
        not_after=datetime.combine(day, time(23, 59), tzinfo=ZoneInfo(participant.timezone)),
        # Before the reminders of the new date queued with it: told first, then reminded.
        priority=Priority.NOTICE,
        now=now,
    )
