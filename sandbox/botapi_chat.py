"""Bot API methods that act in chats: send, edit, delete, answer buttons, look chats up."""

from __future__ import annotations

from typing import Any

from sandbox.context import CallContext, Handler
from sandbox.errors import bad_request, forbidden
from sandbox.formatting import check_reply_markup, format_text
from sandbox.models import CallbackAnswer, MessageEdit, SandboxChat, SandboxMessage, buttons_of

__all__ = ["HANDLERS", "writable_chat"]

CALLBACK_ANSWER_WINDOW = 15 * 60
DELETE_WINDOW = 48 * 3600
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)


def _find_chat(ctx: CallContext, chat_id: int | str) -> SandboxChat:
    world = ctx.world
    if isinstance(chat_id, str):
        name = chat_id.removeprefix("@").lower()
        user = next((u for u in world.users.values() if (u.username or "").lower() == name), None)
        if user is None:
            raise bad_request("chat not found")
        chat_id = user.user_id
    chat = world.chats.get(chat_id)
    if chat is None:
        raise bad_request("chat not found")
    return chat


def writable_chat(ctx: CallContext, chat_id: int | str) -> SandboxChat:
    """The chat a bot may send to, or the error Telegram answers."""
    chat = _find_chat(ctx, chat_id)
    if chat.type == "private":
        user = ctx.world.users[chat.chat_id]
        if user.deactivated:
            raise forbidden("user is deactivated")
        if user.blocked:
            raise forbidden("bot was blocked by the user")
        if not user.started:
            raise forbidden("bot can't initiate conversation with a user")
    elif not chat.bot_member:
        raise forbidden(f"bot is not a member of the {chat.type} chat")
    return chat


def _inline_markup(message: SandboxMessage) -> dict[str, Any] | None:
    markup = message.reply_markup
    return markup if markup and "inline_keyboard" in markup else None


def _check_reply_to(ctx: CallContext, chat: SandboxChat) -> None:
    reply = ctx.params.get("reply_parameters")
    if not reply or reply.get("allow_sending_without_reply"):
        return
    target = ctx.world.find_message(int(reply.get("chat_id", chat.chat_id)), reply["message_id"])
    if target is None or target.deleted:
        raise bad_request("message to be replied not found")


async def send_message(ctx: CallContext) -> dict[str, Any]:
    """sendMessage with Telegram's checks of chat, text, parse mode and keyboard."""
    params, world, bot = ctx.params, ctx.world, ctx.bot
    chat = writable_chat(ctx, params["chat_id"])
    formatted = format_text(params["text"], params.get("parse_mode"), params.get("entities"))
    markup = check_reply_markup(params.get("reply_markup"))
    _check_reply_to(ctx, chat)
    message = SandboxMessage(
        message_id=world.next_message_id(chat.chat_id),
        chat_id=chat.chat_id,
        from_bot=True,
        user_id=bot.bot_id,
        date=world.now(),
        text=formatted.text,
        html=formatted.html,
        entities=formatted.entities,
        buttons=buttons_of(markup),
        bot_id=bot.bot_id,
        reply_markup=markup,
    )
    world.store(message)
    return world.message_api(message)


def _message_to_edit(ctx: CallContext) -> SandboxMessage:
    params = ctx.params
    if "inline_message_id" in params:
        raise bad_request("inline messages are not supported by the sandbox")
    if "chat_id" not in params or "message_id" not in params:
        raise bad_request("message identifier is not specified")
    chat = writable_chat(ctx, params["chat_id"])
    message = ctx.world.find_message(chat.chat_id, params["message_id"])
    if message is None or message.deleted or not message.from_bot:
        raise bad_request("message to edit not found")
    if message.user_id != ctx.bot.bot_id:
        raise bad_request("message to edit not found")
    return message


def _apply_edit(
    ctx: CallContext,
    message: SandboxMessage,
    text: str,
    html: str,
    entities: list[dict[str, Any]],
    markup: dict[str, Any] | None,
) -> dict[str, Any]:
    if (text, entities, markup) == (message.text, message.entities, _inline_markup(message)):
        raise bad_request(_NOT_MODIFIED)
    message.edits.append(
        MessageEdit(
            message.edit_date or message.date,
            message.text,
            message.html,
            message.entities,
            message.reply_markup,
        )
    )
    message.text, message.html, message.entities = text, html, entities
    message.reply_markup, message.buttons = markup, buttons_of(markup)
    message.edit_date = ctx.world.now()
    ctx.world.feed.bump()
    return ctx.world.message_api(message)


