"""Copying the participants of a SQLite database, to reach 10,000 without waiting for them.

Enrolling and linking through the use cases costs tens of milliseconds per participant, so
`bench.scale` enrols a sample for real and copies it: every participant with their visits,
infusions, invite code, audit trail and planned reminders, ids shifted by a multiple of the
sample's largest id per copy. Reminder contexts and keys name visit and infusion ids, so
they are shifted too. The copy refuses to run if any other table holds rows about
participants (it would not copy them): the schema grew, and this module must learn it.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from study.database import Database

__all__ = ["clone_participants"]

# Tables in foreign-key order, with the expressions that shift their columns in copy `c.k`.
# Columns not named are copied as they are.
_SHIFT = "{column} + c.k * :{span}"
_VISIT = "coalesce(json_extract(context, '$.visit_id'), -1)"
_INFUSION = "coalesce(json_extract(context, '$.infusion_id'), -1)"
_NEW_VISIT = "coalesce(json_extract(context, '$.visit_id') + c.k * :visit, -1)"
_NEW_INFUSION = "coalesce(json_extract(context, '$.infusion_id') + c.k * :infusion, -1)"


def _shifted_key(column: str) -> str:
    """`visit:<id>:` and `infusion:<id>:` inside a reminder key, with the copy's ids."""
    visit = f"replace({column}, 'visit:' || {_VISIT} || ':', 'visit:' || {_NEW_VISIT} || ':')"
    return (
        f"replace({visit}, 'infusion:' || {_INFUSION} || ':', "
        f"'infusion:' || {_NEW_INFUSION} || ':')"
    )


OVERRIDES: dict[str, dict[str, str]] = {
    "participant": {
        "id": _SHIFT.format(column="id", span="participant"),
        "study_id": "study_id || '-' || c.k",
        "telegram_chat_id": _SHIFT.format(column="telegram_chat_id", span="participant"),
    },
    "visit": {
        "id": _SHIFT.format(column="id", span="visit"),
        "participant_id": _SHIFT.format(column="participant_id", span="participant"),
    },
    "infusion": {
        "id": _SHIFT.format(column="id", span="infusion"),
        "participant_id": _SHIFT.format(column="participant_id", span="participant"),
        "visit_id": _SHIFT.format(column="visit_id", span="visit"),
    },
    "enrollmentcode": {
        "id": _SHIFT.format(column="id", span="enrollmentcode"),
        "participant_id": _SHIFT.format(column="participant_id", span="participant"),
        "code_hash": "lower(hex(randomblob(32)))",
    },
    "auditevent": {
        "id": _SHIFT.format(column="id", span="auditevent"),
        "participant_id": _SHIFT.format(column="participant_id", span="participant"),
    },
    "outboxmessage": {
        "id": _SHIFT.format(column="id", span="outboxmessage"),
        "participant_id": _SHIFT.format(column="participant_id", span="participant"),
        "context": (
            "json_set(context, '$.visit_id', json_extract(context, '$.visit_id') + c.k * :visit,"
            " '$.infusion_id', json_extract(context, '$.infusion_id') + c.k * :infusion)"
        ),
        "dedupe_key": _shifted_key("dedupe_key"),
        "event_key": _shifted_key("event_key"),
    },
}


async def clone_participants(database: Database, copies: int, rest: int = 0) -> None:
    """Add `copies` full copies of every participant, plus a partial one of the first `rest`
    (by id). The database must hold nothing else about participants."""
    async with database.engine.begin() as connection:
        tables = [row[0] for row in await connection.exec_driver_sql(_TABLES)]
        for table in tables:
            if table in OVERRIDES:
                continue
            columns = await _columns(connection, table)
            if "participant_id" in columns:
                count = (
                    await connection.exec_driver_sql(f"SELECT count(*) FROM {table}")  # noqa: S608
                ).scalar_one()
                if count:
                    raise RuntimeError(f"bench.clone does not know how to copy {table!r} rows")
        spans = {}
        for table in OVERRIDES:
            spans[table] = (
                await connection.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608
            ).scalar_one()
        for table, overrides in OVERRIDES.items():
            columns = await _columns(connection, table)
            owner = "id" if table == "participant" else "participant_id"
            selected = ", ".join(overrides.get(column, column) for column in columns)
            statement = _COPY.format(
                table=table, columns=", ".join(columns), selected=selected, owner=owner
            )
            await connection.execute(
                text(statement),
                {**spans, "copies": copies, "rest": rest, "last": copies + (1 if rest else 0)},
            )


_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
# Names come from the schema, values are bound: nothing here is user input.
_COPY = (
    "WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < :last) "
    "INSERT INTO {table} ({columns}) SELECT {selected} FROM {table}, c "
    "WHERE {owner} <= :participant AND (c.k <= :copies OR {owner} <= :rest)"
)


async def _columns(connection: AsyncConnection, table: str) -> list[str]:
    rows = await connection.execute(
        text("SELECT name FROM pragma_table_info(:table)"), {"table": table}
    )
    return [str(name) for name in rows.scalars()]
