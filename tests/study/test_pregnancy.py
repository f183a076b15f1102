"""Changing whether a participant can become pregnant, on SQLite and PostgreSQL: audited,
contraception questions start when turned on and their unsent prompts stop when turned off."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from scheduler.checkin_jobs import put_due_checkins
from study.config import StudyConfig
from study.database import Database
from study.models import (
    AuditEvent,
    CheckIn,
    CheckInKind,
    OutboxMessage,
    OutboxStatus,
    Participant,
    PromptStatus,
)
from study.pregnancy import set_can_become_pregnant
from tests.support.clock import FakeClock
from tests.support.factories import enrolled

ACTOR = "cli:nurse"


async def contraception(database: Database) -> list[tuple[CheckIn, list[OutboxMessage]]]:
    async with database.session() as session:
        checks = list(
            await session.exec(
                select(CheckIn)
                .where(CheckIn.kind == CheckInKind.CONTRACEPTION)
                .order_by(col(CheckIn.id))
            )
        )
        rows = list(await session.exec(select(OutboxMessage)))
    return [(c, [r for r in rows if r.context.get("checkin_id") == c.id]) for c in checks]


async def change(database: Database, config: StudyConfig, clock: FakeClock, value: bool) -> bool:
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
        return await set_can_become_pregnant(
            session, participant, value, actor=ACTOR, now=clock.now(), config=config
        )


async def test_turning_it_on_starts_the_questions_and_off_cancels_the_unsent_ones(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(database, config, clock, chat_id=5001, can_become_pregnant=False)
    clock.advance(timedelta(days=30))
    await put_due_checkins(database, clock, config)
    assert await contraception(database) == []

    assert await change(database, config, clock, True)
    await put_due_checkins(database, clock, config)
    [(check, [prompt])] = await contraception(database)
    assert check.status == PromptStatus.OPEN and prompt.status == OutboxStatus.PENDING

    assert await change(database, config, clock, False)
    [(check, [prompt])] = await contraception(database)
    assert check.status == PromptStatus.STOPPED
    assert prompt.status == OutboxStatus.CANCELLED
    clock.advance(timedelta(days=60))
    await put_due_checkins(database, clock, config)
    assert len(await contraception(database)) == 1  # none asked since

    async with database.session() as session:
        events = list(
            await session.exec(
                select(AuditEvent).where(AuditEvent.action == "set_can_become_pregnant")
            )
        )
    assert [(e.actor, e.before, e.after) for e in events] == [
        (ACTOR, {"can_become_pregnant": False}, {"can_become_pregnant": True}),
        (ACTOR, {"can_become_pregnant": True}, {"can_become_pregnant": False}),
    ]


async def test_the_same_answer_again_changes_nothing(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(database, config, clock, can_become_pregnant=True)
    assert not await change(database, config, clock, True)
    async with database.session() as session:
        actions = list(await session.exec(select(AuditEvent.action)))
        participant = (await session.exec(select(Participant))).one()
    assert "set_can_become_pregnant" not in actions
    assert participant.can_become_pregnant


async def test_the_enrolment_audit_records_the_answer(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(database, config, clock, can_become_pregnant=True)
    async with database.session() as session:
        event = (await session.exec(select(AuditEvent).where(AuditEvent.action == "enroll"))).one()
    assert event.after is not None and event.after["can_become_pregnant"] is True
