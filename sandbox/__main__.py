"""Run the sandbox: `python -m sandbox --host 127.0.0.1 --port 8081 [--token T --username U]
[--latency-ms 80]`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Sequence

from sandbox.server import SandboxServer


def _milliseconds(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of milliseconds >= 0")
    return value


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8081, help="port (0: any free port)")
    parser.add_argument("--token", help="register this bot token up front")
    parser.add_argument("--username", help="username of the --token bot")
    parser.add_argument(
        "--no-auto-register",
        action="store_true",
        help="refuse tokens that were not registered (default: any well-formed token works)",
    )
    parser.add_argument(
        "--latency-ms",
        type=_milliseconds,
        default=0.0,
        metavar="MS",
        help="network round trip every Bot API call takes, like a server far from Telegram "
        "(30-150 ms; default 0)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log every rejected call")
    return parser.parse_args(argv)


def build_server(args: argparse.Namespace) -> SandboxServer:
    """The server the options describe (not started)."""
    server = SandboxServer(
        args.host,
        args.port,
        auto_register=not args.no_auto_register,
        latency_ms=args.latency_ms,
    )
    if args.token:
        server.add_bot(args.token, args.username)
    return server


async def _serve(args: argparse.Namespace) -> None:
    server = build_server(args)
    async with server:
        print(f"Telegram sandbox: {server.url}", flush=True)  # noqa: T201
        print(f"Bot API base URL: {server.url}/bot", flush=True)  # noqa: T201
        print(f"Chat page:        {server.page_url()}", flush=True)  # noqa: T201
        if server.latency_ms:
            print(f"Round trip:       {server.latency_ms:g} ms per call", flush=True)  # noqa: T201
        await asyncio.Event().wait()


def main() -> None:
    """Entry point of `python -m sandbox`."""
    args = arguments()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
