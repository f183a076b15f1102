"""What the chats received, when by the bot's clock, and which deliveries were repeats.

The sandbox records every Bot API call with its wall-clock time; each accepted `sendMessage`
made exactly one message, so a chat's accepted calls and its bot messages pair up in order.
The run that delivered a message is the last one started before it arrived, and its clock
(read from its health endpoint) turns the wall-clock time into simulated time.

A delivery the database does not name as sent (`telegram_message_id`) was made by a run
that died before recording it; if the same message (text and buttons) reached the same chat
again later, recorded, the first copy is a duplicate, and the kill of its run caused it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise

from sqlmodel import col, select

from bench.chaos_process import BotRun
from sandbox import SandboxServer
from study.database import Database
from study.models import OutboxMessage, OutboxStatus, Participant

TWIN_WITHIN = timedelta(days=4)  # a repeat comes with the next runs, not weeks later


@dataclass(frozen=True)
class Delivery:
    chat_id: int
    message_id: int
    at: datetime  # the delivering run's simulated time
    run: int
    text: str
    html: str
    buttons: tuple[str, ...]

    @property
    def content(self) -> tuple[str, tuple[str, ...]]:
        return self.html, self.buttons


@dataclass(frozen=True)
class Stretch:
    """One run of the bot, from serving to its end, by its own clock, and when it called
    sendMessage (accepted or not)."""

    began: datetime
    ended: datetime
    sends: tuple[datetime, ...]  # ascending

    def idle(self, first: datetime, last: datetime, gap: timedelta) -> bool:
        """Whether it went `gap` without a send somewhere between `first` and `last`."""
        first, last = max(first, self.began), min(last, self.ended)
        if last - first < gap:
            return False
        moments = [first, *(at for at in self.sends if first < at < last), last]
        return any(later - earlier >= gap for earlier, later in pairwise(moments))


@dataclass
class Repeats:
    duplicated: int = 0
    per_kill: dict[int, int] = field(default_factory=dict)  # run -> repeats its kill caused
    unexplained: int = 0  # unrecorded deliveries of a run nobody killed
    unrecorded_once: int = 0  # delivered, not recorded, never repeated (expired meanwhile)


def collect(
    sandbox: SandboxServer, chats: Iterable[int], runs: Sequence[BotRun]
) -> dict[int, list[Delivery]]:
    """Every bot message of each chat, with when it arrived by the bot's clock."""
    accepted: dict[int, list[float]] = defaultdict(list)
    for call in sandbox.calls("sendMessage"):
        if call.ok:
            accepted[int(call.params["chat_id"])].append(call.time)
    received = {}
    for chat in chats:
        messages = sandbox.bot_messages(chat)
        times = accepted.get(chat, [])
        if len(times) != len(messages):
            raise RuntimeError(
                f"chat {chat}: {len(messages)} bot messages but {len(times)} accepted sends"
            )
        deliveries = []
        for message, wall in zip(messages, times, strict=True):
            run = run_at(runs, wall)
            deliveries.append(
                Delivery(
                    chat_id=chat,
                    message_id=message.message_id,
                    at=run.clock(wall),
                    run=run.number,
                    text=message.text,
                    html=message.html,
                    buttons=tuple(message.button_data()),
                )
            )
        received[chat] = deliveries
    return received


def stretches(sandbox: SandboxServer, runs: Sequence[BotRun]) -> list[Stretch]:
    """Each run from serving to its end, with every sendMessage call it made."""
    sends: dict[int, list[datetime]] = defaultdict(list)
    for call in sandbox.calls("sendMessage"):
        run = run_at(runs, call.time)
        sends[run.number].append(run.clock(call.time))
    return [Stretch(*run.up, tuple(sorted(sends[run.number]))) for run in runs]


def run_at(runs: Sequence[BotRun], wall: float) -> BotRun:
    """The run that was (or had just been) alive at a wall-clock moment."""
    started = [run for run in runs if run.spawned <= wall]
    if not started:
        raise RuntimeError("a message arrived before the bot was started")
    return started[-1]


async def recorded(database: Database) -> set[tuple[int, int]]:
    """(chat, message id) of every delivery the outbox records as sent."""
    async with database.session() as session:
        rows = await session.exec(
            select(OutboxMessage, Participant.telegram_chat_id)
            .outerjoin(Participant, col(Participant.id) == OutboxMessage.participant_id)
            .where(
                col(OutboxMessage.status) == OutboxStatus.SENT,
                col(OutboxMessage.telegram_message_id).is_not(None),
            )
        )
        return {
            (row.chat_id if row.chat_id is not None else chat or 0, row.telegram_message_id or 0)
            for row, chat in rows
        }


def repeats(
    received: dict[int, list[Delivery]], known: set[tuple[int, int]], runs: Sequence[BotRun]
) -> Repeats:
    killed = {run.number for run in runs if run.killed}
    result = Repeats(per_kill=dict.fromkeys(sorted(killed), 0))
    for deliveries in received.values():
        for index, delivery in enumerate(deliveries):
            if (delivery.chat_id, delivery.message_id) in known:
                continue
            twin = next(
                (
                    later
                    for later in deliveries[index + 1 :]
                    if later.content == delivery.content
                    and (later.chat_id, later.message_id) in known
                    and later.at - delivery.at <= TWIN_WITHIN
                ),
                None,
            )
            if delivery.run not in killed:
                result.unexplained += 1  # a run that was not killed records what it sends
            if twin is None:
                result.unrecorded_once += 1
            else:
                result.duplicated += 1
                if delivery.run in killed:
                    result.per_kill[delivery.run] += 1
    return result
