"""The messages of a check-in: a question with its buttons, an answer, the outcome.

Used by the dispatcher (the first question, nudges: `compose_question`) and by the bot's
handlers (each next question, as a reply). The buttons' data are `messages.callbacks`'
Answer, Tick, Done, Back and Stop.
"""

from __future__ import annotations

from datetime import date

from messages.callbacks import Answer, Back, Done, Stop, Tick
from messages.facts import site_facts
from messages.queued import Queued, Text
from messages.render import Button, Keyboard, button, label, question_text, render
from study.checkins import draft_of, questions_of
from study.config import StudyConfig
from study.message_views import checkin_question_of
from study.models import CheckIn, Participant
from study.questionnaire import Question
from study.triage import TriageResult


async def compose_question(queued: Queued) -> Text:
    """A check-in's question sent by the dispatcher: first asked, or a nudge."""
    context = queued.row.context
    asked = await checkin_question_of(queued.session, queued.row)
    return question_message(
        asked.checkin,
        asked.question,
        asked.participant,
        queued.config,
        proactive=bool(context.get("proactive")),
        nudge=bool(context.get("nudge")),
    )


def question_message(
    checkin: CheckIn,
    question: Question,
    participant: Participant,
    config: StudyConfig,
    *,
    proactive: bool = False,
    nudge: bool = False,
) -> tuple[str, Keyboard]:
    language = participant.language
    questions = questions_of(checkin)
    ticked = draft_of(checkin, question.code)
    text = render(
        "checkin_question",
        language,
        code=question.code,
        number=questions.index(question) + 1,
        total=len(questions),
        ticked=list(ticked),
        proactive=proactive,
        nudge=nudge,
        **site_facts(participant, config),
    )
    return text, question_keyboard(checkin, question, language)


def question_keyboard(checkin: CheckIn, question: Question, language: str) -> Keyboard:
    """The question's buttons: "none" first, then each answer (a toggle, on a multi-select
    question that does not act on a tap), Done, and Back / Stop."""
    checkin_id = checkin.id or 0
    code = question.code

    def text(item: str) -> str:
        return question_text(code, language, item)

    rows: Keyboard = [
        [Button(text(question.benign), data=Answer(checkin_id, code, question.benign).pack())]
    ]
    if question.multi and not question.stops:
        ticked = set(draft_of(checkin, code))
        for item in question.items:
            shown = (
                label("checkin_ticked", language, label=text(item))
                if item in ticked
                else text(item)
            )
            rows.append([Button(shown, data=Tick(checkin_id, code, item).pack())])
        rows.append([button("checkin_done", language, Done(checkin_id, code).pack())])
    else:
        for item in question.items:
            rows.append([Button(text(item), data=Answer(checkin_id, code, item).pack())])
    controls = []
    if questions_of(checkin).index(question) > 0:
        controls.append(button("checkin_back", language, Back(checkin_id, code).pack()))
    controls.append(button("checkin_stop", language, Stop(checkin_id).pack()))
    rows.append(controls)
    return rows


def stopped_text(participant: Participant, config: StudyConfig) -> str:
    return render("checkin_stopped", participant.language, **site_facts(participant, config))


def answered_text(question: Question, chosen: tuple[str, ...], language: str) -> str:
    return render("checkin_answered", language, code=question.code, chosen=list(chosen))


def result_text(
    result: TriageResult | None,
    participant: Participant,
    config: StudyConfig,
    *,
    stopped: bool = False,
    next_checkin: date | None = None,
) -> str:
    tier = result.tier if result is not None else None
    return render(
        "checkin_result",
        participant.language,
        tier=str(tier) if tier else None,
        stopped=stopped,
        next_checkin=next_checkin,
        pregnancy=bool(result and result.possible_pregnancy),
        self_harm=bool(result and result.self_harm),
        **site_facts(participant, config),
    )
