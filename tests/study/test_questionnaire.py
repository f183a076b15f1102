"""The questionnaires as data: the interface convention, the codes, the answer validation."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from study.questionnaire import (
    ALL_QUESTIONS,
    CHECKIN,
    CONTRACEPTION,
    POST_INFUSION,
    QUESTIONNAIRE_VERSION,
    Question,
    next_question,
    previous_question,
    question,
    validate_answers,
)

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
BENIGN = {
    **{f"Q{n}": "none" for n in (1, 3, 4, 5, 6, 7, 9)},
    **{f"Q{n}": "no" for n in (2, 8, 10, 11, 13)},
    "Q12": "better",
    "PI": "none",
    "C1": "yes",
    "C2": "no",
    "C3": "no",
}
MULTI = {"Q1", "Q3", "Q4", "Q5", "Q6", "Q9", "PI"}


def test_version_is_recorded_as_a_short_string() -> None:
    assert QUESTIONNAIRE_VERSION == "2026.2"  # the wording of the clinical review
    assert len(QUESTIONNAIRE_VERSION) <= 16  # CheckIn.questionnaire_version


def test_questionnaires_in_order() -> None:
    assert [q.code for q in CHECKIN] == [f"Q{n}" for n in range(1, 14)]
    assert POST_INFUSION.code == "PI"
    assert [q.code for q in CONTRACEPTION] == ["C1", "C2", "C3"]
    assert ALL_QUESTIONS == (*CHECKIN, POST_INFUSION, *CONTRACEPTION)


@pytest.mark.parametrize("q", ALL_QUESTIONS, ids=lambda q: q.code)
def test_interface_convention(q: Question) -> None:
    assert q.benign == q.answers[0] == BENIGN[q.code]
    assert q.items == q.answers[1:]
    assert q.multi is (q.code in MULTI)
    assert len(q.answers) >= 2
    assert SNAKE.match(q.domain)


@pytest.mark.parametrize("q", ALL_QUESTIONS, ids=lambda q: q.code)
def test_answer_codes_fit_in_callback_data(q: Question) -> None:
    assert len(set(q.answers)) == len(q.answers)
    for answer in q.answers:
        assert answer.isascii()
        assert SNAKE.match(answer), answer
        assert len(answer) <= 16
        assert len(f"c:{10**12 - 1}:{q.code}:{answer}".encode()) <= 64


def test_question_codes_are_unique_and_looked_up() -> None:
    assert len({q.code for q in ALL_QUESTIONS}) == len(ALL_QUESTIONS)
    for q in ALL_QUESTIONS:
        assert question(q.code) is q
    with pytest.raises(KeyError):
        question("Q14")


def test_next_and_previous_walk_the_questionnaire() -> None:
    codes = [q.code for q in CHECKIN]
    for before, after in itertools.pairwise(codes):
        assert next_question(CHECKIN, before) == question(after)
        assert previous_question(CHECKIN, after) == question(before)
    assert next_question(CHECKIN, "Q13") is None
    assert previous_question(CHECKIN, "Q1") is None
    assert next_question(CONTRACEPTION, "C3") is None
    assert next_question((POST_INFUSION,), "PI") is None
    with pytest.raises(KeyError):
        next_question(CHECKIN, "C1")
    with pytest.raises(KeyError):
        previous_question(CONTRACEPTION, "Q1")


def _valid_choices(q: Question) -> list[tuple[str, ...]]:
    if not q.multi:
        return [(answer,) for answer in q.answers]
    subsets = [
        combo
        for size in range(1, len(q.items) + 1)
        for combo in itertools.combinations(q.items, size)
    ]
    return [(q.benign,), *subsets]


@pytest.mark.parametrize("q", ALL_QUESTIONS, ids=lambda q: q.code)
def test_every_valid_choice_is_accepted_unchanged(q: Question) -> None:
    choices = _valid_choices(q)
    assert len(choices) == (2 ** len(q.items) if q.multi else len(q.answers))
    for chosen in choices:
        assert validate_answers(q, chosen) == chosen


@given(st.data())
def test_validation_normalises_order_and_duplicates(data: st.DataObject) -> None:
    q = data.draw(st.sampled_from(ALL_QUESTIONS))
    chosen = data.draw(st.sampled_from(_valid_choices(q)))
    scrambled = data.draw(st.permutations(chosen + chosen))
    assert validate_answers(q, scrambled) == chosen
    assert validate_answers(q, list(scrambled)) == chosen


@given(st.data())
def test_unknown_codes_are_refused(data: st.DataObject) -> None:
    q = data.draw(st.sampled_from(ALL_QUESTIONS))
    chosen = data.draw(st.sampled_from(_valid_choices(q)))
    stranger = data.draw(st.text(min_size=1, max_size=20).filter(lambda s: s not in q.answers))
    with pytest.raises(ValueError, match="unknown"):
        validate_answers(q, (*chosen, stranger))


@given(st.data())
def test_none_with_items_is_refused(data: st.DataObject) -> None:
    q = data.draw(st.sampled_from([q for q in ALL_QUESTIONS if q.multi]))
    items = data.draw(st.sets(st.sampled_from(q.items), min_size=1))
    with pytest.raises(ValueError, match="excludes"):
        validate_answers(q, (q.benign, *items))


@given(st.data())
def test_two_answers_to_a_single_choice_question_are_refused(data: st.DataObject) -> None:
    q = data.draw(st.sampled_from([q for q in ALL_QUESTIONS if not q.multi]))
    two = data.draw(st.sets(st.sampled_from(q.answers), min_size=2))
    with pytest.raises(ValueError, match="only one"):
        validate_answers(q, tuple(two))


@pytest.mark.parametrize("q", ALL_QUESTIONS, ids=lambda q: q.code)
def test_nothing_chosen_is_refused(q: Question) -> None:
    with pytest.raises(ValueError, match="no answer"):
        validate_answers(q, ())


def test_a_bare_string_is_refused() -> None:
    with pytest.raises(TypeError):
        validate_answers(question("Q2"), "no")
