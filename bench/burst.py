"""A burst: 120 participants tap their invitation link at once, and the real bot answers.

The real bot (`running_bot`: PTB application with `TelegramRateLimiter`, polling, the
`SchedulerService` on the system clock, 12 sends in flight by default) runs against the
sandbox with Telegram's flood limits on. 120 invited participants, whose 3-month visit is two
days ahead, all send `/start <code>` at the same moment: each gets the welcome (a direct
reply) and the visit reminder that fell due that morning (the dispatcher sends it from the
outbox), 240 messages that Telegram would let through in 8 s (30 a second). The figure is
the rate at which they arrived: messages / (arrival of the last - the first /start),
divided by Telegram's 30 a second, so 1.0 is as fast as Telegram allows.

Measured with a simulated round trip per Bot API call (`_rtt80` at 80 ms), as from a server
far from Telegram, where one send at a time would cap the rate at 1/RTT.

Run alone: `python -m bench.burst [--latency-ms 80]`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.support import (
    BOT_USERNAME,
    SITES,
    TOKEN,
    at_latency,
    configure_logging,
    daytime_zone,
    migrated_database,
    progress,
    report,
    study_config,
)
from bot.runner import running_bot
from bot.services import Services
from bot.settings import Settings
from sandbox import SandboxServer
from study.clock import SystemClock
from study.enrollment import EnrollmentRequest, enroll
from study.protocol import add_months

CHAT_BASE = 8_000_000
PARTICIPANTS = 120
TELEGRAM_PER_SECOND = 30.0
PATIENCE = 180.0

NOTES = {
    "burst_ratio_rtt80": "messages/s while 120 participants link at once (welcome + the visit "
    "reminder due that morning, 240 messages), real bot, Telegram's limits on, 80 ms per Bot "
    "API call, divided by Telegram's 30/s",
    "burst_seconds": "from the first /start to the arrival of the last of those messages",
    "burst_429s": "429 answers the sandbox gave during the burst",
}


async def invite(database_url: str, now: datetime, zone: str) -> dict[int, str]:
    """Enrol the participants (invited, not linked), each with a visit two days ahead whose
    2-day reminder fell due this morning; chat id -> invite code."""
    config = study_config()
    codes = {}
    async with migrated_database(database_url, config) as database:
        visit_day = now.date() + timedelta(days=2)
        for index in range(PARTICIPANTS):
            request = EnrollmentRequest(
                study_id=f"BST-{index:05d}",
                site_code=SITES[index % len(SITES)],
                arm="standard",
                randomized_on=add_months(visit_day, -3),
                language=("zh", "en")[index % 2],
                can_become_pregnant=False,
                timezone=zone,
                preferred_hour=9,
            )
            async with database.session() as session:
                invitation = await enroll(session, request, config=config, now=now, actor="bench")
            codes[CHAT_BASE + index] = invitation.code
    return codes


def arrivals(sandbox: SandboxServer, chats: set[int]) -> list[float]:
    """When the sandbox accepted each message to these chats."""
    return sorted(
        call.time
        for call in sandbox.calls("sendMessage")
        if call.ok and int(call.params.get("chat_id", 0)) in chats
    )


async def measure(latency_ms: float = 80.0) -> dict[str, float | int]:
    config = study_config()
    now = datetime.now(UTC)
    zone = daytime_zone(now)  # 13:00 there: the 09:00 reminder is due, no quiet hours
    with tempfile.TemporaryDirectory(prefix="trialbot-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'burst.db'}"
        progress(f"burst: enrolling {PARTICIPANTS} participants")
        codes = await invite(url, now, zone)
        chats = set(codes)
        async with (
            SandboxServer(latency_ms=latency_ms) as sandbox,
            migrated_database(url, config) as database,
        ):
            sandbox.add_bot(TOKEN, username=BOT_USERNAME)
            for chat in chats:
                sandbox.add_user(chat, f"Participant {chat}")
            sandbox.enforce_rate_limits(True)
            settings = Settings(
                _env_file=None,
                telegram_bot_token=TOKEN,
                telegram_api_url=sandbox.url,
                database_url=url,
            )
            services = Services(
                settings=settings, config=config, database=database, clock=SystemClock()
            )
            async with running_bot(services, token=TOKEN, api_url=sandbox.url):
                await sandbox.wait_until(lambda: bool(sandbox.calls("getUpdates")), 30, "polling")
                progress(f"burst at {latency_ms:g} ms: {PARTICIPANTS} participants tap /start")
                began = sandbox.now()
                for chat, code in codes.items():
                    await sandbox.send_text(chat, f"/start {code}")
                expected = 2 * PARTICIPANTS
                try:
                    await sandbox.wait_until(
                        lambda: len(arrivals(sandbox, chats)) >= expected, PATIENCE, "the burst"
                    )
                except TimeoutError:
                    progress(f"burst: only {len(arrivals(sandbox, chats))} of {expected} arrived")
            times = arrivals(sandbox, chats)
            throttled = sum(call.error_code == 429 for call in sandbox.calls("sendMessage"))
    seconds = times[-1] - began
    rate = len(times) / seconds
    figures: dict[str, float | int] = {
        "burst_ratio": rate / TELEGRAM_PER_SECOND,
        "burst_msgs_per_s": rate,
        "burst_messages": len(times),
        "burst_seconds": seconds,
        "burst_429s": throttled,
    }
    return at_latency(figures, latency_ms)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=80.0, help="round trip per call")
    arguments = parser.parse_args()
    configure_logging()
    report(asyncio.run(measure(arguments.latency_ms)))


if __name__ == "__main__":
    main()
