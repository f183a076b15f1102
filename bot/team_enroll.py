"""Enrolling from Telegram: in one line, or guided step by step with buttons.

`/enroll ZJU2-001 ZJU2 standard 2026-03-02 zh yes` enrols at once; the last word, whether the
participant can become pregnant (`yes` or `no`), is required, never assumed. `/enroll` alone
asks for each item in turn (buttons where the choice is finite: site, arm, randomisation
today, language, whether the participant can become pregnant; typing for the study id and a
date).
The guided answers so far are held in memory per coordinator and chat: after a restart the
coordinator simply starts again, nothing half-done is stored.
"""

from __future__ import annotations

import warnings
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.context import edit_pressed, reply
from bot.parse import parse_date
from bot.staff import Staff, authorize
from messages import render
from messages.callbacks import EnrollChoice
from messages.team import enroll_step, invitation_text
from study.codes import deep_link
from study.enrollment import STUDY_ID, EnrollmentRequest
from study.errors import DomainError
from study.team import Enroll

SITE, STUDY, ARM, DAY, LANGUAGE, PREGNANCY = range(6)
DRAFT = "enroll"
USAGE = "/enroll STUDY_ID SITE standard|individualized YYYY-MM-DD [zh|en] yes|no"
YES_NO = ("yes", "no")
TYPED = filters.TEXT & ~filters.COMMAND & filters.UpdateType.MESSAGE


def register(application: Application) -> None:  # type: ignore[type-arg]
    # PTB warns that buttons are tracked per chat and user, not per message: that is what
    # this conversation wants (one guided enrolment at a time per coordinator and chat).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*per_message=False.*", category=PTBUserWarning)
        conversation = ConversationHandler(
            entry_points=[CommandHandler("enroll", start, filters=filters.UpdateType.MESSAGE)],
            states={
                SITE: [CallbackQueryHandler(site_chosen, pattern=EnrollChoice.of_step("site"))],
                STUDY: [MessageHandler(TYPED, study_id_typed)],
                ARM: [CallbackQueryHandler(arm_chosen, pattern=EnrollChoice.of_step("arm"))],
                DAY: [
                    CallbackQueryHandler(day_chosen, pattern=EnrollChoice.of_step("day")),
                    MessageHandler(TYPED, day_typed),
                ],
                LANGUAGE: [
                    CallbackQueryHandler(language_chosen, pattern=EnrollChoice.of_step("lang"))
                ],
                PREGNANCY: [
                    CallbackQueryHandler(pregnancy_chosen, pattern=EnrollChoice.of_step("preg"))
                ],
            },
            fallbacks=[CommandHandler("cancel", cancel, filters=filters.UpdateType.MESSAGE)],
            per_user=True,
            per_chat=True,
        )
    application.add_handler(conversation)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Enrol in one line, or begin the guided enrolment."""
    staff = await authorize(update, context)
    if staff is None:
        return ConversationHandler.END
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
                "day": parse_date(day),
                "language": language[0] if language else None,
                "pregnancy": pregnancy.lower() == "yes",
            },
        )
        return ConversationHandler.END
    draft = _draft(update, context)
    draft.clear()
    sites = sorted(staff.sites)
    if len(sites) == 1:
        draft["site"] = sites[0]
        await _ask(update, staff, "study_id")
        return STUDY
    await _ask(update, staff, "site", sites=sites)
    return SITE


async def site_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The site was chosen; ask for the study id."""
    staff = await _pressed(update, context)
    if staff is None:
        return ConversationHandler.END
    site = _chosen(update)
    if site not in staff.sites:
        return ConversationHandler.END
    _draft(update, context)["site"] = site
    await _ask(update, staff, "study_id")
    return STUDY


