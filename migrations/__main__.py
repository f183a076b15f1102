"""For developers: `python -m migrations "what changed"` writes a new revision.

It upgrades a scratch SQLite database to the newest revision and lets Alembic compare it
with the SQLModel tables, so the new revision holds exactly the difference.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy.engine import Connection

from migrations import alembic_config, upgrade
from study.database import Database


def _revision(connection: Connection, message: str) -> None:
    command.revision(alembic_config(connection), message=message, autogenerate=True)


async def _main(message: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        database = Database.from_url(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        await upgrade(database)
        async with database.engine.begin() as connection:
            await connection.run_sync(_revision, message)
        await database.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit('usage: python -m migrations "what changed"')
    asyncio.run(_main(sys.argv[1]))
