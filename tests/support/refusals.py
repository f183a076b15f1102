"""What the sandbox's Telegram checks refused that counts against the bot."""

from __future__ import annotations

from sandbox import ApiCall, SandboxServer

POLL_CONFLICT = "terminated by other getUpdates request"


def refusals(server: SandboxServer) -> list[ApiCall]:
    """Calls Telegram's checks refused, but for sends to a user who blocked the bot (a test
    blocked them on purpose) and the poll conflict of python-telegram-bot stopping: it
    cancels its long poll without waiting for the cancellation and at once confirms the
    last updates with a getUpdates of timeout 0, so the abandoned poll may be answered with
    409 before its connection closes. Real Telegram answers the same; nobody reads it."""
    blocked = {user.user_id for user in server.users() if user.blocked}
    stopped = any(
        call.method == "getUpdates" and call.params.get("timeout") == 0
        for call in server.calls("getUpdates")
    )
    return [
        call
        for call in server.rejections()
        if not (call.error_code == 403 and call.params.get("chat_id") in blocked)
        and "blocked by the user" not in (call.description or "")
        and not (
            stopped and call.method == "getUpdates" and POLL_CONFLICT in (call.description or "")
        )
    ]
