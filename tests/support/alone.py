"""Tests with a wall-clock budget (marked `alone`) run while no other test runs.

On two workers (pyproject.toml) such a test would share the machine's two cores with the
other worker's tests, which it did not when the suite ran in one process: the time-lapse chaos
test judges reminders by what a bot does in 1.5 s of wall time, and the dispatchers' test
gives 2,000 sends 90 s. So every test holds a lock on one file for its whole run: shared by
ordinary tests, exclusive by an `alone` one. A gate in front keeps the other worker from
taking shared locks again and again while an `alone` test waits for its turn.
"""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path


@contextmanager
def machine_share(run_id: str | None, *, alone: bool) -> Iterator[None]:
    """`run_id`: the same for every worker of one run (None: one process, nothing to share)."""
    if run_id is None:
        yield
        return
    folder = Path(tempfile.gettempdir())
    with ExitStack() as stack:
        gate = stack.enter_context(open(folder / f"trialbot-tests-{run_id}.gate", "a"))
        share = stack.enter_context(open(folder / f"trialbot-tests-{run_id}.lock", "a"))
        if alone:
            fcntl.flock(gate, fcntl.LOCK_EX)  # held until the end: no new shared locks
            fcntl.flock(share, fcntl.LOCK_EX)
        else:
            fcntl.flock(gate, fcntl.LOCK_SH)
            fcntl.flock(gate, fcntl.LOCK_UN)
            fcntl.flock(share, fcntl.LOCK_SH)
        yield  # closing the files releases the locks
