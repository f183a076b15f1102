"""Tracebacks in the log: the type and place of every exception, never its message."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.logs import private_traceback


def failure(text: str) -> BaseException:
    """What a buggy handler raises: a chain and a group of exceptions quoting `text`."""

    def parse(value: str) -> None:
        raise ValueError(f"cannot parse {value!r}")

    try:
        try:
            parse(text)
        except ValueError as error:
            raise LookupError(text) from error
    except LookupError as error:
        try:
            raise ExceptionGroup(text, [KeyError(text), error])
        except ExceptionGroup as group:
            return group
    raise AssertionError("unreachable")


@given(st.text())
def test_a_traceback_is_the_same_whatever_the_exceptions_say(text: str) -> None:
    assert private_traceback(failure(text)) == private_traceback(failure("-"))


def test_a_traceback_names_each_exception_and_where_it_was_raised() -> None:
    trace = private_traceback(failure("-"))
    for kind in ("ValueError", "LookupError", "ExceptionGroup", "KeyError"):
        assert f"{kind}: (message not logged" in trace
    assert "The above exception was the direct cause" in trace
    assert "During handling of the above exception" in trace
    assert f'File "{__file__}"' in trace and "in parse" in trace and "in failure" in trace
