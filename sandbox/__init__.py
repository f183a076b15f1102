"""A local Telegram Bot API server (emulator) for tests, demos and training.

Point the unmodified python-telegram-bot client at it with
`Application.builder().token(T).base_url(f"{sb.url}/bot").base_file_url(f"{sb.url}/file/bot")`.
It checks calls as Telegram does (HTML parse mode, lengths, keyboards, chats, callback
queries), records every call, injects faults, enforces flood limits and adds a network round
trip (`latency_ms`) on request, and serves a Telegram-like chat page at `/` where a person can
play the users.
"""

from sandbox.api import Sandbox
from sandbox.client import SandboxClient
from sandbox.errors import ApiError, SandboxError
from sandbox.faults import FaultInjector, FaultRule, RateLimiter
from sandbox.latency import Latency
from sandbox.models import (
    ApiCall,
    CallbackAnswer,
    MessageEdit,
    SandboxChat,
    SandboxMessage,
    SandboxUser,
)
from sandbox.server import SandboxServer

__all__ = [
    "ApiCall",
    "ApiError",
    "CallbackAnswer",
    "FaultInjector",
    "FaultRule",
    "Latency",
    "MessageEdit",
    "RateLimiter",
    "Sandbox",
    "SandboxChat",
    "SandboxClient",
    "SandboxError",
    "SandboxMessage",
    "SandboxServer",
    "SandboxUser",
]
