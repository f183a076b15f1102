"""The scope every team operation runs in: who acts, for which sites, and when."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from study.config import StudyConfig
from study.enrollment import STUDY_ID, get_participant
from study.errors import DomainError
from study.models import Alert, Participant
from study.ports import Replanner

Result = TypeVar("Result", covariant=True)


@dataclass(frozen=True, kw_only=True)
class Team:
    """A member of the study team acting now.

    `actor` is what the audit log records (`tg:<user id>` in Telegram, `cli:<user>` on the
    server); `sites` are the sites they act for (a coordinator's own, or every site on the
    server). Every lookup is confined to them: a participant or alert of another site is
    "not found", exactly like one that does not exist.
    """

    actor: str
    sites: frozenset[str]
    now: datetime
    config: StudyConfig
    replanner: Replanner

    async def participant(self, session: AsyncSession, study_id: str) -> Participant:
        """The participant with this study id at one of the team's sites; DomainError
        `error_unknown_participant` for anyone else."""
        if not STUDY_ID.match(study_id):
            raise DomainError("error_unknown_participant", study_id=study_id)
        participant = await get_participant(session, study_id)
        if participant.site_code not in self.sites:
            raise DomainError("error_unknown_participant", study_id=study_id)
        return participant

    async def participant_by_id(self, session: AsyncSession, participant_id: int) -> Participant:
        """The participant of a button's row id at one of the team's sites; DomainError
        `not_allowed` for anyone else."""
        participant = await session.get(Participant, participant_id)
        if participant is None or participant.site_code not in self.sites:
            raise DomainError("not_allowed")
        return participant

    async def alert(self, session: AsyncSession, alert_id: int) -> Alert:
        """An alert of one of the team's sites; DomainError `error_unknown_alert` otherwise."""
        return await session.run_sync(self.alert_sync, alert_id)

    def alert_sync(self, session: Session, alert_id: int) -> Alert:
        """`alert` in a synchronous session (`Database.snapshot`)."""
        alert = session.get(Alert, alert_id)
        if alert is None or alert.site_code not in self.sites:
            raise DomainError("error_unknown_alert", alert_id=alert_id)
        return alert

    def within(self, sites: Collection[str] | None) -> list[str]:
        """These of the team's sites (all of them for None), sorted; DomainError
        `error_unknown_site` for a site that is not the team's."""
        if not sites:
            return sorted(self.sites)
        for site in sites:
            if site not in self.sites:
                raise DomainError(
                    "error_unknown_site", site=site, known=", ".join(sorted(self.sites))
                )
        return sorted(set(sites))

    def today(self, site: str) -> date:
        """Today's date at this site."""
        return self.now.astimezone(ZoneInfo(self.config.site_timezone(site))).date()


class Operation(Protocol[Result]):
    """One thing the team does: its typed arguments are the dataclass's fields; `run` does it
    in the caller's transaction (changes audited, reminders re-planned, participants told
    through the outbox) or raises DomainError, and returns what the front end shows. One
    that changes nothing says so with a class attribute `reads_only = True` (the bot then
    runs it on a snapshot, see `Staff.perform`)."""

    async def run(self, session: AsyncSession, team: Team) -> Result: ...


@dataclass(frozen=True, kw_only=True)
class Done:
    """A change made, as `team_done` confirms it: `what` names the change; the facts shown
    (a visit's number, a day and time) are those now stored."""

    what: str
    study_id: str
    number: int | None = None
    day: date | None = None
    at: time | None = None
