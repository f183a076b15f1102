"""A site's group sees only its own site (issue 11.3): an admin of every site, speaking in
ZJU2's alert chat, neither sees nor changes PUMCH's participants and alerts there; in their
private chat they keep every site."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import col, select

from sandbox import SandboxServer
from scheduler.service import SchedulerService
from study.alerts import raise_alert
from study.config import StudyConfig
from study.database import Database
from study.models import Alert, AlertStatus, AuditEvent, Participant, Tier
from tests.e2e.conftest import advance_to
from tests.e2e.test_team import say
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import ADMIN, ZJU2_ALERTS, ZJU2_ESCALATION

pytestmark = pytest.mark.usefixtures("bot")

NOT_FOUND = "没有研究编号为 PUMCH-001 的参与者"
CHANGING = [
    "/participant PUMCH-001",
    "/visit PUMCH-001 1 2026-06-09",
    "/attended PUMCH-001 1 2026-03-02",
    "/missed PUMCH-001 1",
    "/infusion PUMCH-001 2026-06-09",
    "/given PUMCH-001",
    "/labs PUMCH-001 1 cd19=2.0",
    "/confirm PUMCH-001 1",
    "/reject PUMCH-001 1",
    "/can_become_pregnant PUMCH-001 yes",
    "/pause PUMCH-001",
    "/resume PUMCH-001",
    "/withdraw PUMCH-001",
]


async def two_sites(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    scheduler: SchedulerService,
    sandbox: SandboxServer,
) -> dict[str, int]:
    """ZJU2-001 and PUMCH-001, each with an open alert whose card is sent already (so no
    card arrives in the middle of a command's answer); their alert ids by site."""
    alerts = {}
    for site in ("ZJU2", "PUMCH"):
        participant, _ = await enrolled(
            database,
            config,
            clock,
            study_id=f"{site}-001",
            site=site,
            arm="individualized",
            randomized_on=date(2025, 12, 4),
        )
        async with database.session() as session:
            alert = await raise_alert(
                session,
                config=config,
                participant=participant,
                kind="checkin",
                tier=Tier.T2,
                evidence=[],
                now=clock.now(),
            )
            assert alert.id is not None
            alerts[site] = alert.id
    await advance_to(clock.now(), scheduler, sandbox, clock)
    return alerts


async def audit_count(database: Database) -> int:
    async with database.session() as session:
        return len(list(await session.exec(select(AuditEvent.id))))


@pytest.mark.parametrize("chat", [ZJU2_ALERTS, ZJU2_ESCALATION])
@pytest.mark.parametrize("command", CHANGING)
async def test_in_a_sites_group_another_sites_participant_is_not_found(
    command: str,
    chat: int,
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    scheduler: SchedulerService,
) -> None:
    await two_sites(database, config, clock, scheduler, sandbox)
    before = await audit_count(database)
    answer = await say(sandbox, ADMIN, command, chat_id=chat)
    assert NOT_FOUND in answer, answer
    assert "PUMCH-001 ·" not in answer
    assert await audit_count(database) == before
    # The same admin, privately, reaches PUMCH: the group alone narrowed their scope.
    private = await say(sandbox, ADMIN, command)
    assert NOT_FOUND not in private, private


async def test_lists_in_a_group_show_only_its_site_and_privately_every_site(
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    scheduler: SchedulerService,
) -> None:
    await two_sites(database, config, clock, scheduler, sandbox)
    for command in ("/alerts", "/upcoming"):
        in_group = await say(sandbox, ADMIN, command, chat_id=ZJU2_ALERTS)
        assert "ZJU2-001" in in_group and "PUMCH" not in in_group, in_group
        private = await say(sandbox, ADMIN, command)
        assert "ZJU2-001" in private and "PUMCH-001" in private, private


async def test_enrolling_for_another_site_in_a_group_is_refused(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    answer = await say(
        sandbox, ADMIN, "/enroll PUMCH-009 PUMCH standard 2026-03-02 no", chat_id=ZJU2_ALERTS
    )
    assert "?start=" not in answer
    async with database.session() as session:
        assert (await session.exec(select(Participant))).first() is None


async def test_another_sites_alert_cannot_be_acted_on_from_a_group(
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    scheduler: SchedulerService,
) -> None:
    alerts = await two_sites(database, config, clock, scheduler, sandbox)
    shown = await sandbox.send_text(user_id=ADMIN, text="/team", chat_id=ZJU2_ALERTS)
    for step in ("ack", "res"):
        query = await sandbox.press(
            user_id=ADMIN,
            chat_id=ZJU2_ALERTS,
            message_id=shown.message_id,
            data=f"a:{alerts['PUMCH']}:{step}",
            forge=True,
        )
        answer = await sandbox.wait_for_callback_answer(query)
        assert answer.show_alert
    async with database.session() as session:
        statuses = list(await session.exec(select(Alert.status).order_by(col(Alert.id))))
    assert statuses == [AlertStatus.OPEN, AlertStatus.OPEN]


async def pumch_participant_id(database: Database) -> int:
    async with database.session() as session:
        participant = (
            await session.exec(select(Participant).where(Participant.study_id == "PUMCH-001"))
        ).one()
    assert participant.id is not None
    return participant.id


@pytest.mark.parametrize("kind", ["withdraw", "visit_anyway"])
async def test_another_sites_participant_cannot_be_changed_by_a_button_in_a_group(
    kind: str,
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    scheduler: SchedulerService,
) -> None:
    await two_sites(database, config, clock, scheduler, sandbox)
    pid = await pumch_participant_id(database)
    data = {"withdraw": f"w:{pid}:yes", "visit_anyway": f"va:{pid}:1:20260701:-"}[kind]
    before = await audit_count(database)
    shown = await sandbox.send_text(user_id=ADMIN, text="/team", chat_id=ZJU2_ALERTS)
    query = await sandbox.press(ADMIN, ZJU2_ALERTS, shown.message_id, data, forge=True)
    assert (await sandbox.wait_for_callback_answer(query)).show_alert
    assert await audit_count(database) == before


async def test_roster_pages_pressed_in_a_group_show_only_its_site(
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    scheduler: SchedulerService,
) -> None:
    await two_sites(database, config, clock, scheduler, sandbox)
    for n in range(2, 23):
        await enrolled(database, config, clock, study_id=f"PUMCH-{n:03d}", site="PUMCH")
    roster = await sandbox.send_text(user_id=ADMIN, text="/participants", chat_id=ZJU2_ALERTS)
    first = await sandbox.wait_for_message(ZJU2_ALERTS, after_message_id=roster.message_id)
    assert "ZJU2-001" in first.text and "PUMCH" not in first.text and not first.buttons
    # A page pressed (forged) there still shows the group's site only.
    query = await sandbox.press(ADMIN, ZJU2_ALERTS, first.message_id, "ro:2", forge=True)
    await sandbox.wait_for_callback_answer(query)
    assert "PUMCH" not in sandbox.message(ZJU2_ALERTS, first.message_id).text
