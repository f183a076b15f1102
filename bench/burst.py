"""A burst: 120 participants tap their invitation link at once, and the real bot answers.

The real bot (`running_bot`: PTB application with `TelegramRateLimiter`, polling, the
`SchedulerService` on the system clock, 12 sends in flight by default) runs against the
sandbox with Telegram's flood limits on. 120 invited participants, whose 3-month visit is two
days ahead, all send `/start <code>` at the same moment: each gets the welcome (a direct
reply) and the visit reminder that fell due that morning (the dispatcher sends it from the
outbox), 240 messages that Telegram would let through in 8 s (30 a second). The figure is
the rate at which they arrived: messages / (arrival of the last - the first /start),
divided by Telegram's 30 a second, so 1.0 is as fast as Telegram allows.

One more participant, linked before the burst, has a check-in open; just after the 120 taps
they answer its first question with a red flag. How long their advice ("call 120 now") and
their site's alert card take to arrive while the burst is under way is the figure that
matters most: neither may wait behind the routine messages.

Measured with a simulated round trip per Bot API call (`_rtt80` at 80 ms), as from a server
far from Telegram, where one send at a time would cap the rate at 1/RTT. On SQLite, and again
on a fresh database on a PostgreSQL server if one is named (`_postgres` figures), where the
red flag's transactions compete with the linkings' for the pool's connections.

Run alone: `python -m bench.burst [--latency-ms 80] [--postgres URL]`.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta

from bench.support import (
    BOT_USERNAME,
    SITES,
    TOKEN,
    at_latency,
    bot_services,
    configure_logging,
    daytime_zone,
    migrated_database,
    on_each_database,
    postgres_server,
    progress,
    report,
    study_config,
)
from bot.demo import add_study_teams
from bot.runner import running_bot
from sandbox import SandboxServer
from sandbox.faults import BOT_PER_SECOND
from study.enrollment import EnrollmentRequest, enroll
from study.protocol import add_months

CHAT_BASE = 8_000_000
PARTICIPANTS = 120
RED_FLAG_CHAT = CHAT_BASE + PARTICIPANTS  # one more: at ZJU2, in Chinese (index 120)
RED_FLAG = "chest_breathing"  # Q1: chest pain or trouble breathing, a T1 alert
PATIENCE = 180.0

NOTES = {
    "burst_ratio_rtt80": "messages/s while 120 participants link at once (welcome + the visit "
    "reminder due that morning, 240 messages), real bot, Telegram's limits on, 80 ms per Bot "
    "API call, divided by Telegram's 30/s",
    "burst_seconds": "from the first /start to the arrival of the last of those messages",
    "burst_429s": "429 answers the sandbox gave during the burst",
    "burst_red_flag_advice_s": "from a participant's red-flag answer, pressed just after the "
    "120 taps, to the arrival of their advice to call 120, while the burst is sent",
    "burst_red_flag_card_s": "from that answer to the arrival of the T1 alert card in their "
    "site's alert group",
    "burst_red_flag_card_s_postgres": "the same on PostgreSQL (each burst_* figure has its "
    "_postgres twin)",
}


async def invite(database_url: str, now: datetime, zone: str) -> dict[int, str]:
    """Enrol the participants (invited, not linked), each with a visit two days ahead whose
    2-day reminder fell due this morning; chat id -> invite code."""
    config = study_config()
    codes = {}
    async with migrated_database(database_url, config) as database:
        visit_day = now.date() + timedelta(days=2)
        for index in range(PARTICIPANTS + 1):
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


def arrivals(sandbox: SandboxServer, chats: set[int], since: float = 0.0) -> list[float]:
    """When the sandbox accepted each message to these chats (from `since` on)."""
    return sorted(
        call.time
        for call in sandbox.calls("sendMessage")
        if call.ok and int(call.params.get("chat_id", 0)) in chats and call.time >= since
    )


async def open_checkin(sandbox: SandboxServer, code: str) -> tuple[int, str]:
    """Link the red-flag participant and start a check-in; its first question (message id)
    and the callback data of their red-flag answer to it."""
    sent = await sandbox.send_text(RED_FLAG_CHAT, f"/start {code}")
    await sandbox.wait_until(
        lambda: len(arrivals(sandbox, {RED_FLAG_CHAT})) >= 2, 30, "the welcome and reminder"
    )
    sent = await sandbox.send_text(RED_FLAG_CHAT, "/checkin")
    question = await sandbox.wait_for_message(
        RED_FLAG_CHAT,
        after_message_id=sent.message_id,
        predicate=lambda message: any(d.startswith("c:") for d in message.button_data()),
        timeout=30,
    )
    checkin_id = question.button_data()[0].split(":")[1]
    return question.message_id, f"c:{checkin_id}:Q1:{RED_FLAG}"


async def measure(latency_ms: float = 80.0, postgres: str | None = None) -> dict[str, float | int]:
    """`burst_*` on SQLite, and `burst_*_postgres` on a fresh database on `postgres`."""
    figures = await on_each_database("burst", postgres, lambda url: burst(url, latency_ms))
    return at_latency(figures, latency_ms)


async def burst(url: str, latency_ms: float) -> dict[str, float | int]:
    config = study_config()
    now = datetime.now(UTC)
    zone = daytime_zone(now)  # 13:00 there: the 09:00 reminder is due, no quiet hours
    progress(f"burst: enrolling {PARTICIPANTS} participants")
    codes = await invite(url, now, zone)
    red_flag_code = codes.pop(RED_FLAG_CHAT)
    chats = set(codes)
    alert_chat = config.sites["ZJU2"].alert_chat_id
    async with (
        SandboxServer(latency_ms=latency_ms) as sandbox,
        migrated_database(url, config) as database,
    ):
        sandbox.add_bot(TOKEN, username=BOT_USERNAME)
        add_study_teams(sandbox, config)
        for chat in {*chats, RED_FLAG_CHAT}:
            sandbox.add_user(chat, f"Participant {chat}")
        sandbox.enforce_rate_limits(True)
        services = bot_services(sandbox, url, database, config)
        async with running_bot(services, token=TOKEN, api_url=sandbox.url):
            await sandbox.wait_until(lambda: bool(sandbox.calls("getUpdates")), 30, "polling")
            question, red_flag = await open_checkin(sandbox, red_flag_code)
            progress(f"burst at {latency_ms:g} ms: {PARTICIPANTS} participants tap /start")
            began = sandbox.now()
            for chat, code in codes.items():
                await sandbox.send_text(chat, f"/start {code}")
            pressed = sandbox.now()
            await sandbox.press(RED_FLAG_CHAT, RED_FLAG_CHAT, question, red_flag)
            expected = 2 * PARTICIPANTS
            try:
                await sandbox.wait_until(
                    lambda: (
                        len(arrivals(sandbox, chats)) >= expected
                        and bool(arrivals(sandbox, {alert_chat}, pressed))
                    ),
                    PATIENCE,
                    "the burst and the alert card",
                )
            except TimeoutError:
                progress(f"burst: only {len(arrivals(sandbox, chats))} of {expected} arrived")
        times = arrivals(sandbox, chats)
        advice = arrivals(sandbox, {RED_FLAG_CHAT}, pressed)
        card = arrivals(sandbox, {alert_chat}, pressed)
        throttled = sum(call.error_code == 429 for call in sandbox.calls("sendMessage"))
    seconds = times[-1] - began
    rate = len(times) / seconds
    return {
        "burst_ratio": rate / BOT_PER_SECOND,
        "burst_msgs_per_s": rate,
        "burst_messages": len(times),
        "burst_seconds": seconds,
        "burst_429s": throttled,
        "burst_red_flag_advice_s": advice[0] - pressed if advice else float("nan"),
        "burst_red_flag_card_s": card[0] - pressed if card else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=80.0, help="round trip per call")
    parser.add_argument("--postgres", metavar="URL", default=postgres_server())
    arguments = parser.parse_args()
    configure_logging()
    report(asyncio.run(measure(arguments.latency_ms, arguments.postgres)))


if __name__ == "__main__":
    main()
