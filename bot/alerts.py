"""Acknowledge and Resolve on an alert card, honoured only for that site's coordinators, and
for its on-call people in its escalation chat."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot.context import edit_pressed, reply, services_of
from bot.identity import identify
from bot.staff import team_of
from messages import label
from messages.alerts import alert_card
from messages.callbacks import AlertAction, AlertStep
from study.alerts import sites_acting_on_alerts
from study.errors import DomainError
from study.precedence import goes_first
from study.team import Acknowledge, Resolve

log = logging.getLogger(__name__)


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(CallbackQueryHandler(alert_action, pattern=AlertAction.matches))


@goes_first  # an acknowledgement stops the escalation
async def alert_action(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A coordinator (or an on-call person, in the escalation chat) takes on or closes an
    alert; the press is answered first, then the card shows who and when."""
    query = update.callback_query
    services = services_of(context)
    speaker = identify(update, services.config)
    press = AlertAction.parse(query.data) if query is not None else None
    if query is None or press is None or speaker.user_id is None:
        return
    language = services.config.study.language
    sites = sites_acting_on_alerts(services.config, speaker.user_id, speaker.chat_id)
    if not speaker.private:  # a group sees only its own site
        sites &= services.config.chat_sites(speaker.chat_id)
    step = Acknowledge if press.step == AlertStep.ACKNOWLEDGE else Resolve
    card = query.message
    # The pressed card is edited here at once; the alert's other cards through the outbox.
    operation = step(press.alert_id, (card.chat.id, card.message_id) if card else None)
    team = team_of(speaker, services, sites=sites)
    # Decided on a snapshot (no wait for the write lock) and answered at once; then done,
    # checked again, in a transaction of its own.
    try:
        alert = await services.database.snapshot(
            lambda session: team.alert_sync(session, press.alert_id)
        )
    except DomainError:
        log.info("refused an alert action by a user who may not act on its site's alerts here")
        await query.answer(label("not_allowed", language), show_alert=True)
        return
    language = services.config.site_language(alert.site_code)
    await query.answer(label(f"alert_{press.step}_done", language))
    try:
        async with services.database.session() as session:
            alert = await operation.run(session, team)
            text, keyboard = await alert_card(session, alert, language, services.config)
    except DomainError:  # refused after all: the answer is gone, so the chat is told
        log.info("refused an alert action after answering it")
        await reply(update, label("not_allowed", language))
        return
    await edit_pressed(query, text, keyboard)
