"""The chaos benchmark's world: the study and its sites, the people, their sandbox chats,
their enrolment through the real use cases, and a flaky Telegram.

Participants are drawn (seeded) so that a visit of each falls around the simulated window:
a day-1 visit still ahead (month 0), or a 3- or 6-monthly follow-up visit, in several time
zones (two of which change to summer time in March 2026) and at several preferred hours.

A multicentre study, one site per twenty participants: Telegram lets a bot post about 20
messages a minute to a group, and PTB's limiter paces that in wall-clock time, so with a
month squeezed into minutes a site's group would otherwise throttle the whole dispatcher.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.demo import add_study_teams
from sandbox import FaultRule, SandboxServer
from scheduler.planner import Planner
from study.config import StudyConfig
from study.database import Database
from study.enrollment import EnrollmentRequest, enroll, link_chat
from study.models import Participant
from study.protocol import add_months

TOKEN = "123456789:CHAOS-token-for-the-sandbox-00000000"  # noqa: S105 (sandbox only)
BOT_USERNAME = "trialbot_chaos_bot"
CHAT_BASE = 7_000_000
SITE_ZONE = "Asia/Shanghai"  # every site of the bench study
PER_SITE = 20
# Most participants live in the sites' zone; a few travel (summer time starts on 8 March in
# Los Angeles and 29 March in London; Kolkata is half an hour off the hour).
ZONES = (SITE_ZONE,) * 7 + ("Europe/London", "America/Los_Angeles", "Asia/Kolkata")
HOURS = (8, 9, 10, 11, 14, 17, 19)  # preferred local hours, none in quiet hours
MONTHS = (0, 3, 6)  # which visit of theirs falls near the window
ARMS = ("standard", "individualized")


@dataclass(frozen=True)
class Person:
    """A participant as the benchmark enrols them (and as the oracle reads their calendar)."""

    study_id: str
    chat_id: int
    site_code: str
    arm: str
    randomized_on: date
    language: str
    timezone: str
    preferred_hour: int
    can_become_pregnant: bool


def site_codes(participants: int) -> list[str]:
    return [f"S{number:02d}" for number in range(1, max(2, -(-participants // PER_SITE)) + 1)]


def study_toml(participants: int) -> str:
    """The bench study: the bundled protocol, and enough sites for the participants."""
    lines = [
        "[study]",
        'name = "Individualized rituximab in SLE"',
        'registry_id = "NCT04127747"',
        f'timezone = "{SITE_ZONE}"',
        'language = "zh"',
    ]
    for number, code in enumerate(site_codes(participants), 1):
        lines += [
            "",
            f"[sites.{code}]",
            f'name = "Study site {number}"',
            f'phone = "+86 571 0000 {number:04d}"',
            f"alert_chat_id = {-1002000000000 - number}",
            f'coordinators = [{{ telegram_user_id = {900000 + number}, role = "coordinator" }}]',
        ]
    return "\n".join(lines) + "\n"


def draw_people(
    count: int, *, enrolled_at: datetime, days: int, rng: random.Random
) -> list[Person]:
    """`count` participants whose month-0, -3 or -6 visit is due between a few days before
    `enrolled_at` and a week after the window of `days` days."""
    today = enrolled_at.astimezone(ZoneInfo(SITE_ZONE)).date()
    sites = site_codes(count)
    people = []
    for index in range(count):
        month = rng.choice(MONTHS)
        if month == 0:  # day 1 still ahead: the randomisation visit (and infusion) to come
            randomized_on = today + timedelta(days=rng.randint(2, min(days + 8, 90)))
        else:
            visit_day = today + timedelta(days=rng.randint(-6, days + 8))
            randomized_on = add_months(visit_day, -month)
        people.append(
            Person(
                study_id=f"CHAOS-{index:04d}",
                chat_id=CHAT_BASE + index,
                site_code=sites[index % len(sites)],
                arm=ARMS[(index // 2) % len(ARMS)],
                randomized_on=randomized_on,
                language=("zh", "en")[index % 2],
                timezone=rng.choice(ZONES),
                preferred_hour=rng.choice(HOURS),
                can_become_pregnant=rng.random() < 0.4,
            )
        )
    return people


def furnish(sandbox: SandboxServer, config: StudyConfig, people: Sequence[Person]) -> None:
    """The bot, the sites' coordinators and team groups, and each participant's chat (as if
    they had pressed Start)."""
    sandbox.add_bot(TOKEN, username=BOT_USERNAME)
    add_study_teams(sandbox, config)
    for person in people:
        sandbox.add_user(person.chat_id, person.study_id).started = True


async def enrol_and_link(
    database: Database, config: StudyConfig, people: Sequence[Person], *, now: datetime
) -> None:
    """Enrol each person as a coordinator does, then link their chat as their /start does
    (each its own transaction, with the real planner)."""
    planner = Planner(config)
    for person in people:
        request = EnrollmentRequest(
            study_id=person.study_id,
            site_code=person.site_code,
            arm=person.arm,
            randomized_on=person.randomized_on,
            language=person.language,
            can_become_pregnant=person.can_become_pregnant,
            timezone=person.timezone,
            preferred_hour=person.preferred_hour,
        )
        async with database.session() as session:
            invitation = await enroll(session, request, config=config, now=now, actor="chaos")
        async with database.session() as session:
            linked = await link_chat(
                session, code=invitation.code, chat_id=person.chat_id, now=now, replanner=planner
            )
        if not isinstance(linked, Participant):
            raise RuntimeError(f"{person.study_id} could not be linked: {linked}")


def flaky_telegram(failure_share: float) -> list[FaultRule]:
    """sendMessage answered with 500s, 502 pages and 504 gateway timeouts (together about
    `failure_share` of the calls), and now and then a 429. A tenth of the 504s come after
    Telegram made the message (`delivered`): the bot hears of a failure and sends again, the
    one way a message arrives twice without a kill (Telegram has no idempotency key).

    No client-side timeout: PTB would wait its read timeout (seconds of wall time, which
    are hours of simulated time), a harness artefact rather than a test of the product; a
    504 at once is what the bot sees of Telegram's own timeout.
    """
    return [
        FaultRule("sendMessage", "server_error", probability=failure_share * 0.4),
        FaultRule("sendMessage", "bad_gateway", probability=failure_share * 0.3),
        FaultRule("sendMessage", "timeout", probability=failure_share * 0.27, delay=0.05),
        FaultRule(
            "sendMessage",
            "gateway_timeout",
            probability=failure_share * 0.03,
            delay=0.05,
            delivered=True,
        ),
        FaultRule("sendMessage", "too_many_requests", probability=0.005, retry_after=3),
    ]
