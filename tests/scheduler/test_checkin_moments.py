"""The stored check-in moment against the old full scan: whatever happens to a participant,
a sweep that skips them until their moment misses nothing the old sweep, reading everyone
every time, would have put."""

from __future__ import annotations

import asyncio
import tempfile
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from migrations import upgrade
from scheduler.checkin_jobs import (
    _contraception_due,
    _recent_infusions,
    expire_checkins,
    put_due_checkins,
)
from study.asked import next_symptom_checkin_at
from study.cadence import LocalSchedule, post_infusion_question_at
from study.checkins import open_checkin_of
from study.config import StudyConfig
from study.database import Database
from study.errors import DomainError
from study.models import CheckIn, CheckInKind, Participant, ParticipantStatus
from study.sites import sync_sites
from study.team import Pause, RecordGiven, Resume, SetCanBecomePregnant, SetVisit, Team
from tests.support.clock import FakeClock
from tests.support.factories import enrolled, team_of
from tests.support.study import study_config

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 2, 12, 0, tzinfo=SHANGHAI)
STUDY_ID = "ZJU2-001"

steps = st.one_of(
    st.tuples(st.just("wait"), st.integers(1, 24 * 20)),  # hours
    st.tuples(st.just("pause"), st.just(0)),
    st.tuples(st.just("resume"), st.just(0)),
    st.tuples(st.just("given"), st.integers(0, 2)),  # days ago
    st.tuples(st.just("visit"), st.integers(2, 40)),  # visit 1 moved to that many days ahead
    st.tuples(st.just("pregnant"), st.booleans()),
)


async def would_put(
    database: Database, participant: Participant, now: datetime, config: StudyConfig
) -> bool:
    """Whether the old sweep, reading this participant now, would put something new."""
    async with database.session() as session:
        due = await next_symptom_checkin_at(session, participant, config)
        if due <= now and await open_checkin_of(session, participant, CheckInKind.SYMPTOMS) is None:
            return True
        local = LocalSchedule.of(participant, config.protocol)
        for infusion in await _recent_infusions(session, participant, now, config):
            day = infusion.given_on or infusion.planned_date
            for hours in config.protocol.post_infusion_checkin_hours:
                asked = post_infusion_question_at(day, infusion.planned_time, hours, local)
                expires = asked + timedelta(hours=config.protocol.checkin_expire_hours)
                key = f"infusion:{infusion.id}:{hours}h"
                used = (
                    await session.exec(select(CheckIn).where(CheckIn.dedupe_key == key))
                ).first()
                if asked <= now < expires and used is None:
                    return True
        if participant.can_become_pregnant:
            return await _contraception_due(session, participant, now, config) is not None
    return False


async def live(actions: list[tuple[str, object]]) -> None:
    config = study_config()
    # Contraception on a cadence of its own, not a multiple of the symptom check-in's: a
    # moment that forgot it would not be hidden by a check-in due the same day.
    protocol = config.protocol.model_copy(update={"contraception_interval_days": 17})
    config = config.model_copy(update={"protocol": protocol})
    clock = FakeClock(START)
    with tempfile.TemporaryDirectory() as folder:
        database = Database.from_url(f"sqlite:///{Path(folder) / 'moments.db'}")
        try:
            await upgrade(database)
            async with database.session() as session:
                await sync_sites(session, config)
            await enrolled(database, config, clock, chat_id=5001, can_become_pregnant=True)

            def team() -> Team:
                return team_of(config, clock)

            for action, value in actions:
                with suppress(DomainError):  # refused as the team would be: nothing changed
                    async with database.session() as session:
                        if action == "wait":
                            clock.advance(timedelta(hours=int(str(value))))
                        elif action == "pause":
                            await Pause(STUDY_ID).run(session, team())
                        elif action == "resume":
                            await Resume(STUDY_ID).run(session, team())
                        elif action == "given":
                            day = clock.now().astimezone(SHANGHAI).date()
                            await RecordGiven(STUDY_ID, day - timedelta(days=int(str(value)))).run(
                                session, team()
                            )
                        elif action == "visit":
                            day = clock.now().astimezone(SHANGHAI).date()
                            await SetVisit(STUDY_ID, 1, day + timedelta(days=int(str(value)))).run(
                                session, team()
                            )
                        elif action == "pregnant":
                            await SetCanBecomePregnant(STUDY_ID, bool(value)).run(session, team())
                await expire_checkins(database, clock, config)  # as a sweep: expire, then put
                await put_due_checkins(database, clock, config)
                async with database.session() as session:
                    participant = (await session.exec(select(Participant))).one()
                if participant.status != ParticipantStatus.ACTIVE:
                    continue
                # Just swept: nothing is left to put, and the moment is still to come.
                assert not await would_put(database, participant, clock.now(), config)
                moment = participant.checkins_due_at
                assert moment is not None and moment > clock.now()
                # Up to the moment the old sweep would have put nothing either.
                probe = clock.now()
                while probe < min(moment, clock.now() + timedelta(days=8)):
                    assert not await would_put(database, participant, probe, config), probe
                    probe += timedelta(hours=2)
        finally:
            await database.dispose()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(actions=st.lists(steps, min_size=1, max_size=8))
def test_the_moment_misses_nothing_the_full_scan_would_put(
    actions: list[tuple[str, object]],
) -> None:
    asyncio.run(live(actions))
