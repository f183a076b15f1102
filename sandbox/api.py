"""The in-process API of the sandbox: set up a world, act as users, inspect and wait."""

from __future__ import annotations

import io
from collections.abc import Callable

from sandbox import actions
from sandbox.errors import SandboxError
from sandbox.faults import FaultInjector, RateLimiter
from sandbox.latency import Latency
from sandbox.models import (
    ApiCall,
    BotAccount,
    CallbackAnswer,
    SandboxChat,
    SandboxMessage,
    SandboxUser,
)
from sandbox.webhook import WebhookDispatcher
from sandbox.world import World

__all__ = ["Sandbox"]

MessagePredicate = Callable[[SandboxMessage], bool]


def _describe(message: SandboxMessage) -> str:
    who = "bot" if message.from_bot else f"user {message.user_id}"
    text = message.text if len(message.text) <= 60 else message.text[:57] + "..."
    flags = " (deleted)" if message.deleted else ""
    return f"#{message.message_id} {who} [{message.kind}]{flags}: {text!r}"


class Sandbox:
    """A fake Telegram: its users, chats and transcripts, without the HTTP server part."""

    def __init__(
        self, *, auto_register: bool = True, seed: int | None = None, latency_ms: float = 0.0
    ) -> None:
        self.world = World(auto_register=auto_register)
        self.faults = FaultInjector(seed)
        self.limiter = RateLimiter()
        self.latency = Latency(latency_ms)
        self.webhooks = WebhookDispatcher(self.world)

    # set-up

    def add_bot(
        self, token: str, username: str | None = None, first_name: str | None = None
    ) -> BotAccount:
        """Register a bot token (username defaults to `sandbox<id>_bot`)."""
        return self.world.add_bot(token, username, first_name)

    def bots(self) -> list[BotAccount]:
        """The registered bots."""
        return list(self.world.bots.values())

    def add_user(
        self,
        user_id: int | None = None,
        first_name: str = "User",
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = None,
    ) -> SandboxUser:
        """Create a user (and their private chat); the id is picked when omitted."""
        return self.world.add_user(
            user_id,
            first_name,
            username=username,
            last_name=last_name,
            language_code=language_code,
        )

    def users(self) -> list[SandboxUser]:
        """Every user."""
        return list(self.world.users.values())

    def add_group(
        self,
        chat_id: int,
        title: str,
        members: list[int] | tuple[int, ...] = (),
        *,
        bot_member: bool = True,
        supergroup: bool | None = None,
    ) -> SandboxChat:
        """Create a group (a supergroup when the id starts with -100, unless told)."""
        if supergroup is None:
            supergroup = str(chat_id).startswith("-100")
        kind = "supergroup" if supergroup else "group"
        return self.world.add_chat(
            chat_id, title, kind=kind, members=members, bot_member=bot_member
        )

    def add_channel(self, chat_id: int, title: str, *, bot_member: bool = True) -> SandboxChat:
        """Create a channel."""
        return self.world.add_chat(chat_id, title, kind="channel", bot_member=bot_member)

    def chats(self) -> list[SandboxChat]:
        """Every chat (private chats included)."""
        return list(self.world.chats.values())

    def block(self, user_id: int) -> None:
        """The user blocks the bot (sends then fail with 403)."""
        actions.set_blocked(self.world, user_id, True)

    def unblock(self, user_id: int) -> None:
        """The user unblocks the bot."""
        actions.set_blocked(self.world, user_id, False)

    def deactivate(self, user_id: int) -> None:
        """The user deletes their account."""
        self.world.user(user_id).deactivated = True
        self.world.feed.bump()

    # acting as users

    async def send_text(
        self, user_id: int, text: str, chat_id: int | None = None, *, bot: str | int | None = None
    ) -> SandboxMessage:
        """A user writes `text` (private chat by default); marks them as having started the bot."""
        message = actions.post_as_user(self.world, user_id, text=text, chat_id=chat_id, bot=bot)
        return message.snapshot()

    async def send_sticker(
        self,
        user_id: int,
        chat_id: int | None = None,
        *,
        emoji: str = "👍",
        bot: str | int | None = None,
    ) -> SandboxMessage:
        """A user sends a sticker."""
        sticker = {
            **self.world.new_file(),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._post_media(user_id, chat_id, bot, "sticker", {"sticker": sticker}, "")

    async def send_photo(
        self,
        user_id: int,
        chat_id: int | None = None,
        *,
        caption: str = "",
        bot: str | int | None = None,
    ) -> SandboxMessage:
        """A user sends a photo (two sizes, as Telegram does)."""
        sizes = [{**self.world.new_file(), "width": w, "height": w} for w in (90, 800)]
        return self._post_media(user_id, chat_id, bot, "photo", {"photo": sizes}, caption)

    async def send_voice(
        self,
        user_id: int,
        chat_id: int | None = None,
        *,
        duration: int = 3,
        bot: str | int | None = None,
    ) -> SandboxMessage:
        """A user sends a voice note."""
        voice = {**self.world.new_file(), "duration": duration, "mime_type": "audio/ogg"}
        return self._post_media(user_id, chat_id, bot, "voice", {"voice": voice}, "")

    def _post_media(
        self,
        user_id: int,
        chat_id: int | None,
        bot: str | int | None,
        kind: str,
        extra: dict[str, object],
        caption: str,
    ) -> SandboxMessage:
        message = actions.post_as_user(
            self.world, user_id, text=caption, chat_id=chat_id, bot=bot, kind=kind, extra=extra
        )
        return message.snapshot()

    async def edit_text(
        self, user_id: int, chat_id: int, message_id: int, text: str
    ) -> SandboxMessage:
        """A user edits their own message."""
        return actions.edit_as_user(self.world, user_id, chat_id, message_id, text).snapshot()

    async def press(
        self,
        user_id: int,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        forge: bool = False,
        bot: str | int | None = None,
    ) -> str:
        """A user presses the inline button with `data`; returns the callback query id."""
        return actions.press_button(
            self.world, user_id, chat_id, message_id, data, forge=forge, bot=bot
        )

    async def send_raw_update(self, update: dict[str, object], bot: str | int | None = None) -> int:
        """Queue any update dict for a bot (for fuzzing); returns its update_id."""
        return actions.push_raw_update(self.world, update, bot)

    # inspecting

    def messages(self, chat_id: int, *, bot: str | int | None = None) -> list[SandboxMessage]:
        """A chat's transcript, both directions, in order (deleted messages included)."""
        bot_id = self.world.resolve_bot(bot).bot_id if bot is not None else None
        return [
            m.snapshot()
            for m in self.world.transcript(chat_id)
            if bot_id is None or m.bot_id in (None, bot_id)
        ]

    def bot_messages(self, chat_id: int) -> list[SandboxMessage]:
        """The bots' messages in a chat."""
        return [m for m in self.messages(chat_id) if m.from_bot]

    def message(self, chat_id: int, message_id: int) -> SandboxMessage:
        """One message of a chat."""
        found = self.world.find_message(chat_id, message_id)
        if found is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        return found.snapshot()

    def photo(self, file_id: str) -> bytes:
        """The image a bot uploaded as this photo (its largest size's file_id); KeyError if
        the sandbox has none."""
        return self.world.photos[file_id]

    def scan_photo(self, file_id: str) -> list[str]:
        """What a phone's camera reads from the QR codes in a photo a bot sent (needs the
        `zxing-cpp` package, installed with trialbot's dev extras)."""
        try:
            import zxingcpp
            from PIL import Image
        except ImportError:
            raise SandboxError("scanning a QR code needs the zxing-cpp package") from None
        with Image.open(io.BytesIO(self.photo(file_id))) as image:
            image.load()
            return [result.text for result in zxingcpp.read_barcodes(image)]

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Recorded Bot API calls (of one method, ignoring case, if given)."""
        wanted = method.lower() if method else None
        return [c for c in self.world.calls if wanted is None or c.method.lower() == wanted]

    def rejections(self) -> list[ApiCall]:
        """Calls refused by a Telegram check (not by an injected fault)."""
        return [c for c in self.world.calls if not c.ok and not c.injected]

    def callback_answers(self, query_id: str | None = None) -> list[CallbackAnswer]:
        """What bots answered to callback queries (of one query, if given)."""
        return [a for a in self.world.answers if query_id is None or a.query_id == query_id]

    def pending_updates(self, bot: str | int | None = None) -> list[dict[str, object]]:
        """Updates queued for a bot and not yet confirmed."""
        return [dict(u) for u in self.world.resolve_bot(bot).updates]

    # waiting (event-driven)

    async def wait_until(
        self,
        condition: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
        what: str = "condition",
    ) -> None:
        """Wait until `condition()` is true (re-checked at every change in the sandbox)."""
        if not await self.world.feed.wait_until(condition, timeout):
            raise TimeoutError(f"{what} not met within {timeout} s")

    async def wait_for_message(
        self,
        chat_id: int,
        after_message_id: int = 0,
        *,
        from_bot: bool | None = True,
        timeout: float = 10.0,  # noqa: ASYNC109
        predicate: MessagePredicate | None = None,
    ) -> SandboxMessage:
        """The first message of a chat after `after_message_id` that matches; waits for it."""
        found: list[SandboxMessage] = []

        def arrived() -> bool:
            for message in self.world.transcript(chat_id):
                if message.message_id <= after_message_id:
                    continue
                if from_bot is not None and message.from_bot != from_bot:
                    continue
                if predicate is None or predicate(message):
                    found.append(message)
                    return True
            return False

        if not await self.world.feed.wait_until(arrived, timeout):
            sender = {True: "the bot", False: "a user", None: "anyone"}[from_bot]
            raise TimeoutError(
                f"no message from {sender} after #{after_message_id} in chat {chat_id} "
                f"within {timeout} s{' matching the predicate' if predicate else ''}. "
                + self._chat_report(chat_id)
            )
        return found[0].snapshot()

    async def wait_for_edit(
        self,
        chat_id: int,
        message_id: int,
        *,
        min_edits: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> SandboxMessage:
        """The message once it has been edited at least `min_edits` times."""

        def edited() -> bool:
            message = self.world.find_message(chat_id, message_id)
            return message is not None and len(message.edits) >= min_edits

        if not await self.world.feed.wait_until(edited, timeout):
            raise TimeoutError(
                f"message {message_id} of chat {chat_id} not edited {min_edits} time(s) "
                f"within {timeout} s. " + self._chat_report(chat_id)
            )
        return self.message(chat_id, message_id)

    async def wait_for_callback_answer(
        self,
        query_id: str,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        """The bot's answer to a callback query, once given."""
        await self.wait_until(
            lambda: bool(self.callback_answers(query_id)),
            timeout,
            f"an answer to callback query {query_id}",
        )
        return self.callback_answers(query_id)[0]

    def _chat_report(self, chat_id: int) -> str:
        transcript = self.world.transcript(chat_id)
        lines = [_describe(m) for m in transcript[-10:]] or ["(no messages)"]
        report = f"Chat {chat_id} has: " + " | ".join(lines)
        rejected = self.rejections()[-3:]
        if rejected:
            report += ". Recent rejected calls: " + " | ".join(
                f"{c.method}: {c.description}" for c in rejected
            )
        return report

    # faults, limits, time, reset

    def enforce_rate_limits(self, enabled: bool = True) -> None:
        """Answer 429 like Telegram when a bot sends too fast."""
        self.limiter.enabled = enabled
        self.limiter.reset()

    def set_latency(self, round_trip_ms: float) -> None:
        """Make every Bot API call take this network round trip (ms; 0: none); see `Latency`."""
        self.latency.set(round_trip_ms)

    @property
    def latency_ms(self) -> float:
        """The round trip every Bot API call takes, in milliseconds."""
        return self.latency.round_trip_ms

    def set_time(self, unix_seconds: float) -> None:
        """Freeze the sandbox clock (message dates, callback query age) at a unix time."""
        self.world.clock.set_time(unix_seconds)

    def advance_time(self, seconds: float) -> None:
        """Move the (then frozen) sandbox clock forward."""
        self.world.clock.advance(seconds)

    def clear_time(self) -> None:
        """Let the sandbox clock follow real time again."""
        self.world.clock.clear_time()

    def now(self) -> float:
        """The sandbox clock's unix time."""
        return self.world.clock.now()

    def reset(self) -> None:
        """Forget users, chats, messages, calls, faults, limits and time; keep the bots and
        the latency (a property of the network, set when the sandbox was made or since)."""
        for bot in self.world.bots.values():
            self.webhooks.stop(bot)
        self.world.reset()
        self.faults.clear()
        self.limiter.enabled = False
        self.limiter.reset()
        self.world.clock.clear_time()
