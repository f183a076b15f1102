"""`/participants`: the roster of the speaker's sites (in a site's group: that site only),
paged with buttons past one screen."""

from __future__ import annotations

from telegram import MaybeInaccessibleMessage, Message, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.context import edit_pressed, reply
from bot.staff import authorize
from bot.team import NEW_MESSAGES
from messages import Keyboard, plain
from messages.callbacks import RosterPage
from messages.team import roster_page
from study.team import ListParticipants


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(CommandHandler("participants", show_roster, filters=NEW_MESSAGES))
    application.add_handler(CallbackQueryHandler(roster_pressed, pattern=RosterPage.matches))


async def show_roster(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The roster's first page."""
    staff = await authorize(update, context)
    if staff is not None:
        roster = await staff.perform(ListParticipants())
        await reply(update, *roster_page(roster, 1, staff.language))


async def roster_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Another page, of the roster as it is now, for the sites of the chat it is pressed in."""
    query = update.callback_query
    staff = await authorize(update, context)  # a refused press is answered there
    press = RosterPage.parse(query.data if query else None)
    if staff is None or query is None or press is None:
        return
    roster = await staff.perform(ListParticipants())
    await query.answer()
    text, keyboard = roster_page(roster, press.page, staff.language)
    if _shown(query.message, text, keyboard):
        return  # the same page, unchanged: Telegram would refuse the edit as "not modified"
    await edit_pressed(query, text, keyboard)


def _shown(message: MaybeInaccessibleMessage | None, text: str, keyboard: Keyboard | None) -> bool:
    """Whether `message` already shows this text and these buttons."""
    if not isinstance(message, Message):
        return False
    markup = message.reply_markup
    shown = [b.callback_data for row in markup.inline_keyboard for b in row] if markup else []
    wanted = [b.data for row in keyboard or [] for b in row]
    return message.text == plain(text) and shown == wanted
