"""Turns under Telegram's overall limit go by rank, not by arrival: a T1/T2 alert or its
advice goes before the direct replies already waiting (a burst of welcomes as 120
participants link at once), and those go before routine messages. Before, the limiter's
queue (aiolimiter's) was first come, first served, and a red flag's advice and card
waited 3.7-4.6 s behind a burst's welcomes (`bench.burst`)."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.sender import TelegramRateLimiter
from study.outbox import Priority
from study.precedence import goes_first
from study.slots import Rank

URGENT: Rank = (float(Priority.URGENT), 0.0)
ROUTINE: Rank = (float(Priority.ROUTINE), 0.0)


async def replies_then(rank: Rank) -> list[str]:
    """Twenty direct replies to twenty chats and, while they wait for their turns, one
    message of the dispatcher's at `rank`; the order in which they went."""
    limiter = TelegramRateLimiter(per_second=200, overall_burst=1)
    went: list[str] = []
    one_went = asyncio.Event()

    async def reply(chat: int) -> None:
        async def request(*_: Any, **__: Any) -> None:
            went.append(f"reply {chat}")
            one_went.set()

        await limiter.process_request(request, (), {}, "sendMessage", {"chat_id": chat}, None)

    async def dispatched() -> None:
        await limiter.wait_overall_turn(999, lambda: rank)
        went.append("dispatched")

    replies = [asyncio.create_task(reply(chat)) for chat in range(1, 21)]
    await one_went.wait()  # the first has had its turn; the others wait for theirs
    await asyncio.gather(*replies, asyncio.create_task(dispatched()))
    return went


async def test_an_urgent_message_goes_before_the_replies_waiting_for_their_turns() -> None:
    went = await replies_then(URGENT)
    assert len(went) == 21
    assert went.index("dispatched") <= 2, went  # after at most the reply already let on


async def test_a_routine_message_goes_after_the_replies_waiting_for_their_turns() -> None:
    went = await replies_then(ROUTINE)
    assert went[-1] == "dispatched", went


async def test_a_reply_to_what_a_participant_reported_goes_before_the_other_replies() -> None:
    """A reply sent by a handler of a participant's report (`goes_first`: the answer of a
    red-flag question shown in its place) takes its turn ahead of the direct replies
    already waiting (a burst's welcomes); before, it waited behind all of them."""
    limiter = TelegramRateLimiter(per_second=200, overall_burst=1)
    went: list[str] = []
    one_went = asyncio.Event()

    async def reply(chat: int, who: str) -> None:
        async def request(*_: Any, **__: Any) -> None:
            went.append(who)
            one_went.set()

        await limiter.process_request(request, (), {}, "editMessageText", {"chat_id": chat}, None)

    @goes_first
    async def report() -> None:
        await reply(999, "report")

    replies = [asyncio.create_task(reply(chat, f"reply {chat}")) for chat in range(1, 21)]
    await one_went.wait()
    await asyncio.gather(*replies, asyncio.create_task(report()))
    assert len(went) == 21
    assert went.index("report") <= 2, went
