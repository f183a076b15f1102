"""Who may use the study team's commands, where, and on which participants.

Checked first on every coordinator update: the speaker must be a coordinator in study.toml,
and speak in a private chat with the bot or in the alert (or escalation) chat of one of
their sites. A participant or a stranger gets a polite refusal that reveals nothing, and a
participant of another site is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from telegram import Update
from telegram.ext import ContextTypes

from bot.context import reply, services_of
from bot.identity import Speaker, identify
from bot.services import Services
from messages import plain, render, render_bilingual
from study import audit
from study.config import StudyConfig
from study.enrollment import find_by_chat
from study.team import Operation, Team

log = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass(frozen=True)
class Staff:
    """An authorised coordinator, with what their commands need."""

    speaker: Speaker
    services: Services
    language: str

    @property
    def sites(self) -> set[str]:
        """The sites their commands see and change: in a private chat every site they
        coordinate; in a site's group only that group's site, whatever else they coordinate."""
        return scope_of(self.speaker, self.services.config)

    @property
    def actor(self) -> str:
        assert self.speaker.user_id is not None
        return audit.telegram_actor(self.speaker.user_id)

    def team(self) -> Team:
        """The scope of their operations: their sites, audited as their Telegram id."""
        return team_of(self.speaker, self.services, sites=self.sites)

    async def perform(self, operation: Operation[R]) -> R:
        """Run one team operation in one transaction (on a snapshot if it only reads)."""
        database = self.services.database
        reads_only = getattr(operation, "reads_only", False)
        async with database.reading() if reads_only else database.session() as session:
            return await operation.run(session, self.team())


def team_of(speaker: Speaker, services: Services, sites: Iterable[str] | None = None) -> Team:
    """A Telegram user acting for `sites`, by default the sites they coordinate (none: every
    lookup fails)."""
    assert speaker.user_id is not None
    return Team(
        actor=audit.telegram_actor(speaker.user_id),
        sites=frozenset(speaker.roles if sites is None else sites),
        now=services.clock.now(),
        config=services.config,
        replanner=services.replanner,
    )


def scope_of(speaker: Speaker, config: StudyConfig) -> set[str]:
    """The sites a coordinator acts for in the chat they speak in (see `Staff.sites`)."""
    if speaker.private:
        return set(speaker.roles)
    return set(speaker.roles) & config.chat_sites(speaker.chat_id)


async def authorize(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Staff | None:
    """The coordinator speaking, or None after politely refusing anyone else (a refused
    button press is answered here; the caller must not answer it again)."""
    services = services_of(context)
    speaker = identify(update, services.config)
    if speaker.is_coordinator and _allowed_chat(speaker, services):
        first_site = sorted(scope_of(speaker, services.config))[0]
        return Staff(speaker, services, services.config.site_language(first_site))
    log.info("refused a team command from someone who is not a coordinator here")
    await _refuse(update, services, speaker)
    return None


def _allowed_chat(speaker: Speaker, services: Services) -> bool:
    return bool(scope_of(speaker, services.config))


async def _refuse(update: Update, services: Services, speaker: Speaker) -> None:
    query = update.callback_query
    if query is not None:  # a button: only the person who pressed it sees the refusal
        await query.answer(plain(render_bilingual("staff_only")), show_alert=True)
        return
    if speaker.private and speaker.chat_id is not None:
        async with services.database.reading() as session:
            participant = await find_by_chat(session, speaker.chat_id)
        if participant is not None:
            await reply(update, render("staff_only", participant.language))
            return
    await reply(update, render_bilingual("staff_only"))
