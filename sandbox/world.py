"""The sandbox's in-memory Telegram: bots, users, chats, messages, updates, and its clock."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from sandbox.errors import ApiError, SandboxError
from sandbox.models import (
    ApiCall,
    BotAccount,
    CallbackAnswer,
    CallbackQuery,
    SandboxChat,
    SandboxMessage,
    SandboxUser,
)

__all__ = ["TOKEN_PATTERN", "ChangeFeed", "SandboxClock", "World"]

logger = logging.getLogger(__name__)

TOKEN_PATTERN = re.compile(r"^(\d+):[A-Za-z0-9_-]{20,}$")
# Update types Telegram leaves out unless a bot asks for them by name.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

JsonDict = dict[str, Any]


class SandboxClock:
    """Real time by default; frozen at a value after `set_time` until `clear_time`."""

    def __init__(self) -> None:
        self._frozen: float | None = None

    def now(self) -> float:
        """The sandbox's current unix time."""
        return time.time() if self._frozen is None else self._frozen

    def set_time(self, unix_seconds: float) -> None:
        """Freeze the clock at `unix_seconds`."""
        self._frozen = float(unix_seconds)

    def advance(self, seconds: float) -> None:
        """Move a frozen clock forward (freezing it at now + seconds if it was running)."""
        self._frozen = self.now() + seconds

    def clear_time(self) -> None:
        """Go back to real time."""
        self._frozen = None

    @property
    def frozen(self) -> bool:
        """Whether the clock is frozen."""
        return self._frozen is not None


class ChangeFeed:
    """A version number that waiters can block on; bumped by every change to the world."""

    def __init__(self) -> None:
        self.version = 0
        self._event = asyncio.Event()

    def bump(self) -> None:
        """Record a change and wake every waiter."""
        self.version += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, since: int, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until the version exceeds `since`; False on timeout."""
        if self.version > since:
            return True
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return self.version > since
        return True

    async def wait_until(
        self,
        condition: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109
    ) -> bool:
        """Wait until `condition()` holds (re-checked at every change); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await self.wait(self.version, remaining)
        return True


