"""The questionnaires of CLINICAL.md as data: codes only, the wording lives in the templates.

Every question keeps the interface convention: its first answer is the benign one ("none",
"no"; "better" for Q12, "yes" for C1), the others follow in CLINICAL.md's order. On a
multi-select question the first answer is the button meaning "nothing applies" and the rest
are toggles, except on a question that `stops` (Q1, the red flags: "a T1 answer to Q1 stops
the questionnaire at once"), where tapping any item is the answer. Answer codes are short
ASCII snake_case, because they travel in Telegram callback data (64 bytes at most; see
`messages.callbacks`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

QUESTIONNAIRE_VERSION = "2026.2"  # 2026.1: before the clinical review of 2026-11-28


@dataclass(frozen=True)
class Question:
    """One question: its code, its domain, and its answer codes in button order."""

    code: str
    domain: str
    multi: bool
    answers: tuple[str, ...]
    stops: bool = False  # any item answers the question at once and ends the questionnaire

    @property
    def benign(self) -> str:
        """The first button: "none" / "no" (or "better", "yes" where that is the benign one)."""
        return self.answers[0]

    @property
    def items(self) -> tuple[str, ...]:
        """Every answer but the benign one (the toggles of a multi-select question)."""
        return self.answers[1:]


CHECKIN: tuple[Question, ...] = (
    Question(
        "Q1",
        "red_flags",
        multi=True,
        stops=True,
        answers=(
            "none",
            "chest_breathing",
            "faint_seizure",
            "stroke_signs",
            "headache_sudden",
            "bleeding_black",
            "swelling_face",
        ),
    ),
    Question("Q2", "fever", multi=False, answers=("no", "once", "repeated", "unmeasured")),
    Question(
        "Q3",
        "infection",
        multi=True,
        answers=("none", "cough", "urine_burning", "cold_sores", "red_hot_wound"),
    ),
    Question(
        "Q4",
        "kidney",
        multi=True,
        answers=("none", "foamy_urine", "red_urine", "new_swelling", "much_less_urine"),
    ),
    Question(
        "Q5",
        "blood",
        multi=True,
        answers=("none", "bruises", "red_dots", "gum_nose_bleed", "heavy_period"),
    ),
    Question(
        "Q6",
        "skin_mouth",
        multi=True,
        answers=("none", "rash", "mouth_nose_sores", "hair_loss", "blister_peel_eye"),
    ),
    Question(
        "Q7", "joints", multi=False, answers=("none", "pain", "swollen_1_2", "swollen_3_limits")
    ),
    Question("Q8", "chest_lining", multi=False, answers=("no", "yes")),
    Question(
        "Q9",
        "nervous_system",
        multi=True,
        answers=(
            "none",
            "headache",
            "memory",
            "unsteady_weak",
            "blurred_vision",
            "halluc_self_harm",
        ),
    ),
    Question("Q10", "liver", multi=False, answers=("no", "yes")),
    Question("Q11", "general", multi=False, answers=("no", "some", "a_lot")),
    Question("Q12", "overall", multi=False, answers=("better", "same", "bit_worse", "much_worse")),
    Question("Q13", "serious_event", multi=False, answers=("no", "yes")),
)

POST_INFUSION = Question(
    "PI",
    "post_infusion",
    multi=True,
    answers=("none", "fever_chills", "rash_itch_hives", "swelling_breath"),
)

CONTRACEPTION: tuple[Question, ...] = (
    Question("C1", "contraception", multi=False, answers=("yes", "not_always", "stopped_changed")),
    Question("C2", "pregnancy", multi=False, answers=("no", "not_sure", "yes")),
    Question("C3", "pregnancy_plan", multi=False, answers=("no", "not_sure", "yes")),
)

ALL_QUESTIONS: tuple[Question, ...] = (*CHECKIN, POST_INFUSION, *CONTRACEPTION)
_BY_CODE = {q.code: q for q in ALL_QUESTIONS}


def question(code: str) -> Question:
    """The question with this code, from any questionnaire; KeyError if there is none."""
    return _BY_CODE[code]


def next_question(questions: tuple[Question, ...], code: str) -> Question | None:
    """The question after `code` in `questions`, or None after the last one."""
    index = _index(questions, code)
    return questions[index + 1] if index + 1 < len(questions) else None


def previous_question(questions: tuple[Question, ...], code: str) -> Question | None:
    """The question before `code` in `questions`, or None before the first one."""
    index = _index(questions, code)
    return questions[index - 1] if index > 0 else None


def _index(questions: tuple[Question, ...], code: str) -> int:
    for index, candidate in enumerate(questions):
        if candidate.code == code:
            return index
    raise KeyError(code)


def validate_answers(question: Question, chosen: Iterable[str]) -> tuple[str, ...]:
    """The chosen answer codes, deduplicated and in button order; ValueError if invalid.

    Invalid: nothing chosen, an unknown code, two different answers to a single-choice
    question, or the benign answer ("none") together with items on a multi-select one.
    """
    if isinstance(chosen, str):
        raise TypeError("chosen must be a collection of answer codes, not one string")
    picked = set(chosen)
    unknown = picked.difference(question.answers)
    if unknown:
        raise ValueError(f"{question.code}: unknown answer code(s) {sorted(unknown)}")
    normalised = tuple(answer for answer in question.answers if answer in picked)
    if not normalised:
        raise ValueError(f"{question.code}: no answer chosen")
    if len(normalised) > 1:
        if not question.multi:
            raise ValueError(f"{question.code}: only one answer may be chosen")
        if question.benign in normalised:
            raise ValueError(f"{question.code}: {question.benign!r} excludes every other item")
    return normalised


__all__ = [
    "ALL_QUESTIONS",
    "CHECKIN",
    "CONTRACEPTION",
    "POST_INFUSION",
    "QUESTIONNAIRE_VERSION",
    "Question",
    "next_question",
    "previous_question",
    "question",
    "validate_answers",
]
