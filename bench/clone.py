"""Copying the participants of a SQLite database, to reach 10,000 without waiting for them.

Enrolling a participant and living through their months costs a few hundred milliseconds
(`bench.running`), so `bench.scale` builds a sample for real and copies it: every participant
with their visits, infusions, invite code, check-ins, alerts (and their cards), audit trail
and outbox rows, ids shifted by a multiple of the sample's largest id per copy. Keys and
message contexts name ids (`remind:visit:12:...`, `checkin:40:ask`, `{"checkin_id": 40}`),
so they are shifted too, by the table their prefix names; a key with a prefix this module
does not know stops the copy, as do rows about participants in a table it does not copy:
the schema grew, and this module must learn it. Audit events keep the entity ids of the
original (nothing reads them back).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from study.database import Database

__all__ = ["clone_participants"]

# Which id a key's prefix names (the table whose span shifts it): `prefix:<id>:...`.
KEY_TABLES = {
    "visit": "visit",
    "infusion": "infusion",
    "checkin": "checkin",
    "alert": "alert",
    "cadence": "participant",
    "contraception": "participant",
    "unreachable": "participant",
    "forward": "participant",
    "previsit": "visit",
    "noconfirm": "visit",
    "reschedule": "visit",
    "missed": "visit",
    "missedmsg": "visit",
    "missed_checkins": "checkin",
    "missed_contraception": "checkin",
    "advice": "checkin",
    "infusion-date": "infusion",
    "moved": "visit",
}
REMINDER = "remind:"
# Columns with keys, and the rows of a table that a copy takes (its owner's participant id).
KEYED = {
    "checkin": ("dedupe_key",),
    "alert": ("dedupe_key",),
    "outboxmessage": ("dedupe_key", "event_key"),
}
_CARD_OWNER = "(SELECT a.participant_id FROM alert a WHERE a.id = {table}.alert_id)"
OWNER = {
    "participant": "{table}.id",
    "outboxmessage": "coalesce({table}.participant_id, " + _CARD_OWNER + ")",
}
CONTEXT_IDS = {
    "visit_id": "visit",
    "infusion_id": "infusion",
    "checkin_id": "checkin",
    "alert_id": "alert",
}


def _shift(column: str, span: str) -> str:
    return f"{column} + c.k * :{span}"


def _shifted_key(column: str) -> str:
    """`prefix:<id>...` with the copy's id (after `remind:` for a reminder's key)."""

    def rule(key: str) -> str:
        prefix = f"substr({key}, 1, instr({key}, ':') - 1)"
        rest = f"substr({key}, instr({key}, ':') + 1)"
        number = (
            f"CASE WHEN instr({rest}, ':') > 0 THEN substr({rest}, 1, instr({rest}, ':') - 1) "
            f"ELSE {rest} END"
        )
        tail = (
            f"CASE WHEN instr({rest}, ':') > 0 THEN substr({rest}, instr({rest}, ':')) ELSE '' END"
        )
        span = (
            "CASE "
            + " ".join(
                f"WHEN {prefix} = '{name}' THEN :{table}" for name, table in KEY_TABLES.items()
            )
            + " END"
        )
        return f"{prefix} || ':' || (CAST({number} AS INTEGER) + c.k * ({span})) || {tail}"

    unprefixed = f"substr({column}, {len(REMINDER) + 1})"
    return (
        f"CASE WHEN {column} IS NULL THEN NULL "
        f"WHEN {column} LIKE '{REMINDER}%' THEN '{REMINDER}' || {rule(unprefixed)} "
        f"ELSE {rule(column)} END"
    )


def _shifted_context(column: str) -> str:
    """The ids a message's context names, with the copy's (keys that are absent stay so)."""
    paths = ", ".join(
        f"'$.{name}', json_extract({column}, '$.{name}') + c.k * :{table}"
        for name, table in CONTEXT_IDS.items()
    )
    return f"json_replace({column}, {paths})"


OVERRIDES: dict[str, dict[str, str]] = {
    "participant": {
        "id": _shift("id", "participant"),
        "study_id": "study_id || '-' || c.k",
        "telegram_chat_id": _shift("telegram_chat_id", "participant"),
    },
    "visit": {
        "id": _shift("id", "visit"),
        "participant_id": _shift("participant_id", "participant"),
    },
    "infusion": {
        "id": _shift("id", "infusion"),
        "participant_id": _shift("participant_id", "participant"),
        "visit_id": _shift("visit_id", "visit"),
    },
    "enrollmentcode": {
        "id": _shift("id", "enrollmentcode"),
        "participant_id": _shift("participant_id", "participant"),
        "code_hash": "lower(hex(randomblob(32)))",
    },
    "checkin": {
        "id": _shift("id", "checkin"),
        "participant_id": _shift("participant_id", "participant"),
        "infusion_id": _shift("infusion_id", "infusion"),
        "dedupe_key": _shifted_key("dedupe_key"),
    },
    "alert": {
        "id": _shift("id", "alert"),
        "participant_id": _shift("participant_id", "participant"),
        "checkin_id": _shift("checkin_id", "checkin"),
        "visit_id": _shift("visit_id", "visit"),
        "dedupe_key": _shifted_key("dedupe_key"),
    },
    "auditevent": {
        "id": _shift("id", "auditevent"),
        "participant_id": _shift("participant_id", "participant"),
    },
    "outboxmessage": {
        "id": _shift("id", "outboxmessage"),
        "participant_id": _shift("participant_id", "participant"),
        "alert_id": _shift("alert_id", "alert"),
        "context": _shifted_context("context"),
        "dedupe_key": _shifted_key("dedupe_key"),
        "event_key": _shifted_key("event_key"),
    },
}


async def clone_participants(database: Database, copies: int, rest: int = 0) -> None:
    """Add `copies` full copies of every participant, plus a partial one of the first `rest`
    (by id). The database must hold nothing about participants that this module does not
    know how to copy."""
    async with database.engine.begin() as connection:
        await _check_schema(connection)
        spans = {}
        for table in OVERRIDES:
            spans[table] = (
                await connection.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608
            ).scalar_one()
        for table, overrides in OVERRIDES.items():
            columns = await _columns(connection, table)
            owner = OWNER.get(table, "{table}.participant_id").format(table=table)
            selected = ", ".join(overrides.get(column, column) for column in columns)
            statement = _COPY.format(
                table=table, columns=", ".join(columns), selected=selected, owner=owner
            )
            await connection.execute(
                text(statement),
                {**spans, "copies": copies, "rest": rest, "last": copies + (1 if rest else 0)},
            )


async def _check_schema(connection: AsyncConnection) -> None:
    tables = [row[0] for row in await connection.exec_driver_sql(_TABLES)]
    for table in tables:
        if table in OVERRIDES:
            continue
        if "participant_id" in await _columns(connection, table):
            count = (
                await connection.exec_driver_sql(f"SELECT count(*) FROM {table}")  # noqa: S608
            ).scalar_one()
            if count:
                raise RuntimeError(f"bench.clone does not know how to copy {table!r} rows")
    for table, columns in KEYED.items():
        for column in columns:
            plain = (
                f"CASE WHEN {column} LIKE '{REMINDER}%' "
                f"THEN substr({column}, {len(REMINDER) + 1}) ELSE {column} END"
            )
            # Only the rows a copy takes: a site's own (the daily digest) stay as they are.
            owner = OWNER.get(table, "{table}.participant_id").format(table=table)
            prefixes = await connection.exec_driver_sql(
                f"SELECT DISTINCT substr(k, 1, instr(k, ':') - 1) FROM "  # noqa: S608
                f"(SELECT {plain} AS k FROM {table} "
                f"WHERE {column} IS NOT NULL AND {owner} IS NOT NULL)"
            )
            unknown = {row[0] for row in prefixes} - set(KEY_TABLES)
            if unknown:
                raise RuntimeError(f"bench.clone does not know the {table}.{column} keys {unknown}")


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
