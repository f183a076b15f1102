"""Visit and infusion reminders, with "I will come" / "I need another date" under a visit
that waits for an answer, and the reply to each."""

from __future__ import annotations

from datetime import date

from messages.callbacks import VisitAnswer, VisitReply
from messages.facts import site_facts, site_place
from messages.queued import Queued, Text
from messages.render import Keyboard, button, render
from study.config import StudyConfig
from study.localtime import local_date
from study.message_views import reminder_of
from study.models import Participant, VisitStatus
from study.staleness import days_before


async def compose_reminder(queued: Queued) -> Text:
    """A reminder as true today: the visit or infusion still on the day it names, the days
    left counted from today."""
    context, language = queued.row.context, queued.language
    participant = queued.recipient.participant
    assert participant is not None
    reminder = await reminder_of(queued.session, participant, queued.row)
    visit = reminder.visit
    ask = visit is not None and visit.status == VisitStatus.PLANNED
    is_follow_up = context.get("month", 0) > 0
    today = local_date(queued.now, participant.timezone)
    text = render(
        "reminder",
        language,
        kind=context["kind"],
        date=context["date"],
        time=context["time"],
        days_before=days_before(date.fromisoformat(context["date"]), today),
        **site_place(participant, queued.config, language),
        window_start=context.get("window_start") if is_follow_up else None,
        window_end=context.get("window_end") if is_follow_up else None,
        ask=ask,
        **site_facts(participant, queued.config),
    )
    keyboard = visit_buttons(context["visit_id"], language) if ask else None
    return text, keyboard


def visit_buttons(visit_id: int, language: str) -> Keyboard:
    return [
        [
            button("visit_will_come", language, VisitAnswer(visit_id, VisitReply.COMING).pack()),
            button(
                "visit_need_other_date",
                language,
                VisitAnswer(visit_id, VisitReply.RESCHEDULE).pack(),
            ),
        ]
    ]


def visit_answered_text(
    participant: Participant, day: date, config: StudyConfig, reply: VisitReply
) -> str:
    """The reply to a press: thanks, or that the site will call about another date."""
    template = "visit_confirmed" if reply == VisitReply.COMING else "visit_reschedule_requested"
    return render(template, participant.language, date=day, **site_facts(participant, config))
