"""The one error handler: log with the traceback (never the message text), answer politely."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.context import record_sent, services_of
from bot.services import Services
from messages import render, render_bilingual
from messages.facts import site_facts
from study.enrollment import find_by_chat
from study.errors import DomainError

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log an exception raised by a handler and tell the person their request failed."""
    error = context.error
    if isinstance(update, Update) and isinstance(error, DomainError):
        chat = update.effective_chat
        if chat is not None:
            language = services_of(context).config.study.language
            text = render(error.key, language, **error.details)
            await record_sent(chat.id, text, await chat.send_message(text))
        return
    kind = "update" if isinstance(update, Update) else "job or network"
    log.error("error while handling an %s", kind, exc_info=error)
    if not isinstance(update, Update) or isinstance(error, TelegramError):
        return
    chat = update.effective_chat
    if chat is not None and chat.type == "private":
        try:
            apology = await _error_text(services_of(context), chat.id)
            await record_sent(chat.id, apology, await chat.send_message(apology))
        except TelegramError:
            log.warning("could not tell the user about the error")


async def _error_text(services: Services, chat_id: int) -> str:
    """The apology, with how to reach a person: the participant's site phone and emergency
    number in their language; for anyone else both languages and the study's emergency
    number."""
    config = services.config
    try:
        async with services.database.session() as session:
            participant = await find_by_chat(session, chat_id)
    except Exception:  # the error may be the database itself
        log.warning("could not look up who to tell about the error")
        participant = None
    if participant is None:
        first_site = next(iter(config.sites.values()))
        return render_bilingual(
            "error", site_phone=None, emergency_number=first_site.emergency_number
        )
    return render("error", participant.language, **site_facts(participant, config))
