"""Every row of every table, and which of them belong to the victims.

A row belongs to a victim when it is their participant row, names them in `participant_id`,
is an alert of their site, goes to one of their chats or their site's chat, or is about one
of those alerts. The sites and coordinators (mirrored from study.toml) belong to nobody
that the bot may change. Values are compared by their `repr`, so that any change shows.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, select
from sqlalchemy.engine import Connection

from study.database import Database

Row = dict[str, Any]
Tables = dict[str, dict[str, Row]]

CONFIG_TABLES = frozenset({"site", "coordinator", "alembic_version"})


async def snapshot(database: Database) -> Tables:
    """Every row of every table in the database, keyed by table and primary key."""
    async with database.engine.connect() as connection:
        return await connection.run_sync(_read_everything)


def _read_everything(connection: Connection) -> Tables:
    metadata = MetaData()
    metadata.reflect(connection)
    tables: Tables = {}
    for table in metadata.sorted_tables:
        key_columns = [c.name for c in table.primary_key.columns] or [c.name for c in table.c]
        rows: dict[str, Row] = {}
        for row in connection.execute(select(table)).mappings():
            values = dict(row)
            rows[repr(tuple(values[k] for k in key_columns))] = values
        tables[table.name] = rows
    return tables


@dataclass(frozen=True)
class Victims:
    """What identifies the victims' rows."""

    participant_ids: frozenset[int]
    site: str
    chat_ids: frozenset[int]  # their own chats and their site's chats

    def owns(self, table: str, row: Row, alert_ids: Collection[int]) -> bool:
        if table in CONFIG_TABLES:
            return True
        if table == "participant" and row.get("id") in self.participant_ids:
            return True
        if row.get("participant_id") in self.participant_ids:
            return True
        if table == "alert" and row.get("site_code") == self.site:
            return True
        if table == "outboxmessage" and (
            row.get("chat_id") in self.chat_ids or row.get("alert_id") in alert_ids
        ):
            return True
        return (
            table == "auditevent"
            and row.get("entity") == "alert"
            and _as_int(row.get("entity_id")) in alert_ids
        )

    def alert_ids(self, tables: Tables) -> set[int]:
        return {
            row["id"]
            for row in tables.get("alert", {}).values()
            if row.get("site_code") == self.site
            or row.get("participant_id") in self.participant_ids
        }


def _as_int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class Change:
    """One victim row that differs: added, removed or changed."""

    table: str
    key: str
    before: Row | None
    after: Row | None

    def __str__(self) -> str:
        if self.before is None:
            return f"{self.table} {self.key} added: {self.after}"
        if self.after is None:
            return f"{self.table} {self.key} removed: {self.before}"
        changed = {
            name: (self.before.get(name), value)
            for name, value in self.after.items()
            if repr(self.before.get(name)) != repr(value)
        }
        return f"{self.table} {self.key} changed: {changed}"


def victim_changes(before: Tables, after: Tables, victims: Victims) -> list[Change]:
    """The victims' rows that are not exactly as they were."""
    alert_ids = victims.alert_ids(before) | victims.alert_ids(after)
    changes: list[Change] = []
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table, {}), after.get(table, {})
        for key in sorted(set(old) | set(new)):
            was, now = old.get(key), new.get(key)
            mine = any(
                row is not None and victims.owns(table, row, alert_ids) for row in (was, now)
            )
            if mine and _differs(was, now):
                changes.append(Change(table, key, was, now))
    return changes


def _differs(was: Row | None, now: Row | None) -> bool:
    if was is None or now is None:
        return was is not now
    return {k: repr(v) for k, v in was.items()} != {k: repr(v) for k, v in now.items()}


def rows_changed(before: Tables, after: Tables) -> int:
    """How many rows were added, removed or changed in all (to see that the run did things)."""
    count = 0
    for table in set(before) | set(after):
        old, new = before.get(table, {}), after.get(table, {})
        count += sum(_differs(old.get(key), new.get(key)) for key in set(old) | set(new))
    return count
