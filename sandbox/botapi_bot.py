"""Bot API methods about the bot itself: identity, updates, webhook, commands, descriptions."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import urlsplit

from sandbox.context import CallContext, Handler
from sandbox.errors import ApiError, bad_request
from sandbox.models import WebhookState

__all__ = ["HANDLERS"]

_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_MAX_COMMANDS = 100
_POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


async def get_me(ctx: CallContext) -> dict[str, Any]:
    """getMe: the bot's User, with the bot-only capability flags."""
    return {
        **ctx.bot.to_api(),
        "can_join_groups": True,
        "can_read_all_group_messages": True,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def _confirm(ctx: CallContext, offset: int | None) -> None:
    """Forget updates as Telegram does for an offset (negative: keep only the last -offset)."""
    updates = ctx.bot.updates
    if offset is None or offset == 0:
        return
    if offset > 0:
        updates[:] = [u for u in updates if u["update_id"] >= offset]
    else:
        updates[:] = updates[offset:]


async def get_updates(ctx: CallContext) -> list[dict[str, Any]]:
    """getUpdates with offset confirmation, long polling and the two 409 conflicts."""
    bot, world, params = ctx.bot, ctx.world, ctx.params
    if bot.webhook is not None:
        raise ApiError(409, _WEBHOOK_CONFLICT)
    limit = min(max(int(params.get("limit", 100)), 1), 100)
    timeout = max(float(params.get("timeout", 0)), 0.0)
    if "allowed_updates" in params:
        bot.allowed_updates = list(params["allowed_updates"])
    _confirm(ctx, params.get("offset"))
    bot.poll_generation += 1
    generation = bot.poll_generation
    world.feed.bump()  # wakes an earlier long poll of this bot so that it ends with 409
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if bot.poll_generation != generation:
            raise ApiError(409, _POLL_CONFLICT)
        if bot.webhook is not None:
            raise ApiError(409, _WEBHOOK_CONFLICT)
        remaining = deadline - asyncio.get_running_loop().time()
        if bot.updates or world.closing or remaining <= 0:
            return [dict(u) for u in bot.updates[:limit]]
        await world.feed.wait(world.feed.version, remaining)


async def set_webhook(ctx: CallContext) -> bool:
    """setWebhook: updates are then POSTed to the URL instead of served by getUpdates."""
    params, bot = ctx.params, ctx.bot
    url = str(params["url"]).strip()
    if not url:
        return await delete_webhook(ctx)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise bad_request("bad webhook: an HTTP(S) URL must be provided for webhook")
    secret = params.get("secret_token")
    if secret is not None and not _SECRET.match(secret):
        raise bad_request("secret token contains unallowed characters")
    if params.get("drop_pending_updates"):
        bot.updates.clear()
    if "allowed_updates" in params:
        bot.allowed_updates = list(params["allowed_updates"])
    bot.webhook = WebhookState(url, secret, int(params.get("max_connections", 40)))
    bot.poll_generation += 1
    ctx.webhooks.start(bot)
    ctx.world.feed.bump()
    return True


async def delete_webhook(ctx: CallContext) -> bool:
    """deleteWebhook (optionally dropping pending updates)."""
    bot = ctx.bot
    if ctx.params.get("drop_pending_updates"):
        bot.updates.clear()
    bot.webhook = None
    ctx.webhooks.stop(bot)
    ctx.world.feed.bump()
    return True


async def get_webhook_info(ctx: CallContext) -> dict[str, Any]:
    """getWebhookInfo."""
    bot = ctx.bot
    info: dict[str, Any] = {
        "url": bot.webhook.url if bot.webhook else "",
        "has_custom_certificate": False,
        "pending_update_count": len(bot.updates),
    }
    if bot.webhook is not None:
        info["max_connections"] = bot.webhook.max_connections
        if bot.webhook.last_error_date is not None:
            info["last_error_date"] = bot.webhook.last_error_date
            info["last_error_message"] = bot.webhook.last_error_message
    if bot.allowed_updates:
        info["allowed_updates"] = bot.allowed_updates
    return info


async def log_out_or_close(ctx: CallContext) -> bool:
    """close / logOut: nothing to release in the sandbox."""
    return True


def _commands_key(ctx: CallContext) -> str:
    scope = ctx.params.get("scope") or {"type": "default"}
    return json.dumps([scope, ctx.params.get("language_code") or ""], sort_keys=True)


async def set_my_commands(ctx: CallContext) -> bool:
    """setMyCommands with Telegram's checks of names and descriptions."""
    commands: list[dict[str, Any]] = ctx.params["commands"]
    if len(commands) > _MAX_COMMANDS:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    for command in commands:
        if not _COMMAND.match(str(command["command"])):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command["description"]).strip()) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    clean = [{"command": c["command"], "description": c["description"]} for c in commands]
    ctx.bot.commands[_commands_key(ctx)] = clean
    ctx.world.feed.bump()
    return True


