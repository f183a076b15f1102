"""Getting the shared services inside a handler, and replying to the person who spoke."""

from __future__ import annotations

import logging
from typing import Protocol, cast

from telegram import CallbackQuery, Update
from telegram.error import BadRequest
from telegram.ext import Application, ContextTypes

from bot.keyboards import inline_markup
from bot.services import Services
from messages import Keyboard

log = logging.getLogger(__name__)

SERVICES = "services"
RUNNING = "running"


class SendsQueued(Protocol):
    """What handlers may use of the running bot's scheduler (`bot.runner.Running`)."""

    async def send_now(self, row_ids: list[int]) -> None:
        """Send these committed outbox rows at once."""
        ...


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return cast(Services, context.bot_data[SERVICES])


def attach(application: Application, services: Services) -> None:  # type: ignore[type-arg]
    application.bot_data[SERVICES] = services


async def reply(update: Update, text: str, keyboard: Keyboard | None = None) -> None:
    """Answer in the chat the update came from (a direct reply, not through the outbox)."""
    chat = update.effective_chat
    if chat is None:
        return
    await chat.send_message(text, reply_markup=inline_markup(keyboard))


async def reply_photo(update: Update, photo: bytes, caption: str) -> None:
    """Answer with a photo (PNG bytes) and its Telegram-HTML caption, in the chat the
    update came from."""
    chat = update.effective_chat
    if chat is not None:
        await chat.send_photo(photo, caption=caption)


async def edit_pressed(
    query: CallbackQuery, text: str | None = None, keyboard: Keyboard | None = None
) -> None:
    """Change the message whose button was pressed: its text and buttons, or only take the
    buttons away. Telegram's "message is not modified" (a press repeated, or on a message
    already changed) is not an error here."""
    message = query.message
    markup = inline_markup(keyboard)
    if (
        text is None
        and markup is None
        and message is not None
        and not getattr(message, "reply_markup", None)
    ):
        return  # no buttons to take away: asking Telegram would only earn "not modified"
    try:
        if text is None:
            await query.edit_message_reply_markup(reply_markup=markup)
        else:
            await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise


async def send_queued(context: ContextTypes.DEFAULT_TYPE, row_ids: list[int]) -> None:
    """Send outbox rows a handler just committed (advice that must not be lost) at once,
    before its other replies. Should this fail, the dispatcher sends them a little later."""
    running = cast(SendsQueued | None, context.bot_data.get(RUNNING))
    if not row_ids or running is None:
        return
    try:
        await running.send_now(row_ids)
    except Exception:
        log.exception(
            "sending %d queued message(s) at once failed; the outbox retries", len(row_ids)
        )
