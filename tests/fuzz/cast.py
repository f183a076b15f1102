"""Who takes part in the fuzz run: the study (three sites), its people and its chats.

The third site, XJTU, holds the *victims*: participants whose chats never send anything and
whose site's coordinators (and the study's admin, an admin of every site) never speak during
the run. Nobody allowed to change their data says a word, so none of their rows may change.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import parse_study_text
from study.config import StudyConfig
from tests.support.study import (
    ADMIN,
    PUMCH_ALERTS,
    PUMCH_COORDINATOR,
    STUDY_TOML,
    ZJU2_ALERTS,
    ZJU2_COORDINATOR,
    ZJU2_ESCALATION,
    ZJU2_INVESTIGATOR,
)

VICTIM_SITE = "XJTU"
XJTU_ALERTS = -1001000000009
XJTU_COORDINATOR = 555555

FUZZ_STUDY_TOML = (
    STUDY_TOML
    + f"""
[sites.{VICTIM_SITE}]
name = "First Affiliated Hospital of Xi'an Jiaotong University"
phone = "+86 29 0000 0000"
alert_chat_id = {XJTU_ALERTS}
coordinators = [{{ telegram_user_id = {XJTU_COORDINATOR}, role = "coordinator" }}]
"""
)


def fuzz_study_config() -> StudyConfig:
    return parse_study_text(FUZZ_STUDY_TOML, source="tests/fuzz/cast.py")


@dataclass(frozen=True)
class Enrolment:
    """A participant the run starts with; `chat_id` None: invited, not linked yet."""

    study_id: str
    site: str
    arm: str
    chat_id: int | None
    language: str = "zh"
    can_become_pregnant: bool = False
    days_ahead: int = 0  # randomised this many days after the run's day (7: a visit reminder)


ACTIVE = (
    Enrolment("ZJU2-001", "ZJU2", "standard", 5001, days_ahead=7),
    Enrolment("ZJU2-002", "ZJU2", "individualized", 5002, "en", can_become_pregnant=True),
    Enrolment("PUMCH-001", "PUMCH", "standard", 5003, days_ahead=7),
    Enrolment("PUMCH-002", "PUMCH", "individualized", 5004, "en", can_become_pregnant=True),
)
# Invited, not linked: user UNLINKED holds the code (and may use it, or not).
INVITED = Enrolment("ZJU2-003", "ZJU2", "standard", None)
UNLINKED = 5005
VICTIMS = (
    Enrolment("XJTU-001", VICTIM_SITE, "standard", 5901, days_ahead=7),
    Enrolment("XJTU-002", VICTIM_SITE, "individualized", 5902, "en", can_become_pregnant=True),
)
STRANGERS = (7001, 7002)
COORDINATORS = (ZJU2_COORDINATOR, ZJU2_INVESTIGATOR, PUMCH_COORDINATOR)
VICTIM_CHATS = tuple(v.chat_id for v in VICTIMS if v.chat_id is not None)
SILENT = (ADMIN, XJTU_COORDINATOR, *VICTIM_CHATS)

PARTICIPANT_CHATS = tuple(p.chat_id for p in ACTIVE if p.chat_id is not None)
# Everyone who acts during the run.
ACTORS = (*PARTICIPANT_CHATS, UNLINKED, *STRANGERS, *COORDINATORS)

UNKNOWN_GROUP = -4242  # a plain group the bot was added to by someone
UNKNOWN_SUPERGROUP = -1009999999999
CHANNEL = -1008888888888

# Group members besides each site's coordinators: people added by mistake, coordinators of
# other sites, participants. They may write and press buttons there.
EXTRA_MEMBERS: dict[int, tuple[int, ...]] = {
    ZJU2_ALERTS: (STRANGERS[0], 5001, PUMCH_COORDINATOR),
    ZJU2_ESCALATION: (STRANGERS[1],),
    PUMCH_ALERTS: (STRANGERS[1], 5003, ZJU2_COORDINATOR),
    XJTU_ALERTS: (STRANGERS[0], 5002, ZJU2_COORDINATOR, PUMCH_COORDINATOR),
}
UNKNOWN_GROUPS: dict[int, tuple[int, ...]] = {
    UNKNOWN_GROUP: ACTORS,
    UNKNOWN_SUPERGROUP: (*STRANGERS, *COORDINATORS, 5002, 5004),
}


def group_members(config: StudyConfig) -> dict[int, tuple[int, ...]]:
    """Every group of the run and who is in it (the bot is in all of them)."""
    members: dict[int, set[int]] = {}
    for site in config.sites.values():
        team = {c.telegram_user_id for c in site.coordinators}
        for chat_id in (site.alert_chat_id, site.escalation_chat_id):
            if chat_id is not None:
                members.setdefault(chat_id, set()).update(team)
    for chat_id, extra in (*EXTRA_MEMBERS.items(), *UNKNOWN_GROUPS.items()):
        members.setdefault(chat_id, set()).update(extra)
    return {chat_id: tuple(sorted(people)) for chat_id, people in members.items()}


def chats_of(actor: int, groups: dict[int, tuple[int, ...]]) -> tuple[int, ...]:
    """The chats `actor` can write in: their own, then their groups."""
    return (actor, *sorted(chat for chat, people in groups.items() if actor in people))
