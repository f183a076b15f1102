"""Keeping a participant's calendar true: visits' appointments, attendance, infusions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from study.infusions import record_given, schedule_infusion
from study.team.scope import Done, Team
from study.visits import mark_attended, mark_missed, set_appointment, visit_by_number


@dataclass(frozen=True)
class SetVisit:
    """Give visit `number` its appointment; a linked participant is told the new date. A day
    outside the visit's protocol window needs `force` (the coordinator confirmed it)."""

    study_id: str
    number: int
    day: date
    at: time | None = None
    force: bool = False

    async def run(self, session: AsyncSession, team: Team) -> Done:
        participant = await team.participant(session, self.study_id)
        visit = await visit_by_number(session, participant, self.number)
        await set_appointment(
            session,
            visit,
            day=self.day,
            at=self.at,
            actor=team.actor,
            now=team.now,
            replanner=team.replanner,
            force=self.force,
        )
        return Done(
            what="visit_set",
            study_id=participant.study_id,
            number=visit.number,
            day=visit.visit_date,
            at=visit.appointment_time,
        )


@dataclass(frozen=True)
class SetVisitAnyway:
    """The confirmation button under a refused `SetVisit`: that day, outside the window, for
    the participant of the button's row id (at one of the team's sites)."""

    participant_id: int
    number: int
    day: date
    at: time | None = None

    async def run(self, session: AsyncSession, team: Team) -> Done:
        participant = await team.participant_by_id(session, self.participant_id)
        confirmed = SetVisit(participant.study_id, self.number, self.day, self.at, force=True)
        return await confirmed.run(session, team)


@dataclass(frozen=True)
class MarkAttended:
    """The participant came to visit `number`, on `day` (by default its appointed day). A
    day outside the visit's protocol window needs `force` (the coordinator confirmed it)."""

    study_id: str
    number: int
    day: date | None = None
    force: bool = False

    async def run(self, session: AsyncSession, team: Team) -> Done:
        participant = await team.participant(session, self.study_id)
        visit = await visit_by_number(session, participant, self.number)
        on = self.day or visit.visit_date
        await mark_attended(
            session,
            visit,
            on=on,
            actor=team.actor,
            now=team.now,
            replanner=team.replanner,
            force=self.force,
        )
        return Done(what="attended", study_id=participant.study_id, number=visit.number, day=on)


@dataclass(frozen=True)
class MarkAttendedAnyway:
    """The confirmation button under a refused `MarkAttended`: attended on that day, outside
    the window, for the participant of the button's row id (at one of the team's sites)."""

    participant_id: int
    number: int
    day: date

    async def run(self, session: AsyncSession, team: Team) -> Done:
        participant = await team.participant_by_id(session, self.participant_id)
        confirmed = MarkAttended(participant.study_id, self.number, self.day, force=True)
        return await confirmed.run(session, team)


@dataclass(frozen=True)
class MarkMissed:
    """Visit `number` did not take place; its reminders stop."""

    study_id: str
    number: int

    async def run(self, session: AsyncSession, team: Team) -> Done:
        participant = await team.participant(session, self.study_id)
        visit = await visit_by_number(session, participant, self.number)
        await mark_missed(session, visit, actor=team.actor, now=team.now, replanner=team.replanner)
        return Done(
            what="missed", study_id=participant.study_id, number=visit.number, day=visit.visit_date
        )


@dataclass(frozen=True)
class SetInfusion:
    """Plan or move the next infusion (confirming the newest proposal when none is planned);
    the participant is told."""

    study_id: str
    day: date
    at: time | None = None

    async def run(self, session: AsyncSession, team: Team) -> Done:
        participant = await team.participant(session, self.study_id)
        infusion = await schedule_infusion(
            session,
            participant,
            day=self.day,
            at=self.at,
            actor=team.actor,
            now=team.now,
            config=team.config,
            replanner=team.replanner,
        )
        return Done(
            what="infusion_set",
            study_id=participant.study_id,
            day=infusion.planned_date,
            at=infusion.planned_time,
        )


@dataclass(frozen=True)
class RecordGiven:
    """The next planned infusion was given on `day` (by default today in the participant's
    time zone); its follow-up questions start."""

    study_id: str
    day: date | None = None

    async def run(self, session: AsyncSession, team: Team) -> Done:
        participant = await team.participant(session, self.study_id)
        on = self.day or team.now.astimezone(ZoneInfo(participant.timezone)).date()
        infusion = await record_given(
            session, participant, on=on, actor=team.actor, now=team.now, replanner=team.replanner
        )
        return Done(what="infusion_given", study_id=participant.study_id, day=infusion.given_on)
