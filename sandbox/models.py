"""The records the sandbox keeps: users, chats, messages, bots, callback queries, API calls."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = [
    "ApiCall",
    "BotAccount",
    "CallbackAnswer",
    "CallbackQuery",
    "MessageEdit",
    "SandboxChat",
    "SandboxMessage",
    "SandboxUser",
    "WebhookState",
]

JsonDict = dict[str, Any]


@dataclass
class SandboxUser:
    """A Telegram user of the sandbox; `started` once they have written to a bot."""

    user_id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    blocked: bool = False
    deactivated: bool = False
    started: bool = False

    def to_api(self) -> JsonDict:
        """The Bot API `User` object."""
        user: JsonDict = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                user[key] = getattr(self, key)
        return user

    def to_dict(self) -> JsonDict:
        """Plain JSON view (control API)."""
        return asdict(self)


@dataclass
class SandboxChat:
    """A chat: private (id == user id), group/supergroup (negative id) or channel."""

    chat_id: int
    type: str
    title: str | None = None
    members: set[int] = field(default_factory=set)
    bot_member: bool = True

    def to_dict(self) -> JsonDict:
        """Plain JSON view (control API)."""
        return {
            "chat_id": self.chat_id,
            "type": self.type,
            "title": self.title,
            "members": sorted(self.members),
            "bot_member": self.bot_member,
        }


@dataclass
class MessageEdit:
    """One earlier version of a message, kept when it is edited."""

    date: int
    text: str
    html: str
    entities: list[JsonDict]
    reply_markup: JsonDict | None


@dataclass
class SandboxMessage:
    """A message of a chat transcript, in either direction.

    `user_id` is the sender (a user, or the bot's own id when `from_bot`); `bot_id` is the bot
    the message belongs to (None for a user's message in a group, which every member bot sees).
    `html` is the text as Telegram HTML: as sent for `parse_mode=HTML`, else built from the
    entities. `edits` holds the earlier versions, oldest first.
    """

    message_id: int
    chat_id: int
    from_bot: bool
    user_id: int
    date: int
    text: str
    html: str
    entities: list[JsonDict] = field(default_factory=list)
    buttons: list[list[JsonDict]] = field(default_factory=list)
    edits: list[MessageEdit] = field(default_factory=list)
    deleted: bool = False
    bot_id: int | None = None
    kind: str = "text"
    reply_markup: JsonDict | None = None
    edit_date: int | None = None
    extra: JsonDict = field(default_factory=dict)

    def button_data(self) -> list[str]:
        """The callback_data of every inline button, row by row."""
        return [b["callback_data"] for row in self.buttons for b in row if "callback_data" in b]

    def button_texts(self) -> list[str]:
        """The label of every inline button, row by row."""
        return [str(b.get("text", "")) for row in self.buttons for b in row]

    def snapshot(self) -> SandboxMessage:
        """An independent copy (what the in-process API hands out)."""
        return copy.deepcopy(self)

    def to_dict(self) -> JsonDict:
        """Plain JSON view (control API)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: JsonDict) -> SandboxMessage:
        """Inverse of `to_dict` (used by `SandboxClient`)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["edits"] = [MessageEdit(**e) for e in data.get("edits", [])]
        return cls(**values)


def buttons_of(reply_markup: JsonDict | None) -> list[list[JsonDict]]:
    """The inline keyboard rows of a reply markup (empty for any other markup)."""
    if not reply_markup or "inline_keyboard" not in reply_markup:
        return []
    return [[dict(button) for button in row] for row in reply_markup["inline_keyboard"]]


@dataclass
class WebhookState:
    """A bot's webhook, with the delivery errors getWebhookInfo reports."""

    url: str
    secret_token: str | None = None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class BotAccount:
    """A bot registered with the sandbox, and its server-side state."""

    token: str
    bot_id: int
    username: str
    first_name: str
    updates: list[JsonDict] = field(default_factory=list)
    next_update_id: int = 1
    allowed_updates: list[str] | None = None
    webhook: WebhookState | None = None
    poll_generation: int = 0
    commands: dict[str, list[JsonDict]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    short_descriptions: dict[str, str] = field(default_factory=dict)
    menu_buttons: dict[int | None, JsonDict] = field(default_factory=dict)

    def to_api(self) -> JsonDict:
        """The Bot API `User` object of the bot (as in a message's `from`)."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def to_dict(self) -> JsonDict:
        """Plain JSON view (control API); the token is included, it is a sandbox token."""
        return {
            "token": self.token,
            "bot_id": self.bot_id,
            "username": self.username,
            "first_name": self.first_name,
            "pending_updates": len(self.updates),
            "webhook_url": self.webhook.url if self.webhook else None,
        }


@dataclass
class CallbackQuery:
    """A button press waiting for (or given) an answerCallbackQuery."""

    query_id: str
    bot_id: int
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created_at: float
    answered: bool = False


@dataclass(frozen=True)
class CallbackAnswer:
    """What a bot answered to a callback query."""

    query_id: str
    user_id: int
    text: str | None
    show_alert: bool
    url: str | None
    date: int

    def to_dict(self) -> JsonDict:
        """Plain JSON view (control API)."""
        return asdict(self)


@dataclass(frozen=True)
class ApiCall:
    """One Bot API call as the sandbox answered it.

    `injected` is True when the answer came from a fault rule rather than a Telegram check.
    `delivered` is True when Telegram carried the call out (a sendMessage made its message),
    whatever the client was told: every ok call, and a fault's with `delivered=True`.
    """

    method: str
    params: JsonDict
    ok: bool
    error_code: int | None
    description: str | None
    injected: bool
    time: float
    bot_id: int | None
    delivered: bool = False

    def to_dict(self) -> JsonDict:
        """Plain JSON view (control API)."""
        return asdict(self)
