"""The study team's buttons' data: packed and parsed by one class each, byte for byte what the
buttons already in chats carry, and strict: nothing but a packed value parses."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messages.callbacks import (
    ENROLL_CHOICES,
    AttendedAnyway,
    CallbackData,
    DoseDecision,
    EnrollChoice,
    RosterPage,
    VisitAnyway,
    WithdrawAnswer,
    parse_any,
)
from messages.render import MAX_CALLBACK_BYTES
from study.protocol import Arm

IDS = st.integers(min_value=1, max_value=10**9 - 1)  # ids below 10**9 (32-bit on PostgreSQL)
SITE_CODES = st.from_regex(r"[A-Za-z0-9_-]{1,16}", fullmatch=True)
CHOICES = st.one_of(
    st.builds(EnrollChoice, st.just("site"), SITE_CODES),
    st.builds(EnrollChoice, st.just("arm"), st.sampled_from([arm.value for arm in Arm])),
    st.builds(EnrollChoice, st.just("day"), st.just("today")),
    st.builds(EnrollChoice, st.just("lang"), st.sampled_from(("zh", "en"))),
    st.builds(EnrollChoice, st.just("preg"), st.sampled_from(("yes", "no"))),
)
VISIT_DAYS = st.dates(min_value=date(1000, 1, 1)).map(lambda day: day.strftime("%Y%m%d"))
VISIT_TIMES = st.one_of(st.just("-"), st.times().map(lambda at: at.strftime("%H%M")))
TEAM_PRESSES = st.one_of(
    st.builds(WithdrawAnswer, IDS, st.sampled_from(("yes", "no"))),
    st.builds(DoseDecision, IDS, st.sampled_from(("ok", "no"))),
    CHOICES,
    st.builds(RosterPage, st.integers(min_value=1, max_value=9999)),
    st.builds(VisitAnyway, IDS, st.integers(min_value=0, max_value=999), VISIT_DAYS, VISIT_TIMES),
    st.builds(AttendedAnyway, IDS, st.integers(min_value=0, max_value=999), VISIT_DAYS),
)
TEAM_KINDS = (WithdrawAnswer, DoseDecision, EnrollChoice, RosterPage, VisitAnyway, AttendedAnyway)


@given(TEAM_PRESSES)
def test_every_team_press_parses_back_within_telegrams_limit(press: CallbackData) -> None:
    data = press.pack()
    assert len(data.encode()) <= MAX_CALLBACK_BYTES
    assert type(press).parse(data) == press
    assert parse_any(data) == press


@given(st.text(max_size=70))
def test_nothing_but_packed_data_parses(data: str) -> None:
    for kind in TEAM_KINDS:
        parsed = kind.parse(data)
        assert parsed is None or parsed.pack() == data


@pytest.mark.parametrize(
    ("press", "data"),
    [
        (WithdrawAnswer(17, "yes"), "w:17:yes"),
        (WithdrawAnswer(17, "no"), "w:17:no"),
        (DoseDecision(4, "ok"), "r:4:ok"),
        (DoseDecision(4, "no"), "r:4:no"),
        (EnrollChoice("site", "ZJU2"), "e:site:ZJU2"),
        (EnrollChoice("arm", "individualized"), "e:arm:individualized"),
        (EnrollChoice("day", "today"), "e:day:today"),
        (EnrollChoice("lang", "zh"), "e:lang:zh"),
        (EnrollChoice("preg", "no"), "e:preg:no"),
        (RosterPage(2), "ro:2"),
        (VisitAnyway(7, 1, "20260630", "1030"), "va:7:1:20260630:1030"),
        (VisitAnyway(7, 0, "20260630", "-"), "va:7:0:20260630:-"),
        (AttendedAnyway(7, 1, "20260210"), "aa:7:1:20260210"),
    ],
)
def test_buttons_already_in_chats_keep_working(press: CallbackData, data: str) -> None:
    assert press.pack() == data
    assert parse_any(data) == press


@pytest.mark.parametrize(
    "data",
    [
        "w:0:yes",
        "w:01:yes",
        "w:1:ok",
        "w:1:yes:",
        "r:1:yes",
        "r:-1:ok",
        "r:12345678901:ok",
        "e:arm:junk",
        "e:day:tomorrow",
        "e:lang:fr",
        "e:preg:YES",
        "e:site:",
        "e:site:a:b",
        "e:language:zh",
        "ro:0",
        "ro:01",
        "ro:10000",
        "ro:",
        "va:1:1:20261399:-",
        "va:1:1:20260230:-",
        "va:1:1:20260630:2400",
        "va:1:1:20260630:1060",
        "va:1:1:2026-06-30:-",
        "va:1:1:20260630",
        "va:0:1:20260630:-",
        "aa:1:1:20260230",
        "aa:1:1:2026-02-10",
        "aa:1:1:20260210:-",
        "aa:0:1:20260210",
    ],
)
def test_near_misses_are_refused(data: str) -> None:
    assert parse_any(data) is None


@pytest.mark.parametrize(("step", "value"), [("arm", "both"), ("day", "now"), ("preg", "maybe")])
def test_a_choice_its_step_does_not_offer_cannot_be_built(step: str, value: str) -> None:
    with pytest.raises(ValueError, match="is not a choice"):
        EnrollChoice(step, value)


@given(CHOICES)
def test_each_enrolment_step_takes_only_its_own_choices(choice: EnrollChoice) -> None:
    data = choice.pack()
    assert [step for step in ENROLL_CHOICES if EnrollChoice.of_step(step)(data)] == [choice.step]
