"""The control HTTP API (`/sandbox/api/...`, JSON): the in-process API for other processes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sandbox.api import Sandbox
from sandbox.errors import SandboxError
from sandbox.faults import FaultRule

__all__ = ["PREFIX", "ControlApi"]

PREFIX = "/sandbox/api"
MAX_WAIT = 60.0

Json = Any
Route = Callable[[web.Request], Awaitable[Json]]


def _int(value: object, name: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise SandboxError(f"{name} must be an integer") from None


def _optional_int(value: object, name: str) -> int | None:
    return None if value is None or value == "" else _int(value, name)


def _timeout(request: web.Request, default: float = 10.0) -> float:
    try:
        return min(max(float(request.query.get("timeout", default)), 0.0), MAX_WAIT)
    except ValueError:
        raise SandboxError("timeout must be a number") from None


def _require(body: dict[str, Any], key: str) -> str:
    if body.get(key) in (None, ""):
        raise SandboxError(f"{key} is required")
    return str(body[key])


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise SandboxError("the request body must be JSON") from None
    if not isinstance(body, dict):
        raise SandboxError("the request body must be a JSON object")
    return body


class ControlApi:
    """Routes that mirror `Sandbox`'s methods; errors come back as `{"error": "..."}`."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox

    def register(self, app: web.Application) -> None:
        """Add the routes to an aiohttp application."""
        routes: list[tuple[str, str, Route]] = [
            ("GET", "/bots", self._list_bots),
            ("POST", "/bots", self._add_bot),
            ("GET", "/users", self._list_users),
            ("POST", "/users", self._add_user),
            ("POST", "/users/{user_id}/{action}", self._user_action),
            ("GET", "/chats", self._list_chats),
            ("POST", "/chats", self._add_chat),
            ("GET", "/chats/{chat_id}/messages", self._chat_messages),
            ("GET", "/chats/{chat_id}/wait", self._wait_message),
            ("GET", "/photos/{file_id}/scan", self._scan_photo),
            ("POST", "/send", self._send),
            ("POST", "/press", self._press),
            ("GET", "/changes", self._changes),
            ("GET", "/calls", self._calls),
            ("GET", "/rejections", self._rejections),
            ("GET", "/callback-answers", self._callback_answers),
            ("GET", "/faults", self._list_faults),
            ("POST", "/faults", self._add_faults),
            ("DELETE", "/faults", self._clear_faults),
            ("POST", "/rate-limits", self._rate_limits),
            ("GET", "/latency", self._get_latency),
            ("POST", "/latency", self._set_latency),
            ("GET", "/time", self._get_time),
            ("POST", "/time", self._set_time),
            ("DELETE", "/time", self._clear_time),
            ("POST", "/reset", self._reset),
        ]
        for method, path, route in routes:
            app.router.add_route(method, PREFIX + path, self._json(route))

    @staticmethod
    def _json(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                result = await route(request)
            except web.HTTPException:
                raise
            except TimeoutError as exc:
                return web.json_response({"error": str(exc)}, status=408)
            except KeyError as exc:
                return web.json_response({"error": str(exc.args[0])}, status=404)
            except (SandboxError, TypeError, ValueError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
            return web.json_response(result)

        return handler

    async def _list_bots(self, request: web.Request) -> Json:
        return [bot.to_dict() for bot in self.sb.bots()]

    async def _add_bot(self, request: web.Request) -> Json:
        body = await _body(request)
        bot = self.sb.add_bot(_require(body, "token"), body.get("username"), body.get("first_name"))
        return bot.to_dict()

    async def _list_users(self, request: web.Request) -> Json:
        return [user.to_dict() for user in self.sb.users()]

    async def _add_user(self, request: web.Request) -> Json:
        body = await _body(request)
        user = self.sb.add_user(
            _optional_int(body.get("user_id"), "user_id"),
            str(body.get("first_name") or "User"),
            username=body.get("username"),
            last_name=body.get("last_name"),
            language_code=body.get("language_code"),
        )
        return user.to_dict()

    async def _user_action(self, request: web.Request) -> Json:
        user_id = _int(request.match_info["user_id"], "user_id")
        action = request.match_info["action"]
        if action not in ("block", "unblock", "deactivate"):
            raise KeyError(f"unknown user action {action!r}")
        getattr(self.sb, action)(user_id)
        return self.sb.world.user(user_id).to_dict()

    async def _list_chats(self, request: web.Request) -> Json:
        chats = []
        for chat in self.sb.chats():
            view = chat.to_dict()
            user = self.sb.world.users.get(chat.chat_id)
            view["name"] = chat.title or (user.first_name if user else str(chat.chat_id))
            transcript = self.sb.world.transcript(chat.chat_id)
            view["last_message_id"] = transcript[-1].message_id if transcript else 0
            chats.append(view)
        return chats

    async def _add_chat(self, request: web.Request) -> Json:
        body = await _body(request)
        chat_id = _int(body.get("chat_id"), "chat_id")
        title = str(body.get("title") or chat_id)
        members = [_int(m, "members") for m in body.get("members", [])]
        bot_member = bool(body.get("bot_member", True))
        kind = body.get("type")
        if kind == "channel":
            chat = self.sb.add_channel(chat_id, title, bot_member=bot_member)
        else:
            supergroup = None if kind is None else kind == "supergroup"
            chat = self.sb.add_group(
                chat_id, title, members, bot_member=bot_member, supergroup=supergroup
            )
        return chat.to_dict()

    async def _chat_messages(self, request: web.Request) -> Json:
        chat_id = _int(request.match_info["chat_id"], "chat_id")
        after = _int(request.query.get("after", 0), "after")
        return [m.to_dict() for m in self.sb.messages(chat_id) if m.message_id > after]

    async def _scan_photo(self, request: web.Request) -> Json:
        return {"texts": self.sb.scan_photo(request.match_info["file_id"])}

    async def _wait_message(self, request: web.Request) -> Json:
        chat_id = _int(request.match_info["chat_id"], "chat_id")
        after = _int(request.query.get("after", 0), "after")
        from_bot = {"true": True, "false": False, "any": None}[
            request.query.get("from_bot", "true").lower()
        ]
        message = await self.sb.wait_for_message(
            chat_id, after, from_bot=from_bot, timeout=_timeout(request)
        )
        return message.to_dict()

    async def _send(self, request: web.Request) -> Json:
        body = await _body(request)
        message = await self.sb.send_text(
            _int(body.get("user_id"), "user_id"),
            str(body.get("text", "")),
            _optional_int(body.get("chat_id"), "chat_id"),
            bot=body.get("bot"),
        )
        return message.to_dict()

    async def _press(self, request: web.Request) -> Json:
        body = await _body(request)
        query_id = await self.sb.press(
            _int(body.get("user_id"), "user_id"),
            _int(body.get("chat_id"), "chat_id"),
            _int(body.get("message_id"), "message_id"),
            str(body.get("data", "")),
            forge=bool(body.get("forge", False)),
            bot=body.get("bot"),
        )
        return {"callback_query_id": query_id}

    async def _changes(self, request: web.Request) -> Json:
        """Long poll: returns once the sandbox changed after version `since`."""
        since = _int(request.query.get("since", -1), "since")
        await self.sb.world.feed.wait(since, _timeout(request, 25.0))
        return {"version": self.sb.world.feed.version}

    async def _calls(self, request: web.Request) -> Json:
        return [c.to_dict() for c in self.sb.calls(request.query.get("method"))]

    async def _rejections(self, request: web.Request) -> Json:
        return [c.to_dict() for c in self.sb.rejections()]

    async def _callback_answers(self, request: web.Request) -> Json:
        answers = self.sb.callback_answers(request.query.get("query_id"))
        return [a.to_dict() for a in answers]

    async def _list_faults(self, request: web.Request) -> Json:
        return [rule.to_dict() for rule in self.sb.faults.rules]

    async def _add_faults(self, request: web.Request) -> Json:
        body = await _body(request)
        if "seed" in body:
            self.sb.faults.seed(_int(body["seed"], "seed"))
        for rule in body.get("rules", []):
            self.sb.faults.add(FaultRule.from_dict(rule))
        return [rule.to_dict() for rule in self.sb.faults.rules]

    async def _clear_faults(self, request: web.Request) -> Json:
        self.sb.faults.clear()
        return []

    async def _rate_limits(self, request: web.Request) -> Json:
        enabled = bool((await _body(request)).get("enabled", True))
        self.sb.enforce_rate_limits(enabled)
        return {"enabled": enabled}

    async def _get_latency(self, request: web.Request) -> Json:
        return {"ms": self.sb.latency_ms}

    async def _set_latency(self, request: web.Request) -> Json:
        body = await _body(request)
        if "ms" not in body or isinstance(body["ms"], bool):
            raise SandboxError("ms (the round trip in milliseconds) is required")
        self.sb.set_latency(float(body["ms"]))
        return await self._get_latency(request)

    async def _get_time(self, request: web.Request) -> Json:
        return {"now": self.sb.now(), "frozen": self.sb.world.clock.frozen}

    async def _set_time(self, request: web.Request) -> Json:
        body = await _body(request)
        if "advance" in body:
            self.sb.advance_time(float(body["advance"]))
        else:
            self.sb.set_time(float(_require(body, "unix")))
        return await self._get_time(request)

    async def _clear_time(self, request: web.Request) -> Json:
        self.sb.clear_time()
        return await self._get_time(request)

    async def _reset(self, request: web.Request) -> Json:
        self.sb.reset()
        return {"ok": True}
