"""Thousands of random updates through the real bot: bad input gets a polite answer or is
ignored, and never changes someone else's data (DESIGN.md, "Guarantees to keep"). Each kind
of update has the outcome a person expects (`outcomes.py`): a private message is answered,
group chatter is not, every button press is answered; and the bot answers and changes enough
that a bot ignoring all input fails (`test_self_check.py` shows it does).

Hypothesis draws the updates (from fixed seeds: every run plays the same ones); the real PTB
application polls the sandbox and works on the real database (`play.py`).

Figures (`name: value`) are printed at the end of the session and recorded as properties.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

from study.config import StudyConfig
from study.database import Database
from tests.fuzz.conftest import RecordFigures
from tests.fuzz.driver import Driver, Figures
from tests.fuzz.outcomes import outcome_problems
from tests.fuzz.play import play_updates
from tests.fuzz.rows import rows_changed, snapshot, victim_changes
from tests.fuzz.world import build_world
from tests.support.clock import FakeClock

BUDGET = int(os.environ.get("TRIALBOT_FUZZ_UPDATES", "2000"))
SWEEP_EVERY = 25  # actions between two runs of the periodic jobs


@pytest.mark.slow
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
    started = time.monotonic()
    broken = await play_updates(driver, world.facts, BUDGET)
    seconds = time.monotonic() - started
    assert not broken, f"the run broke down: {broken[0]}"
    driver.context = "the final sweeps"
    await driver.sweep()
    after = await snapshot(database)
    changes = victim_changes(before, after, world.victims)

    f = driver.figures
    problems = [*f.handler_exceptions, *f.rejections, *f.other_errors]
    own_rows_changed = rows_changed(before, after) - len(changes)
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
        "fuzz_private_messages": f.private_messages,
        "fuzz_private_unanswered": len(f.private_unanswered),
        "fuzz_group_chatter": f.group_chatter,
        "fuzz_group_chatter_answered": len(f.group_chatter_answered),
        "fuzz_own_rows_changed": own_rows_changed,
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
    assert outcome_problems(f, own_rows_changed) == [], figures
    assert f.callbacks_unanswered == 0
