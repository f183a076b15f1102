"""What people do in the sandbox: write, press buttons, edit, block; each becomes an update."""

from __future__ import annotations

import zlib
from typing import Any

from sandbox.errors import SandboxError
from sandbox.html import command_entities, entities_to_html
from sandbox.models import (
    BotAccount,
    CallbackQuery,
    MessageEdit,
    SandboxMessage,
    SandboxUser,
)
from sandbox.world import World

__all__ = ["edit_as_user", "post_as_user", "press_button", "push_raw_update", "set_blocked"]


def _active_user(world: World, user_id: int) -> SandboxUser:
    user = world.user(user_id)
    if user.deactivated:
        raise SandboxError(f"user {user_id} is deactivated")
    if user.blocked:
        raise SandboxError(f"user {user_id} has blocked the bot; unblock() them first")
    return user


def _recipients(
    world: World, user: SandboxUser, chat_id: int, bot: str | int | None
) -> tuple[list[BotAccount], int | None]:
    """The bots that receive a user's message in a chat, and the bot a private chat is with."""
    chat = world.chat(chat_id)
    if chat.type == "private":
        if chat_id != user.user_id:
            raise SandboxError(f"user {user.user_id} cannot write in the private chat {chat_id}")
        target = world.resolve_bot(bot)
        return [target], target.bot_id
    if chat.type == "channel":
        raise SandboxError("users cannot write in a channel")
    if user.user_id not in chat.members:
        raise SandboxError(f"user {user.user_id} is not a member of chat {chat_id}")
    if not chat.bot_member:
        return [], None
    return ([world.resolve_bot(bot)] if bot is not None else list(world.bots.values())), None


def post_as_user(
    world: World,
    user_id: int,
    *,
    text: str = "",
    chat_id: int | None = None,
    bot: str | int | None = None,
    kind: str = "text",
    extra: dict[str, Any] | None = None,
) -> SandboxMessage:
    """A user's message in their private chat (default) or a group, delivered as an update."""
    user = _active_user(world, user_id)
    chat_id = user_id if chat_id is None else chat_id
    bots, bot_id = _recipients(world, user, chat_id, bot)
    if kind == "text" and not text.strip():
        raise SandboxError("a text message needs some text")
    entities = command_entities(text) if kind == "text" else []
    message_id = world.next_message_id(chat_id)
    message = SandboxMessage(
        message_id=message_id,
        chat_id=chat_id,
        from_bot=False,
        user_id=user_id,
        date=world.now(),
        text=text,
        html=entities_to_html(text, entities),
        entities=entities,
        bot_id=bot_id,
        kind=kind,
        extra=dict(extra or {}),
    )
    if bot_id is not None:
        user.started = True
    world.store(message)
    for recipient in bots:
        world.enqueue(recipient, {"message": world.message_api(message)})
    return message


def edit_as_user(
    world: World, user_id: int, chat_id: int, message_id: int, text: str
) -> SandboxMessage:
    """A user edits their own text message; bots get an `edited_message` update."""
    user = _active_user(world, user_id)
    message = world.find_message(chat_id, message_id)
    if message is None or message.from_bot or message.user_id != user_id or message.deleted:
        raise SandboxError(f"user {user_id} has no message {message_id} in chat {chat_id}")
    message.edits.append(
        MessageEdit(
            message.edit_date or message.date,
            message.text,
            message.html,
            message.entities,
            message.reply_markup,
        )
    )
    message.text = text
    message.entities = command_entities(text)
    message.html = entities_to_html(text, message.entities)
    message.edit_date = world.now()
    world.feed.bump()
    bots, _ = _recipients(world, user, chat_id, message.bot_id)
    for recipient in bots:
        world.enqueue(recipient, {"edited_message": world.message_api(message)})
    return message


def press_button(
    world: World,
    user_id: int,
    chat_id: int,
    message_id: int,
    data: str,
    *,
    forge: bool = False,
    bot: str | int | None = None,
) -> str:
    """A user presses an inline button; returns the callback query id.

    Unless `forge`, the message must exist and carry a button with that callback_data;
    forging lets tests send what a modified client could (any data, any message id).
    """
    user = _active_user(world, user_id)
    message = world.find_message(chat_id, message_id)
    if not forge:
        if message is None or message.deleted:
            raise SandboxError(f"no message {message_id} in chat {chat_id} to press a button of")
        if data not in message.button_data():
            raise SandboxError(
                f"message {message_id} has no button with callback_data {data!r}; "
                f"it has {message.button_data()}"
            )
    owner = world.bot_by_id(message.bot_id) if message and message.bot_id is not None else None
    target = owner or world.resolve_bot(bot)
    query_id = world.new_query_id()
    world.callback_queries[query_id] = CallbackQuery(
        query_id, target.bot_id, user_id, chat_id, message_id, data, world.clock.now()
    )
    if message is not None and not message.deleted:
        shown = world.message_api(message)
    else:
        shown = {"chat": world.chat_api(world.chat(chat_id)), "message_id": message_id, "date": 0}
    query = {
        "id": query_id,
        "from": user.to_api(),
        "message": shown,
        "chat_instance": str(zlib.crc32(f"{target.bot_id}:{chat_id}".encode())),
        "data": data,
    }
    world.enqueue(target, {"callback_query": query})
    return query_id


def push_raw_update(world: World, update: dict[str, Any], bot: str | int | None = None) -> int:
    """Queue any update as given (a fresh update_id replaces one it carries)."""
    body = {k: v for k, v in update.items() if k != "update_id"}
    if not body:
        raise SandboxError("an update needs one field besides update_id")
    target = world.resolve_bot(bot)
    update_id = world.enqueue(target, body)
    if update_id is None:
        raise SandboxError(f"the bot's allowed_updates filter out {next(iter(body))!r}")
    return update_id


def set_blocked(world: World, user_id: int, blocked: bool) -> None:
    """Block or unblock every bot for a user; bots that knew them get `my_chat_member`."""
    user = world.user(user_id)
    if user.blocked == blocked:
        return
    user.blocked = blocked
    world.feed.bump()
    if not user.started:
        return
    old, new = ("member", "kicked") if blocked else ("kicked", "member")
    for bot in world.bots.values():
        update = {
            "chat": world.chat_api(world.chat(user_id)),
            "from": user.to_api(),
            "date": world.now(),
            "old_chat_member": _member(bot, old),
            "new_chat_member": _member(bot, new),
        }
        world.enqueue(bot, {"my_chat_member": update})


def _member(bot: BotAccount, status: str) -> dict[str, Any]:
    member: dict[str, Any] = {"status": status, "user": bot.to_api()}
    if status == "kicked":
        member["until_date"] = 0
    return member
