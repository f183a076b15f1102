"""The no-token demo: a local sandbox Telegram with the bot, a site team and a participant."""

from __future__ import annotations

from contextlib import AsyncExitStack
from zoneinfo import ZoneInfo

from bot.runner import say
from bot.services import SANDBOX_TOKEN, SANDBOX_USERNAME, Services
from sandbox import SandboxServer
from study import audit
from study.config import StudyConfig
from study.enrollment import EnrollmentRequest, enroll, get_participant, issue_code
from study.errors import DomainError
from study.protocol import Arm

DEMO_STUDY_ID = "DEMO-001"
DEMO_USER_ID = 1001


def add_study_teams(sandbox: SandboxServer, config: StudyConfig) -> None:
    """Each site's coordinators of `study.toml`, and its alert and escalation groups."""
    for code, site in config.sites.items():
        members = [c.telegram_user_id for c in site.coordinators]
        for user_id in members:
            sandbox.add_user(user_id, first_name=f"{code} coordinator {user_id}")
        sandbox.add_group(site.alert_chat_id, title=f"{code} team", members=members)
        if site.escalation_chat_id is not None:
            sandbox.add_group(site.escalation_chat_id, title=f"{code} escalation", members=members)


async def start_demo(stack: AsyncExitStack, services: Services) -> tuple[str, str]:
    """Start the sandbox, fill it with the study's people, enrol the demo participant.

    Returns the token and API address the bot must use.
    """
    settings = services.settings
    sandbox = SandboxServer(
        host=settings.trialbot_sandbox_host, port=settings.trialbot_sandbox_port
    )
    await stack.enter_async_context(sandbox)
    sandbox.add_bot(SANDBOX_TOKEN, username=SANDBOX_USERNAME)
    add_study_teams(sandbox, services.config)
    participant = sandbox.add_user(DEMO_USER_ID, first_name="Demo participant")
    invite = await _demo_invitation(services)
    # The sandbox forgets everything when it stops; a participant linked in an earlier run
    # has of course already written to the bot.
    participant.started = invite is None
    first_site = next(iter(services.config.sites.values()))
    page = sandbox.url
    say("")
    say("trialbot is running against a local sandbox Telegram (no TELEGRAM_BOT_TOKEN set).")
    if invite is None:
        say(f"  Chat as the demo participant:  {page}/?as={DEMO_USER_ID}&chat={DEMO_USER_ID}")
    else:
        say(
            f"  Chat as the demo participant:  "
            f"{page}/?as={DEMO_USER_ID}&chat={DEMO_USER_ID}&start={invite}"
        )
    if first_site.coordinators:
        coordinator = first_site.coordinators[0].telegram_user_id
        team_chat = f"{page}/?as={coordinator}&chat={first_site.alert_chat_id}"
        say(f"  The site team's alert chat:    {team_chat}")
    say("  Enrol more people with `trialbot enroll ...` in another terminal (same folder).")
    for line in language_hint(services):
        say(line)
    say("  Press Ctrl-C to stop.")
    say("")
    return SANDBOX_TOKEN, sandbox.url


def language_hint(services: Services) -> list[str]:
    """How to have the demo site team write English, when it writes Chinese (as the trial's
    sites do): the site's `language` in a study.toml."""
    code = next(iter(services.config.sites))
    if services.config.site_language(code) != "zh":
        return []
    study_file = services.settings.trialbot_study_file
    where = (
        f'add language = "en" under [sites.{code}] in {study_file}'
        if study_file.exists()
        else f'copy bot/demo_study.toml to {study_file} and add language = "en" under '
        f"[sites.{code}]"
    )
    return [
        f"  The site team's messages are in Chinese, as at the trial's sites. For English, "
        f"{where}, then run again (participants choose theirs with /language).",
    ]


async def _demo_invitation(services: Services) -> str | None:
    """A fresh code for the demo participant, enrolled on first run; None once linked."""
    now = services.clock.now()
    site_code = next(iter(services.config.sites))
    actor = audit.SYSTEM
    async with services.database.session() as session:
        try:
            participant = await get_participant(session, DEMO_STUDY_ID)
        except DomainError:
            today = now.astimezone(ZoneInfo(services.config.site_timezone(site_code))).date()
            request = EnrollmentRequest(
                study_id=DEMO_STUDY_ID,
                site_code=site_code,
                arm=Arm.STANDARD,
                randomized_on=today,
                can_become_pregnant=True,
            )
            invitation = await enroll(
                session, request, config=services.config, now=now, actor=actor
            )
            return invitation.code
        if participant.telegram_chat_id is not None:
            return None
        invitation = await issue_code(
            session, participant, config=services.config, now=now, actor=actor
        )
        return invitation.code
