"""Lab results from Telegram, the individualised arm's re-dose rule, and confirming a dose.

`/labs ZJU2-001 3 cd19=1.2 dsdna=150+ c3=0.45 lln=0.9`: anti-dsDNA takes its titre with `+`
(positive) or `-` (negative); a value left out is "not measured". The reply says which
criteria fired and which could not be evaluated (missing previous labs are said, never
guessed). For the individualised arm a positive rule proposes a dose that a coordinator
confirms with the button (or plans for another day with /infusion).
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.context import edit_pressed, reply
from bot.staff import authorize, parse_number, participant_of
from bot.team import NEW_MESSAGES, done_text
from messages import button, label, render
from study.config import StudyConfig
from study.errors import DomainError
from study.infusions import schedule_infusion
from study.labs import LabOutcome, record_labs
from study.models import Infusion, InfusionStatus, Participant
from study.protocol import Labs

CONFIRM = r"^r:(\d{1,9}):ok$"
USAGE = "/labs STUDY_ID VISIT_NUMBER cd19=1.2 dsdna=150+ c3=0.45 lln=0.9"


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(CommandHandler("labs", enter_labs, filters=NEW_MESSAGES))
    application.add_handler(CallbackQueryHandler(confirm_dose, pattern=CONFIRM))


def parse_labs(tokens: list[str]) -> Labs:
    values: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or key.lower() not in {"cd19", "dsdna", "c3", "lln"} or not value:
            raise DomainError("error_usage", usage=USAGE)
        values[key.lower()] = value
    dsdna = values.get("dsdna")
    positive = None
    if dsdna is not None:
        if dsdna[-1] not in "+-":
            raise DomainError("error_usage", usage=USAGE)
        positive, dsdna = dsdna[-1] == "+", dsdna[:-1]
    return Labs(
        cd19_percent=_number(values.get("cd19")),
        anti_dsdna_value=_number(dsdna),
        anti_dsdna_positive=positive,
        c3_value=_number(values.get("c3")),
        c3_lower_limit=_number(values.get("lln")),
    )


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise DomainError("error_usage", usage=USAGE) from None
    if not 0 <= value < 1e6:
        raise DomainError("error_usage", usage=USAGE)
    return value


async def enter_labs(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record a visit's labs and answer with the re-dose rule's verdict."""
    staff = await authorize(update, context)
    if staff is None:
        return
    args = list(context.args or [])
    if len(args) < 3:
        raise DomainError("error_usage", usage=USAGE)
    study_id, number, *tokens = args
    labs = parse_labs(tokens)
    services = staff.services
    async with services.database.session() as session:
        participant = await participant_of(session, staff, study_id)
        outcome = await record_labs(
            session,
            participant,
            parse_number(number),
            labs,
            actor=staff.actor,
            now=services.clock.now(),
            config=services.config,
        )
    keyboard = None
    if outcome.proposal is not None:
        keyboard = [
            [
                button(
                    "confirm_dose",
                    staff.language,
                    f"r:{outcome.proposal.id}:ok",
                    date=outcome.proposal.planned_date.isoformat(),
                )
            ]
        ]
    await reply(
        update,
        labs_text(outcome, participant, parse_number(number), staff.language, services.config),
        keyboard,
    )


def labs_text(
    outcome: LabOutcome,
    participant: Participant,
    visit_number: int,
    language: str,
    config: StudyConfig,
) -> str:
    """The re-dose rule's verdict on a visit's labs (in Telegram and on the command line)."""
    return render(
        "team_labs",
        language,
        study_id=participant.study_id,
        visit_number=visit_number,
        arm=participant.arm,
        fired=[str(c) for c in outcome.decision.fired],
        not_evaluable=[str(c) for c in outcome.decision.not_evaluable],
        previous_visit=outcome.previous_visit,
        proposal=outcome.proposal,
        rule=config.protocol.redose,
    )


async def confirm_dose(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A coordinator confirms a proposed dose: it becomes a planned infusion with reminders."""
    query = update.callback_query
    staff = await authorize(update, context)
    if staff is None:
        return  # refused: `authorize` answered the press
    if query is None or not context.matches:
        return
    services, now = staff.services, staff.services.clock.now()
    async with services.database.session() as session:
        proposal = await session.get(Infusion, int(context.matches[0].group(1)))
        participant = await session.get(Participant, proposal.participant_id) if proposal else None
        if (
            proposal is None
            or participant is None
            or participant.site_code not in staff.sites
            or proposal.status != InfusionStatus.PROPOSED
        ):
            await query.answer(label("button_inactive", staff.language), show_alert=True)
            return
        infusion = await schedule_infusion(
            session,
            participant,
            day=proposal.planned_date,
            at=None,
            actor=staff.actor,
            now=now,
            config=services.config,
            replanner=services.replanner,
        )
    await query.answer()
    await edit_pressed(query)
    await reply(
        update, done_text(staff, "infusion_set", participant.study_id, date=infusion.planned_date)
    )
