"""The one error handler: log with the traceback (never the message text), answer politely."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.context import services_of
from messages import render, render_bilingual
from study.errors import DomainError

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log an exception raised by a handler and tell the person their request failed."""
    error = context.error
    if isinstance(update, Update) and isinstance(error, DomainError):
        chat = update.effective_chat
        if chat is not None:
            language = services_of(context).config.study.language
            await chat.send_message(render(error.key, language, **error.details))
        return
    kind = "update" if isinstance(update, Update) else "job or network"
    log.error("error while handling an %s", kind, exc_info=error)
    if not isinstance(update, Update) or isinstance(error, TelegramError):
        return
    chat = update.effective_chat
    if chat is not None and chat.type == "private":
        try:
            await chat.send_message(render_bilingual("error"))
        except TelegramError:
            log.warning("could not tell the user about the error")
