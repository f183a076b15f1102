"""The team's operations (`study.team`) confine every lookup to the team's sites, and a row
used before it has an id is an error, never row 0."""

from __future__ import annotations

from datetime import date

import pytest

from scheduler.planner import Planner
from study import audit
from study.alerts import raise_alert
from study.config import StudyConfig
from study.database import Database
from study.errors import DomainError
from study.models import Alert, AlertStatus, Participant, Tier, UnsavedRowError, saved_id
from study.team import (
    Acknowledge,
    ListAlerts,
    ListUpcoming,
    MarkMissed,
    Resolve,
    ShowParticipant,
    Team,
)
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import PUMCH_COORDINATOR, ZJU2_COORDINATOR

EVIDENCE = [{"key": "finding", "question": "Q1", "answer": "chest_breathing", "tier": "T1"}]


def team(config: StudyConfig, clock: FakeClock, actor: str, *sites: str) -> Team:
    return Team(
        actor=actor,
        sites=frozenset(sites),
        now=clock.now(),
        config=config,
        replanner=Planner(config),
    )


async def an_alert(database: Database, config: StudyConfig, clock: FakeClock) -> int:
    participant, _ = await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    async with database.session() as session:
        alert = await raise_alert(
            session,
            config=config,
            participant=participant,
            kind="checkin",
            tier=Tier.T1,
            evidence=EVIDENCE,
            now=clock.now(),
        )
        return saved_id(alert)


async def test_another_sites_participant_is_not_found_and_nothing_changes(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    pumch = team(config, clock, audit.telegram_actor(PUMCH_COORDINATOR), "PUMCH")
    for operation in (ShowParticipant("ZJU2-001"), MarkMissed("ZJU2-001", 1)):
        with pytest.raises(DomainError) as refused:
            async with database.session() as session:
                await operation.run(session, pumch)
        assert refused.value.key == "error_unknown_participant"
    with pytest.raises(DomainError) as odd:
        async with database.session() as session:
            await ShowParticipant("ZJU2 001'--").run(session, pumch)
    assert odd.value.key == "error_unknown_participant"
    zju2 = team(config, clock, audit.telegram_actor(ZJU2_COORDINATOR), "ZJU2")
    async with database.session() as session:
        detail = await ShowParticipant("ZJU2-001").run(session, zju2)
    assert detail.visits[1].status == "planned"


async def test_lists_are_confined_to_the_teams_sites(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await an_alert(database, config, clock)
    pumch = team(config, clock, audit.telegram_actor(PUMCH_COORDINATOR), "PUMCH")
    async with database.session() as session:
        assert (await ListAlerts().run(session, pumch)).items == []
        assert (await ListUpcoming().run(session, pumch)).rows == []
    for operation in (ListAlerts(["ZJU2"]), ListUpcoming(["ZJU2"])):
        with pytest.raises(DomainError) as refused:
            async with database.session() as session:
                await operation.run(session, pumch)
        assert (refused.value.key, refused.value.details["site"]) == ("error_unknown_site", "ZJU2")


@pytest.mark.parametrize(
    ("actor", "shown_as"),
    [(audit.telegram_actor(ZJU2_COORDINATOR), ZJU2_COORDINATOR), (audit.cli_actor("alice"), None)],
)
async def test_an_alert_is_taken_on_only_by_its_sites_team(
    database: Database, config: StudyConfig, clock: FakeClock, actor: str, shown_as: int | None
) -> None:
    alert_id = await an_alert(database, config, clock)
    outsider = team(config, clock, audit.telegram_actor(PUMCH_COORDINATOR), "PUMCH")
    for operation in (Acknowledge(alert_id), Resolve(alert_id), Acknowledge(alert_id + 1)):
        with pytest.raises(DomainError) as refused:
            async with database.session() as session:
                await operation.run(session, outsider)
        assert refused.value.key == "error_unknown_alert"
    async with database.session() as session:
        untouched = await session.get(Alert, alert_id)
        assert untouched is not None and untouched.status == AlertStatus.OPEN
        assert untouched.next_escalation_at is not None

    async with database.session() as session:
        alert = await Acknowledge(alert_id).run(session, team(config, clock, actor, "ZJU2"))
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == shown_as and alert.next_escalation_at is None
    async with database.session() as session:
        alert = await Resolve(alert_id).run(session, team(config, clock, actor, "ZJU2"))
    assert alert.status == AlertStatus.RESOLVED and alert.resolved_by == shown_as


def test_a_row_without_an_id_is_an_error_not_row_zero() -> None:
    unsaved = Participant(
        study_id="ZJU2-001",
        site_code="ZJU2",
        arm="standard",
        randomized_on=date(2026, 3, 2),
        language="zh",
        timezone="Asia/Shanghai",
        preferred_hour=9,
    )
    with pytest.raises(UnsavedRowError):
        saved_id(unsaved)
