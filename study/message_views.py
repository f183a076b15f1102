"""What outgoing messages show, read when they are sent (read models for `messages/`).

Each function reads the rows one kind of message needs, checks with `study.staleness` that
the message is still true (else `Stale`), and returns them; composing text from them is
`messages/`' work. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.checkins import question_of
from study.errors import Stale
from study.models import (
    UPCOMING,
    Alert,
    AlertStatus,
    CheckIn,
    CheckInKind,
    Infusion,
    OutboxMessage,
    Participant,
    PromptStatus,
    Visit,
)
from study.questionnaire import Question
from study.staleness import (
    check_alert_card,
    check_alert_elsewhere,
    check_digest,
    check_infusion_reminder,
    check_open_checkin,
    check_recipient,
    check_upcoming_visit,
    check_visit_reminder,
)
from study.team_chats import current_chat_id

RECENT_CHECKINS = 3


@dataclass(frozen=True)
class Recipient:
    """Where a message goes now, in which language; `participant` for their own messages."""

    chat_id: int
    language: str
    participant: Participant | None = None


@dataclass(frozen=True)
class Reminder:
    """A reminder's participant and its visit and/or infusion, still as reminded of."""

    participant: Participant
    visit: Visit | None
    infusion: Infusion | None


@dataclass(frozen=True)
class AlertView:
    """An alert with what its card shows beside it."""

    alert: Alert
    participant: Participant | None
    recent_tiers: list[str | None]  # the last finished symptom check-ins, newest first
    next_visit: date | None


@dataclass(frozen=True)
class CheckInQuestion:
    checkin: CheckIn
    question: Question
    participant: Participant


@dataclass(frozen=True)
class DigestItem:
    study_id: str
    kind: str
    raised_at: datetime


@dataclass(frozen=True)
class Previsit:
    """What the site sees before a visit: the symptom check-ins finished since the
    previous visit (oldest first), their T4 findings, and how many alerts are open."""

    visit: Visit
    participant: Participant
    tiers: list[str | None]
    t4_findings: list[dict[str, Any]] = field(default_factory=list)
    open_alerts: int = 0


async def preload(session: AsyncSession, rows: list[OutboxMessage]) -> list[Any]:
    """The participants, visits and infusions that composing `rows` reads, in one query
    each. Keep the list while composing: the session holds objects weakly, and while they
    are held `session.get` finds them without a query."""
    wanted: list[tuple[Any, set[int]]] = [
        (Participant, {row.participant_id for row in rows if row.participant_id is not None}),
        (Visit, {row.context["visit_id"] for row in rows if row.context.get("visit_id")}),
        (Infusion, {row.context["infusion_id"] for row in rows if row.context.get("infusion_id")}),
    ]
    loaded: list[Any] = []
    for model, ids in wanted:
        if ids:
            loaded.extend(await session.exec(select(model).where(col(model.id).in_(ids))))
    return loaded


async def recipient_of(session: AsyncSession, row: OutboxMessage) -> Recipient:
    """A participant's linked chat and language as they are now; a site chat under its
    current id (a group that became a supergroup is written to under its new id)."""
    if row.participant_id is not None:
        participant = check_recipient(await session.get(Participant, row.participant_id))
        assert participant.telegram_chat_id is not None
        return Recipient(participant.telegram_chat_id, participant.language, participant)
    if row.chat_id is not None:
        return Recipient(await current_chat_id(session, row.chat_id), row.language)
    raise Stale("no recipient")


async def reminder_of(
    session: AsyncSession, participant: Participant, row: OutboxMessage
) -> Reminder:
    """The visit and infusion a reminder names, if it still holds for each of them."""
    context = row.context
    visit = infusion = None
    if context.get("visit_id") is not None:
        visit = check_visit_reminder(
            await session.get(Visit, context["visit_id"]), context["date"], context["time"]
        )
    if context.get("infusion_id") is not None:
        infusion = check_infusion_reminder(
            await session.get(Infusion, context["infusion_id"]), context["date"]
        )
    return Reminder(participant, visit, infusion)


async def queued_alert(session: AsyncSession, row: OutboxMessage) -> Alert:
    """The alert of a queued card, if the card (or its re-send) still holds."""
    return check_alert_card(
        await session.get(Alert, row.context["alert_id"]), row.context.get("note")
    )


