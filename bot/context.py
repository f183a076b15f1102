"""Getting the shared services inside a handler, and replying to the person who spoke."""

from __future__ import annotations

from typing import cast

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot.keyboards import inline_markup
from bot.services import Services
from messages import Keyboard

SERVICES = "services"


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
