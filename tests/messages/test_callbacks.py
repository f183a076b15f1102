"""Callback data: every kind of button packs to data that parses back to the same button and
fits Telegram's 64 bytes, and nothing else parses (forged data, near misses, junk)."""

from __future__ import annotations

import re
import re._parser as regex_parser  # type: ignore[import-not-found]  # the parser `re` uses
from dataclasses import fields
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from messages.callbacks import (
    AlertAction,
    AlertStep,
    CallbackData,
    Language,
    VisitAnswer,
    VisitReply,
    parse_any,
)
from messages.render import MAX_CALLBACK_BYTES

KINDS = sorted(CallbackData.kinds.values(), key=lambda kind: kind.prefix)


def patterns(kind: type[CallbackData]) -> list[re.Pattern[str]]:
    return [f.metadata["pattern"] for f in fields(kind)]  # type: ignore[arg-type]


@st.composite
def button(draw: st.DrawFn) -> CallbackData:
    """A button of any kind, with any values its parts (and the kind's own checks) allow."""
    kind = draw(st.sampled_from(KINDS))
    values = {
        f.name: f.metadata["convert"](draw(st.from_regex(f.metadata["pattern"], fullmatch=True)))
        for f in fields(kind)  # type: ignore[arg-type]
    }
    try:
        return kind(**values)
    except ValueError:  # a kind may refuse a combination of parts
        assume(False)
        raise


def packed() -> st.SearchStrategy[str]:
    return button().map(lambda pressed: pressed.pack())


def test_every_kind_of_button_is_covered() -> None:
    """The buttons that earlier versions sent keep their data (and prefixes stay unique)."""
    assert {"c", "t", "d", "b", "x", "s", "v", "a", "lang"} <= {k.prefix for k in KINDS}
    assert VisitAnswer(12, VisitReply.COMING).pack() == "v:12:ok"
    assert VisitAnswer(12, VisitReply.RESCHEDULE).pack() == "v:12:rs"
    assert AlertAction(7, AlertStep.ACKNOWLEDGE).pack() == "a:7:ack"
    assert AlertAction(7, AlertStep.RESOLVE).pack() == "a:7:res"
    assert [Language(code).pack() for code in ("zh", "en")] == ["lang:zh", "lang:en"]


def max_bytes(pattern: re.Pattern[str]) -> int:
    """The most bytes a text matching `pattern` takes in UTF-8."""
    chars: int = regex_parser.parse(pattern.pattern).getwidth()[1]
    ascii_only = pattern.flags & re.ASCII or not re.search(r"\\[wWdDsS]|\.|\[\^", pattern.pattern)
    return chars * (1 if ascii_only and pattern.pattern.isascii() else 4)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_the_longest_data_of_each_kind_fits_in_64_bytes(kind: type[CallbackData]) -> None:
    longest = len(kind.prefix) + sum(max_bytes(pattern) + 1 for pattern in patterns(kind))
    assert longest <= MAX_CALLBACK_BYTES


@given(button())
def test_every_packed_value_parses_back_to_the_same_button(pressed: CallbackData) -> None:
    data = pressed.pack()
    assert len(data.encode()) <= MAX_CALLBACK_BYTES
    assert parse_any(data) == pressed
    assert type(pressed).parse(data) == pressed
    for other in KINDS:  # no other kind takes it
        assert other is type(pressed) or other.parse(data) is None


def only_canonical(data: str) -> None:
    """Data parses only if it is exactly what its button packs to."""
    button = parse_any(data)
    assert button is None or button.pack() == data, data
    for kind in KINDS:
        parsed: Any = kind.parse(data)
        assert parsed is None or parsed.pack() == data, (kind, data)


@given(st.text(max_size=80))
def test_arbitrary_text_parses_only_if_it_is_a_button_packed(data: str) -> None:
    only_canonical(data)


NEAR_MISSES = [
    lambda data: data + "\n",  # `$` in a regex lets this through; fullmatch does not
    lambda data: "\n" + data,
    lambda data: data + ":",
    lambda data: data + ":1",
    lambda data: data.rsplit(":", 1)[0],
    lambda data: data.replace(":", "::", 1),
    lambda data: data.replace(":", ";", 1),
    lambda data: " " + data,
    lambda data: data + " ",
    lambda data: data.upper(),
    lambda data: data.swapcase(),
    # from here on: a number (an id) changed
    lambda data: re.sub(r":([0-9]+)", r":0\1", data, count=1),  # a leading zero
    lambda data: re.sub(r":([0-9]+)", r":-\1", data, count=1),
    lambda data: re.sub(r":([0-9]+)", ":１", data, count=1),  # a full-width digit
    lambda data: re.sub(r":[0-9]+", ":1000000000", data, count=1),  # beyond a 32-bit id
    lambda data: re.sub(r":[0-9]+", ":", data, count=1),
]
NUMBERS = 11  # the index of the first mutation of a number


def free_text(data: str) -> bool:
    """Data whose last part is a site code, free text of study.toml: "0", "00" and "-0"
    are all codes a site may have, so changing its digits makes other real data."""
    return data.startswith("e:site:")


@given(packed(), st.sampled_from(NEAR_MISSES))
@example("e:site:0", NEAR_MISSES[NUMBERS])  # "e:site:00": another site's code
@example("v:12:ok", NEAR_MISSES[NUMBERS])
def test_a_near_miss_of_real_data_does_not_parse(data: str, change: Any) -> None:
    forged = change(data)
    if forged != data and not (free_text(data) and NEAR_MISSES.index(change) >= NUMBERS):
        assert parse_any(forged) is None, (data, forged)
        assert not any(kind.matches(forged) for kind in KINDS)


@pytest.mark.parametrize(
    "data",
    [
        "v:0:ok",
        "v:012:ok",
        "v:1:no",
        "v:1:OK",
        "v:1:ok:extra",
        "v:1000000000:ok",
        "a:1:del",
        "a:1:ack\n",
        "a::ack",
        "lang:fr",
        "lang:",
        "lang:zh:en",
        "lang",
        "c:1:Q1:none\n",
        "c:3000000000:Q1:none",
        "",
        ":",
        "::::",
    ],
)
def test_forged_data_seen_in_the_wild_does_not_parse(data: str) -> None:
    assert parse_any(data) is None
    assert not any(kind.matches(data) for kind in KINDS)


def test_a_value_that_would_not_parse_back_cannot_be_packed() -> None:
    with pytest.raises(ValueError, match="cannot be packed"):
        VisitAnswer(0, VisitReply.COMING).pack()
    with pytest.raises(ValueError, match="cannot be packed"):
        Language("fr").pack()
