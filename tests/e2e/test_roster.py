"""`/participants`: the roster of a coordinator's sites through the real bot (issue 14.1)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from sandbox import SandboxServer
from sandbox.models import SandboxMessage
from scheduler.service import SchedulerService
from study.alerts import raise_alert
from study.config import StudyConfig
from study.database import Database
from study.models import CheckIn, CheckInKind, PromptStatus, Tier, saved_id
from tests.e2e.conftest import advance_to
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import (
    ADMIN,
    PUMCH_COORDINATOR,
    ZJU2_ALERTS,
    ZJU2_COORDINATOR,
)

pytestmark = pytest.mark.usefixtures("bot")

ROW = re.compile(r"^([A-Z0-9]+-\d+)(?:（[A-Z0-9]+）)? · ", re.MULTILINE)


async def ask(
    sandbox: SandboxServer, user_id: int, text: str, chat: int | None = None
) -> SandboxMessage:
    chat = chat or user_id
    sent = await sandbox.send_text(user_id=user_id, text=text, chat_id=chat)
    return await sandbox.wait_for_message(chat, after_message_id=sent.message_id)


def ids(message: SandboxMessage) -> list[str]:
    return ROW.findall(message.text)


async def test_a_long_roster_is_paged_with_buttons(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    everyone = [f"ZJU2-{n:03d}" for n in range(1, 46)]
    for study_id in everyone:
        await enrolled(database, config, clock, study_id=study_id, randomized_on=date(2026, 3, 2))

    first = await ask(sandbox, ZJU2_COORDINATOR, "/participants")
    assert first.text.startswith("参与者 · ZJU2 · 共 45 人 · 第 1/3 页")
    assert ids(first) == everyone[:20]
    assert [b["text"] for row in first.buttons for b in row] == ["第 2 页 ▶"]

    seen, message = ids(first), first
    for page in (2, 3):
        (forward,) = [d for d in message.button_data() if d == f"ro:{page}"]
        await sandbox.press(ZJU2_COORDINATOR, ZJU2_COORDINATOR, message.message_id, forward)
        message = await sandbox.wait_for_edit(
            ZJU2_COORDINATOR, message.message_id, min_edits=page - 1
        )
        assert f"第 {page}/3 页" in message.text
        assert len(message.text) < 4096
        seen += ids(message)
    assert seen == everyone
    assert [b["text"] for row in message.buttons for b in row] == ["◀ 第 2 页"]


async def test_a_row_shows_status_next_visit_window_last_tier_and_open_alerts(
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    scheduler: SchedulerService,
) -> None:
    participant, _ = await enrolled(database, config, clock, randomized_on=date(2025, 12, 4))
    async with database.session() as session:
        for days_ago, tier in ((9, "T2"), (2, "T4")):
            session.add(
                CheckIn(
                    participant_id=saved_id(participant),
                    kind=CheckInKind.SYMPTOMS,
                    trigger="weekly",
                    questionnaire_version="1",
                    asked_at=clock.now() - timedelta(days=days_ago),
                    status=PromptStatus.COMPLETED,
                    tier=tier,
                )
            )
        await raise_alert(
            session,
            config=config,
            participant=participant,
            kind="checkin",
            tier=Tier.T2,
            evidence=[],
            now=clock.now(),
        )
    await advance_to(clock.now(), scheduler, sandbox, clock)  # the card is out of the way
    zh = (await ask(sandbox, ZJU2_COORDINATOR, "/participants", ZJU2_ALERTS)).text
    row = zh.splitlines()[-1]
    assert row.startswith("ZJU2-001 · 已邀请 · 第 1 次随访 2026-03-04"), row
    assert "窗口期 2026-02-" in row and "最近一次问答 T4 · 未处理的提醒事项 1" in row


async def test_a_group_lists_only_its_site_and_a_private_chat_every_site(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    for site in ("ZJU2", "PUMCH"):
        await enrolled(database, config, clock, study_id=f"{site}-001", site=site)
    in_group = await ask(sandbox, ADMIN, "/participants", ZJU2_ALERTS)
    assert ids(in_group) == ["ZJU2-001"] and "PUMCH" not in in_group.text
    private = await ask(sandbox, ADMIN, "/participants")
    assert private.text.startswith("参与者 · PUMCH、ZJU2 · 共 2 人")
    assert ids(private) == ["PUMCH-001", "ZJU2-001"]
    assert "PUMCH-001（PUMCH） · " in private.text


async def test_an_empty_site_says_so_and_strangers_are_refused(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await enrolled(database, config, clock, study_id="ZJU2-001")
    empty = await ask(sandbox, PUMCH_COORDINATOR, "/participants")
    assert empty.text == "参与者 · PUMCH · 共 0 人\n还没有参与者：用 /enroll 入组。"
    assert not empty.buttons
    sandbox.add_user(6001, "S")
    refused = await ask(sandbox, 6001, "/participants")
    assert "ZJU2-001" not in refused.text and "only for the study team" in refused.text


async def test_team_and_help_name_the_roster_with_a_key_of_the_tiers(
    sandbox: SandboxServer,
) -> None:
    team = (await ask(sandbox, ZJU2_COORDINATOR, "/team")).text
    assert "/participants — 参与者名单" in team
    assert "T1 紧急：可能的急症" in team and "T4 记录：仅记录" in team
    assert "/participants" in (await ask(sandbox, ZJU2_COORDINATOR, "/help")).text
