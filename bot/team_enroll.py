"""Enrolling from Telegram: in one line, or guided step by step with buttons.

`/enroll ZJU2-001 ZJU2 standard 2026-03-02 zh yes` enrols at once; the last word, whether the
participant can become pregnant (`yes` or `no`), is required, never assumed. `/enroll` alone
asks for each item in turn (buttons where the choice is finite: site, arm, randomisation
today, language, whether the participant can become pregnant; typing for the study id and a
date).
The guided answers so far are a draft in the database (`study.drafts`), per coordinator and
chat, so that any of several processes behind a load balancer takes the next answer; the
draft is gone once the participant is enrolled or the coordinator sends /cancel. Not PTB's
ConversationHandler with persistence: a persistence is read once when a process starts,
so another process would never see a conversation begun after that.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.context import SERVICES, edit_pressed, reply, services_of
from bot.parse import parse_date
from bot.services import Services
from bot.staff import Staff, authorize
from bot.team_invite import deliver_invitation
from messages import label, render
from messages.callbacks import EnrollChoice
from messages.team import enroll_step
from study.drafts import drop_draft, load_draft, save_draft
from study.enrollment import STUDY_ID, EnrollmentRequest
from study.errors import DomainError
from study.team import Enroll

USAGE = "/enroll STUDY_ID SITE standard|individualized YYYY-MM-DD [zh|en] yes|no"
YES_NO = ("yes", "no")
TYPED = filters.TEXT & ~filters.COMMAND & filters.UpdateType.MESSAGE
# The step of the draft that each kind of button answers, and the step asked next.
PRESSED_STEP = {"site": "site", "arm": "arm", "day": "day", "lang": "language", "preg": "pregnancy"}
NEXT_STEP = {"site": "study_id", "study_id": "arm", "arm": "day", "day": "language"}
NEXT_STEP["language"] = "pregnancy"
TYPED_STEPS = ("study_id", "day")
# Typed answers are looked at before any other handler (group -1), and taken only when
# the coordinator's draft in that chat waits for one; anything else goes on as usual.
DRAFT_GROUP = -1


def register(application: Application) -> None:  # type: ignore[type-arg]
    services: Services = application.bot_data[SERVICES]
    coordinators = filters.User(
        user_id=[
            coordinator.telegram_user_id
            for site in services.config.sites.values()
            for coordinator in site.coordinators
        ]
    )
    application.add_handler(CommandHandler("enroll", start, filters=filters.UpdateType.MESSAGE))
    application.add_handler(CallbackQueryHandler(pressed, pattern=EnrollChoice.matches))
    application.add_handler(MessageHandler(TYPED & coordinators, typed), group=DRAFT_GROUP)
    application.add_handler(
        CommandHandler("cancel", cancel, filters=filters.UpdateType.MESSAGE & coordinators),
        group=DRAFT_GROUP,
    )


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Enrol in one line, or begin the guided enrolment."""
    staff = await authorize(update, context)
    if staff is None:
        return
    args = list(context.args or [])
    if args:
        if len(args) < 4 or len(args) > 6:
            raise DomainError("error_usage", usage=USAGE)
        study_id, site, arm, day, *rest = args
        if not rest or rest[-1].lower() not in YES_NO:
            raise DomainError("error_pregnancy_required", usage=USAGE)
        *language, pregnancy = rest
        await _enroll(
            update,
            staff,
            {
                "site": site,
                "study_id": study_id,
                "arm": arm,
                "day": parse_date(day).isoformat(),
                "language": language[0] if language else None,
                "pregnancy": pregnancy.lower() == "yes",
            },
        )
        return
    sites = sorted(staff.sites)
    answers = {"site": sites[0]} if len(sites) == 1 else {}
    step = "study_id" if answers else "site"
    await _save(update, staff, step, answers)
    await _ask(update, staff, step, sites=sites)


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button of the guided enrolment: the answer to the step the draft waits for (any
    other, e.g. an old message's, is no longer active)."""
    staff = await authorize(update, context)
    query = update.callback_query
    choice = EnrollChoice.parse(query.data if query else None)
    if staff is None or query is None or choice is None:
        return
    step = PRESSED_STEP[choice.step]
    user_id, chat_id = _keys(update)
    services = staff.services
    async with services.database.session() as session:
        draft = await load_draft(
            session, user_id=user_id, chat_id=chat_id, now=services.clock.now()
        )
        if draft is None or draft.step != step or not _valid(staff, step, choice.value):
            draft = None
        else:
            answers = dict(draft.answers)
            if step == "pregnancy":  # the last answer: the draft goes, the enrolment follows
                await drop_draft(session, user_id=user_id, chat_id=chat_id)
            else:
                answers[step] = _chosen_value(staff, step, choice.value, answers)
                await save_draft(
                    session,
                    user_id=user_id,
                    chat_id=chat_id,
                    step=NEXT_STEP[step],
                    answers=answers,
                    now=services.clock.now(),
                )
    if draft is None:
        await query.answer(label("button_inactive", staff.language), show_alert=True)
        return
    await query.answer()
    await edit_pressed(query)
    if step == "pregnancy":
        await _enroll(update, staff, {**answers, "pregnancy": choice.value == "yes"})
    else:
        await _ask(update, staff, NEXT_STEP[step])


async def typed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A typed answer (the study id, or a date) when the coordinator's draft in this chat
    waits for one; otherwise this handler lets the update go on to the others."""
    services = services_of(context)
    user_id, chat_id = _keys(update)
    async with services.database.session() as session:
        draft = await load_draft(
            session, user_id=user_id, chat_id=chat_id, now=services.clock.now()
        )
        step = draft.step if draft is not None else None
    if step not in TYPED_STEPS:
        return
    staff = await authorize(update, context)
    message = update.effective_message
    if staff is None or message is None or message.text is None:
        raise ApplicationHandlerStop
    text = message.text.strip()
    try:
        value = _typed_value(step, text)
    except DomainError as error:
        await reply(update, render(error.key, staff.language, **error.details))
        raise ApplicationHandlerStop from None
    async with services.database.session() as session:
        draft = await load_draft(
            session, user_id=user_id, chat_id=chat_id, now=services.clock.now()
        )
        if draft is None or draft.step != step:
            raise ApplicationHandlerStop  # answered meanwhile (another process, a /cancel)
        await save_draft(
            session,
            user_id=user_id,
            chat_id=chat_id,
            step=NEXT_STEP[step],
            answers={**draft.answers, step: value},
            now=services.clock.now(),
        )
    await _ask(update, staff, NEXT_STEP[step])
    raise ApplicationHandlerStop


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Abandon the guided enrolment; nothing was stored but the draft, which goes."""
    services = services_of(context)
    user_id, chat_id = _keys(update)
    async with services.database.session() as session:
        draft = await load_draft(
            session, user_id=user_id, chat_id=chat_id, now=services.clock.now()
        )
        await drop_draft(session, user_id=user_id, chat_id=chat_id)
    if draft is None:
        return  # not enrolling here: /cancel means something else, if anything
    staff = await authorize(update, context)
    if staff is not None:
        await reply(update, render("team_enroll_step", staff.language, step="cancelled"))
    raise ApplicationHandlerStop


def _keys(update: Update) -> tuple[int, int]:
    """The draft's key: the coordinator and the chat (one guided enrolment per both)."""
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None  # filters: messages and presses only
    return user.id, chat.id


def _valid(staff: Staff, step: str, value: str) -> bool:
    return step != "site" or value in staff.sites


def _chosen_value(staff: Staff, step: str, value: str, answers: dict[str, Any]) -> str:
    """What a pressed button stores: the value itself, or for "today" the site's date."""
    if step != "day":
        return value
    zone = ZoneInfo(staff.services.config.site_timezone(answers["site"]))
    return staff.services.clock.now().astimezone(zone).date().isoformat()


def _typed_value(step: str, text: str) -> str:
    if step == "study_id":
        if not STUDY_ID.match(text):
            raise DomainError("error_bad_study_id", study_id=text)
        return text
    return parse_date(text).isoformat()


async def _save(update: Update, staff: Staff, step: str, answers: dict[str, Any]) -> None:
    user_id, chat_id = _keys(update)
    async with staff.services.database.session() as session:
        await save_draft(
            session,
            user_id=user_id,
            chat_id=chat_id,
            step=step,
            answers=answers,
            now=staff.services.clock.now(),
        )


async def _ask(update: Update, staff: Staff, step: str, *, sites: list[str] | None = None) -> None:
    await reply(update, *enroll_step(step, staff.language, sites=sites or []))


async def _enroll(update: Update, staff: Staff, draft: dict[str, Any]) -> None:
    request = EnrollmentRequest(
        study_id=draft["study_id"],
        site_code=draft["site"],
        arm=draft["arm"],
        randomized_on=date.fromisoformat(draft["day"]),
        language=draft.get("language"),
        can_become_pregnant=draft["pregnancy"],
    )
    invitation = await staff.perform(Enroll(request))
    await deliver_invitation(update, staff, invitation, renewed=False)
