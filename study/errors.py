"""The project's exceptions: one root, domain errors carrying a message key."""

from __future__ import annotations


class TrialbotError(Exception):
    """Root of every error trialbot raises on purpose."""


class ConfigError(TrialbotError):
    """A setting or study.toml value is wrong; `problems` are readable one-liners."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def __str__(self) -> str:
        lines = [f"Configuration problem in {self.source}:"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


class Stale(TrialbotError):
    """A queued message is no longer true or no longer wanted (the visit moved, the alert
    was acknowledged meanwhile...): it is expired, not sent. The text says why, for the
    outbox row's `last_error`; it names no person."""


ECHO_LIMIT = 40


class DomainError(TrialbotError):
    """A use case refused a request; `key` names the message template that explains it.

    Text a person typed is echoed back in the explanation, so long text is shortened here:
    a reply must stay far below Telegram's 4096 characters whatever was typed.
    """

    def __init__(self, key: str, **details: object) -> None:
        self.key = key
        self.details = {name: _short(value) for name, value in details.items()}
        super().__init__(key if not details else f"{key}: {self.details}")


def _short(value: object) -> object:
    if isinstance(value, str) and len(value) > ECHO_LIMIT:
        return value[: ECHO_LIMIT - 1] + "…"
    return value
