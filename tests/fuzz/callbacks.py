"""Hypothesis strategies for callback data: forged, crafted with real prefixes, or junk.

Telegram lets a modified client send any callback data of 1-64 bytes for a message it sees;
the bot must trust none of it. Crafted data use the bot's own formats (`v:`, `a:`, `c:`,
`t:`, `d:`, `b:`, `x:`, `w:`, `r:`, `e:`, `ro:`, `va:`, `lang:`) with ids of other people's
rows (the typed kinds of `messages.callbacks` built from their classes); malformed data use the same
prefixes with parts missing (`d:<id>`, `c:<id>:<code>`), parts where they do not belong
(`x:<id>:<code>:<answer>`), or ids that only look like numbers, beside near misses that no
class packs; mangled data are a real button's with a part cut or its prefix changed
(`mangled`), so that the row is the presser's own (their open check-in, their visit) and the
handler gets past the ownership check.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from messages.callbacks import (
    ENROLL_CHOICES,
    DoseDecision,
    EnrollChoice,
    RosterPage,
    VisitAnyway,
    WithdrawAnswer,
)
from study.protocol import Arm
from study.questionnaire import ALL_QUESTIONS
from tests.fuzz.texts import ARMS, LANGUAGES, SITES, YES_NO

MAX_DATA_BYTES = 64
DAYS = ("20260302", "20260630", "20270101", "19000101")  # a visit day of the confirm button
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


# Ids that a careless parser might take for numbers.
LOOKALIKE_IDS = ("+1", "01", "1.0", "1e3", "0x1", " 1", "1 ", "１", "٣", "-0", "", "1_0", "NaN")


def malformed(known: Sequence[int]) -> st.SearchStrategy[str]:
    """The bot's prefixes with parts missing, added or mangled."""
    ids = st.one_of(row_ids(known).map(str), st.sampled_from(LOOKALIKE_IDS))
    code, answer = st.sampled_from(QUESTION_CODES), st.sampled_from(ANSWERS)
    pick = st.sampled_from
    return st.one_of(
        st.builds("{}:{}".format, pick(("c", "t", "d", "b", "x", "v", "a", "w", "r")), ids),
        st.builds("{}:{}:{}".format, pick(("c", "t")), ids, code),
        st.builds("{}:{}:{}:{}".format, pick(("d", "b", "x")), ids, code, answer),
        st.builds("{}:{}:{}".format, pick(("v", "a", "w", "r")), ids, pick(("", "OK", "ack:1"))),
        st.builds("{}:{}::{}".format, pick(("c", "t")), ids, answer),
        st.builds("{}::{}".format, pick(("c", "t", "d", "v", "a")), code),
        st.builds("{}:{}:{}".format, pick(("lang", "e:site", "e:arm", "e:day")), ids, code),
    ).map(within_limit)


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
        st.builds(RosterPage, st.integers(min_value=1, max_value=9999)),
        st.builds(VisitAnyway, ids, pick((0, 1, 2, 99)), pick(DAYS), pick(("-", "0930"))),
    ).map(lambda press: press.pack())
    values = (*SITES, *ARMS, *LANGUAGES, *YES_NO, "today", "tomorrow", "junk", "x" * 40)
    near_misses = st.one_of(
        st.builds("w:{}:{}".format, row_ids(known), pick(YES_NO)),
        st.builds("r:{}:{}".format, row_ids(known), pick(("ok", "no", "yes"))),
        st.builds("e:{}:{}".format, pick((*ENROLL_CHOICES, "language", "")), pick(values)),
        st.builds("ro:{}".format, pick(("0", "01", "-1", "", "1:2", "99999"))),
        st.builds(
            "va:{}:{}:{}:{}".format,
            row_ids(known),
            pick(("1", "-1", "", "x")),
            pick((*DAYS, "20261399", "2026-06-30", "")),
            pick(("-", "2400", "9:30", "")),
        ),
    )
    return st.one_of(packed, near_misses)


def junk() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(min_size=1, max_size=MAX_DATA_BYTES),
        st.binary(min_size=1, max_size=MAX_DATA_BYTES).map(lambda b: b.decode("latin-1")),
        st.sampled_from(("c:", "a:1", "w:", "lang:", "::::", "v:1:ok:extra", "c:1:Q1:none\n")),
    ).map(within_limit)


MANGLES = ("cut_last", "keep_id", "as_c", "as_t", "as_d", "as_b", "as_x", "as_v", "extra")


def mangled(data: str, how: str) -> str:
    """A real button's data with a part cut (`cut_last`: the last; `keep_id`: all but the
    prefix and id), its prefix changed (`as_d`: `t:12:Q1:fever` -> `d:12:Q1:fever`), or its
    last part repeated (`extra`)."""
    parts = data.split(":")
    if how == "cut_last":
        parts = parts[:-1] if len(parts) > 1 else parts
    elif how == "keep_id":
        parts = parts[:2]
    elif how.startswith("as_"):
        parts = [how.removeprefix("as_"), *parts[1:]]
    elif how == "extra":
        parts = [*parts, parts[-1]]
    return within_limit(":".join(parts))
