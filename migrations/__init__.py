"""Alembic migrations, shipped inside the package so an installed trialbot can upgrade."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from study.database import Database

SCRIPT_LOCATION = Path(__file__).parent


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(
    database: Database,
    revision: str = "head",
    *,
    then: Callable[[Connection], object] | None = None,
) -> None:
    """Bring the database schema to `revision` (the newest by default); `then` runs in the
    same transaction, so that the schema and what it writes are committed together."""
    async with database.engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)
        if then is not None:
            await connection.run_sync(then)


async def current_revision(database: Database) -> str | None:
    async with database.engine.connect() as connection:
        return await connection.run_sync(_current)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