async def get_my_commands(ctx: CallContext) -> list[dict[str, Any]]:
    """getMyCommands for a scope and language."""
    return list(ctx.bot.commands.get(_commands_key(ctx), []))


async def delete_my_commands(ctx: CallContext) -> bool:
    """deleteMyCommands for a scope and language."""
    ctx.bot.commands.pop(_commands_key(ctx), None)
    return True


def _set_text(store: dict[str, str], ctx: CallContext, field: str, limit: int) -> bool:
    text = str(ctx.params.get(field) or "")
    if len(text) > limit:
        raise bad_request(f"{field} is too long")
    store[ctx.params.get("language_code") or ""] = text
    ctx.world.feed.bump()
    return True


async def set_my_description(ctx: CallContext) -> bool:
    """setMyDescription (0-512 characters)."""
    return _set_text(ctx.bot.descriptions, ctx, "description", 512)


async def set_my_short_description(ctx: CallContext) -> bool:
    """setMyShortDescription (0-120 characters)."""
    return _set_text(ctx.bot.short_descriptions, ctx, "short_description", 120)


async def get_my_description(ctx: CallContext) -> dict[str, str]:
    """getMyDescription."""
    lang = ctx.params.get("language_code") or ""
    return {"description": ctx.bot.descriptions.get(lang, "")}


async def get_my_short_description(ctx: CallContext) -> dict[str, str]:
    """getMyShortDescription."""
    lang = ctx.params.get("language_code") or ""
    return {"short_description": ctx.bot.short_descriptions.get(lang, "")}


async def set_chat_menu_button(ctx: CallContext) -> bool:
    """setChatMenuButton (per chat, or the default when chat_id is omitted)."""
    button = ctx.params.get("menu_button") or {"type": "default"}
    if button.get("type") not in ("commands", "web_app", "default"):
        raise bad_request("menu button type must be commands, web_app or default")
    ctx.bot.menu_buttons[ctx.params.get("chat_id")] = button
    return True


async def get_chat_menu_button(ctx: CallContext) -> dict[str, Any]:
    """getChatMenuButton."""
    buttons = ctx.bot.menu_buttons
    chat_id = ctx.params.get("chat_id")
    return buttons.get(chat_id) or buttons.get(None) or {"type": "commands"}


HANDLERS: dict[str, Handler] = {
    "getme": get_me,
    "getupdates": get_updates,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
    "close": log_out_or_close,
    "logout": log_out_or_close,
    "setmycommands": set_my_commands,
    "getmycommands": get_my_commands,
    "deletemycommands": delete_my_commands,
    "setmydescription": set_my_description,
    "setmyshortdescription": set_my_short_description,
    "getmydescription": get_my_description,
    "getmyshortdescription": get_my_short_description,
    "setchatmenubutton": set_chat_menu_button,
    "getchatmenubutton": get_chat_menu_button,
}
