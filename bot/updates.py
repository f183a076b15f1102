"""Updates of different chats handled side by side, each chat's one after another."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# Most handlers in progress wait for Telegram (their replies queue behind a burst under the
# rate limit), not for us: many at once cost little, and a press is not kept waiting.
CHATS_AT_ONCE = 256


class ChatOrderedUpdates(BaseUpdateProcessor):
    """PTB's update processor: up to `max_concurrent_updates` handlers at once, but one
    chat's updates strictly in the order received (a conversation, a check-in, a button
    pressed twice depend on it). One at a time for everyone, PTB's default, would keep a
    press waiting while another chat's handler waits for the database or for Telegram's
    rate limit (its replies queue behind a burst of reminders)."""

    def __init__(self, max_concurrent_updates: int = CHATS_AT_ONCE) -> None:
        super().__init__(max_concurrent_updates)
        self._turns: dict[object, asyncio.Lock] = {}
        self._holders: Counter[object] = Counter()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _chat_of(update)
        turn = self._turns.setdefault(key, asyncio.Lock())
        self._holders[key] += 1
        try:
            async with turn:
                await coroutine
        finally:
            self._holders[key] -= 1
            if not self._holders[key]:
                del self._holders[key], self._turns[key]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


def _chat_of(update: object) -> object:
    """The chat an update belongs to (else its sender; else all such updates are one)."""
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return update.effective_chat.id
        if update.effective_user is not None:
            return ("user", update.effective_user.id)
    return None
