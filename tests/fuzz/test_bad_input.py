"""Thousands of random updates through the real bot: bad input gets a polite answer or is
ignored, and never changes someone else's data (DESIGN.md, "Guarantees to keep").

Hypothesis draws the updates (from fixed seeds: every run plays the same ones); the real PTB
application polls the sandbox and works on the real database. Each example plays up to
`STEPS` actions on the same, growing world, until `TRIALBOT_FUZZ_UPDATES` updates were sent.
Hypothesis runs in a worker thread and hands each action to the event loop of the test, so
that the bot keeps polling between examples.

Figures (`name: value`) are printed at the end of the session and recorded as properties.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from study.config import StudyConfig
from study.database import Database
from tests.fuzz.actions import Action, actions
from tests.fuzz.conftest import RecordFigures
from tests.fuzz.driver import Driver, Figures, describe
from tests.fuzz.rows import rows_changed, snapshot, victim_changes
from tests.fuzz.world import build_world
from tests.support.clock import FakeClock

BUDGET = int(os.environ.get("TRIALBOT_FUZZ_UPDATES", "2000"))
STEPS = 10  # actions per Hypothesis example (an example holds at most 8 KB of draws)
ACTION_SECONDS = 120.0
SWEEP_EVERY = 25  # actions between two runs of the periodic jobs
MAX_ROUNDS = 20  # each round: a fixed seed, enough examples for the updates still missing


@pytest.mark.timeout(max(300, BUDGET // 5))
async def test_bad_input_gets_a_polite_answer_and_changes_nobody_elses_data(
    driver: Driver,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    record_property: Callable[[str, object], None],
    fuzz_figures: RecordFigures,
) -> None:
    world = await build_world(driver, database, config, clock)
    setup = driver.figures
    assert [*setup.handler_exceptions, *setup.rejections, *setup.other_errors] == []
    before = await snapshot(database)
    driver.figures = Figures()  # the run's score, without the set-up
    driver.sweep_every = SWEEP_EVERY
    loop = asyncio.get_running_loop()
    strategy = st.lists(actions(world.facts), min_size=STEPS, max_size=STEPS, unique_by=repr)
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

    started = time.monotonic()
    for number in range(MAX_ROUNDS):
        missing = BUDGET - driver.figures.updates_sent
        if missing <= 0 or broken:
            break
        await asyncio.to_thread(play_round, number, -(-missing // STEPS))
    seconds = time.monotonic() - started
    assert not broken, f"the run broke down: {broken[0]}"
    driver.context = "the final sweeps"
    await driver.sweep()
    after = await snapshot(database)
    changes = victim_changes(before, after, world.victims)

    f = driver.figures
    problems = [*f.handler_exceptions, *f.rejections, *f.other_errors]
    figures: dict[str, object] = {
        "fuzz_updates_sent": f.updates_sent,
        "fuzz_handler_exceptions": len(f.handler_exceptions),
        "fuzz_foreign_rows_changed": len(changes),
        "fuzz_replies_rejected": len(f.rejections),
        "fuzz_other_errors_logged": len(f.other_errors),
        "fuzz_replies_sent": f.replies_sent,
        "fuzz_updates_unanswered": f.updates_unanswered,
        "fuzz_callbacks_unanswered": f.callbacks_unanswered,
        "fuzz_messages_to_silent_chats": f.messages_to_silent_chats,
        "fuzz_rows_changed_in_all": rows_changed(before, after),
        "fuzz_actions_played": f.actions,
        "fuzz_actions_skipped": f.skipped,
        "fuzz_seconds": round(seconds, 1),
        "fuzz_updates_per_second": round(f.updates_sent / seconds, 1) if seconds else 0,
    }
    for name, value in figures.items():
        record_property(name, value)
    fuzz_figures(figures)

    assert f.updates_sent >= BUDGET, figures
    assert [str(c) for c in changes] == [], "someone else's data changed"
    assert f.messages_to_silent_chats == 0, "someone's update made the bot write to a silent one"
    # No exception in a handler, no reply Telegram would refuse, no error logged.
    assert [str(p) for p in problems] == []
