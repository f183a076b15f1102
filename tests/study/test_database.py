"""The SQLite set-up of `study.database` that the rest relies on."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from study.database import Database


async def test_a_connection_left_in_a_transaction_is_rolled_back_before_it_is_used_again(
    tmp_path: Path,
) -> None:
    """The pool does not roll back every connection it takes back (that would cost a round
    trip per transaction); one still in a transaction is, so no later user inherits it or
    waits for its write lock."""
    database = Database.from_url(f"sqlite:///{tmp_path / 'trialbot.db'}")
    try:
        async with database.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            await raw.driver_connection.execute("BEGIN IMMEDIATE")  # left open by its user
            assert raw.driver_connection.in_transaction
        async with asyncio.timeout(5):
            async with database.session() as session:
                await session.exec(text("CREATE TABLE kept (x INTEGER)"))  # type: ignore[call-overload]
            async with database.reading() as session:
                assert list(await session.exec(text("SELECT count(*) FROM kept"))) == [(0,)]  # type: ignore[call-overload]
    finally:
        await database.dispose()
