"""Turning an outbox row into the text and buttons to send, from the state as it is now.

A row is composed at the moment it is sent, not when it was queued: the participant's chat
and language are read then, and a reminder whose visit has moved or been cancelled is
refused as stale here even if the planner missed it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messages import Keyboard, button, label, render
from messages.render import BABEL_LOCALES
from scheduler.alert_jobs import ESCALATED, RESENT
from scheduler.checkin_jobs import QUESTION_TEMPLATE
from scheduler.checkin_messages import question_message
from scheduler.planner import REMINDER_TEMPLATE
from scheduler.timing import local_date
from study.alerts import ALERT_CARD
from study.checkins import question_of
from study.config import StudyConfig
from study.delivery import ALERT_ELSEWHERE, CHAT_REFUSED, is_rerouted
from study.errors import Stale
from study.models import (
    UPCOMING,
    Alert,
    AlertStatus,
    CheckIn,
    CheckInKind,
    Infusion,
    InfusionStatus,
    OutboxMessage,
    Participant,
    ParticipantStatus,
    PromptStatus,
    Visit,
    VisitStatus,
)
from study.team_chats import current_chat_id


@dataclass(frozen=True)
class Composed:
    chat_id: int
    text: str
    keyboard: Keyboard | None = None
    remember: bool = False  # where it lands matters later (alert cards, check-in questions)


Composer = Callable[
    [AsyncSession, OutboxMessage, str, StudyConfig, datetime],
    Awaitable[tuple[str, Keyboard | None]],
]


async def compose(
    session: AsyncSession, row: OutboxMessage, config: StudyConfig, now: datetime
) -> Composed:
    if row.participant_id is not None:
        participant = await session.get(Participant, row.participant_id)
        if participant is None or participant.telegram_chat_id is None:
            raise Stale("participant not linked")
        if participant.status != ParticipantStatus.ACTIVE:
            raise Stale(f"participant {participant.status}")
        chat_id, language = participant.telegram_chat_id, participant.language
    elif row.chat_id is not None:
        # A group that became a supergroup is written to under its new id.
        chat_id, language = await current_chat_id(session, row.chat_id), row.language
    else:
        raise Stale("no recipient")
    composer = COMPOSERS.get(row.template, _plain)
    text, keyboard = await composer(session, row, language, config, now)
    if is_rerouted(row) and row.template != ALERT_ELSEWHERE:
        text = f"{text}\n\n{render('sent_elsewhere', language)}"
    remember = row.alert_id is not None or "checkin_id" in row.context
    return Composed(chat_id, text, keyboard, remember)


async def _plain(
    session: AsyncSession,
    row: OutboxMessage,
    language: str,
    config: StudyConfig,
    now: datetime,
) -> tuple[str, Keyboard | None]:
    context = dict(row.context)
    if row.participant_id is not None:
        participant = await session.get(Participant, row.participant_id)
        assert participant is not None
        site = config.sites[participant.site_code]
        context.setdefault("site_phone", site.phone)
        context.setdefault("emergency_number", site.emergency_number)
        context.setdefault("crisis_phone", site.crisis_phone)
    return render(row.template, language, **context), None


async def _reminder(
    session: AsyncSession,
    row: OutboxMessage,
    language: str,
    config: StudyConfig,
    now: datetime,
) -> tuple[str, Keyboard | None]:
    ctx = row.context
    participant = await session.get(Participant, row.participant_id)
    assert participant is not None
    ask = False
    if ctx.get("visit_id") is not None:
        visit = await session.get(Visit, ctx["visit_id"])
        if visit is None or visit.status not in UPCOMING:
            raise Stale("visit no longer upcoming")
        if (
            visit.visit_date.isoformat() != ctx["date"]
            or _time(visit.appointment_time) != ctx["time"]
        ):
            raise Stale("visit moved")
        ask = visit.status == VisitStatus.PLANNED
    if ctx.get("infusion_id") is not None:
        infusion = await session.get(Infusion, ctx["infusion_id"])
        if infusion is None or infusion.status != InfusionStatus.PLANNED:
            raise Stale("infusion no longer planned")
        if infusion.planned_date.isoformat() != ctx["date"]:
            raise Stale("infusion moved")
    site = config.sites[participant.site_code]
    is_follow_up = ctx.get("month", 0) > 0
    # Counted from today, not from the plan: a reminder sent late must still be true.
    days_before = (date.fromisoformat(ctx["date"]) - local_date(now, participant.timezone)).days
    if days_before < 0:
        raise Stale("event already past")
    text = render(
        "reminder",
        language,
        kind=ctx["kind"],
        date=ctx["date"],
        time=ctx["time"],
        days_before=days_before,
        site_name=site.name,
        address=site.address.get(language) if site.address else None,  # type: ignore[arg-type]
        instructions=(
            site.visit_instructions.get(language)  # type: ignore[arg-type]
            if site.visit_instructions
            else None
        ),
        window_start=ctx.get("window_start") if is_follow_up else None,
        window_end=ctx.get("window_end") if is_follow_up else None,
        ask=ask,
        site_phone=site.phone,
    )
    keyboard = None
    if ask:
        visit_id = ctx["visit_id"]
        keyboard = [
            [
                button("visit_will_come", language, f"v:{visit_id}:ok"),
                button("visit_need_other_date", language, f"v:{visit_id}:rs"),
            ]
        ]
    return text, keyboard


async def _alert_card(
    session: AsyncSession,
    row: OutboxMessage,
    language: str,
    config: StudyConfig,
    now: datetime,
) -> tuple[str, Keyboard | None]:
    alert = await session.get(Alert, row.context["alert_id"])
    if alert is None:
        raise Stale("alert gone")
    note = row.context.get("note")
    if note in (RESENT, ESCALATED) and alert.status != AlertStatus.OPEN:
        raise Stale("acknowledged meanwhile: no re-send or escalation needed")
    return await alert_card(session, alert, language, config, note)


async def alert_card(
    session: AsyncSession,
    alert: Alert,
    language: str,
    config: StudyConfig,
    note: str | None = None,
) -> tuple[str, Keyboard | None]:
    """The card of an alert as it stands (also used to edit it after a button press)."""
    participant = (
        await session.get(Participant, alert.participant_id) if alert.participant_id else None
    )
    zone = config.site_timezone(alert.site_code)
    context: dict[str, Any] = {
        "tier": alert.tier,
        "kind": alert.kind,
        "note": note,
        "study_id": participant.study_id if participant else "-",
        "arm": participant.arm if participant else "standard",
        "evidence": alert.evidence,
        "answered_at": local_stamp(alert.answered_at, zone, language),
        "recent_tiers": await recent_tiers(session, alert.participant_id, language),
        "next_visit": await next_visit_date(session, alert.participant_id),
        "raised_at": local_stamp(alert.raised_at, zone, language),
        "acknowledged_at": local_stamp(alert.acknowledged_at, zone, language),
        "acknowledged_by": _who(alert.acknowledged_by, language),
        "resolved_at": local_stamp(alert.resolved_at, zone, language),
        "resolved_by": _who(alert.resolved_by, language),
    }
    return render("alert_card", language, **context), _alert_buttons(alert, language)


def _alert_buttons(alert: Alert, language: str) -> Keyboard | None:
    if alert.status == AlertStatus.RESOLVED:
        return None
    row = []
    if alert.status == AlertStatus.OPEN:
        row.append(button("alert_acknowledge", language, f"a:{alert.id}:ack"))
    row.append(button("alert_resolve", language, f"a:{alert.id}:res"))
    return [row]


async def _alert_elsewhere(
    session: AsyncSession,
    row: OutboxMessage,
    language: str,
    config: StudyConfig,
    now: datetime,
) -> tuple[str, Keyboard | None]:
    """An alert that its site's chat did not show, for another chat: what matters at once,
    from the alert's row alone (the card's own composing may be what failed), and its
    buttons."""
    alert = await session.get(Alert, row.context["alert_id"])
    if alert is None or alert.status == AlertStatus.RESOLVED:
        raise Stale("alert resolved meanwhile")
    if row.context.get("note") is not None and alert.status != AlertStatus.OPEN:
        raise Stale("acknowledged meanwhile: no re-send or escalation needed")
    participant = (
        await session.get(Participant, alert.participant_id) if alert.participant_id else None
    )
    site = config.sites.get(alert.site_code)
    zone = (site.timezone if site else None) or config.study.timezone
    shown = row.context["cause"] == CHAT_REFUSED  # else the card failed: keep to the basics
    text = render(
        ALERT_ELSEWHERE,
        language,
        tier=alert.tier,
        study_id=participant.study_id if participant else "-",
        site_code=alert.site_code,
        cause=row.context["cause"],
        kind=alert.kind if shown else None,
        evidence=alert.evidence if shown else [],
        answered_at=local_stamp(alert.answered_at, zone, language),
        raised_at=local_stamp(alert.raised_at, zone, language),
    )
    return text, _alert_buttons(alert, language)


async def recent_tiers(
    session: AsyncSession, participant_id: int | None, language: str, count: int = 3
) -> list[str]:
    """The tiers of the last few finished symptom check-ins, newest first."""
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
    return [tier or label("tier_none", language) for tier in rows]


async def _checkin_question(
    session: AsyncSession,
    row: OutboxMessage,
    language: str,
    config: StudyConfig,
    now: datetime,
) -> tuple[str, Keyboard | None]:
    checkin = await session.get(CheckIn, row.context["checkin_id"])
    if checkin is None or checkin.status != PromptStatus.OPEN:
        raise Stale("check-in no longer open")
    question = question_of(checkin, checkin.current_question)
    participant = await session.get(Participant, checkin.participant_id)
    assert question is not None and participant is not None
    return question_message(
        checkin,
        question,
        participant,
        config,
        proactive=bool(row.context.get("proactive")),
        nudge=bool(row.context.get("nudge")),
    )


async def _digest(
    session: AsyncSession,
    row: OutboxMessage,
    language: str,
    config: StudyConfig,
    now: datetime,
) -> tuple[str, Keyboard | None]:
    zone = config.site_timezone(row.context["site_code"])
    alerts = await session.exec(
        select(Alert, Participant)
        .join(Participant, col(Participant.id) == Alert.participant_id)
        .where(
            col(Alert.id).in_(row.context["alert_ids"]),
            col(Alert.status) != AlertStatus.RESOLVED,
        )
        .order_by(col(Alert.raised_at))
    )
    items = [
        {
            "study_id": participant.study_id,
            "kind": alert.kind,
            "raised_at": local_stamp(alert.raised_at, zone, language),
        }
        for alert, participant in alerts
    ]
    if not items:
        raise Stale("every alert of the digest was resolved")
    text = render(
        "digest",
        language,
        site_code=row.context["site_code"],
        day=row.context["day"],
        items=items,
    )
    return text, None


async def _previsit_summary(
    session: AsyncSession,
    row: OutboxMessage,
    language: str,
    config: StudyConfig,
    now: datetime,
) -> tuple[str, Keyboard | None]:
    visit = await session.get(Visit, row.context["visit_id"])
    if visit is None or visit.status not in UPCOMING:
        raise Stale("visit no longer upcoming")
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
    t4 = [f for c in checkins for f in c.evidence if f.get("tier") == "T4"]
    text = render(
        "previsit_summary",
        language,
        study_id=participant.study_id,
        visit_number=visit.number,
        date=visit.visit_date,
        arm=participant.arm,
        tiers=[c.tier or label("tier_none", language) for c in checkins],
        t4_findings=t4,
        open_alerts=open_alerts,
    )
    return text, None


async def next_visit_date(session: AsyncSession, participant_id: int | None) -> date | None:
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


def local_stamp(instant: datetime | None, zone: str, language: str) -> str | None:
    if instant is None:
        return None
    local = instant.astimezone(ZoneInfo(zone))
    return format_datetime(local, "yyyy-MM-dd HH:mm", locale=BABEL_LOCALES[language])


def _who(user_id: int | None, language: str) -> str | None:
    return None if user_id is None else label("coordinator_named", language, user_id=user_id)


def _time(value: object) -> str | None:
    return None if value is None else value.isoformat("minutes")  # type: ignore[attr-defined]


COMPOSERS: dict[str, Composer] = {
    REMINDER_TEMPLATE: _reminder,
    ALERT_CARD: _alert_card,
    ALERT_ELSEWHERE: _alert_elsewhere,
    QUESTION_TEMPLATE: _checkin_question,
    "digest": _digest,
    "previsit_summary": _previsit_summary,
}
