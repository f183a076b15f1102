"""Enrolling a participant at one of the team's sites, and a fresh invitation later."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from study.enrollment import EnrollmentRequest, Invitation, enroll, issue_code
from study.team.scope import Team


@dataclass(frozen=True)
class Enroll:
    """Create the participant, their calendar and a first invitation code, at one of the
    team's sites (another: DomainError `error_unknown_site`)."""

    request: EnrollmentRequest

    async def run(self, session: AsyncSession, team: Team) -> Invitation:
        team.within([self.request.site_code])
        return await enroll(
            session, self.request, config=team.config, now=team.now, actor=team.actor
        )


@dataclass(frozen=True)
class Invite:
    """A fresh invitation code for the participant; every earlier unused code stops working."""

    study_id: str

    async def run(self, session: AsyncSession, team: Team) -> Invitation:
        participant = await team.participant(session, self.study_id)
        return await issue_code(
            session, participant, config=team.config, now=team.now, actor=team.actor
        )
