"""The PTB Application: builder, defaults, handlers in their order."""

from __future__ import annotations

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import Application, Defaults, TypeHandler

from bot import (
    alerts,
    checkin,
    participant,
    reminders,
    team,
    team_chats,
    team_enroll,
    team_invite,
    team_labs,
    team_roster,
    team_visit,
)
from bot.context import attach, remember_services
from bot.errors import on_error
from bot.sender import TelegramRateLimiter
from bot.services import Services
from bot.updates import ChatOrderedUpdates


def build_application(
    services: Services,
    *,
    token: str,
    api_url: str,
    rate_limiter: TelegramRateLimiter | None = None,
) -> Application:  # type: ignore[type-arg]
    """The bot, pointed at `api_url` (Telegram's, or the sandbox's), with every handler."""
    application = (
        Application.builder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        # Telegram's limits: 30 messages/s overall, 1/s per chat, 20/min per group. Retries
        # of proactive messages belong to the outbox dispatcher: the limiter never retries.
        .rate_limiter(rate_limiter or TelegramRateLimiter())
        .concurrent_updates(ChatOrderedUpdates())
        .build()
    )
    attach(application, services)
    # First of all, for every update: what its replies are recorded with.
    application.add_handler(TypeHandler(Update, remember_services), group=-1000)
    # Order matters: specific handlers first, then the catch-alls of participant chats.
    team_chats.register(application)
    participant.register(application)
    team.register(application)
    team_enroll.register(application)
    team_invite.register(application)
    team_labs.register(application)
    team_roster.register(application)
    team_visit.register(application)
    checkin.register(application)
    reminders.register(application)
    alerts.register(application)
    participant.register_fallbacks(application)
    application.add_error_handler(on_error)
    return application


ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.MY_CHAT_MEMBER,
]
