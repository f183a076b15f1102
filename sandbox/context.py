"""What a Bot API method handler gets: the world, the calling bot and its parameters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sandbox.models import BotAccount
from sandbox.webhook import WebhookDispatcher
from sandbox.world import World

__all__ = ["CallContext", "Handler"]


@dataclass
class CallContext:
    """One Bot API call being answered."""

    world: World
    bot: BotAccount
    method: str
    params: dict[str, Any]
    webhooks: WebhookDispatcher


Handler = Callable[[CallContext], Awaitable[Any]]
