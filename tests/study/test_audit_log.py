"""Reading the audit log by participant, by actor and by time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from scheduler.planner import Planner
from study import audit
from study.alerts import acknowledge_alert
from study.audit_log import read_audit_log
from study.checkins import answer, open_checkin
from study.config import StudyConfig
from study.database import Database
from study.errors import DomainError
from study.models import Alert, CheckInKind, CheckInTrigger, Visit
from study.visits import mark_attended
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import ZJU2_COORDINATOR

ALICE = audit.cli_actor("alice")
NURSE = audit.telegram_actor(ZJU2_COORDINATOR)


async def _history(database: Database, config: StudyConfig, clock: FakeClock) -> None:
    """Day 1: two enrolments. Day 2: Alice records a visit. Day 3: a red flag, taken on by
    the nurse."""
    first, _ = await enrolled(database, config, clock, study_id="ZJU2-001", chat_id=7300000001)
    await enrolled(database, config, clock, study_id="PUMCH-001", site="PUMCH")
    clock.advance(timedelta(days=1))
    async with database.session() as session:
        visit = (
            await session.exec(
                select(Visit).where(Visit.participant_id == first.id, Visit.number == 1)
            )
        ).one()
        await mark_attended(
            session,
            visit,
            on=date(2026, 3, 3),
            actor=ALICE,
            now=clock.now(),
            replanner=Planner(config),
            force=True,  # long before visit 1's window: a deviation Alice confirmed
        )
    clock.advance(timedelta(days=1))
    async with database.session() as session:
        checkin = await open_checkin(
            session,
            first,
            kind=CheckInKind.SYMPTOMS,
            trigger=CheckInTrigger.ON_DEMAND,
            now=clock.now(),
            config=config,
        )
        await answer(
            session, checkin, first, "Q1", ("chest_breathing",), now=clock.now(), config=config
        )
    clock.advance(timedelta(minutes=5))
    async with database.session() as session:
        alert = (await session.exec(select(Alert))).one()
        await acknowledge_alert(
            session, alert, actor=audit.telegram_actor(ZJU2_COORDINATOR), now=clock.now()
        )


async def test_events_of_a_participant_come_oldest_first_and_only_theirs(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await _history(database, config, clock)
    async with database.session() as session:
        rows = await read_audit_log(session, study_id="ZJU2-001")
    assert [(row.actor, row.action) for row in rows] == [
        ("test", "enroll"),
        ("test", "issue_code"),
        ("participant:ZJU2-001", "link_chat"),
        (ALICE, "mark_attended"),
        ("system", "raise_alert"),
        ("participant:ZJU2-001", "stop_checkin_red_flag"),
        (NURSE, "acknowledge_alert"),
    ]
    assert {row.study_id for row in rows} == {"ZJU2-001"}
    assert [row.at for row in rows] == sorted(row.at for row in rows)
    assert rows[-1].change() == "status: open -> acknowledged"
    assert rows[3].change() == "attended_on: - -> 2026-03-03, status: planned -> attended"


async def test_events_by_an_actor_and_within_days(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await _history(database, config, clock)
    day2 = datetime(2026, 3, 3, tzinfo=UTC)
    async with database.session() as session:
        by_nurse = await read_audit_log(session, actor=NURSE)
        by_alice_about_other = await read_audit_log(session, actor=ALICE, study_id="PUMCH-001")
        day_two = await read_audit_log(session, since=day2, until=day2 + timedelta(days=1))
        from_day_two = await read_audit_log(session, since=day2)
        everything = await read_audit_log(session)
    assert [(row.action, row.study_id, row.entity) for row in by_nurse] == [
        ("acknowledge_alert", "ZJU2-001", "alert")
    ]
    assert by_alice_about_other == []
    assert [(row.actor, row.action) for row in day_two] == [(ALICE, "mark_attended")]
    assert [row.action for row in from_day_two] == [
        "mark_attended",
        "raise_alert",
        "stop_checkin_red_flag",
        "acknowledge_alert",
    ]
    assert [row.study_id for row in everything[:4]] == [
        "ZJU2-001",
        "ZJU2-001",
        "ZJU2-001",
        "PUMCH-001",
    ]
    assert by_nurse[0].as_dict()["at"] == "2026-03-04T01:05:00Z"


async def test_an_unknown_participant_is_refused_by_name(database: Database) -> None:
    async with database.session() as session:
        with pytest.raises(DomainError) as refused:
            await read_audit_log(session, study_id="NOPE-1")
    assert refused.value.key == "error_unknown_participant"
    assert refused.value.details == {"study_id": "NOPE-1"}
