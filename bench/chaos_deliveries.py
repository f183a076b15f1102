"""What the chats received, when by the bot's clock, and which deliveries were repeats.

The sandbox records every Bot API call with its wall-clock time; each sendMessage that
Telegram carried out (`ApiCall.delivered`: accepted, or made although a fault told the bot
it failed) made exactly one message, so a chat's delivered calls and its bot messages pair
up in order. The run that delivered a message is the last one started before it arrived, and
its clock (logged as it starts, and checked against the harness's timeline) turns
the wall-clock time into simulated time.

Repeats are read from the transcript alone, never from the product's outbox: deliveries of a
chat that carry the same message (`Copies`: for a reminder, the same visit and countdown, as
the oracle groups them; for anything else, the same text and buttons) beyond those called for
are duplicates. A duplicate's cause is the copy before it: made by a call that Telegram
carried out while the bot heard of a failure (a timeout), or by a run that was killed right
after (within the time a message is in flight); else it is unexplained. A kill may repeat
several messages (the dispatcher sends to many chats at once), but at most one per chat.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise

from bench.chaos_process import BotRun
from sandbox import SandboxServer

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
    fault: bool = False  # made by a call a fault answered: the bot heard of a failure

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

    def sends_between(self, first: datetime, last: datetime) -> int:
        """How many sendMessage calls it made from `first` to `last`."""
        return bisect_right(self.sends, last) - bisect_left(self.sends, first)


@dataclass
class Repeats:
    duplicated: int = 0
    per_kill: dict[int, int] = field(default_factory=dict)  # run -> repeats its kill caused
    # (run, chat) -> repeats that kill caused in that chat: at most one, the one in flight
    per_chat_per_kill: dict[tuple[int, int], int] = field(default_factory=dict)
    after_timeout: int = 0  # the earlier copy was made although the bot heard of a failure
    unexplained: list[str] = field(default_factory=list)  # neither: a bug


@dataclass(frozen=True)
class Copies:
    """Deliveries of one chat that carry the same message, in order of arrival, and how many
    of them were called for: the rest are duplicates."""

    deliveries: tuple[Delivery, ...]
    wanted: int = 1

    @property
    def extra(self) -> int:
        return len(self.deliveries) - max(1, self.wanted)


def same_content(
    received: dict[int, list[Delivery]], *, skip: Collection[tuple[int, int]] = ()
) -> list[Copies]:
    """Deliveries of a chat with the same text and buttons, each within `TWIN_WITHIN` of the
    one before (a repeat comes with the next runs, not weeks later); (chat, message id) in
    `skip` are left out (the oracle groups reminders itself)."""
    groups: list[Copies] = []
    for deliveries in received.values():
        alike: dict[tuple[str, tuple[str, ...]], list[list[Delivery]]] = defaultdict(list)
        for delivery in deliveries:
            if (delivery.chat_id, delivery.message_id) in skip:
                continue
            runs = alike[delivery.html, delivery.buttons]
            if runs and delivery.at - runs[-1][-1].at <= TWIN_WITHIN:
                runs[-1].append(delivery)
            else:
                runs.append([delivery])
        groups += [Copies(tuple(run)) for runs in alike.values() for run in runs if len(run) > 1]
    return groups


def collect(
    sandbox: SandboxServer, chats: Iterable[int], runs: Sequence[BotRun]
) -> dict[int, list[Delivery]]:
    """Every bot message of each chat, with when it arrived by the bot's clock."""
    made: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for call in sandbox.calls():  # in order; a pre-visit summary comes as a photo
        if call.method.lower() in ("sendmessage", "sendphoto") and call.delivered:
            made[int(call.params["chat_id"])].append((call.time, call.injected))
    received = {}
    for chat in chats:
        messages = sandbox.bot_messages(chat)
        calls = made.get(chat, [])
        if len(calls) != len(messages):
            raise RuntimeError(
                f"chat {chat}: {len(messages)} bot messages but {len(calls)} delivered sends"
            )
        deliveries = []
        for message, (wall, fault) in zip(messages, calls, strict=True):
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
                    fault=fault,
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


def repeats(copies: Iterable[Copies], runs: Sequence[BotRun], *, in_flight: timedelta) -> Repeats:
    """Count the duplicates, each with the cause read from the copy before it."""
    ended = {run.number: run.up[1] for run in runs if run.killed}
    result = Repeats(per_kill=dict.fromkeys(sorted(ended), 0))
    for group in copies:
        for earlier, later in pairwise(group.deliveries[: group.extra + 1]):
            result.duplicated += 1
            if earlier.fault:
                result.after_timeout += 1
            elif earlier.run in ended and ended[earlier.run] - earlier.at <= in_flight:
                result.per_kill[earlier.run] += 1
                key = (earlier.run, earlier.chat_id)
                result.per_chat_per_kill[key] = result.per_chat_per_kill.get(key, 0) + 1
            else:
                result.unexplained.append(
                    f"chat {later.chat_id}: message {later.message_id} at "
                    f"{later.at:%Y-%m-%d %H:%M}Z (run {later.run}) repeats "
                    f"{earlier.message_id} at {earlier.at:%Y-%m-%d %H:%M}Z (run {earlier.run}): "
                    f"{later.text[:50]!r}"
                )
    return result
