"""Product bugs the fuzz test found, recognised in its problem lines until they are fixed.

Each has a test of its own in `test_known_bugs.py`, marked `xfail(strict=True)`: once the
bug is fixed that test passes, fails as XPASS, and its entry here must go. A problem that
matches no entry fails the fuzz test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tests.fuzz.actions import Edit, Raw, Say, Send
from tests.fuzz.driver import Problem


def _typed(problem: Problem) -> str:
    """What the person typed (or captioned), if they typed."""
    action = problem.action
    if isinstance(action, Say | Edit):
        return action.text
    if isinstance(action, Send):
        return action.caption
    if isinstance(action, Raw):
        return action.payload
    return ""


def _anything(problem: Problem) -> bool:
    return True


@dataclass(frozen=True)
class KnownBug:
    name: str
    reason: str
    signatures: tuple[str, ...]  # any of these in the problem's line
    caused_by: Callable[[Problem], bool] = _anything  # and the problem's action was like this

    def matches(self, problem: Problem) -> bool:
        found = any(signature in problem.line for signature in self.signatures)
        return found and self.caused_by(problem)


UNICODE_DIGITS = KnownBug(
    "unicode_visit_number",
    "bot/staff.py parse_number: str.isdigit() accepts '²' but int() does not: ValueError",
    ("ValueError: invalid literal for int() with base 10",),
    lambda problem: re.search(r"[^\x00-\x7f]", _typed(problem)) is not None,
)
ECHO_TOO_LONG = KnownBug(
    "echo_too_long",
    "error replies repeat the typed argument whole: over 4096 characters Telegram refuses "
    "the reply, the error handler fails and the coordinator gets no answer",
    ("message is too long", "Message is too long"),
    lambda problem: any(len(word) > 1000 for word in _typed(problem).split()),
)
DATE_OUT_OF_RANGE = KnownBug(
    "date_out_of_range",
    "bot/staff.py parse_date accepts any date from 0001-01-01 to 9999-12-31; date arithmetic "
    "on such a visit or infusion overflows and the check-in sweep fails for everyone",
    ("OverflowError", "year 0 is out of range", "year 10000 is out of range"),
)
SQLITE_NESTED_SESSION = KnownBug(
    "sqlite_nested_session",
    "bot/checkin.py start_checkin answers a non-participant inside its open session; on "
    "SQLite the second session waits for the first one's write lock: 'database is locked'",
    ("database is locked",),
    lambda problem: "/checkin" in _typed(problem),
)
POSTGRES_INT32_IDS = KnownBug(
    "postgres_int32_ids",
    "callback data ids of up to 12 digits reach session.get(): on PostgreSQL an id over "
    "2**31-1 does not fit the INTEGER key and asyncpg raises",
    ("out of int32 range",),
    lambda problem: problem.pressed is not None,
)
ENROLMENT_DRAFT_SHARED = KnownBug(
    "enrolment_draft_shared",
    "bot/team_enroll.py keeps the guided enrolment's answers in user_data (per coordinator) "
    "while the conversation is per chat and coordinator: /enroll in a second chat clears the "
    "first one's answers (KeyError) or mixes two enrolments",
    tuple(f"KeyError: '{key}'" for key in ("study_id", "site", "arm", "day")),
)
NOT_MODIFIED_UNHANDLED = KnownBug(
    "not_modified_unhandled",
    "bot/team_labs.py confirm_dose and bot/team_enroll.py _pressed remove the pressed "
    "message's buttons without ignoring 'message is not modified' (DESIGN.md: an error to "
    "ignore): a forged press on a message without buttons fails after the dose was planned, "
    "and the coordinator is told nothing",
    ("essage is not modified",),
    lambda problem: (problem.pressed or "")[:2] in ("r:", "e:"),
)
KNOWN_BUGS = (
    ENROLMENT_DRAFT_SHARED,
    NOT_MODIFIED_UNHANDLED,
    UNICODE_DIGITS,
    ECHO_TOO_LONG,
    DATE_OUT_OF_RANGE,
    SQLITE_NESTED_SESSION,
    POSTGRES_INT32_IDS,
)


def explained_by(problem: Problem) -> KnownBug | None:
    return next((bug for bug in KNOWN_BUGS if bug.matches(problem)), None)
