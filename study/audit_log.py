"""Reading the audit log: who did what, when, about which participant.

Actors are written as `study.audit` makes them: `tg:<user id>` (a coordinator in Telegram),
`cli:<login>` (the server's command line), `participant:<study id>`, or `system`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.enrollment import get_participant
from study.models import AuditEvent, Participant


@dataclass(frozen=True)
class AuditRow:
    """One audit event, with the participant's study id instead of a database key."""

    id: int
    at: datetime
    actor: str
    action: str
    study_id: str | None
    entity: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the time as UTC ISO 8601 with `Z`."""
        return {
            "id": self.id,
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "actor": self.actor,
            "action": self.action,
            "study_id": self.study_id,
            "entity": self.entity,
            "entity_id": self.entity_id,
            "before": self.before,
            "after": self.after,
        }

    def change(self) -> str:
        """What changed, in one line: `key: before -> after` for each value that differs
        (`key=value` for an event that has no before)."""
        before, after = self.before or {}, self.after or {}
        if not before:
            return ", ".join(f"{key}={_value(after[key])}" for key in sorted(after))
        return ", ".join(
            f"{key}: {_value(before.get(key))} -> {_value(after.get(key))}"
            for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)
        )


async def read_audit_log(
    session: AsyncSession,
    *,
    study_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditRow]:
    """The events about a participant and/or by an actor, from `since` (inclusive) to
    `until` (exclusive), oldest first. An unknown study id is DomainError
    `error_unknown_participant`."""
    query = select(AuditEvent, Participant.study_id).outerjoin(
        Participant, col(Participant.id) == AuditEvent.participant_id
    )
    if study_id is not None:
        participant = await get_participant(session, study_id)
        query = query.where(AuditEvent.participant_id == participant.id)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if since is not None:
        query = query.where(col(AuditEvent.at) >= since)
    if until is not None:
        query = query.where(col(AuditEvent.at) < until)
    rows = await session.exec(query.order_by(col(AuditEvent.at), col(AuditEvent.id)))
    return [
        AuditRow(
            id=event.id or 0,
            at=event.at,
            actor=event.actor,
            action=event.action,
            study_id=participant_study_id,
            entity=event.entity,
            entity_id=event.entity_id,
            before=event.before,
            after=event.after,
        )
        for event, participant_study_id in rows
    ]


def _value(value: object) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


__all__ = ["AuditRow", "read_audit_log"]
