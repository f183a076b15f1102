"""What a queued message is composed from, and what composing it gives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from messages.render import Keyboard
from study.config import StudyConfig
from study.message_views import Recipient
from study.models import OutboxMessage

Text = tuple[str, Keyboard | None]
"""A message's Telegram-HTML text and its buttons (None: no buttons)."""


@dataclass(frozen=True)
class Queued:
    """An outbox row about to be sent: whom it is for, now, and where to read the state
    it shows (the dispatcher's transaction)."""

    session: AsyncSession
    row: OutboxMessage
    recipient: Recipient
    config: StudyConfig
    now: datetime

    @property
    def language(self) -> str:
        return self.recipient.language


Composer = Callable[[Queued], Awaitable[Text]]
"""Composes one kind of message; raises `study.errors.Stale` when it no longer holds."""
