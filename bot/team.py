"""The study team's commands in Telegram: keep the calendar true, pause or withdraw, see.

Every command authorises the speaker (`bot.staff`), parses its words into one operation of
`study.team`, runs it in one transaction and replies with `messages.team`'s rendering of the
result: the same operations and texts as `trialbot` on the command line (`bot/cli_team.py`).
Changes are audited and re-plan the reminders in the same transaction; a participant is
told when a date of theirs changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from telegram import CallbackQuery, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot.context import edit_pressed, reply, reply_photo
from bot.parse import parse_date, parse_number, parse_time, parse_yes_no
from bot.staff import Staff, authorize
from messages import label, render
from messages.callbacks import CallbackData, WithdrawAnswer
from messages.charts import chart_photo
from messages.team import (
    CONFIRM_QUESTIONS,
    TeamResult,
    done_text,
    team_reply,
    withdraw_question,
)
from study.errors import DomainError
from study.team import (
    AnswerWithdraw,
    Done,
    ListAlerts,
    ListUpcoming,
    MarkAttended,
    MarkMissed,
    Operation,
    Pause,
    RecordGiven,
    Resume,
    SetCanBecomePregnant,
    SetInfusion,
    SetVisit,
    ShowParticipant,
    ShowTrend,
)

NEW_MESSAGES = filters.UpdateType.MESSAGE
T = TypeVar("T")
Press = TypeVar("Press", bound=CallbackData)
Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Command:
    """A team command: its usage (shown when words are missing), how many words it needs at
    least, and how its words become an operation (a wrong word: DomainError)."""

    usage: str
    needs: int
    operation: Callable[[list[str]], Operation[TeamResult]]
    then: Callable[[Update, Staff, list[str]], Awaitable[None]] | None = None  # after the reply


def optional(words: list[str], index: int, parse: Callable[[str], T]) -> T | None:
    """The optional word at `index`, parsed, or None when it was left out."""
    return parse(words[index]) if len(words) > index else None


async def send_trend_chart(update: Update, staff: Staff, words: list[str]) -> None:
    """The participant's trend chart as a photo, its legend as the caption (nothing when
    it cannot be drawn: the text already went)."""
    photo = await chart_photo(await staff.perform(ShowTrend(words[0])), staff.language)
    if photo is not None:
        await reply_photo(update, photo.png, photo.caption)


PREGNANCY_USAGE = "/can_become_pregnant STUDY_ID yes|no"
COMMANDS: dict[str, Command] = {
    "participant": Command(
        "/participant STUDY_ID", 1, lambda w: ShowParticipant(w[0]), then=send_trend_chart
    ),
    "upcoming": Command("/upcoming", 0, lambda w: ListUpcoming()),
    "alerts": Command("/alerts", 0, lambda w: ListAlerts()),
    "visit": Command(
        "/visit STUDY_ID VISIT_NUMBER YYYY-MM-DD [HH:MM]",
        3,
        lambda w: SetVisit(w[0], parse_number(w[1]), parse_date(w[2]), optional(w, 3, parse_time)),
    ),
    "attended": Command(
        "/attended STUDY_ID VISIT_NUMBER [YYYY-MM-DD]",
        2,
        lambda w: MarkAttended(w[0], parse_number(w[1]), optional(w, 2, parse_date)),
    ),
    "missed": Command(
        "/missed STUDY_ID VISIT_NUMBER", 2, lambda w: MarkMissed(w[0], parse_number(w[1]))
    ),
    "infusion": Command(
        "/infusion STUDY_ID YYYY-MM-DD [HH:MM]",
        2,
        lambda w: SetInfusion(w[0], parse_date(w[1]), optional(w, 2, parse_time)),
    ),
    "given": Command(
        "/given STUDY_ID [YYYY-MM-DD]", 1, lambda w: RecordGiven(w[0], optional(w, 1, parse_date))
    ),
    "pause": Command("/pause STUDY_ID", 1, lambda w: Pause(w[0])),
    "resume": Command("/resume STUDY_ID", 1, lambda w: Resume(w[0])),
    "can_become_pregnant": Command(
        PREGNANCY_USAGE,
        2,
        lambda w: SetCanBecomePregnant(w[0], parse_yes_no(w[1], PREGNANCY_USAGE)),
    ),
}


def register(application: Application) -> None:  # type: ignore[type-arg]
    register_commands(application, COMMANDS)
    # New messages only: editing an old message into a command must not run it.
    application.add_handler(CommandHandler("withdraw", ask_withdraw, filters=NEW_MESSAGES))
    application.add_handler(CommandHandler("team", team_help, filters=NEW_MESSAGES))
    application.add_handler(CallbackQueryHandler(withdraw_answered, pattern=WithdrawAnswer.matches))


def register_commands(application: Application, commands: Mapping[str, Command]) -> None:  # type: ignore[type-arg]
    """One handler a command, for new messages only (editing an old message into a command
    must not run it)."""
    for name, command in commands.items():
        application.add_handler(
            CommandHandler(name, command_handler(command), filters=NEW_MESSAGES)
        )


def command_handler(command: Command) -> Handler:
    async def run_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Authorise, parse the command's words, run its operation, reply with the result."""
        staff = await authorize(update, context)
        if staff is None:
            return
        words = _words(context, command.usage, command.needs)
        try:
            result = await staff.perform(command.operation(words))
        except DomainError as error:
            question = CONFIRM_QUESTIONS.get(error.key)
            if question is None:
                raise
            # Refused, with a button to do it anyway (bot/team_visit.py).
            await reply(update, *question(error.details, staff.language))
            return
        await reply(update, *team_reply(result, staff.language))
        if command.then is not None:
            await command.then(update, staff, words)

    return run_command


def _words(context: ContextTypes.DEFAULT_TYPE, usage: str, needs: int) -> list[str]:
    words = list(context.args or [])
    if len(words) < needs:
        raise DomainError("error_usage", usage=usage)
    return words


async def team_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the team's commands."""
    staff = await authorize(update, context)
    if staff is not None:
        await reply(update, render("team_help", staff.language))


async def ask_withdraw(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ask for confirmation before withdrawing a participant (it stops all contact)."""
    staff = await authorize(update, context)
    if staff is None:
        return
    (study_id, *_) = _words(context, "/withdraw STUDY_ID", 1)
    async with staff.services.database.reading() as session:
        participant = await staff.team().participant(session, study_id)
    await reply(update, *withdraw_question(participant, staff.language))


async def withdraw_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Withdraw (or not) after the confirmation button."""
    pressed = await perform_press(
        update,
        context,
        WithdrawAnswer,
        lambda press: AnswerWithdraw(press.participant_id, press.confirmed),
        refusal="not_allowed",
    )
    if pressed is not None:
        staff, query, done = pressed
        await query.answer()
        await edit_pressed(query, done_text(done, staff.language))


async def perform_press(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    kind: type[Press],
    operation: Callable[[Press], Operation[Done]],
    *,
    refusal: str,
) -> tuple[Staff, CallbackQuery, Done] | None:
    """A team button pressed: authorise, parse its data, run its operation. None when it was
    refused: by `authorize`, or by the operation with the label `refusal` (shown to the
    presser); either way the press is answered."""
    query = update.callback_query
    staff = await authorize(update, context)
    if staff is None:
        return None  # refused: `authorize` answered the press
    press = kind.parse(query.data if query else None)
    if query is None or press is None:
        return None
    try:
        done = await staff.perform(operation(press))
    except DomainError as error:
        if error.key != refusal:
            raise
        await query.answer(label(refusal, staff.language), show_alert=True)
        return None
    return staff, query, done
