"""The fuzz test's checks catch a bot that ignores every update (a planted fault).

The world is built with the real bot, as for the fuzz test; then a handler placed before all
others swallows every update, and a short run plays the same kind of actions. The verdict
that the fuzz test requires to be empty (`outcomes.outcome_problems`) must name what a
person would notice: private messages unanswered, button presses unanswered, too few
replies and too few rows changed. SQLite only: this checks the checks, not the database.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes, TypeHandler

from study.config import StudyConfig
from study.database import Database
from tests.fuzz.driver import Driver, Figures
from tests.fuzz.outcomes import outcome_problems
from tests.fuzz.play import play_updates
from tests.fuzz.rows import rows_changed, snapshot, victim_changes
from tests.fuzz.world import build_world
from tests.support.clock import FakeClock

BUDGET = 150


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'trialbot.db'}"


async def ignore(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The planted fault: nothing after this handler ever sees the update."""
    raise ApplicationHandlerStop


async def test_a_bot_that_ignores_every_update_fails_the_fuzz_checks(
    driver: Driver,
    bot: Application,  # type: ignore[type-arg]
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    world = await build_world(driver, database, config, clock)
    before = await snapshot(database)
    bot.add_handler(TypeHandler(Update, ignore), group=-100)
    driver.figures = Figures()

    broken = await play_updates(driver, world.facts, BUDGET)
    await driver.sweep()
    after = await snapshot(database)

    assert not broken, broken
    figures = driver.figures
    own_rows_changed = rows_changed(before, after) - len(
        victim_changes(before, after, world.victims)
    )
    problems = outcome_problems(figures, own_rows_changed)
    kinds = {problem.split(":")[0] for problem in problems}
    assert "a private message got no answer" in kinds, problems
    assert "a button press was not answered" in kinds, problems
    assert f"only {figures.replies_sent} replies to {figures.updates_sent} updates" in problems
    assert (
        f"only {own_rows_changed} of the actors' rows changed in {figures.updates_sent} updates"
        in problems
    )
