"""The record of direct replies: which approved text each was (`SentReply`)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from study.enrollment import find_by_chat
from study.models import SentReply


async def record_reply(
    session: AsyncSession,
    *,
    chat_id: int,
    template: str,
    language: str,
    version: str,
    message_id: int | None,
    edited: bool,
    now: datetime,
) -> SentReply:
    """Record a direct reply to `chat_id`, naming the participant when it is theirs."""
    participant = await find_by_chat(session, chat_id) if chat_id > 0 else None
    row = SentReply(
        sent_at=now,
        chat_id=chat_id,
        participant_id=participant.id if participant is not None else None,
        template=template,
        language=language,
        template_version=version,
        telegram_message_id=message_id,
        edited=edited,
    )
    session.add(row)
    return row


__all__ = ["record_reply"]
