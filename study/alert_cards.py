"""Keeping an alert's cards true in the chats once its state changes.

An alert may have many cards: the first, each re-send and escalation, copies sent elsewhere
when a chat refused one. When it is acknowledged or resolved, every card already in a chat
is edited to its new state through the outbox (durable: `trialbot ack` may run while no bot
does, and Telegram may be down), so nobody is shown an open alert that a colleague took on.
Cards not yet sent need nothing: they are composed from the alert as it is when sent.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.alerts import ALERT_CARD, PRIORITY_OF_TIER
from study.delivery import ALERT_ELSEWHERE
from study.models import Alert, OutboxMessage, OutboxStatus, Tier
from study.outbox import EDITS, enqueue

Shown = tuple[int, int]  # (chat id, Telegram message id) of a card in a chat


async def update_cards(
    session: AsyncSession, alert: Alert, *, now: datetime, edited: Shown | None = None
) -> int:
    """Queue an edit of each card of `alert` in a chat into the card as the alert now stands
    (once per card and state); `edited` is a card already changed in place (the one whose
    button was pressed). Returns how many were queued."""
    cards = await session.exec(
        select(OutboxMessage).where(
            col(OutboxMessage.alert_id) == alert.id,
            col(OutboxMessage.template).in_([ALERT_CARD, ALERT_ELSEWHERE]),
            col(OutboxMessage.status) == OutboxStatus.SENT,
            col(OutboxMessage.telegram_message_id).is_not(None),
            col(OutboxMessage.chat_id).is_not(None),
        )
    )
    queued = 0
    for card in list(cards):
        chat_id, message_id = card.chat_id or 0, card.telegram_message_id or 0
        if EDITS in card.context or (chat_id, message_id) == edited:
            continue  # an earlier edit, not a card of its own; or changed already
        await enqueue(
            session,
            template=ALERT_CARD,
            dedupe_key=f"alert:{alert.id}:edit:{card.id}:{alert.status}",
            chat_id=chat_id,
            language=card.language,
            context={"alert_id": alert.id, EDITS: message_id},
            due_at=now,
            priority=PRIORITY_OF_TIER[Tier(alert.tier)],
            alert_id=alert.id,
            now=now,
        )
        queued += 1
    return queued
