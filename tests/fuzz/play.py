"""Playing Hypothesis-drawn actions through the driver until enough updates were sent.

Hypothesis runs in a worker thread and hands each action to the event loop of the test, so
that the bot keeps polling between examples. Each example plays `STEPS` actions on the same,
growing world; each round uses a fixed seed, so every run plays the same actions.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.fuzz.actions import Action, Facts, actions
from tests.fuzz.driver import Driver, describe

STEPS = 10  # actions per Hypothesis example (an example holds at most 8 KB of draws)
ACTION_SECONDS = 120.0
MAX_ROUNDS = 20  # each round: a fixed seed, enough examples for the updates still missing


async def play_updates(driver: Driver, facts: Facts, budget: int) -> list[str]:
    """Play actions until `budget` updates were sent; what broke the run down, if anything
    (an action that raised or did not finish)."""
    loop = asyncio.get_running_loop()
    strategy = st.lists(actions(facts), min_size=STEPS, max_size=STEPS, unique_by=repr)
    broken: list[str] = []

    def play_round(number: int, examples: int) -> None:
        """`examples` Hypothesis examples of `STEPS` actions, from the fixed seed `number`."""

        @seed(number)
        @settings(
            max_examples=examples,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(played=strategy)
        def play(played: list[Action]) -> None:
            for action in played:
                if broken:
                    return
                future = asyncio.run_coroutine_threadsafe(driver.run(action), loop)
                try:
                    future.result(timeout=ACTION_SECONDS)
                except Exception as exc:
                    broken.append(f"{type(exc).__name__}: {exc} during {describe(action, 2000)}")

        play()

    for number in range(MAX_ROUNDS):
        missing = budget - driver.figures.updates_sent
        if missing <= 0 or broken:
            break
        await asyncio.to_thread(play_round, number, -(-missing // STEPS))
    return broken
