"""A guided `/enroll` left half-way is deleted by the periodic sweep once it is a day old
(it was already ignored then): no study id or choice lingers in the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from sandbox import SandboxServer
from scheduler.service import SchedulerService
from study.database import Database
from study.models import EnrollDraft
from tests.e2e.conftest import advance_to
from tests.e2e.test_team import say
from tests.support.clock import FakeClock
from tests.support.study import PUMCH_COORDINATOR, ZJU2_COORDINATOR

pytestmark = pytest.mark.usefixtures("bot")


async def drafts(database: Database) -> dict[int, str | None]:
    """Each coordinator's draft: the study id typed so far."""
    async with database.session() as session:
        rows = await session.exec(select(EnrollDraft))
        return {row.telegram_user_id: row.answers.get("study_id") for row in rows}


async def test_an_enrolment_draft_untouched_for_a_day_is_deleted_by_the_sweep(
    sandbox: SandboxServer, scheduler: SchedulerService, database: Database, clock: FakeClock
) -> None:
    started = clock.now()
    assert "请输入研究编号" in await say(sandbox, ZJU2_COORDINATOR, "/enroll")
    assert "请选择组别" in await say(sandbox, ZJU2_COORDINATOR, "ZJU2-050")
    await advance_to(started + timedelta(hours=23), scheduler, sandbox, clock)
    assert await drafts(database) == {ZJU2_COORDINATOR: "ZJU2-050"}

    # Another coordinator starts one an hour before the first is a day old.
    assert "请输入研究编号" in await say(sandbox, PUMCH_COORDINATOR, "/enroll")
    await advance_to(started + timedelta(days=1, minutes=5), scheduler, sandbox, clock)
    assert await drafts(database) == {PUMCH_COORDINATOR: None}
    await advance_to(started + timedelta(days=2), scheduler, sandbox, clock)
    assert await drafts(database) == {}
