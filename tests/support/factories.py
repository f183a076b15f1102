"""Small factories for tests: enrol and link participants through the real use cases."""

from __future__ import annotations

from datetime import date

from scheduler.planner import Planner
from study.config import StudyConfig
from study.database import Database
from study.enrollment import EnrollmentRequest, enroll, link_chat
from study.models import Participant
from study.team import Team
from tests.support.clock import FakeClock


async def enrolled(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    *,
    study_id: str = "ZJU2-001",
    site: str = "ZJU2",
    arm: str = "standard",
    randomized_on: date | None = None,
    chat_id: int | None = None,
    can_become_pregnant: bool = False,
    **extra: object,
) -> tuple[Participant, str]:
    """Enrol a participant (and link `chat_id` if given); return them and their code."""
    request = EnrollmentRequest(
        study_id=study_id,
        site_code=site,
        arm=arm,
        randomized_on=randomized_on or clock.now().date(),
        can_become_pregnant=can_become_pregnant,
        **extra,  # type: ignore[arg-type]
    )
    async with database.session() as session:
        invitation = await enroll(session, request, config=config, now=clock.now(), actor="test")
    participant = invitation.participant
    if chat_id is not None:
        async with database.session() as session:
            linked = await link_chat(
                session,
                code=invitation.code,
                chat_id=chat_id,
                now=clock.now(),
                replanner=Planner(config),
            )
        assert isinstance(linked, Participant)
        participant = linked
    return participant, invitation.code


def team_of(config: StudyConfig, clock: FakeClock) -> Team:
    """A study team member of every site, acting now."""
    return Team(
        actor="test",
        sites=frozenset(config.sites),
        now=clock.now(),
        config=config,
        replanner=Planner(config),
    )
