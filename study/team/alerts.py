"""Taking on and closing an alert (its card's buttons, or `trialbot ack|resolve ID`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from study.alert_cards import Shown, update_cards
from study.alerts import acknowledge_alert, resolve_alert
from study.models import Alert
from study.team.scope import Team


@dataclass(frozen=True)
class Acknowledge:
    """Take the alert on: its re-sending and escalation stop, and its cards in the chats
    show it (`pressed`: the card whose button did it, which the caller edits itself).
    Audited; again changes nothing."""

    alert_id: int
    pressed: Shown | None = None

    async def run(self, session: AsyncSession, team: Team) -> Alert:
        alert = await team.alert(session, self.alert_id)
        before = alert.status
        alert = await acknowledge_alert(session, alert, actor=team.actor, now=team.now)
        if alert.status != before:  # a repeat leaves the cards as they are
            await update_cards(session, alert, now=team.now, edited=self.pressed)
        return alert


@dataclass(frozen=True)
class Resolve:
    """Close the alert (acknowledging it too if nobody had); its cards in the chats show it
    (`pressed` as for `Acknowledge`). Audited; again changes nothing."""

    alert_id: int
    pressed: Shown | None = None

    async def run(self, session: AsyncSession, team: Team) -> Alert:
        alert = await team.alert(session, self.alert_id)
        before = alert.status
        alert = await resolve_alert(session, alert, actor=team.actor, now=team.now)
        if alert.status != before:
            await update_cards(session, alert, now=team.now, edited=self.pressed)
        return alert
