"""Participants' own chat: linking with an invite code, help, language, and anything else."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.context import reply, services_of
from bot.identity import identify
from bot.services import Services
from messages import label, render, render_bilingual
from messages.callbacks import Language
from messages.callbacks import NextAppointments as NextAppointmentsButton
from messages.facts import site_facts
from messages.participant import help_keyboard, language_keyboard, next_appointments_text
from study.codes import looks_like_code
from study.enrollment import Refusal, find_by_chat, find_by_chat_sync, link_chat, set_language
from study.errors import DomainError
from study.models import Participant, ParticipantStatus
from study.participants import forward_free_text, reactivate
from study.precedence import FIRST, working_at
from study.views import next_appointments

log = logging.getLogger(__name__)

PRIVATE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Participant handlers; `everything_else` must stay after every other private handler."""
    # Before every other handler (group -3; -1 is the guided enrolment's, which may stop the
    # rest): a participant marked unreachable who writes to the bot again can be reached again.
    application.add_handler(MessageHandler(filters.ChatType.PRIVATE, reachable_again), group=-3)
    application.add_handler(CommandHandler("start", start, filters=PRIVATE))
    application.add_handler(CommandHandler("help", show_help, filters=PRIVATE))
    application.add_handler(CommandHandler("next", show_next, filters=PRIVATE))
    application.add_handler(
        CallbackQueryHandler(next_pressed, pattern=NextAppointmentsButton.matches)
    )
    application.add_handler(CommandHandler("language", choose_language, filters=PRIVATE))
    application.add_handler(CallbackQueryHandler(language_chosen, pattern=Language.matches))


def register_fallbacks(application: Application) -> None:  # type: ignore[type-arg]
    """Last in line: anything else in a private chat, and buttons nobody handles any more."""
    application.add_handler(MessageHandler(PRIVATE, everything_else))
    application.add_handler(CallbackQueryHandler(stale_button))


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Link the chat with the invite code in the /start link, or greet whoever this is."""
    services = services_of(context)
    speaker = identify(update, services.config)
    if not speaker.private or speaker.chat_id is None:
        return
    payload = context.args[0] if context.args else None
    if payload is None or not looks_like_code(payload):
        await _greet_without_code(update, services, speaker.chat_id, speaker.roles)
        return

    async with services.database.session() as session:
        outcome = await link_chat(
            session,
            code=payload,
            chat_id=speaker.chat_id,
            now=services.clock.now(),
            replanner=services.replanner,
        )
    if isinstance(outcome, Refusal):
        log.info("link refused: %s", outcome.key)
        await reply(update, _refusal_text(services, outcome))
        return
    log.info("participant %s linked a chat", outcome.study_id)
    await reply(update, _welcome(services, outcome), language_keyboard(outcome.language))


async def reachable_again(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A participant Telegram refused for (unblocked the bot): take them up again."""
    services = services_of(context)
    chat = update.effective_chat
    if chat is None:
        return
    async with services.database.session() as session:
        participant = await find_by_chat(session, chat.id)
        if participant is not None and participant.status == ParticipantStatus.UNREACHABLE:
            await reactivate(
                session, participant, now=services.clock.now(), replanner=services.replanner
            )
            log.info("participant %s can be reached again", participant.study_id)


async def show_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain what the bot does and whom to call, in the participant's language."""
    services = services_of(context)
    participant = await _participant(update, services)
    if participant is None:
        await not_a_participant(update, services)
        return
    await _help(update, services, participant)


