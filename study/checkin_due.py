"""`Participant.checkins_due_at`: when the check-in sweep next has something to put to a
participant, so that it reads only those whose moment has come, not everyone.

The sweep works the moment out after it has put what was due (`NEVER` when nothing will
come without a change). Any change that may bring it forward sets it back to None ("not
known: look at them at the next sweep"): a new or closed check-in, an infusion or a visit
added, moved or recorded, any change of the participant (status, chat, zone, hour,
pregnancy answer). This is done for every session, whatever changes the rows, by a flush
hook, so a new use case cannot forget it. A study.toml whose protocol changed does not
change rows: the scheduler forgets every stored moment when it starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, event, inspect, update
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from study.models import CheckIn, Infusion, Participant, Visit

NEVER = datetime(9999, 12, 31, tzinfo=UTC)
"""Stored when nothing will come without a change."""

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


async def remember(session: AsyncSession, moments: dict[int, datetime]) -> None:
    """Store the moments worked out for these participants (by id), in one statement."""
    if not moments:
        return
    table = Participant.__table__  # type: ignore[attr-defined]
    await session.exec(
        update(table)
        .where(table.c.id == bindparam("participant"))
        .values(checkins_due_at=bindparam("moment")),
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
