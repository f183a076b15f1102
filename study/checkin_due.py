"""`Participant.checkins_due_at`: when the check-in sweep next has something to put to a
participant, so that it reads only those whose moment has come, not everyone.

The sweep works the moment out after it has put what was due (`NEVER` when nothing will
come without a change). Any change that may bring it forward sets it back to None ("not
known: look at them at the next sweep"): a new or closed check-in, an infusion or a visit
added, moved or recorded, any change of the participant (status, chat, zone, hour,
pregnancy answer). This is done for every session, whatever changes the rows, by a flush
hook, so a new use case cannot forget it. A study.toml whose protocol changed does not
change rows: the scheduler forgets every stored moment when it starts.

The sweep works unknown moments out in read-only transactions, holding no write lock while
it reads. So that a change made meanwhile is not overwritten by what was worked out before
it, it first marks them `WORKING_OUT` (`working_out`) and stores each only where the mark is
still there (`remember(..., if_still=WORKING_OUT)`): the change has set it back to None.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, event, inspect, update
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from study.models import CheckIn, Infusion, Participant, Visit

NEVER = datetime(9999, 12, 31, tzinfo=UTC)
"""Stored when nothing will come without a change."""
WORKING_OUT = datetime(1970, 1, 1, tzinfo=UTC)
"""Stored while a sweep works the moment out; in the past, so a participant left so (the
sweep failed half-way) counts as due and is looked at on their own."""

_PENDING = "trialbot.checkins_due_reset"
# The columns whose change may bring a participant's next check-in forward.
_WATCHED: dict[type, tuple[str, ...]] = {
    CheckIn: ("status", "asked_at", "kind", "trigger", "participant_id"),
    Infusion: ("status", "given_on", "planned_date", "planned_time", "participant_id"),
    Visit: ("status", "target_date", "appointment_date", "participant_id"),
}


def forget_all() -> Any:
    """The statement that forgets every stored moment (at start, for a changed protocol)."""
    return (
        update(Participant)
        .where(Participant.checkins_due_at.is_not(None))  # type: ignore[union-attr]
        .values(checkins_due_at=None)
    )


def working_out(ids: Sequence[int]) -> Any:
    """The statement that marks the moments of these participants, if still unknown, as
    being worked out."""
    table = Participant.__table__  # type: ignore[attr-defined]
    return (
        update(table)
        .where(table.c.id.in_(ids), table.c.checkins_due_at.is_(None))
        .values(checkins_due_at=WORKING_OUT)
    )


async def remember(
    session: AsyncSession, moments: dict[int, datetime], *, if_still: datetime | None = None
) -> None:
    """Store the moments worked out for these participants (by id), in one statement; with
    `if_still`, only where the stored moment is still that."""
    if not moments:
        return
    table = Participant.__table__  # type: ignore[attr-defined]
    statement = update(table).where(table.c.id == bindparam("participant"))
    if if_still is not None:
        statement = statement.where(table.c.checkins_due_at == if_still)
    await session.exec(
        statement.values(checkins_due_at=bindparam("moment")),
        params=[{"participant": key, "moment": at} for key, at in moments.items()],
    )


def _changed(row: object, names: Iterable[str]) -> bool:
    state = inspect(row)
    return any(state.attrs[name].history.has_changes() for name in names)


def _affected(session: Session) -> set[int]:
    ids: set[int] = set()
    for row in session.new:
        if isinstance(row, CheckIn | Infusion | Visit):
            ids.add(row.participant_id)
    for row in session.deleted:
        if isinstance(row, CheckIn | Infusion | Visit):
            ids.add(row.participant_id)
    for row in session.dirty:
        watched = _WATCHED.get(type(row))
        if isinstance(row, CheckIn | Infusion | Visit) and watched and _changed(row, watched):
            ids.add(row.participant_id)
        elif isinstance(row, Participant) and row.id is not None:
            others = [a.key for a in inspect(row).mapper.column_attrs if a.key != "checkins_due_at"]
            if _changed(row, others):
                ids.add(row.id)
    return ids


@event.listens_for(Session, "before_flush")
def _note(session: Session, _context: Any, _instances: Any) -> None:
    ids = _affected(session)
    if ids:
        session.info.setdefault(_PENDING, set()).update(ids)


@event.listens_for(Session, "after_flush")
def _reset(session: Session, _context: Any) -> None:
    ids = session.info.pop(_PENDING, None)
    if ids:
        table = Participant.__table__  # type: ignore[attr-defined]
        session.connection().execute(
            update(table).where(table.c.id.in_(sorted(ids))).values(checkins_due_at=None)
        )
