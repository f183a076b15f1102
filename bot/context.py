"""Getting the shared services inside a handler, and replying to the person who spoke."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Protocol, cast

from telegram import CallbackQuery, Message, Update
from telegram.error import BadRequest
from telegram.ext import Application, ContextTypes

from bot.keyboards import inline_markup
from bot.services import Services
from messages import Keyboard, Rendered
from messages.render import BILINGUAL
from messages.versions import version_of
from study.config import LANGUAGES
from study.sent_replies import record_reply

log = logging.getLogger(__name__)

SERVICES = "services"
RUNNING = "running"
# The services of the update being handled, for recording its replies (`remember_services`
# sets it first thing for each update; PTB handles an update in one task, so it holds for
# every handler of that update and no other).
_HANDLING: ContextVar[Services | None] = ContextVar("trialbot_handling", default=None)


class SendsQueued(Protocol):
    """What handlers may use of the running bot's scheduler (`bot.runner.Running`)."""

    async def send_now(self, row_ids: list[int]) -> None:
        """Send these committed outbox rows at once."""
        ...


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return cast(Services, context.bot_data[SERVICES])


def attach(application: Application, services: Services) -> None:  # type: ignore[type-arg]
    application.bot_data[SERVICES] = services


async def remember_services(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Before any handler: the services this update's replies are recorded with."""
    _HANDLING.set(services_of(context))


async def reply(update: Update, text: str, keyboard: Keyboard | None = None) -> None:
    """Answer in the chat the update came from (a direct reply, not through the outbox)."""
    chat = update.effective_chat
    if chat is None:
        return
    sent = await chat.send_message(text, reply_markup=inline_markup(keyboard))
    await record_sent(chat.id, text, sent)


async def reply_photo(update: Update, photo: bytes, caption: str) -> None:
    """Answer with a photo (PNG bytes) and its Telegram-HTML caption, in the chat the
    update came from."""
    chat = update.effective_chat
    if chat is not None:
        sent = await chat.send_photo(photo, caption=caption)
        await record_sent(chat.id, caption, sent)


async def edit_pressed(
    query: CallbackQuery, text: str | None = None, keyboard: Keyboard | None = None
) -> None:
    """Change the message whose button was pressed: its text and buttons, or only take the
    buttons away. Telegram's "message is not modified" (a press repeated, or on a message
    already changed) is not an error here."""
    message = query.message
    markup = inline_markup(keyboard)
    if (
        text is None
        and markup is None
        and message is not None
        and not getattr(message, "reply_markup", None)
    ):
        return  # no buttons to take away: asking Telegram would only earn "not modified"
    try:
        if text is None:
            await query.edit_message_reply_markup(reply_markup=markup)
        else:
            edited = await query.edit_message_text(text, reply_markup=markup)
            if message is not None:
                await record_sent(message.chat.id, text, edited, edited=True)
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise


async def record_sent(
    chat_id: int, text: str, sent: Message | bool, *, edited: bool = False
) -> None:
    """Record which template, language and version a direct reply was (`SentReply`), when
    its text came from one template; never stops the reply (a failure is logged)."""
    services = _HANDLING.get()
    if services is None or not isinstance(text, Rendered):
        return
    languages = LANGUAGES if text.language == BILINGUAL else (text.language,)
    try:
        async with services.database.session() as session:
            for language in languages:  # a text in both languages: the version of each
                await record_reply(
                    session,
                    chat_id=chat_id,
                    template=text.template,
                    language=language,
                    version=version_of(text.template, language),
                    message_id=sent.message_id if isinstance(sent, Message) else None,
                    edited=edited,
                    now=services.clock.now(),
                )
    except Exception:
        log.exception("could not record which template a reply was")


async def send_queued(context: ContextTypes.DEFAULT_TYPE, row_ids: list[int]) -> None:
    """Send outbox rows a handler just committed (advice that must not be lost) at once,
    before its other replies. Should this fail, the dispatcher sends them a little later."""
    running = cast(SendsQueued | None, context.bot_data.get(RUNNING))
    if not row_ids or running is None:
        return
    try:
        await running.send_now(row_ids)
    except Exception:
        log.exception(
            "sending %d queued message(s) at once failed; the outbox retries", len(row_ids)
        )
