"""The lateness benchmark's floors: what a perfect scheduler would reach under Telegram's
limits, and under the bot's own limiter (a notch under them), for the same messages."""

from __future__ import annotations

import pytest

from bench.lateness import Due, floor_lateness
from bot.sender import OVERALL_BURST, OVERALL_PER_SECOND, TelegramRateLimiter


def test_the_bots_own_limit_makes_a_burst_to_many_chats_wait_where_telegrams_would_not() -> None:
    """25 chats, one message each, all due at once: Telegram takes 30 at once, so none is
    late; the bot's limiter lets 20 go and the rest at 29 a second."""
    due = [Due(0.0, chat) for chat in range(25)]
    assert floor_lateness(due) == [0.0] * 25
    own = floor_lateness(due, per_second=OVERALL_PER_SECOND, burst=OVERALL_BURST)
    assert own[:20] == [0.0] * 20
    assert own[20:] == pytest.approx([n / 29 for n in range(1, 6)])


def test_one_chat_gets_three_at_once_then_one_a_second_under_either_limit() -> None:
    due = [Due(0.0, 7) for _ in range(5)]
    for late in (floor_lateness(due), floor_lateness(due, per_second=29, burst=20)):
        assert late == pytest.approx([0.0, 0.0, 0.0, 1.0, 2.0])


def test_the_floor_is_worked_out_with_the_limiters_own_numbers() -> None:
    """The bot's limiter lets `OVERALL_BURST` through at once and refills at
    `OVERALL_PER_SECOND`, the numbers the floor models (aiolimiter's bucket)."""
    overall = TelegramRateLimiter()._overall
    assert overall.max_rate == OVERALL_BURST
    assert overall.max_rate / overall.time_period == pytest.approx(OVERALL_PER_SECOND)
