"""The migrations build exactly the tables the models describe, on both databases: a revision
merged from another branch, or a model changed without one, fails here."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from migrations import head_revision, upgrade
from study.database import Database


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


async def test_the_migrated_schema_is_the_models(database_url: str) -> None:
    database = Database.from_url(database_url)
    try:
        await upgrade(database)
        async with database.engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await database.dispose()
    assert differences == []


def test_the_revisions_form_one_line() -> None:
    assert head_revision() is not None  # more than one head would raise
