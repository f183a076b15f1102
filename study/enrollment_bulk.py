"""Enrolling many participants in one transaction (`trialbot enroll --from FILE.csv`).

Each request is checked as `study.enrollment.enroll` checks it, and every one that passes is
enrolled alike (participant, whole calendar, infusions, invite code, audit), with one insert
a table for all of them: a site's list of thousands goes in within seconds. A refused
request is returned with its reason and leaves nothing behind; the caller commits the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.codes import hash_code, new_code
from study.config import StudyConfig
from study.enrollment import (
    EnrollmentRequest,
    Invitation,
    _participant_facts,
    _validate,
    insert_calendars,
    new_participant,
)
from study.errors import DomainError
from study.models import (
    AuditEvent,
    EnrollmentCode,
    Participant,
)


async def enroll_many(
    session: AsyncSession,
    requests: Sequence[EnrollmentRequest],
    *,
    config: StudyConfig,
    now: datetime,
    actor: str,
) -> list[Invitation | DomainError]:
    """Enrol every acceptable request, in the caller's transaction; for each request, in
    order, its invitation or why it was refused."""
    results: list[Invitation | DomainError | None] = [None] * len(requests)
    taken = set(
        await session.exec(
            select(Participant.study_id).where(
                col(Participant.study_id).in_({request.study_id for request in requests})
            )
        )
    )
    accepted: list[tuple[int, Participant]] = []
    for index, request in enumerate(requests):
        try:
            _validate(request, config, now)
            if request.study_id in taken:
                raise DomainError("error_duplicate_study_id", study_id=request.study_id)
        except DomainError as refusal:
            results[index] = refusal
            continue
        taken.add(request.study_id)
        accepted.append((index, new_participant(request, config, now)))
    if accepted:
        await _insert(session, [(requests[i], p) for i, p in accepted], config, now)
        expires_at = now + timedelta(days=config.protocol.enrollment_code_days)
        codes = [new_code() for _ in accepted]
        await session.exec(
            insert(EnrollmentCode),
            params=[
                {
                    "participant_id": participant.id,
                    "code_hash": hash_code(code),
                    "created_at": now,
                    "expires_at": expires_at,
                    "used_at": None,
                    "revoked_at": None,
                }
                for (_, participant), code in zip(accepted, codes, strict=True)
            ],
        )
        await session.exec(
            insert(AuditEvent),
            params=[
                event
                for _, participant in accepted
                for event in _audit(participant, actor, now, expires_at)
            ],
        )
        for (index, participant), code in zip(accepted, codes, strict=True):
            results[index] = Invitation(participant, code, expires_at)
    return [result for result in results if result is not None]


async def _insert(
    session: AsyncSession,
    accepted: list[tuple[EnrollmentRequest, Participant]],
    config: StudyConfig,
    now: datetime,
) -> None:
    """The participants, then their calendars (`insert_calendars`): one insert a table."""
    columns = [c.name for c in Participant.__table__.columns if c.name != "id"]  # type: ignore[attr-defined]
    inserted = await session.exec(
        insert(Participant).returning(col(Participant.study_id), col(Participant.id)),
        params=[{name: getattr(p, name) for name in columns} for _, p in accepted],
    )
    ids = dict(inserted.all())
    for _, participant in accepted:
        participant.id = ids[participant.study_id]
    await insert_calendars(session, accepted, config, now)


def _audit(
    participant: Participant, actor: str, now: datetime, expires_at: datetime
) -> list[dict[str, object]]:
    """The audit events of `enroll`: the enrolment, then the code issued."""
    common = {
        "at": now,
        "actor": actor,
        "entity": "participant",
        "entity_id": participant.study_id,
        "participant_id": participant.id,
        "before": None,
    }
    return [
        {**common, "action": "enroll", "after": _participant_facts(participant)},
        {**common, "action": "issue_code", "after": {"expires_at": expires_at.isoformat()}},
    ]
