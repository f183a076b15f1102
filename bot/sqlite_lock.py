"""One SQLite file, one `trialbot run`: an OS lock beside the file, held for the process's life.

A second process on the same file would take the first one's in-flight messages for
abandoned and send them again. PostgreSQL serves any number of processes (rows are claimed
with `FOR UPDATE SKIP LOCKED`), so it needs no such lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from study.database import sqlite_path
from study.errors import ConfigError


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


@contextmanager
def one_process_per_sqlite_file(database_url: str) -> Iterator[None]:
    """Hold `<database>.lock` (mode 0600) until the block ends; ConfigError at once when
    another process holds it. Nothing for PostgreSQL. The kernel releases the lock when the
    process ends, however it ends, so a killed run never leaves a stale lock behind."""
    database = sqlite_path(database_url)
    if database is None:
        yield
        return
    path = lock_path(database.resolve())  # the same lock through any symlink or folder
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(
            "DATABASE_URL", [f"cannot create the lock file {path}: {exc.strerror}"]
        ) from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
            raise ConfigError(
                "DATABASE_URL",
                [
                    f"another `trialbot run` (process {holder or '?'}) is using {database}: "
                    "one SQLite file serves one process. Stop that one first, or use "
                    "PostgreSQL to run several processes. Nothing was changed."
                ],
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)
