"""An async client of the control API, for tests that run the sandbox in another process."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from sandbox.errors import SandboxError
from sandbox.faults import FaultRule
from sandbox.models import SandboxMessage

__all__ = ["SandboxClient"]

Json = Any


class SandboxClient:
    """The operations of the in-process API over HTTP (`/sandbox/api/...`).

    ```
    async with SandboxClient("http://127.0.0.1:8081") as sb:
        await sb.add_user(1001, "P")
        await sb.send_text(1001, "/start")
        reply = await sb.wait_for_message(1001)
    ```
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=f"{self.base_url}/sandbox/api", timeout=timeout)

    async def __aenter__(self) -> SandboxClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        http_timeout: float | None = None,
    ) -> Json:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        timeout = self._http.timeout if http_timeout is None else httpx.Timeout(http_timeout)
        response = await self._http.request(method, path, json=body, params=query, timeout=timeout)
        data = response.json()
        if response.status_code == 408:
            raise TimeoutError(data.get("error", "timed out"))
        if response.is_error:
            raise SandboxError(data.get("error", response.text))
        return data

    # set-up

    async def add_bot(self, token: str, username: str | None = None) -> Json:
        """Register a bot token."""
        return await self._call("POST", "/bots", {"token": token, "username": username})

    async def bots(self) -> Json:
        """The registered bots."""
        return await self._call("GET", "/bots")

    async def add_user(
        self,
        user_id: int | None = None,
        first_name: str = "User",
        *,
        username: str | None = None,
        language_code: str | None = None,
    ) -> Json:
        """Create a user; returns it as a dict."""
        body = {
            "user_id": user_id,
            "first_name": first_name,
            "username": username,
            "language_code": language_code,
        }
        return await self._call("POST", "/users", body)

    async def users(self) -> Json:
        """Every user."""
        return await self._call("GET", "/users")

    async def add_group(
        self, chat_id: int, title: str, members: list[int] | None = None, *, bot_member: bool = True
    ) -> Json:
        """Create a group (supergroup when the id starts with -100)."""
        body = {
            "chat_id": chat_id,
            "title": title,
            "members": members or [],
            "bot_member": bot_member,
        }
        return await self._call("POST", "/chats", body)

    async def chats(self) -> Json:
        """Every chat."""
        return await self._call("GET", "/chats")

    async def block(self, user_id: int) -> Json:
        """The user blocks the bot."""
        return await self._call("POST", f"/users/{user_id}/block", {})

    async def unblock(self, user_id: int) -> Json:
        """The user unblocks the bot."""
        return await self._call("POST", f"/users/{user_id}/unblock", {})

    async def deactivate(self, user_id: int) -> Json:
        """The user deletes their account."""
        return await self._call("POST", f"/users/{user_id}/deactivate", {})

    # acting as users

    async def send_text(
        self, user_id: int, text: str, chat_id: int | None = None
    ) -> SandboxMessage:
        """A user writes `text` (private chat by default)."""
        body = {"user_id": user_id, "text": text, "chat_id": chat_id}
        return SandboxMessage.from_dict(await self._call("POST", "/send", body))

    async def press(
        self, user_id: int, chat_id: int, message_id: int, data: str, *, forge: bool = False
    ) -> str:
        """A user presses an inline button; returns the callback query id."""
        body = {
            "user_id": user_id,
            "chat_id": chat_id,
            "message_id": message_id,
            "data": data,
            "forge": forge,
        }
        result = await self._call("POST", "/press", body)
        return str(result["callback_query_id"])

    # inspecting and waiting

    async def messages(self, chat_id: int, after: int = 0) -> list[SandboxMessage]:
        """A chat's transcript (messages after id `after`)."""
        data = await self._call("GET", f"/chats/{chat_id}/messages", params={"after": after})
        return [SandboxMessage.from_dict(m) for m in data]

    async def bot_messages(self, chat_id: int) -> list[SandboxMessage]:
        """The bots' messages in a chat."""
        return [m for m in await self.messages(chat_id) if m.from_bot]

    async def scan_photo(self, file_id: str) -> list[str]:
        """What the QR codes in a photo a bot sent read (see `Sandbox.scan_photo`)."""
        data = await self._call("GET", f"/photos/{file_id}/scan")
        return [str(text) for text in data["texts"]]

    async def wait_for_message(
        self,
        chat_id: int,
        after_message_id: int = 0,
        *,
        from_bot: bool | None = True,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> SandboxMessage:
        """The first message after `after_message_id`, waiting for it (TimeoutError if none)."""
        sender = {True: "true", False: "false", None: "any"}[from_bot]
        params = {"after": after_message_id, "from_bot": sender, "timeout": timeout}
        data = await self._call(
            "GET", f"/chats/{chat_id}/wait", params=params, http_timeout=timeout + 10.0
        )
        return SandboxMessage.from_dict(data)

    async def calls(self, method: str | None = None) -> Json:
        """Recorded Bot API calls (dicts)."""
        return await self._call("GET", "/calls", params={"method": method})

    async def rejections(self) -> Json:
        """Calls refused by a Telegram check (dicts)."""
        return await self._call("GET", "/rejections")

    async def callback_answers(self, query_id: str | None = None) -> Json:
        """What bots answered to callback queries (dicts)."""
        return await self._call("GET", "/callback-answers", params={"query_id": query_id})

    # faults, limits, time, reset

    async def add_fault(self, rule: FaultRule) -> Json:
        """Add a fault rule."""
        return await self._call("POST", "/faults", {"rules": [rule.to_dict()]})

    async def seed_faults(self, seed: int) -> Json:
        """Reseed the fault RNG."""
        return await self._call("POST", "/faults", {"seed": seed})

    async def faults(self) -> Json:
        """The fault rules (with how often each fired)."""
        return await self._call("GET", "/faults")

    async def clear_faults(self) -> Json:
        """Remove every fault rule."""
        return await self._call("DELETE", "/faults")

    async def enforce_rate_limits(self, enabled: bool = True) -> Json:
        """Turn Telegram's flood limits on or off."""
        return await self._call("POST", "/rate-limits", {"enabled": enabled})

    async def set_latency(self, round_trip_ms: float) -> Json:
        """Make every Bot API call take this network round trip (ms; 0: none)."""
        return await self._call("POST", "/latency", {"ms": round_trip_ms})

    async def latency(self) -> float:
        """The round trip every Bot API call takes, in milliseconds."""
        return float((await self._call("GET", "/latency"))["ms"])

    async def set_time(self, unix_seconds: float) -> Json:
        """Freeze the sandbox clock."""
        return await self._call("POST", "/time", {"unix": unix_seconds})

    async def advance_time(self, seconds: float) -> Json:
        """Move the frozen sandbox clock forward."""
        return await self._call("POST", "/time", {"advance": seconds})

    async def clear_time(self) -> Json:
        """Back to real time."""
        return await self._call("DELETE", "/time")

    async def reset(self) -> Json:
        """Forget everything but the bots."""
        return await self._call("POST", "/reset", {})
