"""The control HTTP API through `SandboxClient`, and the browser page."""

from __future__ import annotations

import re

import httpx
import pytest
import telegram

from sandbox import FaultRule, SandboxClient, SandboxError, SandboxServer
from tests.sandbox.conftest import TOKEN


async def test_client_drives_a_conversation(sb: SandboxServer, bot: telegram.Bot) -> None:
    async with SandboxClient(sb.url) as client:
        assert [b["username"] for b in await client.bots()] == ["trialbot_test_bot"]
        created = await client.add_user(1001, "P", language_code="zh")
        assert created["user_id"] == 1001
        guest = await client.add_user(first_name="Guest")
        assert guest["user_id"] == 1002
        start = await client.send_text(1001, "/start CODE")
        assert start.entities == [{"type": "bot_command", "offset": 0, "length": 6}]

        [update] = await bot.get_updates()
        assert update.message and update.message.text == "/start CODE"
        markup = telegram.InlineKeyboardMarkup(
            [[telegram.InlineKeyboardButton("OK", callback_data="ok")]]
        )
        sent = await bot.send_message(
            1001, "<b>Welcome</b>", parse_mode="HTML", reply_markup=markup
        )

        reply = await client.wait_for_message(1001, start.message_id, timeout=2)
        assert reply.html == "<b>Welcome</b>" and reply.button_data() == ["ok"]
        query_id = await client.press(1001, 1001, sent.message_id, "ok")
        await bot.answer_callback_query(query_id, text="Saved")
        assert [a["text"] for a in await client.callback_answers(query_id)] == ["Saved"]
        assert [m.text for m in await client.messages(1001, after=start.message_id)] == ["Welcome"]
        assert [m.text for m in await client.bot_messages(1001)] == ["Welcome"]
        assert [c["method"] for c in await client.calls("sendMessage")] == ["sendMessage"]
        assert await client.rejections() == []

        with pytest.raises(TimeoutError, match="no message from the bot after #2"):
            await client.wait_for_message(1001, sent.message_id, timeout=0.05)
        with pytest.raises(SandboxError, match="no button"):
            await client.press(1001, 1001, sent.message_id, "nope")


async def test_client_sets_up_the_world_and_its_conditions(
    sb: SandboxServer, bot: telegram.Bot
) -> None:
    async with SandboxClient(sb.url) as client:
        await client.add_user(1001, "P")
        await client.send_text(1001, "hi")
        group = await client.add_group(-1001000000001, "ZJU2 team", [111111])
        assert group["type"] == "supergroup" and group["members"] == [111111]
        assert {c["chat_id"] for c in await client.chats()} == {1001, 111111, -1001000000001}

        await client.block(1001)
        with pytest.raises(telegram.error.Forbidden):
            await bot.send_message(1001, "x")
        await client.unblock(1001)

        await client.add_fault(FaultRule(method="sendMessage", kind="server_error", count=1))
        assert (await client.faults())[0]["kind"] == "server_error"
        with pytest.raises(telegram.error.NetworkError):
            await bot.send_message(1001, "x")
        await client.clear_faults()

        await client.set_time(1_800_000_000)
        assert (await bot.send_message(1001, "dated")).date.timestamp() == 1_800_000_000
        assert (await client.advance_time(60))["now"] == 1_800_000_060
        assert (await client.clear_time())["frozen"] is False
        assert (await client.enforce_rate_limits(True))["enabled"] is True
        await client.enforce_rate_limits(False)

        await client.deactivate(1001)
        await client.reset()
        assert await client.users() == [] and await client.chats() == []
        assert [b["token"] for b in await client.bots()] == [TOKEN]


async def test_control_errors_are_json(sb: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=f"{sb.url}/sandbox/api") as http:
        missing = await http.post("/send", json={"user_id": 5, "text": "x"})
        assert missing.status_code == 400 and "no user 5" in missing.json()["error"]
        bad = await http.post(
            "/users", content=b"{oops", headers={"Content-Type": "application/json"}
        )
        assert bad.status_code == 400


async def test_changes_long_poll_wakes_on_any_change(sb: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=f"{sb.url}/sandbox/api") as http:
        version = (await http.get("/changes", params={"since": -1})).json()["version"]
        idle = await http.get("/changes", params={"since": version, "timeout": 0.05})
        assert idle.json()["version"] == version
        sb.add_user(7, "Seven")
        assert (await http.get("/changes", params={"since": version})).json()["version"] > version


async def test_browser_page_is_served_without_external_urls(sb: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=sb.url) as http:
        page = await http.get("/", params={"as": 1001, "chat": 1001, "start": "CODE"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sorted(assets) == ["/static/app.css", "/static/app.js"]
        bodies = [page.text]
        for asset in assets:
            response = await http.get(asset)
            assert response.status_code == 200
            bodies.append(response.text)
        assert (await http.get("/static/../server.py")).status_code == 404
    for body in bodies:
        external = re.search(r"https?://|(?:src|href)=[\"']//|url\(\s*[\"']?//|@import", body)
        assert external is None, external
    script = bodies[2]
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert sb.page_url(user_id=1001, start="CODE").endswith("/?as=1001&chat=1001&start=CODE")
