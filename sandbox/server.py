"""The sandbox as an HTTP server: Bot API, control API and the browser chat page."""

from __future__ import annotations

import logging
from importlib import resources
from types import TracebackType

from aiohttp import web

from sandbox.api import Sandbox
from sandbox.botapi import BotApi
from sandbox.control import ControlApi
from sandbox.spec import load_spec

__all__ = ["SandboxServer"]

logger = logging.getLogger(__name__)

_CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
_NOT_FOUND = {"ok": False, "error_code": 404, "description": "Not Found"}


def _static_files() -> dict[str, bytes]:
    folder = resources.files("sandbox").joinpath("static")
    return {item.name: item.read_bytes() for item in folder.iterdir() if item.is_file()}


class SandboxServer(Sandbox):
    """A local Telegram Bot API server with a fake world behind it.

    ```
    async with SandboxServer() as sb:
        app = Application.builder().token(T).base_url(f"{sb.url}/bot").build()
    ```
    `port=0` picks a free port; `url` tells which. Runs on the current event loop.
    `latency_ms` is a simulated network round trip that every Bot API call takes (see
    `sandbox.latency.Latency`; `set_latency` changes it).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        auto_register: bool = True,
        seed: int | None = None,
        webhook_retry_delay: float = 0.2,
        latency_ms: float = 0.0,
    ) -> None:
        super().__init__(auto_register=auto_register, seed=seed, latency_ms=latency_ms)
        self.host = host
        self.port = port
        self.webhooks.retry_delay = webhook_retry_delay
        self.spec = load_spec()
        self.bot_api = BotApi(
            self.world, self.spec, self.faults, self.limiter, self.webhooks, self.latency
        )
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The root URL, e.g. `http://127.0.0.1:8081` (Bot API under `/bot<token>/`)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def page_url(self, *, user_id: int | None = None, start: str | None = None) -> str:
        """The browser page, optionally opening a user's chat with a Start button."""
        query = []
        if user_id is not None:
            query += [f"as={user_id}", f"chat={user_id}"]
        if start is not None:
            query.append(f"start={start}")
        return f"{self.url}/" + (f"?{'&'.join(query)}" if query else "")

    def build_app(self) -> web.Application:
        """The aiohttp application (also usable with aiohttp's test tools)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self.bot_api.handle)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._file)
        ControlApi(self).register(app)
        static = _static_files()

        async def page(request: web.Request) -> web.Response:
            name = request.match_info.get("name", "index.html")
            if name not in static:
                raise web.HTTPNotFound()
            suffix = name[name.rfind(".") :]
            content_type = _CONTENT_TYPES.get(suffix, "application/octet-stream")
            return web.Response(body=static[name], content_type=content_type)

        async def photo(request: web.Request) -> web.Response:
            try:
                content = self.photo(request.match_info["file_id"])
            except KeyError:
                raise web.HTTPNotFound() from None
            png = content.startswith(b"\x89PNG")
            return web.Response(body=content, content_type="image/png" if png else "image/jpeg")

        app.router.add_get("/", page)
        app.router.add_get("/static/{name}", page)
        app.router.add_get("/sandbox/photo/{file_id}", photo)
        return app

    async def _file(self, request: web.Request) -> web.Response:
        return web.json_response(_NOT_FOUND, status=404)

    async def start(self) -> str:
        """Start serving; returns `url`."""
        if self._runner is not None:
            return self.url
        self.world.closing = False
        runner = web.AppRunner(
            self.build_app(), handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        logger.info("Telegram sandbox listening on %s", self.url)
        return self.url

    async def close(self) -> None:
        """Stop serving: end long polls, stop webhook deliveries, close sockets."""
        self.world.closing = True
        self.world.feed.bump()
        await self.webhooks.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
