"""Check-ins in the participant's chat: /checkin and the buttons under each question."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.context import edit_pressed, reply, services_of
from bot.identity import identify
from bot.participant import PRIVATE, not_a_participant
from bot.services import Services
from messages import Keyboard, label, render
from scheduler.checkin_jobs import cadence_due
from scheduler.checkin_messages import (
    answered_text,
    question_message,
    result_text,
    site_facts,
)
from scheduler.timing import local_date
from study.checkins import (
    Step,
    answer,
    back,
    checkin_for_press,
    draft_of,
    open_checkin,
    open_checkin_of,
    question_of,
    stop,
    toggle,
)
from study.enrollment import find_by_chat
from study.errors import DomainError
from study.models import CheckIn, CheckInKind, CheckInTrigger, Participant, PromptStatus, Tier

log = logging.getLogger(__name__)

PRESS = r"^([ctdbx]):(\d{1,9})(?::([A-Z0-9]{1,4}))?(?::([a-z0-9_]{1,16}))?$"


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(CommandHandler("checkin", start_checkin, filters=PRIVATE))
    application.add_handler(CallbackQueryHandler(checkin_pressed, pattern=PRESS))


@dataclass
class Outcome:
    """What to show after a press: the pressed message's new state, then new messages."""

    edit_text: str | None = None
    edit_keyboard: Keyboard | None = None
    keep_keyboard: bool = False
    replies: list[tuple[str, Keyboard | None]] = field(default_factory=list)


async def start_checkin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Start a symptom check-in now, or resume the one that is open."""
    services = services_of(context)
    speaker = identify(update, services.config)
    if not speaker.private or speaker.chat_id is None:
        return
    now = services.clock.now()
    async with services.database.session() as session:
        participant = await find_by_chat(session, speaker.chat_id)
    if participant is None:
        # Outside the transaction: the answer may need a session of its own (on SQLite a
        # second one inside the first would wait for its lock).
        await not_a_participant(update, services)
        return
    async with services.database.session() as session:
        checkin = await open_checkin_of(session, participant, CheckInKind.SYMPTOMS)
        if checkin is None:
            checkin = await open_checkin(
                session,
                participant,
                kind=CheckInKind.SYMPTOMS,
                trigger=CheckInTrigger.ON_DEMAND,
                now=now,
                config=services.config,
            )
        question = question_of(checkin, checkin.current_question)
        assert question is not None
        text, keyboard = question_message(checkin, question, participant, services.config)
    await reply(update, text, keyboard)


async def checkin_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An answer, a tick, Done, Back or Stop under a check-in question."""
    query = update.callback_query
    services = services_of(context)
    speaker = identify(update, services.config)
    if query is None or not context.matches:
        return
    if not speaker.private or speaker.chat_id is None:
        await query.answer()
        return
    action, checkin_id, code, item = context.matches[0].groups()
    language: str = services.config.study.language
    try:
        async with services.database.session() as session:
            participant = await find_by_chat(session, speaker.chat_id)
            if participant is None:
                raise DomainError("checkin_closed")
            language = participant.language
            checkin = await checkin_for_press(
                session, participant, int(checkin_id), None if action == "x" else code
            )
            outcome = await _act(session, services, participant, checkin, action, code, item)
    except DomainError as refused:
        await query.answer(label(refused.key, language))
        return
    await query.answer()
    await edit_pressed(
        query, outcome.edit_text, outcome.edit_keyboard if outcome.keep_keyboard else None
    )
    for text, keyboard in outcome.replies:
        await reply(update, text, keyboard)


async def _act(
    session: AsyncSession,
    services: Services,
    participant: Participant,
    checkin: CheckIn,
    action: str,
    code: str | None,
    item: str | None,
) -> Outcome:
    config, now = services.config, services.clock.now()
    question = question_of(checkin, code)
    if action == "t":
        assert question is not None and item is not None
        await toggle(checkin, question.code, item)
        session.add(checkin)
        text, keyboard = question_message(checkin, question, participant, config)
        return Outcome(edit_text=text, edit_keyboard=keyboard, keep_keyboard=True)
    if action == "b":
        previous = back(checkin)
        session.add(checkin)
        return Outcome(replies=[question_message(checkin, previous, participant, config)])
    if action == "x":
        step = await stop(session, checkin, participant, now=now, config=config)
        replies: list[tuple[str, Keyboard | None]] = [
            (
                render("checkin_stopped", participant.language, **site_facts(participant, config)),
                None,
            )
        ]
        if step.result is not None and step.result.tier in (Tier.T1, Tier.T2, Tier.T3):
            replies.append((result_text(step.result, participant, config), None))
        return Outcome(replies=replies)
    assert question is not None
    chosen = draft_of(checkin, question.code) if action == "d" else (item or question.benign,)
    step = await answer(
        session, checkin, participant, question.code, tuple(chosen), now=now, config=config
    )
    answered = answered_text(question, tuple(checkin.answers[question.code]), participant.language)
    return Outcome(edit_text=answered, replies=await _after(session, services, participant, step))


async def _after(
    session: AsyncSession, services: Services, participant: Participant, step: Step
) -> list[tuple[str, Keyboard | None]]:
    config = services.config
    replies: list[tuple[str, Keyboard | None]] = []
    if step.question is not None:
        if step.new_red_flag:  # a red flag mid-way: the advice cannot wait for the end
            replies.append((result_text(step.result, participant, config), None))
        replies.append(question_message(step.checkin, step.question, participant, config))
        return replies
    next_day = None
    if step.checkin.kind == CheckInKind.SYMPTOMS:
        due = await cadence_due(session, participant, config)
        next_day = local_date(due, participant.timezone)
    stopped = step.checkin.status == PromptStatus.STOPPED
    replies.append(
        (
            result_text(step.result, participant, config, stopped=stopped, next_checkin=next_day),
            None,
        )
    )
    return replies
