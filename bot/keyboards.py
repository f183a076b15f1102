"""Our keyboards (messages.Button rows) as Telegram inline keyboards."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from messages import Keyboard, button


def inline_markup(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    if not keyboard:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.text, callback_data=b.data, url=b.url) for b in row]
            for row in keyboard
        ]
    )


def language_keyboard(language: str) -> Keyboard:
    """The two languages, each labelled in its own words."""
    return [
        [button("language_zh", language, "lang:zh"), button("language_en", language, "lang:en")]
    ]
