"""What `trialbot enroll` and `invite` add to the invitation they print: its QR code in a file
(`--qr FILE.png`), and, in the no-token demo, where to open it in the sandbox's browser page."""

from __future__ import annotations

import os
from pathlib import Path

from bot.settings import Settings

FIRST_GUEST = 2001  # above the demo's own people (its participant is 1001)


def write_qr(path: Path, link: str) -> None:
    """The link's QR code as a PNG, owner-only (0600): whoever holds it can take the
    participant's place."""
    from messages.qr import invitation_qr_png  # segno: only with --qr

    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        os.fchmod(descriptor, 0o600)
        stream.write(invitation_qr_png(link))


def sandbox_root(settings: Settings) -> str:
    """The address of the demo's sandbox (`trialbot run` without a token)."""
    host = settings.trialbot_sandbox_host
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 (a listening address, not a bind)
        host = "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.trialbot_sandbox_port}"


async def sandbox_invitation_lines(settings: Settings, code: str) -> list[str]:
    """How to open the invitation in the running demo's browser page, as a new user; or
    how to start the demo when it is not running."""
    import aiohttp  # only in the no-token demo: a tenth of every other command's start-up

    root = sandbox_root(settings)
    try:
        timeout = aiohttp.ClientTimeout(total=3)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{root}/sandbox/api/users") as response,
        ):
            users = await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return [
            f"The sandbox demo is not running at {root}: start it with `make run` "
            "(no TELEGRAM_BOT_TOKEN), then run `trialbot invite` for a link to open there."
        ]
    taken = {int(user["user_id"]) for user in users}
    guest = next(
        user_id
        for user_id in range(FIRST_GUEST, FIRST_GUEST + len(taken) + 1)
        if user_id not in taken
    )
    return [
        "Open the invitation in the sandbox as a new participant (then press Start):",
        f"  {root}/?as={guest}&chat={guest}&start={code}",
    ]
