"""Acknowledge and Resolve on an alert card, honoured only for that site's coordinators."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot.context import edit_pressed, services_of
from bot.identity import identify
from bot.staff import team_of
from messages import label
from scheduler.compose import alert_card
from study.errors import DomainError
from study.team import Acknowledge, Resolve

log = logging.getLogger(__name__)

ALERT_ACTION = r"^a:(\d{1,9}):(ack|res)$"


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(CallbackQueryHandler(alert_action, pattern=ALERT_ACTION))


async def alert_action(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A coordinator takes on or closes an alert; the card then shows who and when."""
    query = update.callback_query
    services = services_of(context)
    speaker = identify(update, services.config)
    if query is None or not context.matches or speaker.user_id is None:
        return
    match = context.matches[0]
    alert_id, action = int(match.group(1)), match.group(2)
    language = services.config.study.language
    operation = Acknowledge(alert_id) if action == "ack" else Resolve(alert_id)
    try:
        async with services.database.session() as session:
            alert = await operation.run(session, team_of(speaker, services))
            language = services.config.site_language(alert.site_code)
            text, keyboard = await alert_card(session, alert, language, services.config)
    except DomainError:
        log.info("refused an alert action by a user who is not a coordinator of its site")
        await query.answer(label("not_allowed", language), show_alert=True)
        return
    await query.answer(label(f"alert_{action}_done", language))
    await edit_pressed(query, text, keyboard)
