"""A chat's flood limit is counted as its messages leave, however long after its turn each
one went: Telegram's count (the sandbox's `RateLimiter`, on the same clock) never refuses
one, and none waits longer than the limit and its spare. Counted when the turn was taken
(aiolimiter's way), a red flag's advice that waited for a slot went 0.9 s after its chat's
three messages before it, got a 429, and reached the participant 5 s later."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from bot.chat_pace import SPARE_SECONDS, ChatPace
from sandbox.faults import GROUP_PER_MINUTE, PRIVATE_BURST, PRIVATE_PER_SECOND, RateLimiter

BOT, CHAT = 1, 42
SECONDS = st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=5.0, allow_nan=False))
# Each message: how long after the one before it is wanted, and how long after its turn
# it waits before it goes (for a slot, the overall limit, its last look at the row).
MESSAGES = st.lists(st.tuples(SECONDS, SECONDS), min_size=1, max_size=40)


class Time:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sent_without_a_refusal(messages: list[tuple[float, float]], private: bool) -> None:
    time = Time()
    telegram = RateLimiter(monotonic=time)
    telegram.enabled = True
    if private:
        pace, longest = ChatPace(PRIVATE_BURST, PRIVATE_PER_SECOND, now=time), 1.0
    else:
        pace, longest = ChatPace(GROUP_PER_MINUTE, GROUP_PER_MINUTE / 60, now=time), 3.0
    for wanted_after, waits_after_its_turn in messages:
        time.now += wanted_after
        turn = pace.wait_seconds()  # `ready`, ahead of a slot
        assert turn <= longest + SPARE_SECONDS + 1e-9
        time.now += turn + waits_after_its_turn
        time.now += pace.wait_seconds()  # `spend_when_ready`, just before the request
        pace.spend()
        refused = telegram.check(BOT, CHAT if private else -CHAT, private=private)
        assert refused is None, f"429 at {time.now - 1000:.3f} s"


@given(MESSAGES)
@example([(0.0, 2.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)])  # the first went 2 s after its turn
def test_a_private_chat_is_never_refused_however_long_each_message_waited(
    messages: list[tuple[float, float]],
) -> None:
    sent_without_a_refusal(messages, private=True)


@given(MESSAGES)
@example([(0.0, 2.0)] + [(0.0, 0.0)] * 20)
def test_a_group_is_never_refused_however_long_each_message_waited(
    messages: list[tuple[float, float]],
) -> None:
    sent_without_a_refusal(messages, private=False)


def test_the_advice_after_three_messages_waits_for_its_chat_and_no_longer() -> None:
    """The case `bench.burst` found: three messages to the chat at once, then a red flag's
    advice whose turn came at once but which went 0.9 s later. It goes as soon as the chat
    has a message back (a second after the three), not a retry's seconds later."""
    time = Time()
    pace = ChatPace(PRIVATE_BURST, PRIVATE_PER_SECOND, now=time)
    for _ in range(3):
        pace.spend()
    time.now += 0.9
    assert 0.1 < pace.wait_seconds() <= 0.1 + SPARE_SECONDS + 1e-9
