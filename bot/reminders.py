"""The buttons under a visit reminder: "I will come" and "I need another date"."""

from __future__ import annotations

import logging
from contextlib import suppress

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot.context import edit_pressed, reply, services_of
from bot.identity import identify
from bot.participant import press_decided, refusal
from messages import label
from messages.callbacks import VisitAnswer, VisitReply
from messages.reminders import visit_answered_text
from study.enrollment import find_by_chat
from study.errors import DomainError
from study.visits import confirm_visit, own_visit, own_visit_sync, request_reschedule

log = logging.getLogger(__name__)


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(CallbackQueryHandler(visit_answered, pattern=VisitAnswer.matches))


async def visit_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record the participant's answer to a visit reminder and thank them."""
    query = update.callback_query
    services = services_of(context)
    speaker = identify(update, services.config)
    if query is None:
        return
    press = VisitAnswer.parse(query.data)
    if press is None or not speaker.private or speaker.chat_id is None:
        await query.answer()
        return
    now = services.clock.now()
    # Decided on a snapshot (no wait for the write lock) and answered at once; the answer
    # is then recorded, checked again, in a transaction of its own.
    participant, refused = await press_decided(
        services,
        speaker.chat_id,
        lambda session, participant: own_visit_sync(session, participant, press.visit_id),
    )
    if participant is None:
        await query.answer(label("button_inactive", services.config.study.language))
        return
    if refused is not None:
        await query.answer(refusal(services, participant, "button_inactive"))
        return
    await query.answer()
    async with services.database.session() as session:
        participant = await find_by_chat(session, speaker.chat_id)
        visit = None
        if participant is not None:
            with suppress(DomainError):  # closed a moment ago: the button is stale after all
                visit = await own_visit(session, participant, press.visit_id)
        if participant is not None and visit is not None:
            if press.reply == VisitReply.COMING:
                await confirm_visit(session, participant, visit, now=now)
            else:
                await request_reschedule(
                    session,
                    participant,
                    visit,
                    now=now,
                    config=services.config,
                    replanner=services.replanner,
                )
    # Told outside the transaction: a reply may wait for Telegram, the transaction would
    # wait with it (on SQLite holding the write lock).
    if participant is None:
        return
    if visit is None:
        await reply(update, refusal(services, participant, "button_inactive"))
        return
    await edit_pressed(query)
    await reply(
        update,
        visit_answered_text(participant, visit.visit_date, services.config, press.reply),
    )
