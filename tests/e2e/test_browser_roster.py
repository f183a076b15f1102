"""A coordinator in a real browser: the roster in the site team's chat, paged by its buttons
(issue 14.1). The approach of tests/e2e/test_browser.py."""

from __future__ import annotations

from datetime import date

import pytest

from sandbox import SandboxServer
from study.config import StudyConfig
from study.database import Database
from tests.e2e.test_browser import page
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import ZJU2_ALERTS, ZJU2_COORDINATOR

pytestmark = pytest.mark.usefixtures("bot")
__all__ = ["page"]  # the browser fixture, shared with test_browser


async def test_the_roster_in_the_team_chat_pages_with_its_buttons(
    page: object,
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    for n in range(1, 23):
        await enrolled(
            database, config, clock, study_id=f"ZJU2-{n:03d}", randomized_on=date(2026, 3, 2)
        )

    await page.goto(f"{sandbox.url}/?as={ZJU2_COORDINATOR}&chat={ZJU2_ALERTS}")
    await page.get_by_placeholder("Message").fill("/participants")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_text("共 22 人 · 第 1/2 页")).to_be_visible(timeout=10_000)
    await expect(page.get_by_text("ZJU2-020 · 已邀请")).to_be_visible()
    await expect(page.get_by_text("ZJU2-021 · 已邀请")).to_have_count(0)

    await page.get_by_role("button", name="第 2 页 ▶").click()
    await expect(page.get_by_text("共 22 人 · 第 2/2 页")).to_be_visible(timeout=10_000)
    await expect(page.get_by_text("ZJU2-022 · 已邀请")).to_be_visible()
    await page.get_by_role("button", name="◀ 第 1 页").click()
    await expect(page.get_by_text("共 22 人 · 第 1/2 页")).to_be_visible(timeout=10_000)
