"""The dispatcher's `Sender` on PTB's Bot, and Telegram's per-chat rate limit."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import AIORateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot.chat_pace import ChatPace
from bot.keyboards import inline_markup
from messages import Keyboard
from scheduler.sender import ChatMoved, PermanentFailure, TransientFailure
from study.precedence import current_rank
from study.slots import Rank, Slots

log = logging.getLogger(__name__)

UNREACHABLE_BAD_REQUESTS = ("chat not found", "user not found", "peer_id_invalid")
# The bot's overall limit, a notch under Telegram's 30 a second in bursts of 30: a send may
# reach Telegram a few milliseconds after its turn (the last look at it comes in between),
# and the 10 to spare absorb sends bunched that way.
OVERALL_PER_SECOND = 29
OVERALL_BURST = 20


class PtbSender:
    """Sends through PTB; Telegram's errors become transient or permanent failures."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def wait_turn(self, chat_id: int) -> None:
        if (limiter := self._limiter()) is not None:
            await limiter.wait_turn(chat_id)

    async def wait_overall_turn(self, chat_id: int, rank: Callable[[], Rank]) -> None:
        if (limiter := self._limiter()) is not None:
            await limiter.wait_overall_turn(chat_id, rank)

    def _limiter(self) -> TelegramRateLimiter | None:
        """The bot's limiter, if it is ours (a bot without one sends at once)."""
        limiter = getattr(self.bot, "rate_limiter", None)
        return limiter if isinstance(limiter, TelegramRateLimiter) else None

    async def send(self, chat_id: int, text: str, keyboard: Keyboard | None) -> int:
        with _translated_errors():
            message = await self.bot.send_message(
                chat_id, text, reply_markup=inline_markup(keyboard)
            )
        return message.message_id

    async def send_photo(
        self, chat_id: int, photo: bytes, caption: str, keyboard: Keyboard | None
    ) -> int:
        with _translated_errors():
            message = await self.bot.send_photo(
                chat_id, photo, caption=caption, reply_markup=inline_markup(keyboard)
            )
        return message.message_id

    async def edit(
        self, chat_id: int, message_id: int, text: str, keyboard: Keyboard | None
    ) -> None:
        try:
            with _translated_errors():
                await self.bot.edit_message_text(
                    text,
                    chat_id=chat_id,
                    message_id=message_id,
                    reply_markup=inline_markup(keyboard),
                )
        except PermanentFailure as failure:
            if "message is not modified" not in failure.reason:
                raise


@contextlib.contextmanager
def _translated_errors() -> Any:
    try:
        yield
    except RetryAfter as exc:
        raise TransientFailure("429 too many requests", _retry_after(exc)) from exc
    except ChatMigrated as exc:
        raise ChatMoved(int(exc.new_chat_id)) from exc
    except Forbidden as exc:
        raise PermanentFailure(_reason(exc), unreachable=True) from exc
    except BadRequest as exc:
        text = exc.message.lower()
        unreachable = any(phrase in text for phrase in UNREACHABLE_BAD_REQUESTS)
        if not unreachable and "not modified" not in text:
            log.error("Telegram refused a message: %s", exc.message)
        raise PermanentFailure(_reason(exc), unreachable=unreachable) from exc
    except NetworkError as exc:  # includes TimedOut and 5xx answers
        raise TransientFailure(f"{type(exc).__name__}: {exc.message}"[:200]) from exc
    except TelegramError as exc:
        raise TransientFailure(f"{type(exc).__name__}: {exc.message}"[:200]) from exc


def _retry_after(exc: RetryAfter) -> float:
    # PTB 22 warns that `retry_after` will become a timedelta; both are handled here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _reason(exc: TelegramError) -> str:
    return exc.message.lower()[:200]


class TelegramRateLimiter(AIORateLimiter):
    """Telegram's limits: 29 messages/s overall (bursts of at most `overall_burst`), and per
    chat: a private chat gets a burst of `per_chat_burst` messages, then about one a second;
    a group 20 a minute.
    The dispatcher waits for a chat's turn ahead of its send (`wait_turn`; the message is
    counted as it goes, `ChatPace`), outside its own slots, so that a chat at its limit
    never holds a slot another chat could use; and takes the overall turn
    (`wait_overall_turn`) in its slot, before its last look at the message, so that the
    send follows that look at once. These limits are ours, not PTB's (which we
    keep for its `RetryAfter` handling, with no retries): PTB's cannot take a turn ahead.
    A direct reply (to a command, a press) takes its turns in `process_request`, at the rank
    of the work sending it (`study.precedence`): after T1/T2 alerts and advice and ahead of
    every other message, or ahead of all when it answers what a participant reported."""

    def __init__(
        self,
        per_chat_burst: int = 3,
        per_group_per_minute: int = 20,
        per_second: int = OVERALL_PER_SECOND,
        overall_burst: int = OVERALL_BURST,
    ) -> None:
        super().__init__(overall_max_rate=0, group_max_rate=0, max_retries=0)
        burst = min(overall_burst, per_second)
        self._overall = AsyncLimiter(burst, burst / per_second)
        # aiolimiter serves its waiters first come, first served: they wait here instead,
        # one at a time going on to it, the lowest rank first (`wait_overall_turn`).
        self._overall_turns = Slots(1)
        self._per_chat_burst = per_chat_burst
        self._per_group_per_minute = per_group_per_minute
        self._paces: dict[int, ChatPace] = {}
        self._overall_taken: set[int] = set()  # chats whose next send has its overall turn

    async def wait_turn(self, chat_id: int) -> None:
        """Wait until this chat may receive a message. It is counted when it goes
        (`process_request`), which then waits no more unless another went to the chat."""
        await self._pace(chat_id).ready()

    async def wait_overall_turn(self, chat_id: int, rank: Callable[[], Rank]) -> None:
        """Wait for a turn under the overall limit, ahead of those of a higher `rank()`
        waiting, and keep it for the next request to this chat (taking it again before
        that request is a no-op)."""
        if chat_id in self._overall_taken:
            return
        await self._overall_turn(rank)
        self._overall_taken.add(chat_id)

    async def _overall_turn(self, rank: Callable[[], Rank]) -> None:
        async with self._overall_turns.hold(rank):
            await self._overall.acquire()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        chat_id = data.get("chat_id")
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(chat_id)  # type: ignore[arg-type]
        if isinstance(chat_id, int):
            overall_taken = _taken(self._overall_taken, chat_id)
            paced = chat_id < 0 or endpoint.startswith("send")
            if paced:
                await self._pace(chat_id).ready()
            if not overall_taken:
                await self._overall_turn(current_rank())
            if paced:  # looked up again: a chat forgotten meanwhile is counted where it is now
                await self._pace(chat_id).spend_when_ready()
        elif chat_id is not None:  # a channel's @name
            await self._overall_turn(current_rank())
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )

    def _pace(self, chat_id: int) -> ChatPace:
        if chat_id not in self._paces:
            if len(self._paces) > 1024:  # forget the chats as if nothing was sent to them
                for key, pace in list(self._paces.items()):
                    if pace.is_full():
                        del self._paces[key]
            self._paces[chat_id] = (
                ChatPace(self._per_group_per_minute, self._per_group_per_minute / 60)
                if chat_id < 0
                else ChatPace(self._per_chat_burst, 1.0)
            )
        return self._paces[chat_id]


def _taken(turns: set[int], chat_id: int) -> bool:
    """Whether `chat_id` had a turn taken ahead in `turns`; it is used up."""
    if chat_id not in turns:
        return False
    turns.discard(chat_id)
    return True
