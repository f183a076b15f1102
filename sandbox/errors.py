"""Exceptions of the sandbox: one root, and the Bot API error that becomes an HTTP answer."""

from __future__ import annotations

__all__ = ["ApiError", "SandboxError"]


class SandboxError(Exception):
    """Root of every error the sandbox raises to its in-process or control API callers."""


class ApiError(SandboxError):
    """A Bot API call that Telegram would refuse; turned into `{"ok": false, ...}`."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, object]:
        """The JSON body Telegram would send for this error."""
        body: dict[str, object] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    """A 400 error with Telegram's "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {detail}")


def forbidden(detail: str) -> ApiError:
    """A 403 error with Telegram's "Forbidden: " prefix."""
    return ApiError(403, f"Forbidden: {detail}")