async def study_id_typed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The study id was typed; ask for the arm."""
    staff = await authorize(update, context)
    message = update.effective_message
    if staff is None or message is None or message.text is None:
        return ConversationHandler.END
    study_id = message.text.strip()
    if not STUDY_ID.match(study_id):
        await reply(update, render("error_bad_study_id", staff.language, study_id=study_id))
        return STUDY
    _draft(update, context)["study_id"] = study_id
    await _ask(update, staff, "arm")
    return ARM


async def arm_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The arm was chosen; ask for the randomisation day."""
    staff = await _pressed(update, context)
    if staff is None:
        return ConversationHandler.END
    _draft(update, context)["arm"] = _chosen(update)
    await _ask(update, staff, "day")
    return DAY


async def day_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Randomised today (in the site's time zone); ask for the language."""
    staff = await _pressed(update, context)
    if staff is None:
        return ConversationHandler.END
    draft = _draft(update, context)
    zone = ZoneInfo(staff.services.config.site_timezone(draft["site"]))
    draft["day"] = staff.services.clock.now().astimezone(zone).date()
    return await _ask_language(update, staff)


async def day_typed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """A randomisation date was typed; ask for the language."""
    staff = await authorize(update, context)
    message = update.effective_message
    if staff is None or message is None or message.text is None:
        return ConversationHandler.END
    try:
        _draft(update, context)["day"] = parse_date(message.text.strip())
    except DomainError as error:
        await reply(update, render(error.key, staff.language, **error.details))
        return DAY
    return await _ask_language(update, staff)


async def language_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The language was chosen; ask whether the participant can become pregnant (no
    default: only a Yes or No press answers it)."""
    staff = await _pressed(update, context)
    if staff is None:
        return ConversationHandler.END
    _draft(update, context)["language"] = _chosen(update)
    await _ask(update, staff, "pregnancy")
    return PREGNANCY


async def pregnancy_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Last answer: enrol and give the invitation link."""
    staff = await _pressed(update, context)
    if staff is None:
        return ConversationHandler.END
    draft = _draft(update, context)
    draft["pregnancy"] = _chosen(update) == "yes"
    try:
        await _enroll(update, staff, draft)
    finally:
        draft.clear()
    return ConversationHandler.END


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Abandon the guided enrolment; nothing was stored."""
    _draft(update, context).clear()
    staff = await authorize(update, context)
    if staff is not None:
        await reply(update, render("team_enroll_step", staff.language, step="cancelled"))
    return ConversationHandler.END


async def _ask_language(update: Update, staff: Staff) -> int:
    await _ask(update, staff, "language")
    return LANGUAGE


async def _ask(update: Update, staff: Staff, step: str, *, sites: list[str] | None = None) -> None:
    await reply(update, *enroll_step(step, staff.language, sites=sites or []))


async def _pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Staff | None:
    staff = await authorize(update, context)
    if staff is not None and update.callback_query is not None:
        await update.callback_query.answer()
        await edit_pressed(update.callback_query)
    return staff


def _chosen(update: Update) -> str:
    """The value of the enrolment choice pressed (the handler's pattern parsed it)."""
    query = update.callback_query
    choice = EnrollChoice.parse(query.data if query is not None else None)
    assert choice is not None
    return choice.value


def _draft(update: Update, context: ContextTypes.DEFAULT_TYPE) -> dict[str, Any]:
    """This coordinator's answers so far in this chat (the conversation is per chat too)."""
    assert context.user_data is not None
    chat_id = update.effective_chat.id if update.effective_chat else None
    drafts: dict[int | None, dict[str, Any]] = context.user_data.setdefault(DRAFT, {})
    return drafts.setdefault(chat_id, {})


async def _enroll(update: Update, staff: Staff, draft: dict[str, Any]) -> None:
    request = EnrollmentRequest(
        study_id=draft["study_id"],
        site_code=draft["site"],
        arm=draft["arm"],
        randomized_on=draft["day"],
        language=draft.get("language"),
        can_become_pregnant=draft["pregnancy"],
    )
    invitation = await staff.perform(Enroll(request))
    link = deep_link(update.get_bot().username, invitation.code)
    await reply(update, invitation_text(invitation, link, staff.language, renewed=False))
