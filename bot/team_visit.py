"""The buttons under a visit day refused for being outside its protocol window, as an
appointment or as the day the participant came: pressed, it is done anyway (the
coordinator confirmed the deviation; audited like any change)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot.context import edit_pressed
from bot.team import perform_press
from messages.callbacks import AttendedAnyway, VisitAnyway
from messages.team import done_text
from study.team import MarkAttendedAnyway, SetVisitAnyway


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(CallbackQueryHandler(visit_anyway, pattern=VisitAnyway.matches))
    application.add_handler(CallbackQueryHandler(attended_anyway, pattern=AttendedAnyway.matches))


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


async def attended_anyway(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record the visit as attended on the refused day after all, and show the confirmation
    in place of the question."""
    pressed = await perform_press(
        update,
        context,
        AttendedAnyway,
        lambda press: MarkAttendedAnyway(press.participant_id, press.number, press.attended_on()),
        refusal="not_allowed",
    )
    if pressed is not None:
        staff, query, done = pressed
        await query.answer()
        await edit_pressed(query, done_text(done, staff.language))
