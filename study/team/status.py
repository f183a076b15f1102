"""Whether and what the bot asks a participant: pause, resume, withdraw, and whether the
contraception and pregnancy questions are put."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from study.config import StudyConfig
from study.models import Participant
from study.ports import Replanner
from study.pregnancy import set_can_become_pregnant
from study.status import pause, resume, unlink, withdraw
from study.team.scope import Done, Team


class Silence(Protocol):
    async def __call__(
        self,
        session: AsyncSession,
        participant: Participant,
        *,
        actor: str,
        now: datetime,
        config: StudyConfig,
        replanner: Replanner,
    ) -> None: ...


async def _silence(
    session: AsyncSession, team: Team, study_id: str, silence: Silence, what: str
) -> Done:
    participant = await team.participant(session, study_id)
    await silence(
        session,
        participant,
        actor=team.actor,
        now=team.now,
        config=team.config,
        replanner=team.replanner,
    )
    return Done(what=what, study_id=participant.study_id)


@dataclass(frozen=True)
class Pause:
    """Stop every message to the participant until resumed."""

    study_id: str

    async def run(self, session: AsyncSession, team: Team) -> Done:
        return await _silence(session, team, self.study_id, pause, "pause")


@dataclass(frozen=True)
class Resume:
    """Resume messages to a paused participant."""

    study_id: str

    async def run(self, session: AsyncSession, team: Team) -> Done:
        participant = await team.participant(session, self.study_id)
        await resume(session, participant, actor=team.actor, now=team.now, replanner=team.replanner)
        return Done(what="resume", study_id=participant.study_id)


@dataclass(frozen=True)
class Withdraw:
    """Withdraw the participant: no more contact; the data are kept. Front ends ask for a
    confirmation first (a button, `--yes`)."""

    study_id: str

    async def run(self, session: AsyncSession, team: Team) -> Done:
        return await _silence(session, team, self.study_id, withdraw, "withdraw")


@dataclass(frozen=True)
class AnswerWithdraw:
    """The answer to the withdrawal question, under the participant's row id: withdraw, or
    change nothing. A participant of another site: DomainError `not_allowed`."""

    participant_id: int
    confirmed: bool

    async def run(self, session: AsyncSession, team: Team) -> Done:
        participant = await team.participant_by_id(session, self.participant_id)
        if not self.confirmed:
            return Done(what="withdraw_cancelled", study_id=participant.study_id)
        return await Withdraw(participant.study_id).run(session, team)


@dataclass(frozen=True)
class SetCanBecomePregnant:
    """Whether the participant can become pregnant: yes puts the contraception and pregnancy
    questions on their usual cadence; no stops them (an open one is closed and triaged)."""

    study_id: str
    value: bool

    async def run(self, session: AsyncSession, team: Team) -> Done:
        participant = await team.participant(session, self.study_id)
        await set_can_become_pregnant(
            session,
            participant,
            self.value,
            actor=team.actor,
            now=team.now,
            config=team.config,
        )
        what = "pregnancy_yes" if self.value else "pregnancy_no"
        return Done(what=what, study_id=participant.study_id)


@dataclass(frozen=True)
class Unlink:
    """Forget the participant's linked chat (linked by mistake): nothing more goes to it;
    `Invite` then gives a link for the right one. Audited."""

    study_id: str

    async def run(self, session: AsyncSession, team: Team) -> Done:
        return await _silence(session, team, self.study_id, unlink, "unlink")
