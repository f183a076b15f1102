"""What the study team types, as typed values: the same rules in Telegram and on the command
line. A wrong value is a DomainError whose template says what was expected."""

from __future__ import annotations

import re
from datetime import date, time

from study.errors import DomainError
from study.protocol import Labs

VISIT_NUMBER = re.compile(r"^[0-9]{1,3}$")
LAB_KEYS = ("cd19", "dsdna", "c3", "lln")


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DomainError("error_bad_date", date=text) from None


def parse_time(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise DomainError("error_bad_time", time=text) from None


def parse_number(text: str) -> int:
    """A visit number: ASCII digits only ("²".isdigit() is true, int("²") fails)."""
    if not VISIT_NUMBER.match(text):
        raise DomainError("error_bad_visit_number", number=text)
    return int(text)


def parse_yes_no(text: str, usage: str) -> bool:
    if text.lower() not in ("yes", "no"):
        raise DomainError("error_usage", usage=usage)
    return text.lower() == "yes"


def parse_labs(tokens: list[str], usage: str) -> Labs:
    """`cd19=1.2 dsdna=150+ c3=0.45 lln=0.9`, any subset; ranges are checked by the use case.
    Anything else: DomainError `error_usage` with `usage`."""
    values: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or key.lower() not in LAB_KEYS or not value:
            raise DomainError("error_usage", usage=usage)
        values[key.lower()] = value
    dsdna = values.get("dsdna")
    positive = None
    if dsdna is not None:
        if dsdna[-1] not in "+-":
            raise DomainError("error_usage", usage=usage)
        positive, dsdna = dsdna[-1] == "+", dsdna[:-1]
    return Labs(
        cd19_percent=_number(values.get("cd19"), usage),
        anti_dsdna_value=_number(dsdna, usage),
        anti_dsdna_positive=positive,
        c3_value=_number(values.get("c3"), usage),
        c3_lower_limit=_number(values.get("lln"), usage),
    )


def _number(text: str | None, usage: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise DomainError("error_usage", usage=usage) from None
