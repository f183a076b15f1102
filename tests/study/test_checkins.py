"""Check-in rules that need the database: the questionnaire version a check-in keeps, and
the post-infusion question's rash by which question it is, not the hour."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from study.checkins import answer, open_checkin, toggle
from study.config import StudyConfig
from study.database import Database
from study.models import Alert, CheckIn, CheckInKind, CheckInTrigger, Infusion, InfusionStatus
from study.questionnaire import QUESTIONNAIRE_VERSION
from tests.support.clock import FakeClock
from tests.support.factories import enrolled


async def test_a_checkin_keeps_the_questionnaire_version_it_was_asked_with(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    participant, _ = await enrolled(database, config, clock, chat_id=5001)
    async with database.session() as session:
        old = await open_checkin(
            session,
            participant,
            kind=CheckInKind.SYMPTOMS,
            trigger=CheckInTrigger.CADENCE,
            now=clock.now(),
            config=config,
        )
        old.questionnaire_version = "2026.1"  # asked before the upgrade
        await answer(session, old, participant, "Q1", (), now=clock.now(), config=config)
    async with database.session() as session:
        new = await open_checkin(
            session,
            participant,
            kind=CheckInKind.SYMPTOMS,
            trigger=CheckInTrigger.ON_DEMAND,
            now=clock.now(),
            config=config,
        )
    async with database.session() as session:
        versions = [c.questionnaire_version for c in await session.exec(select(CheckIn))]
    assert versions == ["2026.1", QUESTIONNAIRE_VERSION] and new.questionnaire_version == "2026.2"


@pytest.mark.parametrize(
    ("trigger", "hours_late", "tier"),
    [
        (CheckInTrigger.INFUSION_24H, 0, "T2"),
        (CheckInTrigger.INFUSION_24H, 60, "T2"),  # answered late: still the first day's
        (CheckInTrigger.INFUSION_7D, 0, "T3"),
    ],
)
async def test_a_rash_after_an_infusion_is_tiered_by_which_question_not_the_hour(
    trigger: str,
    hours_late: int,
    tier: str,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    participant, _ = await enrolled(database, config, clock, chat_id=5001)
    async with database.session() as session:
        infusion = (await session.exec(select(Infusion))).first()
        assert infusion is not None and infusion.status == InfusionStatus.GIVEN
        checkin = await open_checkin(
            session,
            participant,
            kind=CheckInKind.POST_INFUSION,
            trigger=trigger,
            now=clock.now() + timedelta(days=1),
            config=config,
            infusion_id=infusion.id,
        )
    clock.advance(timedelta(days=1, hours=hours_late))
    async with database.session() as session:
        again = await session.get(CheckIn, checkin.id)
        assert again is not None
        checkin = again
        step = await toggle(
            session, checkin, participant, "PI", "rash_itch_hives", now=clock.now(), config=config
        )
        await answer(
            session,
            checkin,
            participant,
            "PI",
            ("rash_itch_hives",),
            now=clock.now(),
            config=config,
        )
    assert step.result is not None and step.result.tier == tier
    async with database.session() as session:
        [alert] = list(await session.exec(select(Alert)))
    assert alert.tier == tier
