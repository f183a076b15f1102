"""Alerts, tasks and notices for a site team: a row first, then a card through the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from study import audit
from study.config import StudyConfig
from study.escalation import first_round_at
from study.models import Alert, AlertStatus, Participant, Tier
from study.outbox import Priority, enqueue

ALERT_CARD = "alert_card"
PRIORITY_OF_TIER = {
    Tier.T1: Priority.URGENT,
    Tier.T2: Priority.URGENT,
    Tier.T3: Priority.ALERT,
    Tier.T4: Priority.INFO,
}


def first_escalation_at(tier: str, raised_at: datetime, config: StudyConfig) -> datetime | None:
    """When an unacknowledged alert of this tier, raised (or raised to it) at `raised_at`,
    has its first round (`study.escalation`); None for a tier without rounds."""
    return first_round_at(tier, raised_at, config.protocol.escalation)


def sites_acting_on_alerts(config: StudyConfig, user_id: int, chat_id: int | None) -> set[str]:
    """The sites whose alerts this Telegram user may acknowledge and resolve with a button
    pressed in `chat_id`: every site they coordinate (in any chat), and each site they are
    on call for, but only in that site's escalation chat."""
    on_call = {
        code
        for code in config.on_call_sites(user_id)
        if chat_id is not None and config.sites[code].escalation_chat_id == chat_id
    }
    return set(config.roles_of(user_id)) | on_call


async def raise_alert(
    session: AsyncSession,
    *,
    config: StudyConfig,
    participant: Participant,
    kind: str,
    tier: Tier,
    evidence: list[dict[str, Any]],
    now: datetime,
    dedupe_key: str | None = None,
    answered_at: datetime | None = None,
    visit_id: int | None = None,
    checkin_id: int | None = None,
) -> Alert:
    """Record an alert and queue its card for the site's alert chat (idempotent by key)."""
    if dedupe_key is not None:
        existing = (await session.exec(select(Alert).where(Alert.dedupe_key == dedupe_key))).first()
        if existing is not None:
            return existing
    site_code = participant.site_code
    alert = Alert(
        site_code=site_code,
        participant_id=participant.id,
        kind=kind,
        tier=tier,
        evidence=evidence,
        status=AlertStatus.OPEN,
        dedupe_key=dedupe_key,
        raised_at=now,
        answered_at=answered_at,
        next_escalation_at=first_escalation_at(tier, now, config),
        visit_id=visit_id,
        checkin_id=checkin_id,
    )
    session.add(alert)
    await session.flush()
    audit.record(
        session,
        at=now,
        actor=audit.SYSTEM,
        action="raise_alert",
        entity="alert",
        entity_id=alert.id,
        participant_id=participant.id,
        after={"kind": kind, "tier": tier, "status": alert.status},
    )
    await enqueue(
        session,
        template=ALERT_CARD,
        dedupe_key=f"alert:{alert.id}:card",
        chat_id=config.sites[site_code].alert_chat_id,
        language=config.site_language(site_code),
        context={"alert_id": alert.id},
        due_at=now,
        priority=PRIORITY_OF_TIER[tier],
        alert_id=alert.id,
        now=now,
    )
    return alert


async def acknowledge_alert(
    session: AsyncSession, alert: Alert, *, actor: str, now: datetime
) -> Alert:
    """A team member takes the alert on (a repeat changes nothing); its escalation stops."""
    await session.refresh(alert, with_for_update=True)
    if alert.status == AlertStatus.OPEN:
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at = now
        alert.acknowledged_by = audit.telegram_user_of(actor)
        alert.next_escalation_at = None
        _audit_change(session, alert, actor, now, "acknowledge_alert", AlertStatus.OPEN)
    return alert


async def resolve_alert(session: AsyncSession, alert: Alert, *, actor: str, now: datetime) -> Alert:
    """A team member closes the alert (acknowledging it too if nobody had)."""
    await session.refresh(alert, with_for_update=True)
    if alert.status != AlertStatus.RESOLVED:
        before = alert.status
        if alert.acknowledged_at is None:
            alert.acknowledged_at = now
            alert.acknowledged_by = audit.telegram_user_of(actor)
        alert.status = AlertStatus.RESOLVED
        alert.resolved_at = now
        alert.resolved_by = audit.telegram_user_of(actor)
        alert.next_escalation_at = None
        _audit_change(session, alert, actor, now, "resolve_alert", before)
    return alert


def _audit_change(
    session: AsyncSession, alert: Alert, actor: str, now: datetime, action: str, before: str
) -> None:
    audit.record(
        session,
        at=now,
        actor=actor,
        action=action,
        entity="alert",
        entity_id=alert.id,
        participant_id=alert.participant_id,
        before={"status": before},
        after={"status": alert.status},
    )
