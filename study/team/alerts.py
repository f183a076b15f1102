"""Taking on and closing an alert (its card's buttons, or `trialbot ack|resolve ID`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from study.alerts import acknowledge_alert, resolve_alert
from study.models import Alert
from study.team.scope import Team


@dataclass(frozen=True)
class Acknowledge:
    """Take the alert on: its re-sending and escalation stop. Audited; again changes nothing."""

    alert_id: int

    async def run(self, session: AsyncSession, team: Team) -> Alert:
        alert = await team.alert(session, self.alert_id)
        return await acknowledge_alert(session, alert, actor=team.actor, now=team.now)


@dataclass(frozen=True)
class Resolve:
    """Close the alert (acknowledging it too if nobody had). Audited; again changes nothing."""

    alert_id: int

    async def run(self, session: AsyncSession, team: Team) -> Alert:
        alert = await team.alert(session, self.alert_id)
        return await resolve_alert(session, alert, actor=team.actor, now=team.now)
