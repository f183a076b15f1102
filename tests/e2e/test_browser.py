"""A person in a real browser: link on the sandbox page, report a red flag with the
buttons, and see the alert arrive in the site team's chat."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

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
P = 5001


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


async def test_link_report_a_red_flag_and_see_the_alert(
    page: object,
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    sandbox.add_user(P, "Participant")
    _, code = await enrolled(database, config, clock)

    await page.goto(f"{sandbox.url}/?as={P}&chat={P}&start={code}")
    await page.get_by_role("button", name="Start").click()
    await expect(page.get_by_text("欢迎使用研究随访助手")).to_be_visible(timeout=10_000)

    await page.get_by_placeholder("Message").fill("/checkin")
    await page.get_by_role("button", name="Send").click()
    # A red flag acts on the tap: no Done needed.
    await page.get_by_role("button", name="胸痛或呼吸困难").click()
    # The advice, and (once the card reached the team) the notice that repeats it.
    advice = page.get_by_text("请立即拨打 120 或去最近的急诊。").first
    await expect(advice).to_be_visible(timeout=10_000)

    await page.goto(f"{sandbox.url}/?as={ZJU2_COORDINATOR}&chat={ZJU2_ALERTS}")
    await expect(page.get_by_text("T1 紧急 · ZJU2-001")).to_be_visible(timeout=10_000)
    await page.get_by_role("button", name="确认收到").click()
    await expect(page.get_by_text(f"已确认：协调员 {ZJU2_COORDINATOR}")).to_be_visible(
        timeout=10_000
    )
