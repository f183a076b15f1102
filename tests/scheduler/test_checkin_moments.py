"""The stored check-in moment against the old full scan: whatever happens to a participant,
a sweep that skips them until their moment, and reads what is due for many at once, puts
exactly what the old sweep, reading everyone on their own every time, would have put."""

from __future__ import annotations

import asyncio
import tempfile
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from migrations import upgrade
from scheduler.checkin_jobs import expire_checkins, put_due_checkins
from scheduler.checkin_moments import checkins_due
from study.asked import last_asked, next_symptom_checkin_at
from study.cadence import (
    LocalSchedule,
    contraception_due,
    contraception_until,
    infusions_asked_about_since,
    post_infusion_question_at,
)
from study.checkins import open_checkin_of, start_on_demand
from study.config import StudyConfig
from study.database import Database
from study.errors import DomainError
from study.models import (
    UPCOMING,
    CheckIn,
    CheckInKind,
    Infusion,
    InfusionStatus,
    Participant,
    ParticipantStatus,
    Visit,
    saved_id,
)
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
    st.tuples(st.just("checkin"), st.just(0)),  # the participant starts one (/checkin)
)


async def full_scan(
    database: Database, participant: Participant, now: datetime, config: StudyConfig
) -> set[str]:
    """The keys of the check-ins the old sweep, reading this participant on their own now,
    would put new: written out here, query by query, apart from the code under test."""
    protocol = config.protocol
    local = LocalSchedule.of(participant, protocol)
    keys = []
    async with database.reading() as session:
        due = await next_symptom_checkin_at(session, participant, config)
        if due <= now and await open_checkin_of(session, participant, CheckInKind.SYMPTOMS) is None:
            keys.append(f"cadence:{participant.id}:{local.day_of(due)}")
        given = await session.exec(
            select(Infusion).where(
                Infusion.participant_id == participant.id,
                Infusion.status == InfusionStatus.GIVEN,
                col(Infusion.given_on) >= infusions_asked_about_since(now, protocol),
            )
        )
        for infusion in given:
            day = infusion.given_on or infusion.planned_date
            for hours in protocol.post_infusion_checkin_hours:
                asked = post_infusion_question_at(day, infusion.planned_time, hours, local)
                if asked <= now < asked + timedelta(hours=protocol.checkin_expire_hours):
                    keys.append(f"infusion:{infusion.id}:{hours}h")
        if participant.can_become_pregnant:
            infusions = await session.exec(
                select(Infusion).where(
                    Infusion.participant_id == participant.id,
                    col(Infusion.status).in_([InfusionStatus.GIVEN, InfusionStatus.PLANNED]),
                )
            )
            visits = await session.exec(
                select(Visit).where(
                    Visit.participant_id == participant.id, col(Visit.status).in_(UPCOMING)
                )
            )
            assert participant.linked_at is not None
            contraception = contraception_due(
                now,
                local,
                protocol,
                until=contraception_until(
                    [i.given_on or i.planned_date for i in infusions],
                    protocol.contraception_months_after_last_infusion,
                ),
                last_asked=await last_asked(session, participant, CheckInKind.CONTRACEPTION),
                linked_at=participant.linked_at,
                upcoming_visits=[visit.visit_date for visit in visits],
            )
            if contraception is not None:
                keys.append(f"contraception:{participant.id}:{contraception.day}")
        used = await session.exec(
            select(CheckIn.dedupe_key).where(col(CheckIn.dedupe_key).in_(keys))
        )
        return set(keys) - set(used)


async def keys_put(database: Database) -> set[str]:
    async with database.reading() as session:
        return {key for key in await session.exec(select(CheckIn.dedupe_key)) if key is not None}


async def read_together(
    database: Database, participant: Participant, now: datetime, config: StudyConfig
) -> set[str]:
    """The keys of the check-ins `checkins_due` (the sweep's read for many) gives for this
    participant now, less those already put."""
    async with database.reading() as session:
        due = await checkins_due(session, [participant], now, config)
    return {checkin.key for checkin in due[saved_id(participant)]} - await keys_put(database)


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
                        elif action == "checkin":
                            participant = (await session.exec(select(Participant))).one()
                            await start_on_demand(
                                session, participant, now=clock.now(), config=config
                            )
                await expire_checkins(database, clock, config)  # as a sweep: expire, then put
                async with database.reading() as session:
                    participant = (await session.exec(select(Participant))).one()
                expected = set()
                if participant.status == ParticipantStatus.ACTIVE:
                    expected = await full_scan(database, participant, clock.now(), config)
                before = await keys_put(database)
                await put_due_checkins(database, clock, config)
                # The sweep put what the full scan would have, no more, no less.
                assert await keys_put(database) - before == expected
                async with database.reading() as session:
                    participant = (await session.exec(select(Participant))).one()
                if participant.status != ParticipantStatus.ACTIVE:
                    continue
                # Just swept: nothing is left to put, and the moment is still to come.
                assert not await full_scan(database, participant, clock.now(), config)
                moment = participant.checkins_due_at
                assert moment is not None and moment > clock.now()
                # Up to the moment neither the old sweep nor the sweep's read for many would
                # have put anything.
                probe = clock.now()
                while probe < min(moment, clock.now() + timedelta(days=8)):
                    assert not await full_scan(database, participant, probe, config), probe
                    assert not await read_together(database, participant, probe, config), probe
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
