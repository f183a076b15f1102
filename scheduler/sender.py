"""What the dispatcher needs from a messenger; `bot.sender` implements it on PTB."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from messages import Keyboard
from study.errors import TrialbotError
from study.slots import Rank


class SendFailure(TrialbotError):
    """Sending did not happen (or may not have happened)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientFailure(SendFailure):
    """Worth retrying: network trouble, a 5xx, a timeout, or 429 with its `retry_after`."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentFailure(SendFailure):
    """Retrying cannot help. `unreachable` when the person blocked the bot, deleted their
    account or the chat is gone; otherwise the message itself was refused."""

    def __init__(self, reason: str, *, unreachable: bool) -> None:
        super().__init__(reason)
        self.unreachable = unreachable


class ChatMoved(PermanentFailure):
    """The group became a supergroup: Telegram names its new id, to send to instead."""

    def __init__(self, new_chat_id: int) -> None:
        super().__init__("chat migrated to a supergroup", unreachable=True)
        self.new_chat_id = new_chat_id


class Sender(Protocol):
    async def wait_turn(self, chat_id: int) -> None:
        """Wait until this chat may receive its next message under Telegram's per-chat
        limits, and keep that turn for the next send to it. The dispatcher waits here
        before it takes one of its slots, so a chat at its limit holds up no other chat."""
        ...

    async def wait_overall_turn(self, chat_id: int, rank: Callable[[], Rank]) -> None:
        """Wait for a turn under Telegram's overall limit (30 messages a second), and keep
        it for the next request to this chat. The turns go by `rank()`, asked when a turn
        comes free (lower first; the dispatcher's: alerts and T1/T2 advice, then the
        earliest deadline), not by arrival, so that an urgent message never waits behind a
        burst. The dispatcher waits here in its slot before it looks at the message one last
        time, so that nothing waits between that look and the send (a reminder checked
        before the participant's midnight, sent after it, would count the days wrong)."""
        ...

    async def send(self, chat_id: int, text: str, keyboard: Keyboard | None) -> int:
        """Send a Telegram-HTML message; return Telegram's message id."""
        ...

    async def edit(
        self, chat_id: int, message_id: int, text: str, keyboard: Keyboard | None
    ) -> None:
        """Replace a sent message's text and buttons (unchanged content is not an error)."""
        ...

    async def send_photo(
        self, chat_id: int, photo: bytes, caption: str, keyboard: Keyboard | None
    ) -> int:
        """Send a PNG photo with a Telegram-HTML caption; return Telegram's message id."""
        ...
