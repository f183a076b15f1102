"""The messages of a check-in: a question with its buttons, an answer, the outcome.

Used by the dispatcher (the first question, nudges) and by the bot's handlers (each next
question, as a reply). Callback data: `c:<id>:<q>:<answer>` answers, `t:<id>:<q>:<item>`
ticks an item of a multi-select question, `d:<id>:<q>` is Done, `b:<id>:<q>` Back and
`x:<id>` Stop; all well under Telegram's 64 bytes.
"""

from __future__ import annotations

from datetime import date

from messages import Button, Keyboard, button, label, render
from messages.render import question_text
from study.checkins import draft_of, questions_of
from study.config import StudyConfig
from study.models import CheckIn, Participant
from study.questionnaire import Question
from study.triage import TriageResult


def site_facts(participant: Participant, config: StudyConfig) -> dict[str, str]:
    site = config.sites[participant.site_code]
    return {"site_phone": site.phone, "emergency_number": site.emergency_number}


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
    prefix = f"{checkin.id}:{question.code}"
    none = Button(
        question_text(question.code, language, question.benign),
        data=f"c:{prefix}:{question.benign}",
    )
    rows: Keyboard = [[none]]
    if question.multi:
        ticked = set(draft_of(checkin, question.code))
        for item in question.items:
            text = question_text(question.code, language, item)
            if item in ticked:
                text = label("checkin_ticked", language, label=text)
            rows.append([Button(text, data=f"t:{prefix}:{item}")])
        rows.append([button("checkin_done", language, f"d:{prefix}")])
    else:
        for item in question.items:
            rows.append(
                [Button(question_text(question.code, language, item), data=f"c:{prefix}:{item}")]
            )
    controls = []
    if questions_of(checkin).index(question) > 0:
        controls.append(button("checkin_back", language, f"b:{prefix}"))
    controls.append(button("checkin_stop", language, f"x:{checkin.id}"))
    rows.append(controls)
    return rows


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
        **site_facts(participant, config),
    )