async def alert_view(session: AsyncSession, alert: Alert) -> AlertView:
    """An alert as its card shows it (also after a button press changed it)."""
    participant = (
        await session.get(Participant, alert.participant_id) if alert.participant_id else None
    )
    return AlertView(
        alert,
        participant,
        await recent_tiers(session, alert.participant_id),
        await next_visit_date(session, alert.participant_id),
    )


async def alert_elsewhere_of(
    session: AsyncSession, row: OutboxMessage
) -> tuple[Alert, Participant | None]:
    """The alert of a copy sent to another chat, if it still holds, and its participant."""
    alert = check_alert_elsewhere(
        await session.get(Alert, row.context["alert_id"]), row.context.get("note")
    )
    participant = (
        await session.get(Participant, alert.participant_id) if alert.participant_id else None
    )
    return alert, participant


async def checkin_question_of(session: AsyncSession, row: OutboxMessage) -> CheckInQuestion:
    """The question a check-in is at, while the check-in is open."""
    checkin = check_open_checkin(await session.get(CheckIn, row.context["checkin_id"]))
    question = question_of(checkin, checkin.current_question)
    participant = await session.get(Participant, checkin.participant_id)
    assert question is not None and participant is not None
    return CheckInQuestion(checkin, question, participant)


async def digest_of(session: AsyncSession, alert_ids: list[int]) -> list[DigestItem]:
    """The alerts of a digest that are not resolved yet, oldest first."""
    rows = await session.exec(
        select(Alert, Participant)
        .join(Participant, col(Participant.id) == Alert.participant_id)
        .where(col(Alert.id).in_(alert_ids), col(Alert.status) != AlertStatus.RESOLVED)
        .order_by(col(Alert.raised_at))
    )
    items = [DigestItem(p.study_id, alert.kind, alert.raised_at) for alert, p in rows]
    return list(check_digest(items))


async def previsit_of(session: AsyncSession, visit_id: int) -> Previsit:
    """A coming visit's summary, while the visit is upcoming."""
    visit = check_upcoming_visit(await session.get(Visit, visit_id))
    participant = await session.get(Participant, visit.participant_id)
    assert participant is not None
    previous = (
        await session.exec(
            select(Visit)
            .where(Visit.participant_id == participant.id, Visit.number < visit.number)
            .order_by(col(Visit.number).desc())
        )
    ).first()
    since = (
        datetime.combine(previous.visit_date, datetime.min.time(), tzinfo=UTC)
        if previous
        else participant.created_at
    )
    checkins = list(
        await session.exec(
            select(CheckIn)
            .where(
                CheckIn.participant_id == participant.id,
                CheckIn.kind == CheckInKind.SYMPTOMS,
                col(CheckIn.status) != PromptStatus.OPEN,
                col(CheckIn.asked_at) >= since,
            )
            .order_by(col(CheckIn.asked_at))
        )
    )
    open_alerts = len(
        list(
            await session.exec(
                select(Alert.id).where(
                    Alert.participant_id == participant.id,
                    col(Alert.status) != AlertStatus.RESOLVED,
                )
            )
        )
    )
    return Previsit(
        visit,
        participant,
        tiers=[c.tier for c in checkins],
        t4_findings=[f for c in checkins for f in c.evidence if f.get("tier") == "T4"],
        open_alerts=open_alerts,
    )


async def recent_tiers(
    session: AsyncSession, participant_id: int | None, count: int = RECENT_CHECKINS
) -> list[str | None]:
    """The tiers of the last few finished symptom check-ins, newest first (None: no tier)."""
    if participant_id is None:
        return []
    rows = await session.exec(
        select(CheckIn.tier)
        .where(
            CheckIn.participant_id == participant_id,
            CheckIn.kind == CheckInKind.SYMPTOMS,
            col(CheckIn.status) != PromptStatus.OPEN,
        )
        .order_by(col(CheckIn.asked_at).desc())
        .limit(count)
    )
    return list(rows)


async def next_visit_date(session: AsyncSession, participant_id: int | None) -> date | None:
    """The day of the participant's next upcoming visit, if any."""
    if participant_id is None:
        return None
    visit = (
        await session.exec(
            select(Visit)
            .where(Visit.participant_id == participant_id, col(Visit.status).in_(UPCOMING))
            .order_by(col(Visit.number))
        )
    ).first()
    return visit.visit_date if visit else None
