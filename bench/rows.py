"""Outbox rows for the benchmarks: copies of real planned reminders, due when we say.

The planner puts every reminder days ahead. A benchmark row copies the context of one of
them (so composing it reads a real visit and renders the real reminder, with its buttons),
under its own dedupe and event keys (so no row supersedes another), and goes in through
`study.outbox.enqueue` like any other row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bench.support import Linked
from scheduler.planner import REMINDER_PREFIX
from study.database import Database
from study.models import OutboxMessage
from study.outbox import REMINDER_TEMPLATE, Priority, enqueue

__all__ = ["Template", "enqueue_copy", "planned_reminders"]


@dataclass(frozen=True)
class Template:
    """A real planned reminder whose context benchmark rows copy."""

    participant_id: int
    context: dict[str, Any]
    not_after: datetime | None


async def planned_reminders(database: Database, linked: list[Linked]) -> list[list[Template]]:
    """Each participant's planned reminders, one per event, in the order of `linked`."""
    ids = [person.participant_id for person in linked]
    async with database.session() as session:
        rows = await session.exec(
            select(OutboxMessage)
            .where(
                col(OutboxMessage.participant_id).in_(ids),
                col(OutboxMessage.dedupe_key).startswith(REMINDER_PREFIX),
            )
            .order_by(col(OutboxMessage.due_at))
        )
        by_participant: dict[int, dict[str | None, Template]] = {i: {} for i in ids}
        for row in rows:
            assert row.participant_id is not None
            template = Template(row.participant_id, row.context, row.not_after)
            by_participant[row.participant_id].setdefault(row.event_key, template)
    return [list(by_participant[i].values()) for i in ids]


async def enqueue_copy(
    session: AsyncSession, template: Template, *, key: str, due_at: datetime, now: datetime
) -> None:
    """A reminder row like `template`'s, due at `due_at`."""
    await enqueue(
        session,
        template=REMINDER_TEMPLATE,
        dedupe_key=key,
        event_key=key,
        due_at=due_at,
        not_after=template.not_after,
        participant_id=template.participant_id,
        context=template.context,
        priority=Priority.ROUTINE,
        now=now,
    )
