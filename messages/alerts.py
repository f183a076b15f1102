"""An alert as the site team sees it: its card, or a notice of it for another chat, each
with the Acknowledge / Resolve buttons its status allows."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from messages.callbacks import AlertAction, AlertStep
from messages.queued import Queued, Text
from messages.render import Keyboard, button, label, local_stamp, render
from study.alerts import ALERT_CARD
from study.config import StudyConfig
from study.delivery import ALERT_ELSEWHERE, CHAT_REFUSED
from study.escalation import resend_every
from study.message_views import alert_elsewhere_of, alert_view, queued_alert
from study.models import Alert, AlertStatus


async def compose_card(queued: Queued) -> Text:
    """A queued card: first sent, re-sent or escalated (`note`)."""
    alert = await queued_alert(queued.session, queued.row)
    note = queued.row.context.get("note")
    waited = queued.row.context.get("waited_minutes")
    return await alert_card(
        queued.session, alert, queued.language, queued.config, note, waited_minutes=waited
    )


async def alert_card(
    session: AsyncSession,
    alert: Alert,
    language: str,
    config: StudyConfig,
    note: str | None = None,
    *,
    waited_minutes: int | None = None,
) -> Text:
    """The card of an alert as it stands (also used to edit it after a button press); a
    re-sent or escalated card says how long nobody acknowledged it, and how often it comes
    again (the configured interval of its tier)."""
    view = await alert_view(session, alert)
    participant = view.participant
    zone = config.site_timezone(alert.site_code)
    every = resend_every(alert.tier, config.protocol.escalation)
    return render(
        ALERT_CARD,
        language,
        tier=alert.tier,
        kind=alert.kind,
        note=note,
        waited_minutes=waited_minutes,
        every_minutes=None if every is None else every // timedelta(minutes=1),
        study_id=participant.study_id if participant else "-",
        arm=participant.arm if participant else "standard",
        evidence=alert.evidence,
        answered_at=local_stamp(alert.answered_at, zone, language),
        recent_tiers=tier_names(view.recent_tiers, language),
        next_visit=view.next_visit,
        raised_at=local_stamp(alert.raised_at, zone, language),
        acknowledged_at=local_stamp(alert.acknowledged_at, zone, language),
        acknowledged_by=_who(alert.acknowledged_by, language, config, alert.site_code),
        resolved_at=local_stamp(alert.resolved_at, zone, language),
        resolved_by=_who(alert.resolved_by, language, config, alert.site_code),
    ), alert_buttons(alert, language)


async def compose_elsewhere(queued: Queued) -> Text:
    """An alert that its site's chat did not show, for another chat: what matters at once,
    from the alert's row alone (the card's own composing may be what failed), and its
    buttons."""
    alert, participant = await alert_elsewhere_of(queued.session, queued.row)
    context, config, language = queued.row.context, queued.config, queued.language
    site = config.sites.get(alert.site_code)
    zone = (site.timezone if site else None) or config.study.timezone
    shown = context["cause"] == CHAT_REFUSED  # else the card failed: keep to the basics
    text = render(
        ALERT_ELSEWHERE,
        language,
        tier=alert.tier,
        study_id=participant.study_id if participant else "-",
        site_code=alert.site_code,
        cause=context["cause"],
        kind=alert.kind if shown else None,
        evidence=alert.evidence if shown else [],
        answered_at=local_stamp(alert.answered_at, zone, language),
        raised_at=local_stamp(alert.raised_at, zone, language),
    )
    return text, alert_buttons(alert, language)


def alert_buttons(alert: Alert, language: str) -> Keyboard | None:
    """Acknowledge while it is open, Resolve until it is resolved."""
    if alert.status == AlertStatus.RESOLVED:
        return None
    assert alert.id is not None
    row = []
    if alert.status == AlertStatus.OPEN:
        acknowledge = AlertAction(alert.id, AlertStep.ACKNOWLEDGE).pack()
        row.append(button("alert_acknowledge", language, acknowledge))
    row.append(button("alert_resolve", language, AlertAction(alert.id, AlertStep.RESOLVE).pack()))
    return [row]


def tier_names(tiers: list[str | None], language: str) -> list[str]:
    """Check-ins' tiers as shown: a check-in without one says so."""
    return [tier or label("tier_none", language) for tier in tiers]


def _who(user_id: int | None, language: str, config: StudyConfig, site_code: str) -> str | None:
    """Who acknowledged or resolved an alert: a coordinator, or the site's on-call person."""
    if user_id is None:
        return None
    on_call = site_code in config.on_call_sites(user_id)
    key = "on_call_named" if on_call else "coordinator_named"
    return label(key, language, user_id=user_id)
