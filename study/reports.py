"""Read-only views of the study for people: participant lists and the like."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.models import STILL_TO_COME, Participant, Visit


@dataclass(frozen=True)
class ParticipantRow:
    study_id: str
    site: str
    arm: str
    randomized: str
    status: str
    linked: bool
    language: str
    next_visit: str | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


async def participant_overview(
    session: AsyncSession, *, site_code: str | None = None
) -> list[ParticipantRow]:
    """Every participant (of one site, if given) with their next open visit."""
    query = select(Participant).order_by(col(Participant.site_code), col(Participant.study_id))
    if site_code is not None:
        query = query.where(Participant.site_code == site_code)
    participants = list(await session.exec(query))
    next_visits = await _next_visits(session, [p.id for p in participants if p.id is not None])
    return [
        ParticipantRow(
            study_id=p.study_id,
            site=p.site_code,
            arm=p.arm,
            randomized=p.randomized_on.isoformat(),
            status=p.status,
            linked=p.telegram_chat_id is not None,
            language=p.language,
            next_visit=next_visits[p.id].isoformat() if p.id in next_visits else None,
        )
        for p in participants
    ]


async def _next_visits(session: AsyncSession, participant_ids: list[int]) -> dict[int, date]:
    if not participant_ids:
        return {}
    visits = await session.exec(
        select(Visit)
        .where(col(Visit.participant_id).in_(participant_ids), col(Visit.status).in_(STILL_TO_COME))
        .order_by(col(Visit.participant_id), col(Visit.number))
    )
    first: dict[int, date] = {}
    for visit in visits:
        first.setdefault(visit.participant_id, visit.visit_date)
    return first
