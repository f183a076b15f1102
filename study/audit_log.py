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
from study.models import AuditEvent, LabResult, Participant, Visit


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
    visit_number: int | None = None  # the protocol number of the visit (or labs) it is about

    @property
    def subject(self) -> str:
        """What the event is about, as people name it: a visit (and a visit's labs) by its
        protocol number, anything else by its entity and id."""
        if self.visit_number is not None and self.entity == "visit":
            return f"visit {self.visit_number}"
        if self.visit_number is not None and self.entity == "lab_result":
            return f"labs of visit {self.visit_number}"
        return f"{self.entity} {self.entity_id or ''}".rstrip()

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
            "visit_number": self.visit_number,
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
    rows = list(await session.exec(query.order_by(col(AuditEvent.at), col(AuditEvent.id))))
    numbers = await _visit_numbers(session, [event for event, _ in rows])
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
            visit_number=numbers.get((event.entity, event.entity_id)),
        )
        for event, participant_study_id in rows
    ]


async def _visit_numbers(
    session: AsyncSession, events: list[AuditEvent]
) -> dict[tuple[str, str | None], int]:
    """The protocol number of the visit each visit or lab event is about, by (entity, id):
    the log stores table ids, people know visits by number."""
    ids: dict[str, list[int]] = {"visit": [], "lab_result": []}
    for event in events:
        if event.entity in ids and event.entity_id is not None and _is_id(event.entity_id):
            ids[event.entity].append(int(event.entity_id))
    numbers: dict[tuple[str, str | None], int] = {}
    if ids["visit"]:
        for visit_id, number in await session.exec(
            select(Visit.id, Visit.number).where(col(Visit.id).in_(ids["visit"]))
        ):
            numbers["visit", str(visit_id)] = number
    if ids["lab_result"]:
        for lab_id, number in await session.exec(
            select(LabResult.id, Visit.number)
            .join(Visit, col(Visit.id) == LabResult.visit_id)
            .where(col(LabResult.id).in_(ids["lab_result"]))
        ):
            numbers["lab_result", str(lab_id)] = number
    return numbers


def _is_id(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) < 10


def _value(value: object) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


__all__ = ["AuditRow", "read_audit_log"]
