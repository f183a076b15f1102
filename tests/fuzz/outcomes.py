"""What a fuzz run must show besides "nothing broke": each kind of update had the outcome a
person expects, and the bot did enough that a bot ignoring all input would fail.

`outcome_problems` is the verdict; the fuzz test asserts it is empty, and the self-check
(`test_self_check.py`) asserts that a bot which ignores every update does not pass it.
"""

from __future__ import annotations

from tests.fuzz.driver import Figures

# The real bot answers more than three updates in four, and its 2,000-update run changes
# about 150 of the actors' rows (a row changed twice counts once, so longer runs add fewer);
# the floors are well below that, far above a bot that does nothing.
MIN_REPLIES_PER_UPDATE = 0.5
MIN_OWN_ROWS_CHANGED_PER_UPDATE = 0.05
MIN_OWN_ROWS_CHANGED = 50  # the most the per-update floor asks for
SHOWN = 5  # problems of each kind quoted in full


def outcome_problems(figures: Figures, own_rows_changed: int) -> list[str]:
    """Everything a person would notice was wrong, or that shows the run did too little."""
    problems: list[str] = []
    for what, found in (
        ("a private message got no answer", figures.private_unanswered),
        ("group chatter was answered", figures.group_chatter_answered),
        ("a button press was not answered", figures.callbacks_left_unanswered),
    ):
        problems += [f"{what}: {problem}" for problem in found[:SHOWN]]
        if len(found) > SHOWN:
            problems.append(f"{what}: {len(found) - SHOWN} more")
    if figures.private_messages == 0 or figures.group_chatter == 0:
        problems.append(
            f"the run played {figures.private_messages} private messages and "
            f"{figures.group_chatter} group chatter: too little to judge"
        )
    updates = max(figures.updates_sent, 1)
    if figures.replies_sent < MIN_REPLIES_PER_UPDATE * updates:
        problems.append(f"only {figures.replies_sent} replies to {updates} updates")
    if own_rows_changed < min(MIN_OWN_ROWS_CHANGED_PER_UPDATE * updates, MIN_OWN_ROWS_CHANGED):
        problems.append(f"only {own_rows_changed} of the actors' rows changed in {updates} updates")
    return problems
