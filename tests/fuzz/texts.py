"""Hypothesis strategies for what people type: junk, look-alikes, commands with junk arguments.

Long texts are built by repeating a short piece, so that an example stays within the amount
of data Hypothesis draws for one example (8 KB) while messages reach Telegram's 4096.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TypeVar

from hypothesis import strategies as st

from study.questionnaire import ALL_QUESTIONS

MAX_TEXT = 4096
T = TypeVar("T")

EMOJI = ("👍", "🩺💉", "👨‍👩‍👧‍👦", "🏳️‍🌈", "😀😀😀", "❤️‍🔥", "🇨🇳")
RTL = ("مرحبا بك", "שלום עולם", "\u202eevil\u202c", "\u200f\u200e", "\u061c", "ܐܒܓ")
CONTROL = ("\x00", "\x07", "\x1b[31m", "\r\n", "\u2028", "\ufeff", "\u200b", "\x7f", "\t")
HTML = (
    "<b>bold</b>",
    "</i>",
    '<a href="javascript:alert(1)">x</a>',
    "&amp;",
    "&lt;",
    "&#0;",
    "<script>",
    "<",
    ">",
    "&",
    '"',
    "<tg-spoiler>",
    '<pre><code class="x">',
    "<b><i></b></i>",
)
SQL = (
    "'; DROP TABLE participant; --",
    '" OR 1=1 --',
    "1; DELETE FROM visit",
    "%",
    "_",
    "\\",
    "NULL",
    "' UNION SELECT code_hash FROM enrollmentcode --",
)
TEMPLATES = ("{{ 7*7 }}", "{% for x in range(9) %}", "%s%s%n", "{0}", "${jndi:ldap://x}")
WORDS = ("你好", "我发烧了", "怀孕", "help", "yes", "no", "是", "不", "取消", "停止", "stop")
FRAGMENTS = (*EMOJI, *RTL, *CONTROL, *HTML, *SQL, *TEMPLATES, *WORDS)

COMMANDS = (
    "help",
    "start",
    "language",
    "checkin",
    "participant",
    "upcoming",
    "alerts",
    "visit",
    "attended",
    "missed",
    "infusion",
    "given",
    "pause",
    "resume",
    "withdraw",
    "team",
    "labs",
    "confirm",
    "reject",
    "can_become_pregnant",
    "enroll",
    "cancel",
    "START",
    "export",
    "x",
)
NUMBERS = (
    "0",
    "1",
    "2",
    "8",
    "9",
    "10",
    "-1",
    "999",
    "1000",
    "99",
    "1e999",
    "nan",
    "inf",
    "-0",
    "0x10",
    "١",
    "²",
    "³",
    "３",
    "1_000",
    "99999999999999999999",
)
DATES = (
    "2026-13-45",
    "2026-02-30",
    "2026-02-29",
    "2028-02-29",
    "0001-01-01",
    "9999-12-31",
    "2026-3-2",
    "20260302",
    "2026-03-02T10:00",
    "2026-06-09",
    "2026-03-02",
    "today",
    "昨天",
)
TIMES = ("25:99", "24:00", "23:59", "10:30", "10:30:00.123+08:00", "9", "T10", "-1:00", "10:30Z")
LAB_KEYS = ("cd19", "dsdna", "c3", "lln", "CD19", "x", "")
LAB_VALUES = (
    "nan",
    "1e999+",
    "1e999",
    "-1",
    "+",
    "-",
    "inf-",
    "nan+",
    "0",
    "1e5",
    "999999",
    "1.2",
    "150+",
    "",
    "=",
    "1=2",
    "2.0",
)
ARMS = ("standard", "individualized", "Standard", "both", "")
SITES = ("ZJU2", "PUMCH", "XJTU", "zju2", "NOPE", "")
LANGUAGES = ("zh", "en", "fr", "ZH", "")
YES_NO = ("yes", "no", "YES", "maybe")
SEPARATORS = (" ", "  ", "\n", "\t", " \u3000 ")


def weighted(*options: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """Choose a strategy with these odds (`one_of` treats a repeated branch as one)."""
    expanded = [strategy for weight, strategy in options for _ in range(weight)]
    return st.sampled_from(expanded).flatmap(lambda chosen: chosen)


def bounded(text: str, limit: int = MAX_TEXT) -> str:
    """At most `limit` characters, and never blank (Telegram delivers no blank message)."""
    text = text[:limit]
    return text if text.strip() else text[: limit - 1] + "."


def repeated(piece: str, length: int) -> str:
    return (piece * (length // max(len(piece), 1) + 1))[:length] if piece else "." * length


def study_ids(known: Sequence[str]) -> st.SearchStrategy[str]:
    look_alikes = ("ZJU2-999", "zju2-001", "ZJU2_001", "ZJU2-001-", "-", "ZJU2-001;", "A" * 33)
    return st.one_of(
        st.sampled_from((*known, *look_alikes)),
        st.from_regex(r"[A-Za-z0-9-]{1,40}", fullmatch=True),
    )


def code_like(codes: Sequence[str]) -> st.SearchStrategy[str]:
    """Invite codes: real ones (of the invited, never of a victim) and look-alikes."""
    look_alikes = st.one_of(
        st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9_-]{65,70}", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9_+/=.-]{32}", fullmatch=True),
    )
    return st.one_of(st.sampled_from(codes), look_alikes) if codes else look_alikes


def lab_tokens() -> st.SearchStrategy[str]:
    return st.builds(
        lambda key, sep, value: f"{key}{sep}{value}",
        st.sampled_from(LAB_KEYS),
        st.sampled_from(("=", "==", ":", "")),
        st.sampled_from(LAB_VALUES),
    )


def argument(known_ids: Sequence[str], codes: Sequence[str]) -> st.SearchStrategy[str]:
    question_codes = tuple(q.code for q in ALL_QUESTIONS)
    return st.one_of(
        study_ids(known_ids),
        st.sampled_from(NUMBERS),
        st.integers().map(str),
        st.sampled_from(DATES),
        st.dates().map(str),
        st.sampled_from(TIMES),
        lab_tokens(),
        st.sampled_from((*ARMS, *SITES, *LANGUAGES, *YES_NO, *question_codes)),
        code_like(codes),
        st.text(min_size=1, max_size=12).map(lambda t: "".join(t.split()) or "x"),
        st.sampled_from(FRAGMENTS).map(lambda t: "".join(t.split()) or "x"),
    )


def commands(known_ids: Sequence[str], codes: Sequence[str]) -> st.SearchStrategy[str]:
    """`/visit ZJU2-001 99 2026-13-45 25:99` and the like."""
    return st.builds(
        lambda name, suffix, separator, args, tail: bounded(
            f"/{name}{suffix}" + "".join(separator + a for a in args) + tail
        ),
        st.sampled_from(COMMANDS),
        st.sampled_from(("", "", "", "@trialbot_test_bot", "@other_bot", "@")),
        st.sampled_from(SEPARATORS),
        st.lists(argument(known_ids, codes), max_size=7),
        st.sampled_from(("", "", "", " ", "\n\n", " " + "9" * 300)),
    )


def long_token() -> st.SearchStrategy[str]:
    """One argument of hundreds or thousands of characters, without a space."""
    piece = st.sampled_from(("x", "9", "<", "&", "你", "😀", "ZJU2-001", "\u202e"))
    # As long as a message allows, often: the command around it is then cut at 4096.
    length = weighted((1, st.integers(min_value=33, max_value=MAX_TEXT)), (1, st.just(MAX_TEXT)))
    return st.builds(repeated, piece, length)


def team_commands(
    known_ids: Sequence[str], codes: Sequence[str], own_ids: Sequence[str] = ()
) -> st.SearchStrategy[str]:
    """The team's commands in their right shape, with some slots junk: a study id of the
    speaker's own sites (`own_ids`) gets the command as far as the junk in the next slot."""
    junk = st.one_of(argument(known_ids, codes), long_token())

    def slot(good: st.SearchStrategy[str], bad: Sequence[str] = ()) -> st.SearchStrategy[str]:
        near_misses = st.sampled_from(bad) if bad else junk
        return weighted((3, good), (2, near_misses), (1, junk))

    ids = st.sampled_from(known_ids)
    sid = slot(weighted((3, st.sampled_from(own_ids)), (1, ids)) if own_ids else ids)
    number = slot(st.integers(min_value=0, max_value=9).map(str), NUMBERS)
    day = slot(st.dates(date(2025, 1, 1), date(2029, 12, 31)).map(str), DATES)
    at = slot(st.times().map(lambda t: t.strftime("%H:%M")), TIMES)
    shapes = {
        "participant": (sid,),
        "visit": (sid, number, day, at),
        "attended": (sid, number, day),
        "missed": (sid, number),
        "infusion": (sid, day, at),
        "given": (sid, day),
        "pause": (sid,),
        "resume": (sid,),
        "withdraw": (sid,),
        "labs": (sid, number, *[slot(lab_tokens())] * 4),
        "confirm": (sid, number, day, at),
        "reject": (sid, number),
        "can_become_pregnant": (sid, slot(st.sampled_from(YES_NO))),
        "enroll": (
            slot(study_ids(known_ids)),
            slot(st.sampled_from(SITES)),
            slot(st.sampled_from(ARMS)),
            day,
            slot(st.sampled_from(LANGUAGES)),
            slot(st.sampled_from(YES_NO)),
        ),
    }
    return st.sampled_from(sorted(shapes)).flatmap(
        lambda name: st.builds(
            lambda count, args: bounded(" ".join((f"/{name}", *args[:count]))),
            weighted(
                (3, st.just(len(shapes[name]))),
                (1, st.integers(min_value=0, max_value=len(shapes[name]))),
            ),
            st.tuples(*shapes[name]),
        )
    )


def free_text() -> st.SearchStrategy[str]:
    pieces = st.one_of(st.sampled_from(FRAGMENTS), st.text(min_size=1, max_size=20))
    return st.one_of(
        st.text(min_size=1, max_size=120),
        st.lists(pieces, min_size=1, max_size=8).map("".join),
        st.builds(repeated, pieces, st.integers(min_value=1000, max_value=MAX_TEXT)),
        st.sampled_from(FRAGMENTS),
    ).map(bounded)


def texts(known_ids: Sequence[str], codes: Sequence[str]) -> st.SearchStrategy[str]:
    """Anything a person might type to the bot, half of it commands."""
    start_with_code = code_like(codes).map(lambda code: f"/start {code}")
    return weighted(
        (4, free_text()),
        (2, commands(known_ids, codes)),
        (2, team_commands(known_ids, codes)),
        (1, start_with_code),
        (1, study_ids(known_ids)),  # a coordinator in the guided /enroll types a study id
        (1, st.sampled_from(DATES)),
    )
