"""A chat's messages one at a time, in the order claimed, urgent ones ahead of the routine
ones still waiting: drawn claims joining a chat at drawn moments, one of them failing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from hypothesis import given
from hypothesis import strategies as st

from scheduler.chat_turns import ChatTurns

CHAT = -1001  # a site's group
# A play takes a few hundred turns of the event loop: after this many, its chat is stalled.
STALLED_AFTER_TURNS = 10_000


@dataclass(frozen=True)
class Item:
    claim: int
    place: int
    urgent: bool


@dataclass(frozen=True)
class Claim:
    joins_after: int  # the chat's messages done before this claim joins it
    urgent: int  # how many of its messages are urgent: a claim puts them first
    routine: int


claims = st.lists(
    st.builds(Claim, st.integers(0, 6), st.integers(0, 2), st.integers(0, 4)).filter(
        lambda claim: claim.urgent + claim.routine > 0
    ),
    min_size=1,
    max_size=5,
).map(lambda drawn: sorted(drawn, key=lambda claim: claim.joins_after))


@dataclass
class Run:
    started: list[Item]
    waiting_urgent_at_routine_start: list[Item]
    overlaps: int
    left_over: list[Item]
    stalled: int  # claims whose messages still waited when the chat had nothing on its way


async def until(condition: Callable[[], bool]) -> None:
    """Until `condition` holds, or the event loop turned `STALLED_AFTER_TURNS` times."""
    for _ in range(STALLED_AFTER_TURNS):
        if condition():
            return
        await asyncio.sleep(0)


def all_done(tasks: list[asyncio.Task[None]]) -> bool:
    return all(task.done() for task in tasks)


def joined_after(done: int, started: list[Item], senders: list[asyncio.Task[None]]) -> bool:
    """Whether a claim that joins after `done` messages may join now (or all are done)."""
    return len(started) >= done or all_done(senders)


async def play(drawn: list[Claim], failing: tuple[int, int] | None) -> Run:
    """Each claim's messages go as the dispatcher sends them (`_deliver_all`), each taking a
    few turns of the event loop; the message at `failing` (claim, place) raises."""
    turns: ChatTurns[Item] = ChatTurns(lambda item: item.urgent)
    started: list[Item] = []
    joined: list[list[Item]] = []
    late: list[Item] = []
    in_flight = 0
    overlaps = 0

    async def send(queue: list[Item]) -> None:
        nonlocal in_flight, overlaps
        try:
            while queue:
                async with turns.turn(CHAT, queue) as item:
                    if not item.urgent:
                        late.extend(other for mine in joined for other in mine if other.urgent)
                    started.append(item)
                    overlaps += in_flight > 0
                    in_flight += 1
                    try:
                        for _ in range(3):
                            await asyncio.sleep(0)
                        if (item.claim, item.place) == failing:
                            raise RuntimeError("unexpected")
                    finally:
                        in_flight -= 1
        finally:
            turns.leave(CHAT, queue)

    senders: list[asyncio.Task[None]] = []
    for number, claim in enumerate(drawn):
        await until(partial(joined_after, claim.joins_after, started, senders))
        items = [Item(number, place, place < claim.urgent) for place in range(claim.urgent)]
        items += [Item(number, claim.urgent + n, False) for n in range(claim.routine)]
        queue = turns.queue(CHAT, items)
        joined.append(queue)
        senders.append(asyncio.create_task(send(queue)))
    await until(lambda: all_done(senders))
    stalled = [task for task in senders if not task.done()]
    for task in stalled:
        task.cancel()
    await asyncio.gather(*senders, return_exceptions=True)
    return Run(started, late, overlaps, list(turns.waiting(CHAT)), len(stalled))


def expected_to_go(drawn: list[Claim], failing: tuple[int, int] | None) -> set[Item]:
    every = {
        Item(number, place, place < claim.urgent)
        for number, claim in enumerate(drawn)
        for place in range(claim.urgent + claim.routine)
    }
    if failing is None:
        return every
    return {item for item in every if item.claim != failing[0] or item.place <= failing[1]}


@given(claims, st.data())
def test_one_at_a_time_in_order_the_urgent_ahead_of_what_still_waits(
    drawn: list[Claim], data: st.DataObject
) -> None:
    failing = data.draw(
        st.none()
        | st.integers(0, len(drawn) - 1).flatmap(
            lambda number: st.tuples(
                st.just(number),
                st.integers(0, drawn[number].urgent + drawn[number].routine - 1),
            )
        )
    )

    run = asyncio.run(play(drawn, failing))

    assert run.stalled == 0, "the chat's messages waited for nothing"
    assert run.overlaps == 0, "two of the chat's messages were on their way at once"
    assert set(run.started) == expected_to_go(drawn, failing), "a message went, or not, wrongly"
    assert len(run.started) == len(set(run.started)), "a message went twice"
    routine = [(item.claim, item.place) for item in run.started if not item.urgent]
    assert routine == sorted(routine), "routine messages went out of the order claimed"
    urgent = [(item.claim, item.place) for item in run.started if item.urgent]
    assert urgent == sorted(urgent), "urgent messages went out of the order claimed"
    assert run.waiting_urgent_at_routine_start == [], "a routine message went ahead of an alert"
    assert run.left_over == [], "the chat still holds messages after all are done"
