"""The audit log: every change a person or the system makes, with before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from study.models import AuditEvent

SYSTEM = "system"


def cli_actor(user: str) -> str:
    return f"cli:{user}"


def telegram_actor(user_id: int) -> str:
    return f"tg:{user_id}"


def telegram_user_of(actor: str) -> int | None:
    """The Telegram user id in an actor like `tg:111111`, else None."""
    kind, _, value = actor.partition(":")
    return int(value) if kind == "tg" and value.isdigit() else None


def participant_actor(study_id: str) -> str:
    return f"participant:{study_id}"


def record(
    session: AsyncSession,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: object = None,
    participant_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        at=at,
        actor=actor,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        participant_id=participant_id,
        before=before,
        after=after,
    )
    session.add(event)
    return event
