"""Enrollment, invite codes and linking, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from scheduler.planner import Planner
from study.codes import hash_code
from study.config import StudyConfig
from study.database import Database
from study.enrollment import (
    LINK_FAILURES_ALLOWED,
    EnrollmentRequest,
    Refusal,
    enroll,
    get_participant,
    issue_code,
    link_chat,
)
from study.enrollment_bulk import enroll_many
from study.errors import DomainError
from study.models import (
    AuditEvent,
    EnrollmentCode,
    Infusion,
    Participant,
    ParticipantStatus,
    Visit,
)
from tests.support.clock import FakeClock
from tests.support.study import study_config

ACTOR = "cli:test"


def request(**overrides: object) -> EnrollmentRequest:
    values: dict[str, object] = {
        "study_id": "ZJU2-001",
        "site_code": "ZJU2",
        "arm": "standard",
        "randomized_on": date(2026, 3, 2),
        "can_become_pregnant": False,
    }
    values.update(overrides)
    return EnrollmentRequest(**values)  # type: ignore[arg-type]


async def test_enrollment_plans_the_whole_calendar_in_one_transaction(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    async with database.session() as session:
        invitation = await enroll(session, request(), config=config, now=clock.now(), actor=ACTOR)
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
        visits = list(await session.exec(select(Visit).order_by(col(Visit.number))))
        infusions = list(await session.exec(select(Infusion).order_by(col(Infusion.planned_date))))
        codes = list(await session.exec(select(EnrollmentCode)))
        audit = list(await session.exec(select(AuditEvent)))
    assert participant.status == ParticipantStatus.INVITED
    assert participant.language == "zh"
    assert participant.timezone == "Asia/Shanghai"
    assert participant.preferred_hour == 9
    assert [v.target_date for v in visits][-1] == date(2028, 3, 2)
    assert len(visits) == 9
    assert [i.planned_date for i in infusions] == [
        date(2026, 3, 2),
        date(2026, 9, 2),
        date(2027, 3, 2),
        date(2027, 9, 2),
        date(2028, 3, 2),
    ]
    assert all(i.visit_id is not None for i in infusions)
    # Only the hash is stored; the code is 32 characters of Telegram's alphabet.
    assert len(invitation.code) == 32
    assert codes[0].code_hash == hash_code(invitation.code)
    assert invitation.code not in str(codes[0].model_dump())
    assert codes[0].expires_at == clock.now() + timedelta(days=14)
    assert [a.action for a in audit] == ["enroll", "issue_code"]
    assert audit[0].at.tzinfo is not None


async def statements_to_enrol(
    database: Database, config: StudyConfig, clock: FakeClock, requests: list[EnrollmentRequest]
) -> int:
    """How many statements one transaction of `trialbot enroll --from FILE.csv` sends."""
    sent = 0

    def count(*_: Any) -> None:
        nonlocal sent
        sent += 1

    engine = database.engine.sync_engine
    event.listen(engine, "after_cursor_execute", count)
    try:
        async with database.session() as session:
            await enroll_many(session, requests, config=config, now=clock.now(), actor=ACTOR)
    finally:
        event.remove(engine, "after_cursor_execute", count)
    return sent


async def test_a_site_list_goes_in_with_as_many_statements_for_thirty_as_for_three(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    """Participants randomised before today: their first visit and infusion are done, the
    rest planned. A whole list still takes one insert a table, however long it is."""

    def site_list(prefix: str, size: int) -> list[EnrollmentRequest]:
        return [
            request(
                study_id=f"{prefix}-{n:03d}",
                arm=("standard", "individualized")[n % 2],
                randomized_on=clock.now().date() - timedelta(days=n),
            )
            for n in range(size)
        ]

    few = await statements_to_enrol(database, config, clock, site_list("ZJU2", 3))
    many = await statements_to_enrol(database, config, clock, site_list("ZJU2X", 30))

    assert few == many
    async with database.session() as session:
        visits = list(await session.exec(select(Visit)))
    assert len(visits) == 33 * 9
    assert {visit.attended_on is None for visit in visits} == {True, False}


async def test_individualised_participant_has_only_the_day_1_infusion(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    async with database.session() as session:
        await enroll(
            session,
            request(
                arm="individualized",
                language="en",
                preferred_hour=18,
                timezone="Europe/Berlin",
                can_become_pregnant=True,
            ),
            config=config,
            now=clock.now(),
            actor=ACTOR,
        )
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
        infusions = list(await session.exec(select(Infusion)))
    assert [i.planned_date for i in infusions] == [date(2026, 3, 2)]
    assert (participant.language, participant.preferred_hour, participant.timezone) == (
        "en",
        18,
        "Europe/Berlin",
    )
    assert participant.can_become_pregnant


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"site_code": "NOPE"}, "error_unknown_site"),
        ({"study_id": "ZJU2 001"}, "error_bad_study_id"),
        ({"study_id": "x" * 33}, "error_bad_study_id"),
        ({"study_id": ""}, "error_bad_study_id"),
        ({"study_id": "ZJU2_001"}, "error_bad_study_id"),
        ({"arm": "high"}, "error_bad_arm"),
        ({"language": "fr"}, "error_bad_language"),
        ({"timezone": "Mars/Base"}, "error_bad_timezone"),
        ({"preferred_hour": 24}, "error_bad_hour"),
        ({"randomized_on": date(2027, 1, 1)}, "error_randomized_future"),
        ({"randomized_on": date(2020, 1, 1)}, "error_randomized_past"),
    ],
)
async def test_bad_requests_change_nothing(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    overrides: dict[str, object],
    key: str,
) -> None:
    with pytest.raises(DomainError) as caught:
        async with database.session() as session:
            await enroll(session, request(**overrides), config=config, now=clock.now(), actor=ACTOR)
    assert caught.value.key == key
    async with database.session() as session:
        assert list(await session.exec(select(Participant))) == []


async def test_duplicate_study_id_is_refused(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    async with database.session() as session:
        await enroll(session, request(), config=config, now=clock.now(), actor=ACTOR)
    with pytest.raises(DomainError) as caught:
        async with database.session() as session:
            await enroll(
                session, request(site_code="PUMCH"), config=config, now=clock.now(), actor=ACTOR
            )
    assert caught.value.key == "error_duplicate_study_id"


async def _enrolled(database: Database, config: StudyConfig, clock: FakeClock, **kw: object) -> str:
    async with database.session() as session:
        invitation = await enroll(
            session, request(**kw), config=config, now=clock.now(), actor=ACTOR
        )
    return invitation.code


async def _link(database: Database, code: str, chat_id: int, clock: FakeClock) -> object:
    async with database.session() as session:
        return await link_chat(
            session, code=code, chat_id=chat_id, now=clock.now(), replanner=Planner(study_config())
        )


async def test_a_code_links_once_and_the_same_chat_may_tap_it_again(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    code = await _enrolled(database, config, clock)
    linked = await _link(database, code, 5001, clock)
    assert isinstance(linked, Participant)
    assert linked.status == ParticipantStatus.ACTIVE
    assert linked.telegram_chat_id == 5001
    again = await _link(database, code, 5001, clock)
    assert isinstance(again, Participant) and again.study_id == "ZJU2-001"
    other = await _link(database, code, 5002, clock)
    assert other == Refusal("link_invalid")


async def test_expired_and_replaced_codes_stop_working(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    first = await _enrolled(database, config, clock)
    async with database.session() as session:
        participant = await get_participant(session, "ZJU2-001")
        second = (
            await issue_code(session, participant, config=config, now=clock.now(), actor=ACTOR)
        ).code
    assert await _link(database, first, 5001, clock) == Refusal("link_invalid")
    clock.advance(timedelta(days=14))
    assert await _link(database, second, 5001, clock) == Refusal("link_invalid")
    async with database.session() as session:
        participant = await get_participant(session, "ZJU2-001")
        third = (
            await issue_code(session, participant, config=config, now=clock.now(), actor=ACTOR)
        ).code
    clock.advance(timedelta(days=13, hours=23))
    assert isinstance(await _link(database, third, 5001, clock), Participant)


async def test_a_linked_participant_cannot_be_taken_by_a_second_chat(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    code = await _enrolled(database, config, clock)
    assert isinstance(await _link(database, code, 5001, clock), Participant)
    async with database.session() as session:
        participant = await get_participant(session, "ZJU2-001")
        fresh = (
            await issue_code(session, participant, config=config, now=clock.now(), actor=ACTOR)
        ).code
    assert await _link(database, fresh, 5002, clock) == Refusal(
        "link_already_linked", site_code="ZJU2"
    )
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
    assert participant.telegram_chat_id == 5001


async def test_one_chat_cannot_hold_two_participants(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    first = await _enrolled(database, config, clock)
    second = await _enrolled(database, config, clock, study_id="ZJU2-002")
    assert isinstance(await _link(database, first, 5001, clock), Participant)
    assert await _link(database, second, 5001, clock) == Refusal("chat_in_use", site_code="ZJU2")


async def test_wrong_codes_from_one_chat_are_slowed_down(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    code = await _enrolled(database, config, clock)
    for attempt in range(LINK_FAILURES_ALLOWED):
        assert await _link(database, f"wrong{attempt}", 6001, clock) == Refusal("link_invalid")
    # Now even the right code waits: the chat learns nothing by guessing.
    assert await _link(database, code, 6001, clock) == Refusal("link_wait", minutes=15)
    # Another chat is not affected.
    assert await _link(database, "wrong", 6002, clock) == Refusal("link_invalid")
    clock.advance(timedelta(minutes=15, seconds=1))
    assert isinstance(await _link(database, code, 6001, clock), Participant)
