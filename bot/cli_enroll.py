"""`trialbot enroll --from FILE.csv`: a site onboarding many participants at once.

The file's header names the same fields as a single `enroll` (`CSV_FIELDS`; the optional
ones may be left out or left empty). Each row is enrolled in a transaction of its own, through
the same team operation as a single `enroll`: a row is enrolled whole or not at all, and a
refused row (its reason worded by the template of the error, as for a single `enroll`) does
not stop the others. The report lists each invitation and each refusal; the exit code is 1
when any row was refused.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from bot.cli_team import explain, server_team
from bot.parse import parse_date, parse_yes_no
from bot.services import Services
from messages import plain, render
from study.codes import deep_link
from study.enrollment import EnrollmentRequest, Invitation
from study.enrollment_bulk import enroll_many
from study.errors import DomainError, TrialbotError
from study.team import Enroll

REQUIRED = ("study_id", "site", "arm", "randomized", "can_become_pregnant")
OPTIONAL = ("language", "timezone", "preferred_hour")
CSV_FIELDS = (*REQUIRED, *OPTIONAL)
LANGUAGE = "en"
BATCH = 100  # rows a transaction: about 0.1 s of SQLite's write lock


class BadFile(TrialbotError):
    """The file cannot be read as an enrolment list at all; nothing was enrolled."""


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, str]

    @property
    def study_id(self) -> str:
        return self.values.get("study_id", "")


@dataclass(frozen=True)
class Outcome:
    row: Row
    invitation: Invitation | None = None
    refusal: DomainError | None = None


def read_rows(path: Path) -> list[Row]:
    """The file's rows with their line numbers; BadFile if its header is not a list's."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in reader.fieldnames or []]
            missing = [name for name in REQUIRED if name not in header]
            unknown = [name for name in header if name not in CSV_FIELDS]
            if missing or unknown:
                raise BadFile(
                    f"{path}: the header must name {', '.join(REQUIRED)} and may name "
                    f"{', '.join(OPTIONAL)}"
                    + (f"; missing: {', '.join(missing)}" if missing else "")
                    + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                    + "; nothing was enrolled"
                )
            reader.fieldnames = header
            return [
                Row(reader.line_num, {k: (v or "").strip() for k, v in values.items() if k})
                for values in reader
                if any((value or "").strip() for value in values.values())
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BadFile(f"{path}: cannot be read as CSV ({exc}); nothing was enrolled") from None


def request_of(row: Row) -> EnrollmentRequest:
    """The row as an enrolment request, parsed by the rules of a single `enroll`."""
    values = row.values
    for name in REQUIRED:
        if not values.get(name):
            raise DomainError("error_enroll_row_missing", field=name)
    return EnrollmentRequest(
        study_id=values["study_id"],
        site_code=values["site"],
        arm=values["arm"],
        randomized_on=parse_date(values["randomized"]),
        can_become_pregnant=_yes_no(values, "can_become_pregnant"),
        language=values.get("language") or None,
        timezone=values.get("timezone") or None,
        preferred_hour=_hour(values.get("preferred_hour") or None),
    )


def _yes_no(values: dict[str, str], name: str) -> bool:
    """A column that is `yes` or `no`; a spreadsheet's TRUE or 1 is refused by name."""
    text = values[name]  # stripped as read
    try:
        return parse_yes_no(text, "yes|no")
    except DomainError:
        raise DomainError("error_enroll_row_yes_no", field=name, value=text) from None


def _hour(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isascii() or not text.isdigit():
        raise DomainError("error_bad_hour", hour=text)
    return int(text)


async def enroll_rows(
    services: Services, rows: list[Row], actor: str, *, progress: bool = True
) -> list[Outcome]:
    """Enrol the rows `BATCH` at a time, each batch in one transaction with one insert a
    table (`study.enrollment_bulk`); a refused row is kept with its reason. A batch the
    database refuses as a whole (a study id enrolled meanwhile by someone else) is enrolled
    again one row at a time."""
    outcomes: list[Outcome] = []
    # On stderr, and only on a terminal (disable=None): stdout carries the report.
    shown = None if progress else True
    with tqdm(total=len(rows), desc="enrolling", unit="row", disable=shown) as bar:
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            try:
                outcomes += await _enroll_batch(services, batch, actor)
            except SQLAlchemyError:
                outcomes += [await _enroll_one(services, row, actor) for row in batch]
            bar.update(len(batch))
    return outcomes


async def _enroll_batch(services: Services, rows: list[Row], actor: str) -> list[Outcome]:
    requests: list[tuple[Row, EnrollmentRequest]] = []
    outcomes: dict[int, Outcome] = {}
    for row in rows:
        try:
            requests.append((row, request_of(row)))
        except DomainError as refusal:
            outcomes[row.line] = Outcome(row, refusal=refusal)
    async with services.database.session() as session:
        results = await enroll_many(
            session,
            [request for _, request in requests],
            config=services.config,
            now=services.clock.now(),
            actor=actor,
        )
    for (row, _), result in zip(requests, results, strict=True):
        if isinstance(result, DomainError):
            outcomes[row.line] = Outcome(row, refusal=result)
        else:
            outcomes[row.line] = Outcome(row, invitation=result)
    return [outcomes[row.line] for row in rows]


async def _enroll_one(services: Services, row: Row, actor: str) -> Outcome:
    """One row in a transaction of its own, as a single `enroll`."""
    try:
        operation = Enroll(request_of(row))
        async with services.database.session() as session:
            invitation = await operation.run(session, server_team(services, actor))
    except DomainError as refusal:
        return Outcome(row, refusal=refusal)
    return Outcome(row, invitation=invitation)


def report_json(outcomes: list[Outcome], username: str) -> dict[str, Any]:
    return {
        "enrolled": [
            _invitation_json(outcome.invitation, username, outcome.row.line)
            for outcome in outcomes
            if outcome.invitation is not None
        ],
        "refused": [
            {
                "line": outcome.row.line,
                "study_id": outcome.row.study_id,
                "error": outcome.refusal.key,
                "reason": explain(outcome.refusal),
            }
            for outcome in outcomes
            if outcome.refusal is not None
        ],
    }


def _invitation_json(invitation: Invitation, username: str, line: int) -> dict[str, Any]:
    participant = invitation.participant
    return {
        "line": line,
        "study_id": participant.study_id,
        "site": participant.site_code,
        "arm": participant.arm,
        "randomized": participant.randomized_on.isoformat(),
        "language": participant.language,
        "code": invitation.code,
        "link": deep_link(username, invitation.code),
        "expires_at": invitation.expires_at.isoformat(),
    }


def report_lines(
    outcomes: list[Outcome], username: str, table: Callable[[list[str], list[list[str]]], None]
) -> list[str]:
    """The invitations as a table (printed by `table`), then each refusal and the count."""
    enrolled = [outcome for outcome in outcomes if outcome.invitation is not None]
    if enrolled:
        table(
            ["line", "study_id", "link", "expires"],
            [
                [
                    str(outcome.row.line),
                    outcome.invitation.participant.study_id,
                    deep_link(username, outcome.invitation.code),
                    outcome.invitation.expires_at.date().isoformat(),
                ]
                for outcome in enrolled
                if outcome.invitation is not None
            ],
        )
    lines = [
        plain(
            render(
                "enroll_row_refused",
                LANGUAGE,
                line=outcome.row.line,
                study_id=outcome.row.study_id,
                reason=explain(outcome.refusal),
            )
        )
        for outcome in outcomes
        if outcome.refusal is not None
    ]
    lines.append(summary(outcomes))
    return lines


def summary(outcomes: list[Outcome]) -> str:
    refused = sum(outcome.refusal is not None for outcome in outcomes)
    return plain(
        render(
            "enroll_rows_summary",
            LANGUAGE,
            rows=len(outcomes),
            enrolled=len(outcomes) - refused,
            refused=refused,
        )
    )
