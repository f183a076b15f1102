"""The Bot API endpoint `/bot<token>/<method>`: parse, check, inject faults, answer, record."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from sandbox import botapi_bot, botapi_chat, botapi_media
from sandbox.context import CallContext, Handler
from sandbox.errors import ApiError, bad_request
from sandbox.faults import FaultInjector, FaultRule, RateLimiter, fault_response
from sandbox.latency import Latency
from sandbox.models import ApiCall, BotAccount
from sandbox.spec import ApiSpec, FileUpload, require_method
from sandbox.webhook import WebhookDispatcher
from sandbox.world import World

__all__ = ["HANDLERS", "BotApi"]

logger = logging.getLogger(__name__)

HANDLERS: dict[str, Handler] = {
    **botapi_bot.HANDLERS,
    **botapi_chat.HANDLERS,
    **botapi_media.HANDLERS,
}
_NOT_SUPPORTED = "method not supported by the sandbox"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _is_flood_limited(method: str) -> bool:
    return method.startswith(("send", "copy", "forward")) and method != "sendChatAction"


async def read_params(request: web.Request) -> dict[str, Any]:
    """The call's parameters from the query string and a form, multipart or JSON body."""
    raw: dict[str, Any] = dict(request.query)
    if not request.body_exists:
        return raw
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON request body") from None
        if not isinstance(body, dict):
            raise bad_request("JSON request body must be an object")
        raw.update(body)
    elif request.content_type in _FORM_TYPES:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                content = value.file.read()
                raw[key] = FileUpload(value.filename, len(content), content)
            else:
                raw[key] = value
    attached = " ".join(v for v in raw.values() if isinstance(v, str) and "attach://" in v)
    return {
        k: v
        for k, v in raw.items()
        if not (isinstance(v, FileUpload) and f"attach://{k}" in attached)
    }


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: {"file": v.filename} if isinstance(v, FileUpload) else v for k, v in params.items()}


class BotApi:
    """Answers Bot API calls against a `World`, like Telegram's Bot API server."""

    def __init__(
        self,
        world: World,
        spec: ApiSpec,
        faults: FaultInjector,
        limiter: RateLimiter,
        webhooks: WebhookDispatcher,
        latency: Latency | None = None,
    ) -> None:
        self.world = world
        self.spec = spec
        self.faults = faults
        self.limiter = limiter
        self.webhooks = webhooks
        self.latency = latency or Latency()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler of `/bot{token}/{method}`: the call crosses the simulated
        network (half the round trip), is answered, and the answer crosses back."""
        await self.latency.one_way()
        response = await self._handle(request)
        await self.latency.one_way()
        return response

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token, name = request.match_info["token"], request.match_info["method"]
        bot: BotAccount | None = None
        params: dict[str, Any] = {}
        try:
            bot = self.world.bot_for_token(token)
            method = require_method(self.spec, name)
            name = method.name
            params = self.spec.parse_params(method, await read_params(request))
        except ApiError as exc:
            self._record(name, params, bot, exc.code, exc.description)
            return web.json_response(exc.payload(), status=exc.code)
        ctx = CallContext(self.world, bot, name, params, self.webhooks)
        rule = self.faults.pick(name, params.get("chat_id"))
        if rule is not None:
            return await self._answer_with_fault(ctx, rule)
        status, body = await self._answer(ctx)
        self._record(name, params, bot, status, body.get("description"))
        return web.json_response(body, status=status)

    async def _answer(self, ctx: CallContext) -> tuple[int, dict[str, Any]]:
        """Run the method with Telegram's checks: (HTTP status, JSON body)."""
        handler = HANDLERS.get(ctx.method.lower())
        try:
            if handler is None:
                raise bad_request(_NOT_SUPPORTED)
            self._check_flood(ctx)
            result = await handler(ctx)
        except ApiError as exc:
            return exc.code, exc.payload()
        return 200, {"ok": True, "result": result}

    def _check_flood(self, ctx: CallContext) -> None:
        if not self.limiter.enabled or not _is_flood_limited(ctx.method):
            return
        chat_id = ctx.params.get("chat_id")
        chat = self.world.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            return
        retry_after = self.limiter.check(ctx.bot.bot_id, chat.chat_id, chat.type == "private")
        if retry_after is not None:
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )

    async def _answer_with_fault(self, ctx: CallContext, rule: FaultRule) -> web.StreamResponse:
        """Answer as `rule` says; record the call before holding a late answer back."""
        error = fault_response(rule)
        held = rule.kind in ("timeout", "gateway_timeout")
        if rule.kind == "delay":
            await asyncio.sleep(rule.delay)
        delivered = False
        if error is None or rule.delivered:
            status, body = await self._answer(ctx)
            if status != 200:  # a real check refused the call: that is the answer
                self._record(ctx.method, ctx.params, ctx.bot, status, body.get("description"))
                return web.json_response(body, status=status)
            delivered = True
            if error is None:
                self._record(ctx.method, ctx.params, ctx.bot, status, None, injected=True)
                if held:
                    await asyncio.sleep(rule.delay)
                return web.json_response(body)
        self._record(
            ctx.method,
            ctx.params,
            ctx.bot,
            error.status,
            error.description,
            injected=True,
            delivered=delivered,
        )
        if held:
            await asyncio.sleep(rule.delay)
        return web.Response(status=error.status, text=error.body, content_type=error.content_type)

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        bot: BotAccount | None,
        status: int,
        description: str | None,
        *,
        injected: bool = False,
        delivered: bool = False,
    ) -> None:
        ok = status == 200
        call = ApiCall(
            method=method,
            params=_jsonable(params),
            ok=ok,
            error_code=None if ok else status,
            description=description,
            injected=injected,
            time=self.world.clock.now(),
            bot_id=bot.bot_id if bot else None,
            delivered=ok or delivered,
        )
        if not ok and not injected:
            logger.info("Bot API %s rejected: %s", method, description)
        self.world.record(call)
