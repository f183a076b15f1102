"""Triage against CLINICAL.md: the table answer by answer, the combination rules, properties."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from study.models import Tier
from study.questionnaire import ALL_QUESTIONS, CHECKIN, CONTRACEPTION, POST_INFUSION, Question
from study.triage import (
    BASE_TIERS,
    T4_SYMPTOMS,
    Finding,
    Rule,
    TriageResult,
    t4_pairs,
    triage_checkin,
    triage_contraception,
    triage_post_infusion,
)

T1, T2, T3, T4 = Tier.T1, Tier.T2, Tier.T3, Tier.T4

# CLINICAL.md's table, copied by hand, in button order: each answer alone -> tier.
CHECKIN_TABLE: dict[str, dict[str, Tier | None]] = {
    "Q1": {
        "none": None,
        "chest_breathing": T1,
        "faint_seizure": T1,
        "stroke_signs": T1,
        "headache_sudden": T1,
        "bleeding_black": T1,
        "swelling_face": T1,
    },
    "Q2": {"no": None, "once": T2, "repeated": T2, "unmeasured": T3},
    "Q3": {"none": None, "cough": T3, "urine_burning": T3, "cold_sores": T3, "red_hot_wound": T3},
    "Q4": {
        "none": None,
        "foamy_urine": T3,
        "red_urine": T3,
        "new_swelling": T3,
        "much_less_urine": T2,
    },
    "Q5": {"none": None, "bruises": T3, "red_dots": T2, "gum_nose_bleed": T2, "heavy_period": T2},
    "Q6": {
        "none": None,
        "rash": T3,
        "mouth_nose_sores": T3,
        "hair_loss": T4,
        "blister_peel_eye": T1,
    },
    "Q7": {"none": None, "pain": T4, "swollen_1_2": T3, "swollen_3_limits": T3},
    "Q8": {"no": None, "yes": T2},
    "Q9": {
        "none": None,
        "headache": T2,
        "memory": T2,
        "unsteady_weak": T2,
        "blurred_vision": T2,
        "halluc_self_harm": T1,
    },
    "Q10": {"no": None, "yes": T2},
    "Q11": {"no": None, "some": T4, "a_lot": T4},
    "Q12": {"better": None, "same": None, "bit_worse": T4, "much_worse": T3},
    "Q13": {"no": None, "yes": T2},
}
POST_INFUSION_TABLE: dict[str, tuple[Tier | None, Tier | None]] = {  # (24-hour, 7-day)
    "none": (None, None),
    "fever_chills": (T2, T2),
    "rash_itch_hives": (T2, T3),
    "swelling_breath": (T1, T1),
}
CONTRACEPTION_TABLE: dict[str, dict[str, Tier | None]] = {
    "C1": {"yes": None, "not_always": T3, "stopped_changed": T3},
    "C2": {"no": None, "not_sure": T2, "yes": T2},
    "C3": {"no": None, "not_sure": T3, "yes": T3},
}
URGENCY = {T1: 0, T2: 1, T3: 2, T4: 3, None: 4}
RAISED = {T1: T1, T2: T2, T3: T2, T4: T3}
SYMPTOMS = [f"Q{n}" for n in range(1, 12)]
CHECKIN_PAIRS = [(q.code, a) for q in CHECKIN for a in q.answers]
MUCH_WORSE = {"Q12": ("much_worse",)}


def alone(code: str, answer: str) -> Tier | None:
    return triage_checkin({code: (answer,)}).tier


def only(result: TriageResult) -> Finding:
    assert len(result.findings) == 1
    return result.findings[0]


# The table, answer by answer


def test_tables_list_every_answer_in_button_order() -> None:
    assert {code: list(t) for code, t in CHECKIN_TABLE.items()} == {
        q.code: list(q.answers) for q in CHECKIN
    }
    assert list(POST_INFUSION_TABLE) == list(POST_INFUSION.answers)
    assert {code: list(t) for code, t in CONTRACEPTION_TABLE.items()} == {
        q.code: list(q.answers) for q in CONTRACEPTION
    }
    codes = {(q.code, a) for q in ALL_QUESTIONS for a in q.answers}
    assert set(BASE_TIERS) <= codes


@pytest.mark.parametrize(("code", "answer"), CHECKIN_PAIRS)
def test_each_checkin_answer_alone(code: str, answer: str) -> None:
    expected = CHECKIN_TABLE[code][answer]
    result = triage_checkin({code: (answer,)})
    assert result.tier == expected
    assert result.red_flag is (expected is T1)
    if expected is None:
        assert result.findings == ()
    else:
        assert only(result) == Finding(code, answer, expected, Rule.BASE)


@pytest.mark.parametrize("q", [*CHECKIN, POST_INFUSION, *CONTRACEPTION], ids=lambda q: q.code)
def test_the_first_button_is_always_benign(q: Question) -> None:
    if q in CONTRACEPTION:
        result = triage_contraception({q.code: (q.benign,)})
    elif q is POST_INFUSION:
        result = triage_post_infusion((q.benign,), first_day=True)
    else:
        result = triage_checkin({q.code: (q.benign,)})
    assert result == TriageResult(None, ())


def test_nothing_answered_reports_nothing() -> None:
    assert triage_checkin({}) == TriageResult(None, ())
    assert triage_checkin({"Q1": ()}) == TriageResult(None, ())
    assert triage_post_infusion((), first_day=True) == TriageResult(None, ())
    assert triage_contraception({}) == TriageResult(None, ())


def test_all_clear_checkin() -> None:
    answers = {q.code: (q.benign,) for q in CHECKIN}
    assert triage_checkin(answers) == TriageResult(None, ())
    assert triage_checkin({**answers, "Q12": ("same",)}).tier is None


def test_q1_stop_case_only_q1_answered() -> None:
    result = triage_checkin({"Q1": ("stroke_signs", "chest_breathing")})
    assert result.tier is T1
    assert result.red_flag
    assert [(f.question, f.answer) for f in result.findings] == [
        ("Q1", "chest_breathing"),
        ("Q1", "stroke_signs"),
    ]


# Multi-select combinations


@pytest.mark.parametrize("fever", ["once", "repeated", "unmeasured"])
@pytest.mark.parametrize("item", ["cough", "urine_burning", "cold_sores", "red_hot_wound"])
def test_q3_is_t2_with_any_fever_answer(fever: str, item: str) -> None:
    result = triage_checkin({"Q2": (fever,), "Q3": (item,)})
    assert result.tier is T2
    q3 = [f for f in result.findings if f.question == "Q3"]
    assert q3 == [Finding("Q3", item, T2, Rule.WITH_FEVER)]


@pytest.mark.parametrize("item", ["cough", "urine_burning", "cold_sores", "red_hot_wound"])
def test_q3_is_t3_without_fever(item: str) -> None:
    for answers in ({"Q3": (item,)}, {"Q2": ("no",), "Q3": (item,)}):
        assert only(triage_checkin(answers)) == Finding("Q3", item, T3, Rule.BASE)


def test_unmeasured_fever_alone_is_t3_but_makes_q3_t2() -> None:
    result = triage_checkin({"Q2": ("unmeasured",), "Q3": ("cough",)})
    assert result.findings == (
        Finding("Q3", "cough", T2, Rule.WITH_FEVER),
        Finding("Q2", "unmeasured", T3, Rule.BASE),
    )


def test_q5_bruises_only_is_t3() -> None:
    assert only(triage_checkin({"Q5": ("bruises",)})) == Finding("Q5", "bruises", T3, Rule.BASE)


@pytest.mark.parametrize("other", ["red_dots", "gum_nose_bleed", "heavy_period"])
def test_q5_bruises_with_another_item_is_t2_each_item_its_own_tier(other: str) -> None:
    result = triage_checkin({"Q5": ("bruises", other)})
    assert result.tier is T2
    assert result.findings == (
        Finding("Q5", other, T2, Rule.BASE),
        Finding("Q5", "bruises", T3, Rule.BASE),
    )


def test_q4_much_less_urine_is_t2_the_others_t3() -> None:
    result = triage_checkin({"Q4": ("foamy_urine", "much_less_urine", "red_urine")})
    assert [(f.answer, f.tier) for f in result.findings] == [
        ("much_less_urine", T2),
        ("foamy_urine", T3),
        ("red_urine", T3),
    ]


@pytest.mark.parametrize(
    ("items", "tier"),
    [
        (("hair_loss",), T4),
        (("rash", "hair_loss"), T3),
        (("mouth_nose_sores", "hair_loss"), T3),
        (("hair_loss", "blister_peel_eye"), T1),
        (("rash", "mouth_nose_sores", "hair_loss", "blister_peel_eye"), T1),
    ],
)
def test_q6_combinations(items: tuple[str, ...], tier: Tier) -> None:
    assert triage_checkin({"Q6": items}).tier is tier


def test_q9_self_harm_is_t1_the_rest_t2() -> None:
    result = triage_checkin({"Q9": ("memory", "halluc_self_harm")})
    assert result.red_flag
    assert [(f.answer, f.tier) for f in result.findings] == [
        ("halluc_self_harm", T1),
        ("memory", T2),
    ]


def test_findings_are_sorted_by_tier_then_question_order() -> None:
    result = triage_checkin(
        {
            "Q13": ("yes",),
            "Q11": ("some",),
            "Q6": ("hair_loss", "rash"),
            "Q4": ("much_less_urine",),
            "Q1": ("none",),
            "Q9": ("headache",),
        }
    )
    assert [(f.question, f.answer) for f in result.findings] == [
        ("Q4", "much_less_urine"),
        ("Q9", "headache"),
        ("Q13", "yes"),
        ("Q6", "rash"),
        ("Q6", "hair_loss"),
        ("Q11", "some"),
    ]
    assert result.tier is T2
    assert not result.red_flag


# The raise rule (Q12 "much worse")


def test_clinical_raise_examples() -> None:
    hair = triage_checkin({"Q6": ("hair_loss",), **MUCH_WORSE})
    assert hair.tier is T3
    assert Finding("Q6", "hair_loss", T3, Rule.RAISED_MUCH_WORSE) in hair.findings
    joints = triage_checkin({"Q7": ("swollen_1_2",), **MUCH_WORSE})
    assert joints.tier is T2
    assert Finding("Q7", "swollen_1_2", T2, Rule.RAISED_MUCH_WORSE) in joints.findings
    for fever in ("once", "repeated"):
        result = triage_checkin({"Q2": (fever,), **MUCH_WORSE})
        assert result.tier is T2
        assert Finding("Q2", fever, T2, Rule.BASE) in result.findings


@pytest.mark.parametrize(
    ("code", "answer"),
    [(c, a) for c, a in CHECKIN_PAIRS if c in SYMPTOMS and CHECKIN_TABLE[c][a] is not None],
)
def test_every_symptom_with_much_worse(code: str, answer: str) -> None:
    base = CHECKIN_TABLE[code][answer]
    assert base is not None
    result = triage_checkin({code: (answer,), **MUCH_WORSE})
    finding = next(f for f in result.findings if f.question == code)
    assert finding.tier is RAISED[base]
    assert (finding.tier is T1) is (base is T1), "a raise never makes T1"
    if base in (T3, T4):
        assert finding.rule is Rule.RAISED_MUCH_WORSE
    else:
        assert finding.rule is Rule.BASE  # T1 and T2 stay as they are
    assert Finding("Q12", "much_worse", T3, Rule.BASE) in result.findings


def test_q12_itself_is_not_raised() -> None:
    assert only(triage_checkin(MUCH_WORSE)) == Finding("Q12", "much_worse", T3, Rule.BASE)
    result = triage_checkin({"Q12": ("bit_worse",), "Q6": ("hair_loss",)})
    assert result.findings == (
        Finding("Q6", "hair_loss", T4, Rule.BASE),
        Finding("Q12", "bit_worse", T4, Rule.BASE),
    )


def test_q13_stays_t2_with_much_worse() -> None:
    result = triage_checkin({"Q13": ("yes",), **MUCH_WORSE})
    assert Finding("Q13", "yes", T2, Rule.BASE) in result.findings


def test_q3_with_fever_and_much_worse_stays_t2() -> None:
    result = triage_checkin({"Q2": ("unmeasured",), "Q3": ("cough",), **MUCH_WORSE})
    assert result.tier is T2
    assert Finding("Q3", "cough", T2, Rule.WITH_FEVER) in result.findings
    assert Finding("Q2", "unmeasured", T2, Rule.RAISED_MUCH_WORSE) in result.findings


def test_much_worse_with_everything_t4_to_t3_gives_t2_overall_at_most() -> None:
    answers = {"Q6": ("hair_loss", "rash"), "Q7": ("pain",), "Q11": ("a_lot",), **MUCH_WORSE}
    result = triage_checkin(answers)
    assert result.tier is T2
    assert [(f.answer, f.tier) for f in result.findings] == [
        ("rash", T2),
        ("hair_loss", T3),
        ("pain", T3),
        ("a_lot", T3),
        ("much_worse", T3),
    ]


# The repeated-T4 rule


@pytest.mark.parametrize("pair", sorted(T4_SYMPTOMS))
def test_the_same_t4_symptom_twice_in_a_row_is_t3(pair: tuple[str, str]) -> None:
    code, answer = pair
    first = triage_checkin({code: (answer,)})
    assert first.tier is T4
    second = triage_checkin({code: (answer,)}, t4_pairs(first))
    assert only(second) == Finding(code, answer, T3, Rule.REPEATED_T4)


def test_t4_symptoms_are_those_of_the_table() -> None:
    assert {
        ("Q6", "hair_loss"),
        ("Q7", "pain"),
        ("Q11", "some"),
        ("Q11", "a_lot"),
        ("Q12", "bit_worse"),
    } == T4_SYMPTOMS


@pytest.mark.parametrize(
    ("before", "now", "tier"),
    [
        (("Q11", "some"), ("Q11", "a_lot"), T3),  # the same symptom, worse: T3
        (("Q11", "some"), ("Q11", "some"), T3),
        (("Q11", "a_lot"), ("Q11", "a_lot"), T3),
        (("Q11", "a_lot"), ("Q11", "some"), T4),  # better than last time: not repeated
        (("Q7", "pain"), ("Q11", "some"), T4),  # another question
        (("Q6", "hair_loss"), ("Q7", "pain"), T4),
        (("Q12", "bit_worse"), ("Q12", "bit_worse"), T3),
    ],
)
def test_the_same_t4_question_twice_in_a_row_is_t3_when_the_same_or_worse(
    before: tuple[str, str], now: tuple[str, str], tier: Tier
) -> None:
    previous = t4_pairs(triage_checkin({before[0]: (before[1],)}))
    result = triage_checkin({now[0]: (now[1],)}, previous)
    rule = Rule.REPEATED_T4 if tier is T3 else Rule.BASE
    assert only(result) == Finding(now[0], now[1], tier, rule)


def test_a_different_t4_question_stays_t4() -> None:
    previous = t4_pairs(triage_checkin({"Q11": ("some",), "Q7": ("pain",)}))
    result = triage_checkin({"Q12": ("bit_worse",), "Q6": ("hair_loss",)}, previous)
    assert result.tier is T4
    assert all(f.rule is Rule.BASE for f in result.findings)


def test_a_pair_that_was_t4_and_is_raised_now_is_t3_by_the_raise() -> None:
    previous = frozenset({("Q6", "hair_loss")})
    result = triage_checkin({"Q6": ("hair_loss",), **MUCH_WORSE}, previous)
    assert Finding("Q6", "hair_loss", T3, Rule.RAISED_MUCH_WORSE) in result.findings


def test_a_persisting_t4_symptom_stays_t3() -> None:
    answers = {"Q7": ("pain",)}
    tiers = []
    previous: frozenset[tuple[str, str]] = frozenset()
    for _ in range(4):
        result = triage_checkin(answers, previous)
        tiers.append(result.tier)
        previous = t4_pairs(result)
    assert tiers == [T4, T3, T3, T3]


def test_a_t4_symptom_raised_last_time_still_counts() -> None:
    last = triage_checkin({"Q6": ("hair_loss",), **MUCH_WORSE})
    assert t4_pairs(last) == {("Q6", "hair_loss")}
    now = triage_checkin({"Q6": ("hair_loss",)}, t4_pairs(last))
    assert only(now) == Finding("Q6", "hair_loss", T3, Rule.REPEATED_T4)


def test_previous_pairs_that_are_not_t4_change_nothing() -> None:
    previous = frozenset({("Q6", "rash"), ("Q4", "much_less_urine"), ("Q99", "x")})
    answers = {"Q6": ("rash",), "Q4": ("much_less_urine",)}
    assert triage_checkin(answers, previous) == triage_checkin(answers)


# Post-infusion


@pytest.mark.parametrize("first_day", [True, False])
@pytest.mark.parametrize("answer", list(POST_INFUSION_TABLE))
def test_each_post_infusion_answer(answer: str, first_day: bool) -> None:
    on_first_day, on_seventh_day = POST_INFUSION_TABLE[answer]
    expected = on_first_day if first_day else on_seventh_day
    assert triage_post_infusion((answer,), first_day=first_day).tier == expected


@pytest.mark.parametrize(
    ("first_day", "tier", "rule"), [(True, T2, Rule.WITHIN_24H), (False, T3, Rule.AFTER_24H)]
)
def test_post_infusion_rash_depends_on_which_question_not_the_hour(
    first_day: bool, tier: Tier, rule: Rule
) -> None:
    """CLINICAL.md's refinement: the 24-hour question is about the first day, so a rash on
    it is T2 whatever hour it is answered; on the 7-day question it is T3."""
    result = triage_post_infusion(("rash_itch_hives",), first_day=first_day)
    assert only(result) == Finding("PI", "rash_itch_hives", tier, rule)


def test_post_infusion_combination() -> None:
    result = triage_post_infusion(
        ("swelling_breath", "rash_itch_hives", "fever_chills"), first_day=False
    )
    assert result.red_flag
    assert [(f.answer, f.tier) for f in result.findings] == [
        ("swelling_breath", T1),
        ("fever_chills", T2),
        ("rash_itch_hives", T3),
    ]


def test_post_infusion_refuses_invalid_answers() -> None:
    with pytest.raises(ValueError):
        triage_post_infusion(("none", "fever_chills"), first_day=True)
    with pytest.raises(ValueError):
        triage_post_infusion(("cough",), first_day=True)


# Contraception


@pytest.mark.parametrize(
    ("code", "answer"), [(q.code, a) for q in CONTRACEPTION for a in q.answers]
)
def test_each_contraception_answer(code: str, answer: str) -> None:
    expected = CONTRACEPTION_TABLE[code][answer]
    result = triage_contraception({code: (answer,)})
    assert result.tier == expected
    assert result.possible_pregnancy is (code == "C2" and expected is not None)
    assert not result.red_flag


def test_contraception_together() -> None:
    result = triage_contraception({"C1": ("stopped_changed",), "C2": ("not_sure",), "C3": ("yes",)})
    assert result.tier is T2
    assert result.possible_pregnancy
    assert [f.question for f in result.findings] == ["C2", "C1", "C3"]
    clear = triage_contraception({"C1": ("yes",), "C2": ("no",), "C3": ("no",)})
    assert clear == TriageResult(None, ())
    assert not clear.possible_pregnancy


# Invalid input and the evidence format


@pytest.mark.parametrize(
    "answers",
    [
        {"Q14": ("no",)},
        {"PI": ("none",)},
        {"C1": ("yes",)},
        {"Q2": ("once", "repeated")},
        {"Q3": ("none", "cough")},
        {"Q7": ("swollen",)},
    ],
)
def test_checkin_refuses_invalid_answers(answers: dict[str, tuple[str, ...]]) -> None:
    with pytest.raises(ValueError):
        triage_checkin(answers)


def test_contraception_refuses_checkin_questions() -> None:
    with pytest.raises(ValueError):
        triage_contraception({"Q1": ("none",)})


def test_findings_serialise_as_plain_strings() -> None:
    result = triage_checkin({"Q6": ("hair_loss",), **MUCH_WORSE})
    evidence = json.loads(json.dumps([dataclasses.asdict(f) for f in result.findings]))
    assert evidence[0] == {
        "question": "Q6",
        "answer": "hair_loss",
        "tier": "T3",
        "rule": "raised_much_worse",
    }


def test_rule_vocabulary_is_fixed() -> None:
    assert {str(rule) for rule in Rule} == {
        "base",
        "with_fever",
        "raised_much_worse",
        "repeated_t4",
        "within_24h",
        "after_24h",
    }


# Properties


def chosen_for(q: Question) -> st.SearchStrategy[tuple[str, ...]]:
    """A valid answer to one question, in any order and with repeats."""
    if not q.multi:
        return st.sampled_from(q.answers).map(lambda answer: (answer,))
    items = st.lists(st.sampled_from(q.items), min_size=1, max_size=2 * len(q.items))
    return st.one_of(st.just((q.benign,)), items.map(tuple))


checkin_answers = st.fixed_dictionaries({}, optional={q.code: chosen_for(q) for q in CHECKIN})
previous_sets = st.frozensets(st.sampled_from(CHECKIN_PAIRS))


@given(checkin_answers, previous_sets, st.randoms(use_true_random=False))
def test_triage_is_deterministic_and_order_free(answers, previous, random) -> None:
    result = triage_checkin(answers, previous)
    assert triage_checkin(answers, previous) == result
    shuffled = list(answers.items())
    random.shuffle(shuffled)
    reordered = {code: tuple(random.sample(chosen, len(chosen))) for code, chosen in shuffled}
    assert triage_checkin(reordered, previous) == result


@given(checkin_answers, previous_sets)
def test_combining_answers_never_lowers_a_tier_and_never_invents_t1(answers, previous) -> None:
    """An answer "alone" is that answer as the only one of a check-in, with no history.

    So a Q3 item alone is T3 (no fever) and bruises alone are T3 (bruises only). Every
    combination rule (fever, "much worse", repeated T4) only raises, by one tier at most
    overall, and never to T1.
    """
    result = triage_checkin(answers, previous)
    pairs = {(code, a) for code, chosen in answers.items() for a in chosen}
    alone_tiers = {pair: alone(*pair) for pair in pairs}
    reported = {pair: tier for pair, tier in alone_tiers.items() if tier is not None}

    assert {(f.question, f.answer) for f in result.findings} == set(reported)
    for finding in result.findings:
        assert URGENCY[finding.tier] <= URGENCY[reported[finding.question, finding.answer]]
        assert (finding.tier is T1) is (reported[finding.question, finding.answer] is T1)

    highest_alone = min(reported.values(), key=URGENCY.__getitem__, default=None)
    assert URGENCY[result.tier] <= URGENCY[highest_alone]
    if highest_alone is not None:
        assert URGENCY[result.tier] >= URGENCY[highest_alone] - 1
    assert result.red_flag is (highest_alone is T1)
    assert result.tier == min(
        (f.tier for f in result.findings), key=URGENCY.__getitem__, default=None
    )
    assert list(result.findings) == sorted(
        result.findings,
        key=lambda f: (URGENCY[f.tier], CHECKIN_PAIRS.index((f.question, f.answer))),
    )


@given(checkin_answers, previous_sets)
def test_t4_pairs_depend_only_on_the_answers(answers, previous) -> None:
    pairs = t4_pairs(triage_checkin(answers, previous))
    assert pairs == t4_pairs(triage_checkin(answers))
    assert pairs == {(c, a) for c, chosen in answers.items() for a in chosen} & T4_SYMPTOMS
