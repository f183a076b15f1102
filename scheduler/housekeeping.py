"""Housekeeping in the periodic sweep: deleting what no one will use again.

- Guided `/enroll` drafts untouched for a day (`study.drafts`): ignored from then on, and
  deleted here, each sweep in one short transaction.
"""

from __future__ import annotations

from scheduler.isolation import run_steps
from study.clock import Clock
from study.config import StudyConfig
from study.database import Database
from study.drafts import delete_stale_drafts


async def forget_stale_drafts(database: Database, clock: Clock, config: StudyConfig) -> int:
    """Delete the enrolment drafts older than a day. Returns how many."""
    async with database.session() as session:
        return await delete_stale_drafts(session, now=clock.now())


async def run_housekeeping(database: Database, clock: Clock, config: StudyConfig) -> None:
    await run_steps([forget_stale_drafts], database, clock, config)
