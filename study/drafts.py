"""A coordinator's guided enrolment between two answers, kept in the database.

Whichever process takes the next update (several may run behind a load balancer) finds
the answers so far here. A draft untouched for a day is forgotten: the coordinator starts
again, and nothing half-done was ever a participant. The periodic sweep deletes it then
(`delete_stale_drafts`), so no study id or choice lingers in the table.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, delete
from sqlmodel.ext.asyncio.session import AsyncSession

from study.models import EnrollDraft

DRAFT_LIFETIME = timedelta(days=1)


async def load_draft(
    session: AsyncSession, *, user_id: int, chat_id: int, now: datetime
) -> EnrollDraft | None:
    """The coordinator's draft in this chat, locked until the transaction ends; None when
    there is none or it is older than a day."""
    draft = await session.get(EnrollDraft, (user_id, chat_id), with_for_update=True)
    if draft is None or draft.updated_at < now - DRAFT_LIFETIME:
        return None
    return draft


async def save_draft(
    session: AsyncSession,
    *,
    user_id: int,
    chat_id: int,
    step: str,
    answers: dict[str, Any],
    now: datetime,
) -> None:
    """Store the answers so far and the step asked next (replacing any earlier draft)."""
    draft = await session.get(EnrollDraft, (user_id, chat_id), with_for_update=True)
    if draft is None:
        draft = EnrollDraft(telegram_user_id=user_id, chat_id=chat_id, step=step, updated_at=now)
    draft.step = step
    draft.answers = dict(answers)  # a new dict: JSON columns do not track changes in place
    draft.updated_at = now
    session.add(draft)


async def drop_draft(session: AsyncSession, *, user_id: int, chat_id: int) -> None:
    """Forget the draft (finished or cancelled)."""
    await session.exec(
        delete(EnrollDraft).where(
            EnrollDraft.telegram_user_id == user_id,  # type: ignore[arg-type]
            EnrollDraft.chat_id == chat_id,  # type: ignore[arg-type]
        )
    )


async def delete_stale_drafts(session: AsyncSession, *, now: datetime) -> int:
    """Delete every draft that `load_draft` would no longer return (untouched for more than
    a day); returns how many. One statement: there is at most a draft a coordinator and
    chat, and one being answered right now is not stale."""
    result = await session.exec(
        delete(EnrollDraft).where(col(EnrollDraft.updated_at) < now - DRAFT_LIFETIME)
    )
    return int(result.rowcount or 0)
