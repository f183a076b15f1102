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

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot.context import edit_pressed, reply
from bot.parse import parse_date, parse_labs, parse_number, parse_time
from bot.team import Command, optional, perform_press, register_commands
from messages.callbacks import DoseDecision
from messages.team import done_text
from study.team import ConfirmDose, DecideProposal, EnterLabs, RejectDose

LABS_USAGE = "/labs STUDY_ID VISIT_NUMBER cd19=1.2 dsdna=150+ c3=0.45 lln=0.9"
COMMANDS = {
    "labs": Command(
        LABS_USAGE,
        3,
        lambda w: EnterLabs(w[0], parse_number(w[1]), parse_labs(w[2:], LABS_USAGE)),
    ),
    "confirm": Command(
        "/confirm STUDY_ID VISIT_NUMBER [YYYY-MM-DD [HH:MM]]",
        2,
        lambda w: ConfirmDose(
            w[0], parse_number(w[1]), optional(w, 2, parse_date), optional(w, 3, parse_time)
        ),
    ),
    "reject": Command(
        "/reject STUDY_ID VISIT_NUMBER", 2, lambda w: RejectDose(w[0], parse_number(w[1]))
    ),
}


def register(application: Application) -> None:  # type: ignore[type-arg]
    register_commands(application, COMMANDS)
    application.add_handler(CallbackQueryHandler(decide_pressed, pattern=DoseDecision.matches))


async def decide_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Confirm or Reject pressed under a proposal: exactly that proposal is decided."""
    pressed = await perform_press(
        update,
        context,
        DoseDecision,
        lambda press: DecideProposal(press.proposal_id, press.confirmed),
        refusal="button_inactive",
    )
    if pressed is not None:
        staff, query, done = pressed
        await query.answer()
        await edit_pressed(query)
        await reply(update, done_text(done, staff.language))
