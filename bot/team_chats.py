"""Remembering which coordinators have started the bot in a private chat, so that an alert
their site's chat refuses can reach them there (Telegram lets a bot write only to people
who wrote to it first)."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.context import services_of
from bot.identity import identify
from study.team_chats import record_coordinator_chat

log = logging.getLogger(__name__)

# Before every other handler, in a group of its own: in a group only the first matching
# handler runs, and this one must not keep the others from answering.
GROUP = -2


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(MessageHandler(filters.ChatType.PRIVATE, remember_chat), group=GROUP)


async def remember_chat(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A coordinator writing privately: remember that the bot may write to them (again,
    after they had blocked it)."""
    services = services_of(context)
    speaker = identify(update, services.config)
    if not speaker.is_coordinator or not speaker.private or speaker.user_id is None:
        return
    async with services.database.session() as session:
        new = await record_coordinator_chat(session, speaker.user_id, services.clock.now())
    if new:
        log.info("a coordinator started the bot privately; site alerts can reach them there")
