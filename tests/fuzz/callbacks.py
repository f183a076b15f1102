"""Hypothesis strategies for callback data: forged, crafted with real prefixes, or junk.

Telegram lets a modified client send any callback data of 1-64 bytes for a message it sees;
the bot must trust none of it. Crafted data use the bot's own formats (`v:`, `a:`, `c:`,
`t:`, `d:`, `b:`, `x:`, `w:`, `r:`, `e:`, `lang:`) with ids of other people's rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

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
        st.builds("w:{}:{}".format, ids, pick(YES_NO)),
        st.builds("r:{}:{}".format, ids, pick(("ok", "no", "yes"))),
        st.builds("e:site:{}".format, pick(SITES)),
        st.builds("e:arm:{}".format, pick((*ARMS, "junk", "x" * 40))),
        st.builds("e:day:{}".format, pick(("today", "tomorrow"))),
        st.builds("e:lang:{}".format, pick(LANGUAGES)),
        st.builds("e:preg:{}".format, pick(YES_NO)),
    ).map(within_limit)


def junk() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(min_size=1, max_size=MAX_DATA_BYTES),
        st.binary(min_size=1, max_size=MAX_DATA_BYTES).map(lambda b: b.decode("latin-1")),
        st.sampled_from(("c:", "a:1", "w:", "lang:", "::::", "v:1:ok:extra", "c:1:Q1:none\n")),
    ).map(within_limit)
