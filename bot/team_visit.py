"""The button under a visit day refused for being outside its protocol window: pressed, the
day is set anyway (the coordinator confirmed the deviation; audited like any change)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot.context import edit_pressed
from bot.team import perform_press
from messages.callbacks import VisitAnyway
from messages.team import done_text
from study.team import SetVisitAnyway


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(CallbackQueryHandler(visit_anyway, pattern=VisitAnyway.matches))


def _operation(press: VisitAnyway) -> SetVisitAnyway:
    day, at = press.date_and_time()
    return SetVisitAnyway(press.participant_id, press.number, day, at)


async def visit_anyway(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Set the refused day after all, and show the confirmation in place of the question."""
    pressed = await perform_press(update, context, VisitAnyway, _operation, refusal="not_allowed")
    if pressed is not None:
        staff, query, done = pressed
        await query.answer()
        await edit_pressed(query, done_text(done, staff.language))
