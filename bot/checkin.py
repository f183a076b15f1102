"""Check-ins in the participant's chat: /checkin, "report a symptom", and the buttons under
each question (their data: `messages.callbacks`' Answer, Tick, Done, Back and Stop)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.context import edit_pressed, reply, send_queued, services_of
from bot.identity import identify
from bot.participant import PRIVATE, not_a_participant, participant_in, press_decided, refusal
from bot.services import Services
from messages import Keyboard, label
from messages.callbacks import (
    CHECKIN_PRESSES,
    Answer,
    Back,
    CallbackData,
    Done,
    ReportSymptom,
    Stop,
    Tick,
    parse_any,
)
from messages.checkin import answered_text, question_message, result_text, stopped_text
from study.asked import next_symptom_checkin_at
from study.checkins import (
    Step,
    answer,
    back,
    checkin_for_press,
    checkin_for_press_sync,
    draft_of,
    question_of,
    start_on_demand,
    stop,
    toggle,
)
from study.errors import DomainError
from study.localtime import local_date
from study.models import ALERTING, CheckIn, CheckInKind, Participant
from study.precedence import goes_first

log = logging.getLogger(__name__)


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(CommandHandler("checkin", start_checkin, filters=PRIVATE))
    application.add_handler(CallbackQueryHandler(report_symptom, pattern=ReportSymptom.matches))
    application.add_handler(CallbackQueryHandler(checkin_pressed, pattern=is_checkin_press))


def is_checkin_press(data: object) -> bool:
    """Exactly a check-in button's data; anything else goes to the stale-button answer."""
    return isinstance(data, str) and isinstance(parse_any(data), CHECKIN_PRESSES)


@dataclass
class Outcome:
    """What to show after a press: the pressed message's new state, the advice queued for
    the participant (sent at once), then new messages."""

    edit_text: str | None = None
    edit_keyboard: Keyboard | None = None
    keep_keyboard: bool = False
    advice: list[int] = field(default_factory=list)
    replies: list[tuple[str, Keyboard | None]] = field(default_factory=list)


@goes_first
async def start_checkin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Start a symptom check-in from Q1 (an open one is closed, and what it holds acted on)."""
    await _start(update, context)


@goes_first
async def report_symptom(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "report a symptom" button of /help: the same as /checkin."""
    query = update.callback_query
    if query is not None:
        await query.answer()
    await _start(update, context)


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    speaker = identify(update, services.config)
    if not speaker.private or speaker.chat_id is None:
        return
    now = services.clock.now()
    participant = await participant_in(services, speaker.chat_id)
    if participant is None:
        await not_a_participant(update, services)
        return
    async with services.database.session() as session:
        checkin, closed = await start_on_demand(
            session, participant, now=now, config=services.config
        )
        question = question_of(checkin, checkin.current_question)
        assert question is not None
        text, keyboard = question_message(checkin, question, participant, services.config)
    if closed is not None and closed.advice is not None:
        await send_queued(context, [closed.advice.id or 0])
    await reply(update, text, keyboard)


@goes_first
async def checkin_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An answer, a tick, Done, Back or Stop under a check-in question."""
    query = update.callback_query
    services = services_of(context)
    speaker = identify(update, services.config)
    press = parse_any(query.data) if query is not None else None
    if query is None or press is None:
        return
    if not speaker.private or speaker.chat_id is None:
        await query.answer()
        return
    code = None if isinstance(press, Stop) else getattr(press, "question", None)
    checkin_id = getattr(press, "checkin_id", 0)
    # A stale button is told so on a snapshot (no wait for the write lock); any other press
    # is answered at once, then acted on in a transaction of its own.
    participant, stale = await press_decided(
        services,
        speaker.chat_id,
        lambda session, participant: checkin_for_press_sync(session, participant, checkin_id, code),
    )
    if participant is None:
        await query.answer(label("checkin_closed", services.config.study.language))
        return
    if stale is not None:
        await query.answer(refusal(services, participant, stale.key))
        return
    await query.answer()
    try:
        async with services.database.session() as session:
            # `participant` stays outside this transaction: a refusal rolls it back, and
            # the refusal's text still needs their language and site.
            checkin = await checkin_for_press(session, participant, checkin_id, code)
            outcome = await _act(session, services, participant, checkin, press)
    except DomainError as refused:  # the press did not fit the question after all
        await reply(update, refusal(services, participant, refused.key))
        return
    await edit_pressed(
        query, outcome.edit_text, outcome.edit_keyboard if outcome.keep_keyboard else None
    )
    await send_queued(context, outcome.advice)
    for text, keyboard in outcome.replies:
        await reply(update, text, keyboard)


async def _act(
    session: AsyncSession,
    services: Services,
    participant: Participant,
    checkin: CheckIn,
    press: CallbackData,
) -> Outcome:
    config, now = services.config, services.clock.now()
    if isinstance(press, Back):
        previous = back(checkin)
        session.add(checkin)
        return Outcome(replies=[question_message(checkin, previous, participant, config)])
    if isinstance(press, Stop):
        step = await stop(session, checkin, participant, now=now, config=config)
        outcome = Outcome(advice=_advice(step))
        outcome.replies.append((stopped_text(participant, config), None))
        if not outcome.advice and step.result is not None and step.result.tier in ALERTING:
            outcome.replies.append(
                (result_text(step.result, participant, config, stopped=True), None)
            )
        return outcome
    if isinstance(press, Tick):
        step = await toggle(
            session, checkin, participant, press.question, press.item, now=now, config=config
        )
        if step.finished:  # a Q1 red flag: the tap was the answer
            return await _answered(session, services, participant, step, press.question)
        assert step.question is not None
        if step.advice is None:
            text, keyboard = question_message(checkin, step.question, participant, config)
            return Outcome(edit_text=text, edit_keyboard=keyboard, keep_keyboard=True)
        # The tick reported something urgent: its advice, then the question again below it.
        return Outcome(
            advice=_advice(step),
            replies=[question_message(checkin, step.question, participant, config)],
        )
    assert isinstance(press, Answer | Done)
    chosen = draft_of(checkin, press.question) if isinstance(press, Done) else (press.answer,)
    step = await answer(
        session, checkin, participant, press.question, chosen, now=now, config=config
    )
    return await _answered(session, services, participant, step, press.question)


async def _answered(
    session: AsyncSession,
    services: Services,
    participant: Participant,
    step: Step,
    code: str,
) -> Outcome:
    """After an answer: it is shown in place of the question; then the advice, if any, and
    the next question, or the end of the check-in."""
    config, checkin = services.config, step.checkin
    question = question_of(checkin, code)
    assert question is not None
    outcome = Outcome(
        edit_text=answered_text(question, tuple(checkin.answers[code]), participant.language),
        advice=_advice(step),
    )
    if step.question is not None:
        outcome.replies.append(question_message(checkin, step.question, participant, config))
    elif not outcome.advice:  # the advice, when there is some, is the last message
        next_day = None
        if checkin.kind == CheckInKind.SYMPTOMS:
            due = await next_symptom_checkin_at(session, participant, config)
            next_day = local_date(due, participant.timezone)
        outcome.replies.append(
            (result_text(step.result, participant, config, next_checkin=next_day), None)
        )
    return outcome


def _advice(step: Step) -> list[int]:
    return [] if step.advice is None or step.advice.id is None else [step.advice.id]
