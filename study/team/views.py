"""What the team looks at: one participant in full, the roster, the coming fortnight, open
alerts. Each only reads (`reads_only`): the bot runs it on a snapshot, so a coordinator's
look never waits for SQLite's write lock behind a sweep or a burst."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import ClassVar
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from study.models import Alert
from study.team.scope import Team
from study.trends import Trend, participant_trend
from study.views import (
    ParticipantDetail,
    RosterRow,
    Upcoming,
    open_alerts,
    participant_detail,
    roster,
    upcoming,
)


@dataclass(frozen=True)
class ShowParticipant:
    """A participant's arm, status, calendar, infusions, recent check-ins and open alerts."""

    reads_only: ClassVar[bool] = True

    study_id: str

    async def run(self, session: AsyncSession, team: Team) -> ParticipantDetail:
        return await participant_detail(session, await team.participant(session, self.study_id))


@dataclass(frozen=True)
class ShowTrend:
    """What a participant's trend chart shows, up to today in their time zone."""

    reads_only: ClassVar[bool] = True

    study_id: str

    async def run(self, session: AsyncSession, team: Team) -> Trend:
        participant = await team.participant(session, self.study_id)
        today = team.now.astimezone(ZoneInfo(participant.timezone)).date()
        return await participant_trend(session, participant, today=today)


@dataclass(frozen=True)
class UpcomingList:
    today: date
    rows: list[Upcoming]


@dataclass(frozen=True)
class ListUpcoming:
    """Visits and infusions of the next 14 days at these of the team's sites (None: all),
    from today at the first of them."""

    reads_only: ClassVar[bool] = True

    sites: Collection[str] | None = None

    async def run(self, session: AsyncSession, team: Team) -> UpcomingList:
        sites = team.within(self.sites)
        today = team.today(sites[0])
        return UpcomingList(today, await upcoming(session, sites, today=today))


@dataclass(frozen=True)
class AlertList:
    """Unresolved alerts, oldest first, each with its participant's study id."""

    items: list[tuple[Alert, str]]


@dataclass(frozen=True)
class ListAlerts:
    """Unresolved alerts of these of the team's sites (None: all)."""

    reads_only: ClassVar[bool] = True

    sites: Collection[str] | None = None

    async def run(self, session: AsyncSession, team: Team) -> AlertList:
        return AlertList(await open_alerts(session, team.within(self.sites)))


@dataclass(frozen=True)
class Roster:
    """The participants of the sites listed, by site and study id."""

    sites: list[str]
    rows: list[RosterRow]


@dataclass(frozen=True)
class ListParticipants:
    """The roster of these of the team's sites (None: all)."""

    reads_only: ClassVar[bool] = True

    sites: Collection[str] | None = None

    async def run(self, session: AsyncSession, team: Team) -> Roster:
        sites = team.within(self.sites)
        return Roster(sites, await roster(session, sites))