async def show_next(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The participant's next visit and infusion: date, place, window, what to bring."""
    services = services_of(context)
    participant = await _participant(update, services)
    if participant is None:
        await not_a_participant(update, services)
        return
    await reply(update, await _next_text(services, participant))


async def next_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "what comes next" button of /help: the same as /next."""
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    await show_next(update, context)


async def _next_text(services: Services, participant: Participant) -> str:
    today = services.clock.now().astimezone(ZoneInfo(participant.timezone)).date()
    async with services.database.reading() as session:
        coming = await next_appointments(session, participant, today=today)
    return next_appointments_text(participant, coming, services.config)


async def choose_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer the languages as buttons."""
    services = services_of(context)
    participant = await _participant(update, services)
    if participant is None:
        await not_a_participant(update, services)
        return
    await reply(
        update,
        render("language_choose", participant.language),
        language_keyboard(participant.language),
    )


async def language_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store the language the participant pressed, and confirm in it."""
    query = update.callback_query
    services = services_of(context)
    speaker = identify(update, services.config)
    press = Language.parse(query.data) if query is not None else None
    if query is None or press is None or not speaker.private or speaker.chat_id is None:
        if query is not None:
            await query.answer()
        return
    language = press.language
    # Decided on a snapshot (no wait for the write lock) and answered at once; then stored.
    participant = await participant_in(services, speaker.chat_id)
    if participant is None:
        await query.answer(label("button_inactive", services.config.study.language))
        return
    await query.answer()
    async with services.database.session() as session:
        participant = await find_by_chat(session, speaker.chat_id)
        if participant is None:  # unlinked a moment ago
            return
        await set_language(session, participant, language, now=services.clock.now())
    await reply(update, render("language_set", language))


async def everything_else(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Free text, stickers, photos, unknown commands: say the chat is not watched."""
    services = services_of(context)
    speaker = identify(update, services.config)
    participant = await _participant(update, services)
    if participant is None:
        if speaker.is_coordinator and speaker.chat_id is not None:
            await _greet_without_code(update, services, speaker.chat_id, speaker.roles)
        else:
            await not_a_participant(update, services)
        return
    # The text itself is never logged; it is stored (to be passed on) only if the study
    # turned forwarding on in study.toml.
    message = update.effective_message
    forwarded = bool(
        services.config.study.forward_free_text and message is not None and message.text
    )
    if forwarded and message is not None and message.text:
        async with services.database.session() as session:
            await forward_free_text(
                session,
                participant,
                message.text,
                update_id=update.update_id,
                now=services.clock.now(),
                config=services.config,
            )
    await reply(
        update,
        render(
            "free_text",
            participant.language,
            forwarded=forwarded,
            **site_facts(participant, services.config),
        ),
    )


async def stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button whose purpose is gone (or forged data): say so, change nothing."""
    query = update.callback_query
    if query is None:
        return
    services = services_of(context)
    language: str = services.config.study.language
    chat = update.effective_chat
    participant = None
    if chat is not None and chat.type == "private":
        participant = await participant_in(services, chat.id)
    if participant is None:
        await query.answer(label("button_inactive", language))
    else:
        await query.answer(refusal(services, participant, "button_inactive"))


async def _greet_without_code(
    update: Update, services: Services, chat_id: int, roles: Mapping[str, str]
) -> None:
    participant = await participant_in(services, chat_id)
    if participant is not None:
        await _help(update, services, participant)
    elif roles:
        language = services.config.study.language
        role = max(roles.values(), key=["coordinator", "investigator", "admin"].index)
        await reply(
            update,
            render(
                "coordinator_hello",
                language,
                role_name=label(f"role_{role}", language),
                site_codes=sorted(roles),
            ),
        )
    else:
        await reply(update, render_bilingual("start_unknown"))


async def _participant(update: Update, services: Services) -> Participant | None:
    speaker = identify(update, services.config)
    if not speaker.private or speaker.chat_id is None:
        return None
    return await participant_in(services, speaker.chat_id)


async def participant_in(services: Services, chat_id: int) -> Participant | None:
    """The participant of this private chat, read on a snapshot in one hop on SQLite
    (`Database.snapshot`), as `press_decided` reads."""
    return await services.database.snapshot(lambda session: find_by_chat_sync(session, chat_id))


async def press_decided(
    services: Services, chat_id: int, check: Callable[[Session, Participant], object]
) -> tuple[Participant | None, DomainError | None]:
    """The participant of this private chat, and why `check` (one of the rules' synchronous
    forms, `own_visit_sync`...) refuses what they asked for, if it does: decided on one
    snapshot (`Database.snapshot`), so that a press is answered at once, even during a burst."""

    def decide(session: Session) -> tuple[Participant | None, DomainError | None]:
        participant = find_by_chat_sync(session, chat_id)
        if participant is None:
            return None, None
        try:
            check(session, participant)
        except DomainError as refused:
            return participant, refused
        return participant, None

    with working_at(FIRST):  # a read of a few rows, and someone watching a spinner
        return await services.database.snapshot(decide)


async def not_a_participant(update: Update, services: Services) -> None:
    speaker = identify(update, services.config)
    if speaker.is_coordinator and speaker.chat_id is not None:
        await _greet_without_code(update, services, speaker.chat_id, speaker.roles)
    else:
        await reply(update, render_bilingual("start_unknown"))


async def _help(update: Update, services: Services, participant: Participant) -> None:
    """The help text, with a "report a symptom" button that starts a check-in."""
    language = participant.language
    text = render("help", language, **site_facts(participant, services.config))
    await reply(update, text, help_keyboard(language))


def refusal(services: Services, participant: Participant, key: str) -> str:
    """A short refusal (a button's answer) for a participant, with how to reach a person."""
    language = participant.language
    reach = label("how_to_reach", language, **site_facts(participant, services.config))
    return f"{label(key, language)} {reach}"


def _welcome(services: Services, participant: Participant) -> str:
    config = services.config
    site = config.sites[participant.site_code]
    protocol = config.protocol
    return render(
        "welcome",
        participant.language,
        study_name=config.study.name,
        site_name=site.name,
        reminder_days=list(protocol.visit_reminder_days),
        checkin_interval_days=protocol.checkin_interval_days,
        can_become_pregnant=participant.can_become_pregnant,
        contraception_interval_weeks=max(1, protocol.contraception_interval_days // 7),
        preferred_hour=participant.preferred_hour,
        **site_facts(participant, config),
    )


def _refusal_text(services: Services, refusal: Refusal) -> str:
    if refusal.key == "link_wait":
        return render_bilingual("link_wait", minutes=refusal.minutes)
    if refusal.key in {"link_already_linked", "chat_in_use"} and refusal.site_code:
        return render_bilingual(
            refusal.key, site_phone=services.config.sites[refusal.site_code].phone
        )
    return render_bilingual("link_invalid")