class World:
    """Everything the sandbox knows, and the operations both sides of a chat share."""

    def __init__(self, *, auto_register: bool = True) -> None:
        self.auto_register = auto_register
        self.clock = SandboxClock()
        self.feed = ChangeFeed()
        self.closing = False
        self.bots: dict[str, BotAccount] = {}
        self.users: dict[int, SandboxUser] = {}
        self.chats: dict[int, SandboxChat] = {}
        self.transcripts: dict[int, list[SandboxMessage]] = {}
        self.callback_queries: dict[str, CallbackQuery] = {}
        self.answers: list[CallbackAnswer] = []
        self.calls: list[ApiCall] = []
        self.photos: dict[str, bytes] = {}  # a bot's photo uploads, by largest file_id
        self._next_query = 1
        self._next_file = 1

    def reset(self) -> None:
        """Forget users, chats, messages, updates, calls; keep the registered bots."""
        self.users.clear()
        self.chats.clear()
        self.transcripts.clear()
        self.callback_queries.clear()
        self.answers.clear()
        self.calls.clear()
        self.photos.clear()
        for bot in self.bots.values():
            bot.updates.clear()
            bot.webhook = None
        self.feed.bump()

    def now(self) -> int:
        """The sandbox time as a Bot API `date`."""
        return int(self.clock.now())

    # bots

    def add_bot(
        self, token: str, username: str | None = None, first_name: str | None = None
    ) -> BotAccount:
        """Register a bot (or update the names of a registered one)."""
        match = TOKEN_PATTERN.match(token)
        if match is None:
            raise SandboxError(f"ill-formed bot token (expected {TOKEN_PATTERN.pattern})")
        bot_id = int(match.group(1))
        bot = self.bots.get(token)
        name = username or f"sandbox{bot_id}_bot"
        if bot is None:
            bot = BotAccount(token, bot_id, name, first_name or name)
            self.bots[token] = bot
        else:
            bot.username = username or bot.username
            bot.first_name = first_name or bot.first_name
        self.feed.bump()
        return bot

    def bot_for_token(self, token: str) -> BotAccount:
        """The bot a Bot API call authenticates as, or Telegram's 401."""
        bot = self.bots.get(token)
        if bot is None and self.auto_register and TOKEN_PATTERN.match(token):
            logger.info("auto-registering a sandbox bot for token id %s", token.split(":")[0])
            bot = self.add_bot(token)
        if bot is None:
            raise ApiError(401, "Unauthorized")
        return bot

    def resolve_bot(self, ref: str | int | None = None) -> BotAccount:
        """A bot by token, username, or id; the first registered bot when `ref` is None."""
        for bot in self.bots.values():
            if ref is None or ref in (bot.token, bot.bot_id, bot.username, f"@{bot.username}"):
                return bot
        if ref is None:
            raise SandboxError("no bot is registered yet: call add_bot() or let the bot call getMe")
        raise SandboxError(f"no bot {ref!r} in the sandbox")

    def bot_by_id(self, bot_id: int) -> BotAccount | None:
        """The registered bot with this id, if any."""
        return next((b for b in self.bots.values() if b.bot_id == bot_id), None)

    # users and chats

    def add_user(
        self,
        user_id: int | None = None,
        first_name: str = "User",
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = None,
    ) -> SandboxUser:
        """Create a user and their private chat (ids are picked from 1001 up when omitted).

        Adding an existing id updates that user's names and language, keeping their flags.
        """
        if user_id is None:
            user_id = max([1000, *self.users]) + 1
        if user_id <= 0:
            raise SandboxError("user ids are positive")
        user = self.users.get(user_id) or SandboxUser(user_id, first_name)
        user.first_name, user.last_name = first_name, last_name
        user.username, user.language_code = username, language_code
        self.users[user_id] = user
        self.chats.setdefault(user_id, SandboxChat(user_id, "private", members={user_id}))
        self.feed.bump()
        return user

    def user(self, user_id: int) -> SandboxUser:
        """The user with this id."""
        try:
            return self.users[user_id]
        except KeyError:
            raise SandboxError(f"no user {user_id} in the sandbox") from None

    def add_chat(
        self,
        chat_id: int,
        title: str,
        *,
        kind: str,
        members: list[int] | tuple[int, ...] = (),
        bot_member: bool = True,
    ) -> SandboxChat:
        """Create a group, supergroup or channel (members are created as users if needed)."""
        if chat_id >= 0:
            raise SandboxError("group and channel ids are negative")
        for member in members:
            if member not in self.users:
                self.add_user(member, f"User {member}")
        chat = SandboxChat(chat_id, kind, title, set(members), bot_member)
        self.chats[chat_id] = chat
        self.feed.bump()
        return chat

    def chat(self, chat_id: int) -> SandboxChat:
        """The chat with this id."""
        try:
            return self.chats[chat_id]
        except KeyError:
            raise SandboxError(f"no chat {chat_id} in the sandbox") from None

    # messages

    def transcript(self, chat_id: int) -> list[SandboxMessage]:
        """The live list of a chat's messages (internal; hand out snapshots)."""
        return self.transcripts.setdefault(chat_id, [])

    def next_message_id(self, chat_id: int) -> int:
        """The id the next message of this chat gets."""
        transcript = self.transcript(chat_id)
        return transcript[-1].message_id + 1 if transcript else 1

    def store(self, message: SandboxMessage) -> SandboxMessage:
        """Append a message to its chat."""
        self.transcript(message.chat_id).append(message)
        self.feed.bump()
        return message

    def find_message(self, chat_id: int, message_id: int) -> SandboxMessage | None:
        """A message of a chat by id (deleted ones included)."""
        return next((m for m in self.transcript(chat_id) if m.message_id == message_id), None)

    def new_query_id(self) -> str:
        """A fresh callback query id."""
        self._next_query += 1
        return f"{int(self.clock.now() * 1000) % 10**9}{self._next_query:06d}"

    def new_file(self) -> dict[str, str]:
        """A fresh `file_id` / `file_unique_id` pair for media a user sends."""
        self._next_file += 1
        return {
            "file_id": f"sandbox-file-{self._next_file}",
            "file_unique_id": f"sbx{self._next_file:08d}",
        }

    # updates

    def enqueue(self, bot: BotAccount, update: JsonDict) -> int | None:
        """Queue an update for a bot (unless its allowed_updates filter it); its update_id."""
        kind = next((k for k in update if k != "update_id"), "")
        allowed = bot.allowed_updates
        if (allowed and kind not in allowed) or (not allowed and kind in _OPT_IN_UPDATES):
            return None
        update_id = bot.next_update_id
        bot.next_update_id += 1
        bot.updates.append({"update_id": update_id, **update})
        self.feed.bump()
        return update_id

    def record(self, call: ApiCall) -> None:
        """Keep a Bot API call for `calls()` and `rejections()`."""
        self.calls.append(call)
        self.feed.bump()

    # Bot API shapes

    def chat_api(self, chat: SandboxChat) -> JsonDict:
        """The Bot API `Chat` object."""
        if chat.type == "private":
            user = self.users.get(chat.chat_id)
            data: JsonDict = {"id": chat.chat_id, "type": "private"}
            if user is not None:
                data["first_name"] = user.first_name
                for key in ("last_name", "username"):
                    if getattr(user, key) is not None:
                        data[key] = getattr(user, key)
            return data
        return {"id": chat.chat_id, "type": chat.type, "title": chat.title or ""}

    def sender_api(self, message: SandboxMessage) -> JsonDict:
        """The `from` of a message."""
        if message.from_bot:
            bot = self.bot_by_id(message.user_id)
            if bot is not None:
                return bot.to_api()
            return {"id": message.user_id, "is_bot": True, "first_name": "Bot"}
        user = self.users.get(message.user_id)
        if user is None:
            return {"id": message.user_id, "is_bot": False, "first_name": "Deleted Account"}
        return user.to_api()

    def message_api(self, message: SandboxMessage) -> JsonDict:
        """The Bot API `Message` object."""
        data: JsonDict = {
            "message_id": message.message_id,
            "from": self.sender_api(message),
            "date": message.date,
            "chat": self.chat_api(self.chat(message.chat_id)),
        }
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        if message.kind == "text":
            data["text"] = message.text
            if message.entities:
                data["entities"] = message.entities
        else:
            data.update(message.extra)
            if message.text:
                data["caption"] = message.text
                if message.entities:
                    data["caption_entities"] = message.entities
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            data["reply_markup"] = message.reply_markup
        return data
