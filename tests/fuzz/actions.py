"""What a fuzzed person does, as data, and the Hypothesis strategy that draws it.

Actions name messages by position (`pick`: 0 is the latest) rather than by id, so that the
same draw means the same thing in every run; the driver resolves them in the sandbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import strategies as st

from tests.fuzz.callbacks import MANGLES, crafted, junk, malformed
from tests.fuzz.cast import ACTORS, CHANNEL, COORDINATORS, PARTICIPANT_CHATS, chats_of
from tests.fuzz.texts import team_commands, texts, weighted


@dataclass(frozen=True)
class Say:
    """Write a text message."""

    actor: int
    chat: int
    text: str


@dataclass(frozen=True)
class Send:
    """Send a sticker, photo or voice note (a photo may carry a caption)."""

    actor: int
    chat: int
    kind: str
    caption: str


@dataclass(frozen=True)
class Edit:
    """Edit one of one's earlier text messages in the chat."""

    actor: int
    chat: int
    pick: int
    text: str


@dataclass(frozen=True)
class Press:
    """Press a button under a bot message of the chat: one it has (`data` None, the
    `button`-th), or forged `data`; `replay` presses data seen under any earlier message;
    `mangle` presses the chosen button's data mangled so (`callbacks.mangled`)."""

    actor: int
    chat: int
    pick: int
    button: int
    data: str | None
    replay: bool = False
    mangle: str | None = None


@dataclass(frozen=True)
class Raw:
    """An update the sandbox's users cannot produce by writing: see `driver.raw_update`."""

    actor: int
    chat: int
    kind: str
    payload: str


@dataclass(frozen=True)
class Block:
    """Block the bot (or unblock it, if blocked)."""

    actor: int


Action = Say | Send | Edit | Press | Raw | Block

MEDIA = ("sticker", "photo", "voice")
SERVICE_KINDS = ("location", "contact", "dice", "document", "new_chat_members", "poll")
MEMBER_STATUSES = ("member", "left", "kicked")


@dataclass(frozen=True)
class Facts:
    """What the strategies need to know about the world the run starts with."""

    groups: dict[int, tuple[int, ...]]
    study_ids: tuple[str, ...]
    codes: tuple[str, ...]
    row_ids: tuple[int, ...]
    own_ids: dict[int, tuple[str, ...]]  # the study ids of each coordinator's sites
    foreign_chats: tuple[int, ...]  # private chats whose owners never act (the silent)


def actions(facts: Facts) -> st.SearchStrategy[Action]:
    """One action, by someone who takes part in the run, in a chat they are in."""
    text = texts(facts.study_ids, facts.codes)
    pick = weighted((2, st.just(0)), (1, st.integers(min_value=0, max_value=12)))
    forged = weighted((2, crafted(facts.row_ids)), (1, malformed(facts.row_ids)), (1, junk()))

    def by(actor: int) -> st.SearchStrategy[Action]:
        chat = _chat(actor, facts.groups)
        team = actor in COORDINATORS
        own = facts.own_ids.get(actor, ())
        commands = team_commands(facts.study_ids, facts.codes, own)
        typed = weighted((3, commands), (1, text)) if team else text
        # The team types commands; participants mostly press the buttons of their questions.
        return weighted(
            (5 if team else 3, st.builds(Say, st.just(actor), chat, typed)),
            (2 if team else 6, st.builds(Press, st.just(actor), chat, pick, pick, st.none())),
            (1, st.builds(Press, st.just(actor), chat, pick, pick, forged)),
            (1, st.builds(Press, st.just(actor), chat, pick, pick, st.none(), st.just(True))),
            (
                1,
                st.builds(
                    Press,
                    st.just(actor),
                    chat,
                    pick,
                    pick,
                    st.none(),
                    st.just(False),
                    st.sampled_from(MANGLES),
                ),
            ),
            (1, st.builds(Send, st.just(actor), chat, st.sampled_from(MEDIA), st.just("") | text)),
            (1, st.builds(Edit, st.just(actor), chat, pick, typed)),
        )

    on_foreign_messages = st.builds(
        Press,
        st.sampled_from(ACTORS),
        st.sampled_from(facts.foreign_chats),
        pick,
        pick,
        st.one_of(st.none(), forged),
    )
    # The team's commands reach the furthest into the bot: they act most.
    each = {actor: by(actor) for actor in ACTORS}
    someone = st.sampled_from((*ACTORS, *COORDINATORS, *COORDINATORS))
    return weighted(
        (10, someone.flatmap(each.__getitem__)),
        (1, _raw(facts, text, forged)),
        (1, st.builds(Block, st.sampled_from(PARTICIPANT_CHATS))),
        (1, on_foreign_messages),
    )


def _chat(actor: int, groups: dict[int, tuple[int, ...]]) -> st.SearchStrategy[int]:
    chats = chats_of(actor, groups)
    # Mostly their private chat with the bot.
    return weighted((2, st.just(actor)), (1, st.sampled_from(chats)))


def _raw(
    facts: Facts, text: st.SearchStrategy[str], forged: st.SearchStrategy[str]
) -> st.SearchStrategy[Raw]:
    actor = st.sampled_from(ACTORS)
    groups: Sequence[int] = sorted(facts.groups)
    return st.one_of(
        st.builds(
            Raw,
            actor,
            st.sampled_from((CHANNEL, *groups)),
            st.just("member"),
            st.sampled_from(MEMBER_STATUSES),
        ),
        st.builds(Raw, actor, st.just(CHANNEL), st.just("channel_press"), forged),
        st.builds(Raw, actor, st.sampled_from(groups), st.just("anonymous"), text),
        actor.flatmap(
            lambda who: st.one_of(
                st.builds(
                    Raw,
                    st.just(who),
                    _chat(who, facts.groups),
                    st.just("service"),
                    st.sampled_from(SERVICE_KINDS),
                ),
                st.builds(
                    Raw,
                    st.just(who),
                    _chat(who, facts.groups),
                    st.sampled_from(("forwarded", "reply")),
                    text,
                ),
            )
        ),
    )
