"""CLINICAL.md's triage as pure functions: chosen answer codes in, tiered findings out.

Each chosen answer with a tier in `BASE_TIERS` is one `Finding`; the overall tier is the most
urgent finding's (T1 first), None when nothing is reported. A finding's `rule` says why it has
its tier, from a fixed vocabulary (`Rule`). An empty tuple of answers, like an absent question,
means "not answered" (a questionnaire stopped at Q1, or never finished).

Readings of CLINICAL.md that the clinicians should confirm:
- Q3 is T2 "with fever in Q2" for every Q2 answer but "no", including "felt feverish or had
  chills, not measured" (the conservative reading).
- The raise rule of Q12 "much worse" applies to the symptom questions Q1-Q11; Q13 (a possible
  serious adverse event) is T2 whatever Q12 says, so it makes no difference there.
- "The same T4 symptom on two check-ins in a row" (CLINICAL.md's refinement: "whether the
  answer is the same or more severe") is a T4 answer to a question that last time had a T4
  answer at most as severe (answers are ordered from least to most severe): Q11 "some" then
  "a lot" counts, "a lot" then "some" does not; Q12 "a bit worse" twice in a row counts. Last
  time's answers count by their tier in the table, whatever tier they ended with (`t4_pairs`).
- After an infusion, "a racing heart" belongs to the T1 item (swelling, wheeze, breathlessness,
  chest pain, dizziness), as the question groups it. Rash, itching or hives is T2 on the
  first-day (24-hour) question whatever hour it is answered, T3 on the 7-day one; where the
  question is not one of those two, "within 24 h" of the recorded infusion (24.0 h included).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from study.models import Tier
from study.questionnaire import (
    ALL_QUESTIONS,
    CHECKIN,
    CONTRACEPTION,
    POST_INFUSION,
    Question,
    validate_answers,
)

T1, T2, T3, T4 = Tier.T1, Tier.T2, Tier.T3, Tier.T4

BASE_TIERS: Mapping[tuple[str, str], Tier] = MappingProxyType(
    {
        ("Q1", "chest_breathing"): T1,
        ("Q1", "faint_seizure"): T1,
        ("Q1", "stroke_signs"): T1,
        ("Q1", "headache_sudden"): T1,
        ("Q1", "bleeding_black"): T1,
        ("Q1", "swelling_face"): T1,
        ("Q2", "once"): T2,
        ("Q2", "repeated"): T2,
        ("Q2", "unmeasured"): T3,
        ("Q3", "cough"): T3,
        ("Q3", "urine_burning"): T3,
        ("Q3", "cold_sores"): T3,
        ("Q3", "red_hot_wound"): T3,
        ("Q4", "foamy_urine"): T3,
        ("Q4", "red_urine"): T3,
        ("Q4", "new_swelling"): T3,
        ("Q4", "much_less_urine"): T2,
        ("Q5", "bruises"): T3,
        ("Q5", "red_dots"): T2,
        ("Q5", "gum_nose_bleed"): T2,
        ("Q5", "heavy_period"): T2,
        ("Q6", "rash"): T3,
        ("Q6", "mouth_nose_sores"): T3,
        ("Q6", "hair_loss"): T4,
        ("Q6", "blister_peel_eye"): T1,
        ("Q7", "pain"): T4,
        ("Q7", "swollen_1_2"): T3,
        ("Q7", "swollen_3_limits"): T3,
        ("Q8", "yes"): T2,
        ("Q9", "headache"): T2,
        ("Q9", "memory"): T2,
        ("Q9", "unsteady_weak"): T2,
        ("Q9", "blurred_vision"): T2,
        ("Q9", "halluc_self_harm"): T1,
        ("Q10", "yes"): T2,
        ("Q11", "some"): T4,
        ("Q11", "a_lot"): T4,
        ("Q12", "bit_worse"): T4,
        ("Q12", "much_worse"): T3,
        ("Q13", "yes"): T2,
        ("PI", "fever_chills"): T2,
        ("PI", "rash_itch_hives"): T2,  # T3 on the 7-day question
        ("PI", "swelling_breath"): T1,
        ("C1", "not_always"): T3,
        ("C1", "stopped_changed"): T3,
        ("C2", "not_sure"): T2,
        ("C2", "yes"): T2,
        ("C3", "not_sure"): T3,
        ("C3", "yes"): T3,
    }
)
"""The tier of each answer on its own; an answer missing here reports nothing."""

T4_SYMPTOMS = frozenset(pair for pair, tier in BASE_TIERS.items() if tier is T4)
SYMPTOM_QUESTIONS = frozenset(f"Q{number}" for number in range(1, 12))
FEVER_ANSWERS = frozenset({"once", "repeated", "unmeasured"})  # Q2 answers that make Q3 T2
RASH_WINDOW_HOURS = 24.0
SELF_HARM = ("Q9", "halluc_self_harm")
_INFECTION, _FEVER, _OVERALL, _PREGNANCY = "Q3", "Q2", "Q12", "C2"
_TIMED = ("PI", "rash_itch_hives")
_URGENCY = {T1: 0, T2: 1, T3: 2, T4: 3}
_RAISE = {T1: T1, T2: T2, T3: T2, T4: T3}  # a raise never makes T1: only red flags are T1
_ORDER = {
    (q.code, answer): (position, index)
    for position, q in enumerate(ALL_QUESTIONS)
    for index, answer in enumerate(q.answers)
}


class Rule(StrEnum):
    """Why a finding has its tier."""

    BASE = "base"  # the answer's tier in BASE_TIERS
    WITH_FEVER = "with_fever"  # a Q3 item, T2 because Q2 reports a fever
    RAISED_MUCH_WORSE = "raised_much_worse"  # one tier up because Q12 is "much worse"
    REPEATED_T4 = "repeated_t4"  # a T4 symptom also reported last check-in: T3
    WITHIN_24H = "within_24h"  # rash, itching or hives on the first day after an infusion: T2
    AFTER_24H = "after_24h"  # the same, reported on the 7-day question: T3


@dataclass(frozen=True)
class Finding:
    """One chosen answer that reports something, with its final tier and the rule behind it."""

    question: str
    answer: str
    tier: Tier
    rule: Rule


@dataclass(frozen=True)
class TriageResult:
    """The overall tier (None: nothing to report) and the findings, most urgent first."""

    tier: Tier | None
    findings: tuple[Finding, ...]

    @property
    def red_flag(self) -> bool:
        """Whether anything is T1 (possible emergency)."""
        return self.tier is T1

    @property
    def self_harm(self) -> bool:
        """Whether Q9 reports hallucinations or thoughts of self-harm (the crisis line is
        named in the advice)."""
        return any((f.question, f.answer) == SELF_HARM for f in self.findings)

    @property
    def possible_pregnancy(self) -> bool:
        """Whether C2 reports a possible pregnancy (the 24-hour reporting clock starts)."""
        return any(finding.question == _PREGNANCY for finding in self.findings)


def triage_checkin(
    answers: Mapping[str, Iterable[str]],
    previous_t4: frozenset[tuple[str, str]] = frozenset(),
) -> TriageResult:
    """Triage a check-in (Q1-Q13); ValueError for an unknown question or invalid answers.

    `previous_t4` is `t4_pairs` of the participant's previous completed check-in. On top of
    each answer's base tier: Q3 items are T2 when Q2 reports any fever; when Q12 is "much
    worse", every symptom finding (Q1-Q11) goes up one tier but never to T1; last, a T4
    finding of a question that had a T4 answer last time, the same or less severe, is T3.
    """
    chosen = _validated(CHECKIN, answers)
    fever = not FEVER_ANSWERS.isdisjoint(chosen.get(_FEVER, ()))
    much_worse = "much_worse" in chosen.get(_OVERALL, ())
    findings = []
    for code, picked in chosen.items():
        for answer in picked:
            tier = BASE_TIERS.get((code, answer))
            if tier is None:
                continue
            rule = Rule.BASE
            if code == _INFECTION and fever:
                tier, rule = T2, Rule.WITH_FEVER
            if much_worse and code in SYMPTOM_QUESTIONS and _RAISE[tier] is not tier:
                tier, rule = _RAISE[tier], Rule.RAISED_MUCH_WORSE
            if tier is T4 and _repeated(code, answer, previous_t4):
                tier, rule = T3, Rule.REPEATED_T4
            findings.append(Finding(code, answer, tier, rule))
    return _result(findings)


def triage_post_infusion(chosen: Iterable[str], *, first_day: bool) -> TriageResult:
    """Triage the post-infusion question; rash, itching or hives are T2 when the question is
    about the first day after the infusion (`first_day`), T3 later."""
    picked = _validated((POST_INFUSION,), {POST_INFUSION.code: chosen}).get(POST_INFUSION.code, ())
    findings = []
    for answer in picked:
        tier = BASE_TIERS.get((POST_INFUSION.code, answer))
        if tier is None:
            continue
        rule = Rule.BASE
        if (POST_INFUSION.code, answer) == _TIMED:
            tier, rule = (T2, Rule.WITHIN_24H) if first_day else (T3, Rule.AFTER_24H)
        findings.append(Finding(POST_INFUSION.code, answer, tier, rule))
    return _result(findings)


def triage_contraception(answers: Mapping[str, Iterable[str]]) -> TriageResult:
    """Triage C1-C3; a possible pregnancy (C2 "not sure" or "yes") is T2."""
    chosen = _validated(CONTRACEPTION, answers)
    return _result(
        Finding(code, answer, BASE_TIERS[(code, answer)], Rule.BASE)
        for code, picked in chosen.items()
        for answer in picked
        if (code, answer) in BASE_TIERS
    )


def t4_pairs(result: TriageResult) -> frozenset[tuple[str, str]]:
    """The T4 symptoms of a check-in, to pass as the next check-in's `previous_t4`.

    A symptom counts by its tier in the table, even if this check-in reported it as T3
    (repeated, or raised by "much worse"): a symptom that persists stays T3 instead of
    alternating T4, T3, T4. So this depends only on the check-in's own answers.
    """
    return frozenset(
        (finding.question, finding.answer)
        for finding in result.findings
        if (finding.question, finding.answer) in T4_SYMPTOMS
    )


def _repeated(code: str, answer: str, previous_t4: frozenset[tuple[str, str]]) -> bool:
    """Whether last time had a T4 answer to this question at most as severe as this one."""
    return any(
        code == before_code and _ORDER[(code, before)] <= _ORDER[(code, answer)]
        for before_code, before in previous_t4
        if (before_code, before) in _ORDER
    )


def _validated(
    questions: tuple[Question, ...], answers: Mapping[str, Iterable[str]]
) -> dict[str, tuple[str, ...]]:
    """The answered questions' normalised answers, in questionnaire order."""
    known = {q.code for q in questions}
    unknown = set(answers).difference(known)
    if unknown:
        raise ValueError(f"unknown question code(s) {sorted(unknown)}")
    chosen = {}
    for q in questions:
        picked = tuple(answers.get(q.code, ()))
        if picked:
            chosen[q.code] = validate_answers(q, picked)
    return chosen


def _result(findings: Iterable[Finding]) -> TriageResult:
    ordered = tuple(
        sorted(findings, key=lambda f: (_URGENCY[f.tier], _ORDER[(f.question, f.answer)]))
    )
    return TriageResult(ordered[0].tier if ordered else None, ordered)


__all__ = [
    "BASE_TIERS",
    "FEVER_ANSWERS",
    "RASH_WINDOW_HOURS",
    "SYMPTOM_QUESTIONS",
    "T4_SYMPTOMS",
    "Finding",
    "Rule",
    "TriageResult",
    "t4_pairs",
    "triage_checkin",
    "triage_contraception",
    "triage_post_infusion",
]