async def edit_message_text(ctx: CallContext) -> dict[str, Any]:
    """editMessageText (no reply_markup removes the inline keyboard, as in Telegram)."""
    params = ctx.params
    message = _message_to_edit(ctx)
    if message.kind != "text":
        raise bad_request("there is no text in the message to edit")
    if not params.get("text"):
        raise bad_request("message text is empty")
    formatted = format_text(params["text"], params.get("parse_mode"), params.get("entities"))
    markup = check_reply_markup(params.get("reply_markup"))
    return _apply_edit(ctx, message, formatted.text, formatted.html, formatted.entities, markup)


async def edit_message_reply_markup(ctx: CallContext) -> dict[str, Any]:
    """editMessageReplyMarkup (no reply_markup removes the keyboard)."""
    message = _message_to_edit(ctx)
    markup = check_reply_markup(ctx.params.get("reply_markup"))
    return _apply_edit(ctx, message, message.text, message.html, message.entities, markup)


async def delete_message(ctx: CallContext) -> bool:
    """deleteMessage: own messages, and the user's in a private chat, within 48 hours."""
    chat = _find_chat(ctx, ctx.params["chat_id"])
    message = ctx.world.find_message(chat.chat_id, ctx.params["message_id"])
    if message is None or message.deleted:
        raise bad_request("message to delete not found")
    own = message.from_bot and message.user_id == ctx.bot.bot_id
    if not own and chat.type != "private":
        raise bad_request("message can't be deleted")
    if ctx.world.now() - message.date > DELETE_WINDOW:
        raise bad_request("message can't be deleted for everyone")
    message.deleted = True
    ctx.world.feed.bump()
    return True


async def answer_callback_query(ctx: CallContext) -> bool:
    """answerCallbackQuery: once per query, within 15 minutes of the press."""
    world, params = ctx.world, ctx.params
    query = world.callback_queries.get(params["callback_query_id"])
    too_old = query is not None and world.clock.now() - query.created_at > CALLBACK_ANSWER_WINDOW
    if query is None or query.bot_id != ctx.bot.bot_id or query.answered or too_old:
        raise bad_request(_QUERY_INVALID)
    text = params.get("text")
    if text is not None and len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    query.answered = True
    answer = CallbackAnswer(
        query.query_id,
        query.user_id,
        text,
        bool(params.get("show_alert", False)),
        params.get("url"),
        world.now(),
    )
    world.answers.append(answer)
    world.feed.bump()
    return True


async def send_chat_action(ctx: CallContext) -> bool:
    """sendChatAction."""
    writable_chat(ctx, ctx.params["chat_id"])
    if ctx.params["action"] not in _CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True


async def get_chat(ctx: CallContext) -> dict[str, Any]:
    """getChat: a ChatFullInfo."""
    chat = _find_chat(ctx, ctx.params["chat_id"])
    if chat.type != "private" and not chat.bot_member:
        raise bad_request("chat not found")
    info = ctx.world.chat_api(chat)
    info.update(
        accent_color_id=0,
        max_reaction_count=11,
        accepted_gift_types={
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    )
    return info


async def get_chat_member(ctx: CallContext) -> dict[str, Any]:
    """getChatMember: "member" or "left" (the sandbox has no administrators)."""
    world = ctx.world
    chat = _find_chat(ctx, ctx.params["chat_id"])
    user_id: int = ctx.params["user_id"]
    if user_id == ctx.bot.bot_id:
        status = "member" if chat.type == "private" or chat.bot_member else "left"
        return {"status": status, "user": ctx.bot.to_api()}
    user = world.users.get(user_id)
    if user is None:
        raise bad_request("user not found")
    member = user_id in chat.members
    return {"status": "member" if member else "left", "user": user.to_api()}


HANDLERS: dict[str, Handler] = {
    "sendmessage": send_message,
    "editmessagetext": edit_message_text,
    "editmessagereplymarkup": edit_message_reply_markup,
    "deletemessage": delete_message,
    "answercallbackquery": answer_callback_query,
    "sendchataction": send_chat_action,
    "getchat": get_chat,
    "getchatmember": get_chat_member,
}
