"""A coordinator in a real browser asks for a participant in the site team's chat on the
sandbox page and sees the trend chart itself, its legend below it."""

from __future__ import annotations

from datetime import date

import pytest

from sandbox import SandboxServer
from study.config import StudyConfig
from study.database import Database
from tests.e2e.test_browser import page
from tests.study.test_export import Study
from tests.study.test_trends import add_two_years
from tests.support.clock import FakeClock
from tests.support.study import ZJU2_ALERTS, ZJU2_COORDINATOR

pytestmark = pytest.mark.usefixtures("bot")
__all__ = ["page"]  # the browser fixture, shared with test_browser


async def test_the_chart_shows_in_the_team_chat(
    page: object,
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    day1 = date(2024, 4, 1)
    participant = await Study(database, config, clock).enrol("ZJU2-001", "ZJU2", "standard", day1)
    await add_two_years(database, participant, day1)

    await page.goto(f"{sandbox.url}/?as={ZJU2_COORDINATOR}&chat={ZJU2_ALERTS}")
    await page.get_by_placeholder("Message").fill("/participant ZJU2-001")
    await page.get_by_role("button", name="Send").click()
    chart = page.locator("img.photo").last
    await expect(chart).to_be_visible(timeout=10_000)
    await expect(page.get_by_text("趋势 · ZJU2-001 · 2024-04-01 至 2026-03-02")).to_be_visible()
    # The image itself loaded from the sandbox: Telegram's largest size, 1200 x 800.
    natural = await chart.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
    assert natural == [True, 1200, 800]
    shown = await chart.bounding_box()
    assert shown is not None and shown["width"] >= 200  # shown, scaled down (the page: 240 px)
