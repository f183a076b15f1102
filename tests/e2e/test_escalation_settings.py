"""The escalation clock is the study's setting, and the cards say so: a study whose T1 alerts
come again every 20 minutes and are escalated after 45 (through the real bot and sandbox)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import parse_study_text
from bot.services import Services
from sandbox import SandboxServer
from scheduler.service import SchedulerService
from study.config import StudyConfig
from study.database import Database
from tests.e2e.conftest import advance_to
from tests.e2e.test_checkins import checkin, linked
from tests.e2e.test_escalation import cards
from tests.support.clock import FakeClock
from tests.support.study import STUDY_TOML, ZJU2_ALERTS, ZJU2_ESCALATION

pytestmark = pytest.mark.usefixtures("bot")

OWN_CLOCK = (
    STUDY_TOML + "\n[protocol.escalation]\nt1_resend_minutes = 20\nt1_escalate_minutes = 45\n"
)


@pytest.fixture
def config() -> StudyConfig:
    return parse_study_text(OWN_CLOCK, source="tests/e2e/test_escalation_settings.py")


@pytest.fixture
def study_file(tmp_path: Path) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(OWN_CLOCK, encoding="utf-8")
    return path


async def test_the_cards_follow_and_state_the_configured_clock(
    sandbox: SandboxServer,
    services: Services,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox)
    await checkin(sandbox, {"Q1": ["chest_breathing"]})
    raised = clock.now()
    await sandbox.wait_for_message(ZJU2_ALERTS)
    seen: list[tuple[int, list[str], list[str]]] = []
    for minutes in (19, 20, 39, 40, 45, 64, 65):
        before = len(cards(sandbox, ZJU2_ALERTS)), len(cards(sandbox, ZJU2_ESCALATION))
        await advance_to(raised + timedelta(minutes=minutes), scheduler, sandbox, clock)
        seen.append(
            (
                minutes,
                [m.text.splitlines()[1] for m in cards(sandbox, ZJU2_ALERTS)[before[0] :]],
                [m.text.splitlines()[1] for m in cards(sandbox, ZJU2_ESCALATION)[before[1] :]],
            )
        )
    resent_20 = "⚠ 20 分钟内无人确认，再次发送。"
    escalated_45 = "⚠ 45 分钟内无人确认，已升级处理。"
    escalated_65 = "⚠ 65 分钟内无人确认，已升级处理。"
    assert seen == [
        (19, [], []),
        (20, [resent_20], []),
        (39, [], []),
        (40, ["⚠ 40 分钟内无人确认，再次发送。"], []),
        (45, [escalated_45], [escalated_45]),
        (64, [], []),
        (65, [escalated_65], [escalated_65]),
    ]
    assert "在有人确认之前，每 20 分钟再发送一次。" in cards(sandbox, ZJU2_ESCALATION)[-1].text
    assert all("30 分钟" not in m.text for m in cards(sandbox, ZJU2_ALERTS))
