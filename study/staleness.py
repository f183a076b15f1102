"""Whether a queued message is still true when it is sent (pure rules that raise `Stale`).

A message is composed when it is sent, not when it was queued; in between a visit may have
moved, an alert been acknowledged, a check-in closed. Each rule looks at rows as they are
now and either returns what it checked (no longer optional) or raises `Stale` with the
reason that the outbox row keeps as its `last_error` (a reason names no person).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time
from typing import TypeVar

from study.errors import Stale
from study.escalation import ESCALATED, RESENT
from study.models import (
    UPCOMING,
    Alert,
    AlertStatus,
    CheckIn,
    Infusion,
    InfusionStatus,
    Participant,
    ParticipantStatus,
    PromptStatus,
    Visit,
)

Item = TypeVar("Item")


def check_recipient(participant: Participant | None) -> Participant:
    """A participant's messages go only to a linked chat, and only while they take part."""
    if participant is None or participant.telegram_chat_id is None:
        raise Stale("participant not linked")
    if participant.status != ParticipantStatus.ACTIVE:
        raise Stale(f"participant {participant.status}")
    return participant


def check_visit_reminder(visit: Visit | None, day: str, at: str | None) -> Visit:
    """A visit reminder holds while the visit is upcoming on the date (ISO) and time
    (HH:MM, or None) that it names."""
    if visit is None or visit.status not in UPCOMING:
        raise Stale("visit no longer upcoming")
    if visit.visit_date.isoformat() != day or _minutes(visit.appointment_time) != at:
        raise Stale("visit moved")
    return visit


def check_infusion_reminder(infusion: Infusion | None, day: str) -> Infusion:
    """An infusion reminder holds while the infusion is planned on the date (ISO) it names."""
    if infusion is None or infusion.status != InfusionStatus.PLANNED:
        raise Stale("infusion no longer planned")
    if infusion.planned_date.isoformat() != day:
        raise Stale("infusion moved")
    return infusion


def days_before(day: date, today: date) -> int:
    """How many days ahead an event is, counted from today rather than from the plan (a
    reminder sent late must still be true); an event already past is not reminded of."""
    days = (day - today).days
    if days < 0:
        raise Stale("event already past")
    return days


def check_upcoming_visit(visit: Visit | None) -> Visit:
    """A message about a coming visit (the pre-visit summary) holds while it is upcoming."""
    if visit is None or visit.status not in UPCOMING:
        raise Stale("visit no longer upcoming")
    return visit


def check_alert_card(alert: Alert | None, note: str | None) -> Alert:
    """An alert's card is sent whatever its status, but its re-send or escalation (`note`)
    only while nobody has acknowledged it."""
    if alert is None:
        raise Stale("alert gone")
    if note in (RESENT, ESCALATED) and alert.status != AlertStatus.OPEN:
        raise Stale("acknowledged meanwhile: no re-send or escalation needed")
    return alert


def check_alert_elsewhere(alert: Alert | None, note: str | None) -> Alert:
    """An alert sent to another chat (its own chat did not show it) holds until it is
    resolved; a copy of a re-send or escalation, only while nobody has acknowledged it."""
    if alert is None or alert.status == AlertStatus.RESOLVED:
        raise Stale("alert resolved meanwhile")
    if note is not None and alert.status != AlertStatus.OPEN:
        raise Stale("acknowledged meanwhile: no re-send or escalation needed")
    return alert


def check_open_checkin(checkin: CheckIn | None) -> CheckIn:
    """A check-in's question (first asked, or a nudge) holds while the check-in is open."""
    if checkin is None or checkin.status != PromptStatus.OPEN:
        raise Stale("check-in no longer open")
    return checkin


def check_digest(items: Sequence[Item]) -> Sequence[Item]:
    """A digest of open alerts holds while at least one of them is not resolved."""
    if not items:
        raise Stale("every alert of the digest was resolved")
    return items


def _minutes(value: time | None) -> str | None:
    return None if value is None else value.isoformat("minutes")
