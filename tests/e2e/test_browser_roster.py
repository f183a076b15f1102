"""A coordinator in a real browser: the roster in the site team's chat, paged by its buttons
(issue 14.1). The approach of tests/e2e/test_browser.py."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import date

import pytest

from sandbox import SandboxServer
from study.config import StudyConfig
from study.database import Database
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import ZJU2_ALERTS, ZJU2_COORDINATOR

pytestmark = pytest.mark.usefixtures("bot")

CHROMIUM = os.environ.get("TRIALBOT_CHROMIUM", "/usr/bin/chromium")
HAVE_CHROMIUM = shutil.which(CHROMIUM) is not None
REQUIRE = os.environ.get("TRIALBOT_REQUIRE_BROWSER") == "1"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def page() -> AsyncIterator[object]:
    playwright_api = pytest.importorskip("playwright.async_api")
    if not HAVE_CHROMIUM:
        message = f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
        if REQUIRE:
            pytest.fail(message + "; TRIALBOT_REQUIRE_BROWSER=1 says it must be there")
        pytest.skip(message)
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield await browser.new_page(viewport={"width": 1000, "height": 900})
        finally:
            await browser.close()


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
