"""The statistician's export: CSV files of every table the analysis needs, and a per-arm summary.

`export_study` reads the database and returns the files as bytes; the caller writes them.
The same database and the same as-of date give the same bytes, on SQLite and PostgreSQL:

- UTF-8, `\\n` line endings, a header line, the columns of `study.export_columns` in order;
- rows sorted in Python (never by a database's collation) by study id, then visit number,
  date or time, then id;
- dates ISO 8601 (local calendar dates); datetimes UTC as `YYYY-MM-DDTHH:MM:SSZ`; times HH:MM;
  booleans `true`/`false`; measured values in Python's shortest round-trip form; computed
  figures with a fixed number of decimals; an empty cell is a missing value.

Never exported: Telegram ids (a linked chat is only `linked = true`; a coordinator is a
pseudonym `coordinator-<n>`, numbered by their first recorded action), the text of messages
(`messages.csv` says only which template, language and version each sent message was), alert
evidence, and anything a person typed: check-in answers are written only as the answer codes
the questionnaire defines. The follow-up measures are defined in `study.export_summary` and in
`data_dictionary.csv`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.export_columns import FILES, Column
from study.export_rows import Cell, Row, StudyData, build_tables
from study.models import (
    Alert,
    CheckIn,
    Infusion,
    LabResult,
    OutboxMessage,
    OutboxStatus,
    Participant,
    SentReply,
    Visit,
)


@dataclass(frozen=True)
class ExportFile:
    """One exported file: its name, its number of data rows and its bytes."""

    name: str
    rows: int
    content: bytes


async def export_study(
    session: AsyncSession, *, as_of: date, schema_revision: str | None
) -> list[ExportFile]:
    """Every file of the export (`study.export_columns.FILES`), in order.

    Call it first thing in a fresh transaction: on PostgreSQL it asks for one snapshot of
    every table, so that rows written meanwhile by the bot cannot make the files disagree.
    """
    return csv_files(await export_tables(session, as_of=as_of, schema_revision=schema_revision))


def csv_files(tables: dict[str, list[Row]]) -> list[ExportFile]:
    """The CSV files of `export_tables`' rows, in the order of `study.export_columns.FILES`."""
    return [
        ExportFile(name, len(tables[name]), render_csv(columns, tables[name]))
        for name, columns in FILES.items()
    ]


async def export_tables(
    session: AsyncSession, *, as_of: date, schema_revision: str | None
) -> dict[str, list[Row]]:
    """The rows of every file of the export, by file name, before formatting: what the CSV
    files and the ODM export (`messages.odm`) are both made of.

    Call it first thing in a fresh transaction (see `export_study`).
    """
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    return build_tables(await load_study(session), as_of=as_of, schema_revision=schema_revision)


async def load_study(session: AsyncSession) -> StudyData:
    """Every row the export needs (one query per table)."""
    return StudyData(
        participants=list(await session.exec(select(Participant).order_by(col(Participant.id)))),
        visits=list(await session.exec(select(Visit).order_by(col(Visit.id)))),
        infusions=list(await session.exec(select(Infusion).order_by(col(Infusion.id)))),
        labs=list(await session.exec(select(LabResult).order_by(col(LabResult.id)))),
        checkins=list(await session.exec(select(CheckIn).order_by(col(CheckIn.id)))),
        alerts=list(await session.exec(select(Alert).order_by(col(Alert.id)))),
        outbox=list(
            await session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.SENT)
                .order_by(col(OutboxMessage.id))
            )
        ),
        replies=list(await session.exec(select(SentReply).order_by(col(SentReply.id)))),
    )


def render_csv(columns: Sequence[Column], rows: Iterable[Row]) -> bytes:
    """A CSV file: a header, then each row's cells in column order (every column required)."""
    names = [column.name for column in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        if set(row) != set(names):
            raise ValueError(f"row columns {sorted(row)} differ from {names}")
        writer.writerow([cell(row[name]) for name in names])
    return buffer.getvalue().encode("utf-8")


def cell(value: Cell) -> str:
    """A value as the export writes it (see the module's docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, float):
        return repr(value)
    return str(value)


__all__ = [
    "ExportFile",
    "cell",
    "csv_files",
    "export_study",
    "export_tables",
    "load_study",
    "render_csv",
]
