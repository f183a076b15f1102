"""Hypothesis strategies for callback data: forged, crafted with real prefixes, or junk.

Telegram lets a modified client send any callback data of 1-64 bytes for a message it sees;
the bot must trust none of it. Crafted data use the bot's own formats (`v:`, `a:`, `c:`,
`t:`, `d:`, `b:`, `x:`, `w:`, `r:`, `e:`, `lang:`) with ids of other people's rows; the
typed kinds of `messages.callbacks` are built from their classes, beside near misses that
no class packs.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from messages.callbacks import ENROLL_CHOICES, DoseDecision, EnrollChoice, WithdrawAnswer
from study.protocol import Arm
from study.questionnaire import ALL_QUESTIONS
from tests.fuzz.texts import ARMS, LANGUAGES, SITES, YES_NO

MAX_DATA_BYTES = 64
QUESTION_CODES = (*(q.code for q in ALL_QUESTIONS), "Q0", "Q99", "ZZZZZ", "q1")
ANSWERS = (*sorted({a for q in ALL_QUESTIONS for a in q.answers}), "Zz", "none!", "a" * 17)


def within_limit(data: str) -> str:
    """Cut to Telegram's 64 bytes (on a character boundary); never empty."""
    cut = data.encode()[:MAX_DATA_BYTES].decode(errors="ignore")
    return cut or "."


def row_ids(known: Sequence[int]) -> st.SearchStrategy[int]:
    """Ids of real rows (the victims' among them), small ones, and out-of-range ones."""
    return st.one_of(
        st.sampled_from(known) if known else st.nothing(),
        st.integers(min_value=0, max_value=60),
        st.sampled_from((10**12 - 1, 10**12, 2**63, 2**64)),
        st.integers(min_value=-5, max_value=-1),
    )


def crafted(known: Sequence[int]) -> st.SearchStrategy[str]:
    ids = row_ids(known)
    code, answer = st.sampled_from(QUESTION_CODES), st.sampled_from(ANSWERS)
    pick = st.sampled_from
    return st.one_of(
        st.builds("lang:{}".format, pick(LANGUAGES)),
        st.builds("v:{}:{}".format, ids, pick(("ok", "rs", "xx", ""))),
        st.builds("a:{}:{}".format, ids, pick(("ack", "res", "del"))),
        st.builds("{}:{}:{}:{}".format, pick(("c", "t")), ids, code, answer),
        st.builds("d:{}:{}".format, ids, code),
        st.builds("b:{}".format, ids),
        st.builds("b:{}:{}".format, ids, code),
        st.builds("x:{}".format, ids),
        team_presses(known),
    ).map(within_limit)


# The study team's buttons: packed by their classes (with the victims' row ids), and near
# misses (ids out of range, answers and steps that no class packs).


def team_presses(known: Sequence[int]) -> st.SearchStrategy[str]:
    ids = row_ids(known).filter(lambda i: 1 <= i < 10**10)
    pick = st.sampled_from
    packed = st.one_of(
        st.builds(WithdrawAnswer, ids, pick(("yes", "no"))),
        st.builds(DoseDecision, ids, pick(("ok", "no"))),
        st.builds(EnrollChoice, st.just("site"), pick(("ZJU2", "PUMCH", "XJTU", "zju2"))),
        st.builds(EnrollChoice, st.just("arm"), pick([arm.value for arm in Arm])),
        st.builds(EnrollChoice, st.just("day"), st.just("today")),
        st.builds(EnrollChoice, st.just("lang"), pick(("zh", "en"))),
        st.builds(EnrollChoice, st.just("preg"), pick(("yes", "no"))),
    ).map(lambda press: press.pack())
    values = (*SITES, *ARMS, *LANGUAGES, *YES_NO, "today", "tomorrow", "junk", "x" * 40)
    near_misses = st.one_of(
        st.builds("w:{}:{}".format, row_ids(known), pick(YES_NO)),
        st.builds("r:{}:{}".format, row_ids(known), pick(("ok", "no", "yes"))),
        st.builds("e:{}:{}".format, pick((*ENROLL_CHOICES, "language", "")), pick(values)),
    )
    return st.one_of(packed, near_misses)


def junk() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(min_size=1, max_size=MAX_DATA_BYTES),
        st.binary(min_size=1, max_size=MAX_DATA_BYTES).map(lambda b: b.decode("latin-1")),
        st.sampled_from(("c:", "a:1", "w:", "lang:", "::::", "v:1:ok:extra", "c:1:Q1:none\n")),
    ).map(within_limit)
