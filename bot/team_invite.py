"""Invitations in Telegram: where the one-time link goes, `/invite` and `/unlink`.

An invitation link lets whoever taps it first take the participant's place, so it is sent
only to the coordinator who asked, in their private chat with the bot, as a QR code with
the link in its caption (scanned at the bedside, or forwarded to the participant). Asked
in a site's group, the group is told only that it went privately, or, when the bot cannot
write to the coordinator (they never started it), how to start it; never the link.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.context import reply
from bot.staff import Staff, authorize
from bot.team import NEW_MESSAGES, Command, register_commands
from messages import render
from messages.qr import invitation_qr_png
from messages.team import invitation_text
from study.codes import deep_link
from study.enrollment import Invitation
from study.errors import DomainError
from study.team import Invite, Unlink
from study.team_chats import forget_coordinator_chat, has_coordinator_chat

log = logging.getLogger(__name__)

INVITE_USAGE = "/invite STUDY_ID"
COMMANDS: dict[str, Command] = {
    "unlink": Command("/unlink STUDY_ID", 1, lambda w: Unlink(w[0])),
}


def register(application: Application) -> None:  # type: ignore[type-arg]
    register_commands(application, COMMANDS)
    application.add_handler(CommandHandler("invite", invite, filters=NEW_MESSAGES))


async def invite(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A fresh invitation for a participant (earlier links stop working), sent privately."""
    staff = await authorize(update, context)
    if staff is None:
        return
    words = list(context.args or [])
    if not words:
        raise DomainError("error_usage", usage=INVITE_USAGE)
    invitation = await staff.perform(Invite(words[0]))
    await deliver_invitation(update, staff, invitation, renewed=True)


async def deliver_invitation(
    update: Update, staff: Staff, invitation: Invitation, *, renewed: bool
) -> None:
    """Send the invitation (QR photo, link in the caption) to the coordinator's private
    chat; in a group, tell the group only whether it went (the bot can write privately only to
    a coordinator who started it)."""
    bot = update.get_bot()
    link = deep_link(bot.username, invitation.code)
    caption = invitation_text(invitation, link, staff.language, renewed=renewed)
    photo = invitation_qr_png(link)
    user_id = staff.speaker.user_id
    assert user_id is not None
    if staff.speaker.private:
        await bot.send_photo(chat_id=user_id, photo=photo, caption=caption)
        return
    database = staff.services.database
    async with database.session() as session:
        sent = await has_coordinator_chat(session, user_id)
    if sent:  # they started the bot; unless they blocked it since
        try:
            await bot.send_photo(chat_id=user_id, photo=photo, caption=caption)
        except Forbidden:
            sent = False
            async with database.session() as session:
                await forget_coordinator_chat(session, user_id)
    if not sent:
        log.info("an invitation could not reach a coordinator privately; the group is told")
    study_id = invitation.participant.study_id
    await reply(
        update,
        render(
            "team_invitation_private",
            staff.language,
            sent=sent,
            enrolled=not renewed,
            study_id=study_id,
            bot=bot.username,
        ),
    )
