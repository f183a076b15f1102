"""Fault injection (errors Telegram may answer with) and Telegram's flood limits."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from sandbox.errors import SandboxError

__all__ = ["FaultInjector", "FaultKind", "FaultResponse", "FaultRule", "RateLimiter"]

FaultKind = Literal[
    "server_error",
    "bad_gateway",
    "timeout",
    "gateway_timeout",
    "too_many_requests",
    "blocked",
    "chat_not_found",
    "kicked",
    "migrated",
    "delay",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

# What Telegram's nginx front answers when the Bot API server behind it is down.
_BAD_GATEWAY_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass
class FaultRule:
    """Answer matching Bot API calls with a fault instead of (or after) processing them.

    `method` None matches every method (names ignore case); `chat_id` None matches any chat.
    The rule fires with `probability` (seeded RNG of the injector), at most `count` times
    (None: forever). `delivered=True` processes the call first, so the message exists although
    the client is told it failed (or, for "timeout", never hears back in time). "timeout",
    "gateway_timeout" and "delay" hold the answer for `delay` seconds: "timeout" is meant for a
    client whose own read timeout is shorter (then 504, or when delivered the real answer, for
    a patient one); "gateway_timeout" answers 504 Gateway Timeout in every case, as Telegram's
    front does when the server behind it was too slow, so that with `delivered=True` a client
    hears of a failure at once although Telegram made the message. "kicked" is Telegram's
    answer to a bot removed from a group; "migrated" its answer for a group that became a
    supergroup, whose new id (`migrate_to_chat_id`, required for that kind) it carries as
    Telegram does.
    """

    method: str | None = None
    kind: FaultKind = "server_error"
    probability: float = 1.0
    count: int | None = None
    chat_id: int | None = None
    retry_after: int = 3
    delay: float = 0.5
    delivered: bool = False
    migrate_to_chat_id: int | None = None
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise SandboxError(f"unknown fault kind {self.kind!r}; one of {FAULT_KINDS}")
        if (self.kind == "migrated") != (self.migrate_to_chat_id is not None):
            raise SandboxError('migrate_to_chat_id goes with kind "migrated", and only with it')
        if not 0.0 <= self.probability <= 1.0:
            raise SandboxError("probability must be between 0 and 1")

    def matches(self, method: str, chat_id: object) -> bool:
        """Whether this rule applies to a call (ignoring probability and count)."""
        if self.method is not None and self.method.lower() != method.lower():
            return False
        if self.chat_id is not None and self.chat_id != chat_id:
            return False
        return self.count is None or self.fired < self.count

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON view (control API)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        """Build a rule from its JSON view (unknown keys are an error)."""
        try:
            return cls(**{k: v for k, v in data.items() if k != "fired"})
        except TypeError as exc:
            raise SandboxError(f"bad fault rule: {exc}") from None


@dataclass(frozen=True)
class FaultResponse:
    """The HTTP error answer a fault produces."""

    status: int
    body: str
    description: str
    content_type: str = "application/json"


def fault_response(rule: FaultRule) -> FaultResponse | None:
    """The error answer of a rule; None for "delay" (and "timeout" when delivered)."""
    if rule.kind == "delay" or (rule.kind == "timeout" and rule.delivered):
        return None
    if rule.kind == "bad_gateway":
        return FaultResponse(502, _BAD_GATEWAY_PAGE, "Bad Gateway", "text/html")
    code, description = {
        "server_error": (500, "Internal Server Error"),
        "timeout": (504, "Gateway Timeout"),
        "gateway_timeout": (504, "Gateway Timeout"),
        "too_many_requests": (429, f"Too Many Requests: retry after {rule.retry_after}"),
        "blocked": (403, "Forbidden: bot was blocked by the user"),
        "chat_not_found": (400, "Bad Request: chat not found"),
        "kicked": (403, "Forbidden: bot was kicked from the group chat"),
        "migrated": (400, "Bad Request: group chat was upgraded to a supergroup chat"),
    }[rule.kind]
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if rule.kind == "too_many_requests":
        body["parameters"] = {"retry_after": rule.retry_after}
    if rule.kind == "migrated":
        body["parameters"] = {"migrate_to_chat_id": rule.migrate_to_chat_id}
    return FaultResponse(code, json.dumps(body), description)


class FaultInjector:
    """The fault rules of a sandbox, checked in order for every Bot API call."""

    def __init__(self, seed: int | None = None) -> None:
        self.rules: list[FaultRule] = []
        self._random = random.Random(seed)  # noqa: S311 (fault injection, not cryptography)

    def add(self, rule: FaultRule) -> FaultRule:
        """Add a rule; returns it (its `fired` counter shows how often it hit)."""
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        self.rules.clear()

    def seed(self, seed: int) -> None:
        """Reseed the RNG that decides probabilistic faults."""
        self._random.seed(seed)

    def pick(self, method: str, chat_id: object) -> FaultRule | None:
        """The rule that fires for this call, if any (counts it as fired)."""
        for rule in self.rules:
            if not rule.matches(method, chat_id):
                continue
            if rule.probability < 1.0 and self._random.random() >= rule.probability:
                continue
            rule.fired += 1
            return rule
        return None


# Telegram's flood limits, as the sandbox enforces them.
BOT_PER_SECOND = 30  # a bot's messages, in bursts of as many
PRIVATE_PER_SECOND = 1  # a private chat's, after a burst of `RateLimiter.private_burst`
PRIVATE_BURST = 3
GROUP_PER_MINUTE = 20  # a group's, in bursts of as many


@dataclass
class TokenBucket:
    """One flood limit: `capacity` messages at once, refilled at `per_second`."""

    capacity: float
    per_second: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now

    def wait_time(self) -> float:
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.per_second

    def ready_at(self, now: float) -> float:
        """The first moment from `now` on when one message may go."""
        self.refill(now)
        return now + self.wait_time()


class RateLimiter:
    """Telegram's flood limits: 30 msg/s per bot, ~1 msg/s per private chat, 20/min per group.

    A private chat may burst `private_burst` messages before the 1/s pace applies. Uses the
    `monotonic` clock (not the sandbox clock, which tests freeze); tests may replace it.
    """

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        private_burst: int = PRIVATE_BURST,
    ) -> None:
        self.enabled = False
        self.private_burst = private_burst
        self.monotonic = monotonic
        self._buckets: dict[tuple[str, int, int], TokenBucket] = {}

    def reset(self) -> None:
        """Forget what was sent so far."""
        self._buckets.clear()

    def _bucket(self, key: tuple[str, int, int], capacity: float, per_second: float) -> TokenBucket:
        now = self.monotonic()
        bucket = self._buckets.setdefault(key, TokenBucket(capacity, per_second, capacity, now))
        bucket.refill(now)
        return bucket

    def check(self, bot_id: int, chat_id: int, private: bool) -> int | None:
        """Count one message; the retry_after to answer with if it is over a limit."""
        if not self.enabled:
            return None
        buckets = [self._bucket(("bot", bot_id, 0), BOT_PER_SECOND, BOT_PER_SECOND)]
        chat = ("chat", bot_id, chat_id)
        if private:
            buckets.append(self._bucket(chat, self.private_burst, PRIVATE_PER_SECOND))
        else:
            buckets.append(self._bucket(chat, GROUP_PER_MINUTE, GROUP_PER_MINUTE / 60))
        wait = max(b.wait_time() for b in buckets)
        if wait > 0:
            return max(1, math.ceil(wait))
        for bucket in buckets:
            bucket.tokens -= 1
        return None
