"""Lab results from Telegram, the individualised arm's re-dose rule, and deciding a proposal.

`/labs ZJU2-001 3 cd19=1.2 dsdna=150+ c3=0.45 lln=0.9` (CD19 in % of lymphocytes, anti-dsDNA
in IU/mL with `+` positive or `-` negative, C3 and its lower limit of normal in g/L): a value
left out keeps what was entered before for the visit, or stays "not measured". The reply shows
the visit's values with units, which criteria fired and which could not be evaluated (missing
previous labs are said, never guessed). For the individualised arm a positive rule proposes a
dose: Confirm and Reject buttons decide exactly that proposal, as do `/confirm ID N [DATE
[TIME]]` and `/reject ID N`.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.context import edit_pressed, reply
from bot.staff import authorize, parse_date, parse_number, parse_time, participant_of
from bot.team import NEW_MESSAGES, done_text
from messages import Keyboard, button, label, render
from messages.callbacks import DoseDecision
from study.config import StudyConfig
from study.errors import DomainError
from study.infusions import cancel_proposal, confirm_proposal, proposal_of_visit
from study.labs import LabOutcome, record_labs
from study.models import CancelReason, Infusion, InfusionStatus, Participant, Visit
from study.protocol import Labs

USAGE = "/labs STUDY_ID VISIT_NUMBER cd19=1.2 dsdna=150+ c3=0.45 lln=0.9"
CONFIRM_USAGE = "/confirm STUDY_ID VISIT_NUMBER [YYYY-MM-DD [HH:MM]]"
REJECT_USAGE = "/reject STUDY_ID VISIT_NUMBER"


def register(application: Application) -> None:  # type: ignore[type-arg]
    application.add_handler(CommandHandler("labs", enter_labs, filters=NEW_MESSAGES))
    application.add_handler(CommandHandler("confirm", confirm_command, filters=NEW_MESSAGES))
    application.add_handler(CommandHandler("reject", reject_command, filters=NEW_MESSAGES))
    application.add_handler(CallbackQueryHandler(decide_pressed, pattern=DoseDecision.matches))


def parse_labs(tokens: list[str]) -> Labs:
    """`cd19=1.2 dsdna=150+ c3=0.45 lln=0.9`, any subset; ranges are checked by the use case."""
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
        return float(text)
    except ValueError:
        raise DomainError("error_usage", usage=USAGE) from None


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
    visit_number = parse_number(number)
    services = staff.services
    async with services.database.session() as session:
        participant = await participant_of(session, staff, study_id)
        outcome = await record_labs(
            session,
            participant,
            visit_number,
            labs,
            actor=staff.actor,
            now=services.clock.now(),
            config=services.config,
        )
    keyboard = decision_keyboard(outcome.proposal, staff.language)
    await reply(
        update,
        labs_text(outcome, participant, visit_number, staff.language, services.config),
        keyboard,
    )


def decision_keyboard(proposal: Infusion | None, language: str) -> Keyboard | None:
    """Confirm and Reject, bound to this one proposal."""
    if proposal is None or proposal.id is None:
        return None
    return [
        [
            button(
                "confirm_dose",
                language,
                DoseDecision(proposal.id, "ok").pack(),
                date=proposal.planned_date.isoformat(),
            ),
            button("reject_dose", language, DoseDecision(proposal.id, "no").pack()),
        ]
    ]


def labs_text(
    outcome: LabOutcome,
    participant: Participant,
    visit_number: int,
    language: str,
    config: StudyConfig,
    *,
    cli: bool = False,
) -> str:
    """The visit's labs and the re-dose rule's verdict (in Telegram and on the command line,
    whose commands the text names)."""
    return render(
        "team_labs",
        language,
        study_id=participant.study_id,
        visit_number=visit_number,
        arm=participant.arm,
        labs=outcome.labs,
        baseline=outcome.baseline,
        fired=[str(c) for c in outcome.decision.fired],
        not_evaluable=[str(c) for c in outcome.decision.not_evaluable],
        previous_visit=outcome.previous_visit,
        proposal=outcome.proposal,
        withdrawn=outcome.withdrawn,
        decided=outcome.decided,
        rule=config.protocol.redose,
        cli=cli,
    )


async def confirm_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Confirm a visit's proposed dose, on the proposed day or another."""
    staff = await authorize(update, context)
    if staff is None:
        return
    args = list(context.args or [])
    if len(args) < 2:
        raise DomainError("error_usage", usage=CONFIRM_USAGE)
    study_id, number, *rest = args
    day = parse_date(rest[0]) if rest else None
    at = parse_time(rest[1]) if len(rest) > 1 else None
    services = staff.services
    async with services.database.session() as session:
        participant = await participant_of(session, staff, study_id)
        proposal = await proposal_of_visit(session, participant, parse_number(number))
        infusion = await confirm_proposal(
            session,
            participant,
            proposal,
            day=day,
            at=at,
            actor=staff.actor,
            now=services.clock.now(),
            replanner=services.replanner,
        )
    await reply(
        update,
        done_text(staff, "infusion_set", study_id, date=infusion.planned_date, time=at),
    )


async def reject_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reject a visit's proposed dose: nothing is planned."""
    staff = await authorize(update, context)
    if staff is None:
        return
    args = list(context.args or [])
    if len(args) < 2:
        raise DomainError("error_usage", usage=REJECT_USAGE)
    study_id, number, *_ = args
    services = staff.services
    async with services.database.session() as session:
        participant = await participant_of(session, staff, study_id)
        visit_number = parse_number(number)
        proposal = await proposal_of_visit(session, participant, visit_number)
        await cancel_proposal(
            session,
            participant,
            proposal,
            reason=CancelReason.REJECTED,
            actor=staff.actor,
            now=services.clock.now(),
        )
    await reply(update, done_text(staff, "dose_rejected", study_id, number=visit_number))


async def decide_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Confirm or Reject pressed under a proposal: exactly that proposal is decided."""
    query = update.callback_query
    staff = await authorize(update, context)
    if staff is None:
        return  # refused: `authorize` answered the press
    press = DoseDecision.parse(query.data if query else None)
    if query is None or press is None:
        return
    services, now = staff.services, staff.services.clock.now()
    async with services.database.session() as session:
        proposal = await session.get(Infusion, press.proposal_id)
        participant = await session.get(Participant, proposal.participant_id) if proposal else None
        if (
            proposal is None
            or participant is None
            or participant.site_code not in staff.sites
            or proposal.status != InfusionStatus.PROPOSED
        ):
            await query.answer(label("button_inactive", staff.language), show_alert=True)
            return
        if press.confirmed:
            infusion = await confirm_proposal(
                session,
                participant,
                proposal,
                day=None,
                at=None,
                actor=staff.actor,
                now=now,
                replanner=services.replanner,
            )
            text = done_text(
                staff, "infusion_set", participant.study_id, date=infusion.planned_date
            )
        else:
            await cancel_proposal(
                session,
                participant,
                proposal,
                reason=CancelReason.REJECTED,
                actor=staff.actor,
                now=now,
            )
            number = await _visit_number(session, proposal)
            text = done_text(staff, "dose_rejected", participant.study_id, number=number)
    await query.answer()
    await edit_pressed(query)
    await reply(update, text)


async def _visit_number(session: AsyncSession, proposal: Infusion) -> int | None:
    visit = await session.get(Visit, proposal.visit_id) if proposal.visit_id else None
    return visit.number if visit else None
