"""A visit's labs and the re-dose they may propose; deciding a proposal (by visit number in
commands, by the proposal's own id under its Confirm and Reject buttons)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from sqlmodel.ext.asyncio.session import AsyncSession

from study.config import RedoseRule
from study.errors import DomainError
from study.infusions import cancel_proposal, confirm_proposal, proposal_of_visit
from study.labs import LabOutcome, record_labs
from study.models import CancelReason, Infusion, InfusionStatus, Participant, Visit
from study.protocol import Labs
from study.team.scope import Done, Team


@dataclass(frozen=True)
class LabsEntered:
    """A visit's labs as they now stand, and the re-dose rule's verdict on them."""

    participant: Participant
    visit_number: int
    outcome: LabOutcome
    rule: RedoseRule


@dataclass(frozen=True)
class EnterLabs:
    """Add `labs` to visit `number`'s results (a value left out keeps what was entered) and
    evaluate the re-dose rule; for the individualised arm a positive rule proposes a dose."""

    study_id: str
    number: int
    labs: Labs

    async def run(self, session: AsyncSession, team: Team) -> LabsEntered:
        participant = await team.participant(session, self.study_id)
        outcome = await record_labs(
            session,
            participant,
            self.number,
            self.labs,
            actor=team.actor,
            now=team.now,
            config=team.config,
        )
        return LabsEntered(participant, self.number, outcome, team.config.protocol.redose)


@dataclass(frozen=True)
class ConfirmDose:
    """Confirm visit `number`'s proposed dose, on the proposed day or on `day`."""

    study_id: str
    number: int
    day: date | None = None
    at: time | None = None

    async def run(self, session: AsyncSession, team: Team) -> Done:
        participant = await team.participant(session, self.study_id)
        proposal = await proposal_of_visit(session, participant, self.number)
        return await _confirm(session, team, participant, proposal, day=self.day, at=self.at)


@dataclass(frozen=True)
class RejectDose:
    """Reject visit `number`'s proposed dose: nothing is planned."""

    study_id: str
    number: int

    async def run(self, session: AsyncSession, team: Team) -> Done:
        participant = await team.participant(session, self.study_id)
        proposal = await proposal_of_visit(session, participant, self.number)
        return await _reject(session, team, participant, proposal)


@dataclass(frozen=True)
class DecideProposal:
    """Confirm (on its proposed day) or reject exactly this proposal. A proposal of another
    site, gone, or no longer awaiting a decision: DomainError `button_inactive`."""

    proposal_id: int
    confirm: bool

    async def run(self, session: AsyncSession, team: Team) -> Done:
        proposal = await session.get(Infusion, self.proposal_id)
        participant = await session.get(Participant, proposal.participant_id) if proposal else None
        if (
            proposal is None
            or participant is None
            or participant.site_code not in team.sites
            or proposal.status != InfusionStatus.PROPOSED
        ):
            raise DomainError("button_inactive")
        if self.confirm:
            return await _confirm(session, team, participant, proposal, day=None, at=None)
        return await _reject(session, team, participant, proposal)


async def _confirm(
    session: AsyncSession,
    team: Team,
    participant: Participant,
    proposal: Infusion,
    *,
    day: date | None,
    at: time | None,
) -> Done:
    infusion = await confirm_proposal(
        session,
        participant,
        proposal,
        day=day,
        at=at,
        actor=team.actor,
        now=team.now,
        replanner=team.replanner,
    )
    return Done(
        what="infusion_set",
        study_id=participant.study_id,
        day=infusion.planned_date,
        at=infusion.planned_time,
    )


async def _reject(
    session: AsyncSession, team: Team, participant: Participant, proposal: Infusion
) -> Done:
    await cancel_proposal(
        session,
        participant,
        proposal,
        reason=CancelReason.REJECTED,
        actor=team.actor,
        now=team.now,
    )
    visit = await session.get(Visit, proposal.visit_id) if proposal.visit_id else None
    return Done(
        what="dose_rejected",
        study_id=participant.study_id,
        number=visit.number if visit else None,
    )
