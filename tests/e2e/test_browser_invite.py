"""A coordinator at the bedside, in a real browser: the invitation arrives as a QR photo in
their private chat, and "scanning" it (a click) opens the bot as a new user who starts it
with the invitation's code."""

from __future__ import annotations

import pytest
from sqlmodel import select

from sandbox import SandboxServer
from study.database import Database
from study.models import Participant
from tests.e2e.test_browser import page
from tests.support.study import ZJU2_ALERTS, ZJU2_COORDINATOR

pytestmark = pytest.mark.usefixtures("bot")
__all__ = ["page"]  # the browser fixture, shared with test_browser


async def test_the_qr_invitation_is_shown_privately_and_opens_the_bot_when_scanned(
    page: object, sandbox: SandboxServer, database: Database
) -> None:
    from playwright.async_api import Page, expect

    assert isinstance(page, Page)
    await page.goto(f"{sandbox.url}/?as={ZJU2_COORDINATOR}&chat={ZJU2_COORDINATOR}")
    await page.get_by_placeholder("Message").fill("/team")  # the coordinator starts the bot
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_text("研究团队命令")).to_be_visible(timeout=10_000)

    # Enrolled from the site's group: the group hears only that the invitation went privately.
    await page.goto(f"{sandbox.url}/?as={ZJU2_COORDINATOR}&chat={ZJU2_ALERTS}")
    await page.get_by_placeholder("Message").fill("/enroll ZJU2-080 ZJU2 standard 2026-03-02 no")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_text("邀请链接不会出现在群组中")).to_be_visible(timeout=10_000)
    await expect(page.locator("img.photo")).to_have_count(0)

    await page.goto(f"{sandbox.url}/?as={ZJU2_COORDINATOR}&chat={ZJU2_COORDINATOR}")
    qr = page.locator("img.photo")
    await expect(qr).to_be_visible(timeout=10_000)
    assert await qr.evaluate("image => image.naturalWidth") >= 400  # the PNG itself, not a label
    await qr.click()  # scanned with a new phone

    await expect(page.locator("#title")).to_contain_text("Scanner", timeout=10_000)
    await page.get_by_role("button", name="Start").click()
    await expect(page.get_by_text("欢迎使用研究随访助手")).to_be_visible(timeout=10_000)

    scanner = next(user for user in sandbox.users() if user.first_name.startswith("Scanner"))
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
    assert (participant.study_id, participant.telegram_chat_id) == ("ZJU2-080", scanner.user_id)
