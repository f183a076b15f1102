"""Study data on disk is the owner's alone (0600 files, 0700 folders), whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from migrations import upgrade
from study.database import Database
from study.export_columns import FILES
from study.models import Site
from tests.bot.test_cli import trialbot
from tests.support.study import STUDY_TOML

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_in(folder: Path) -> dict[str, int]:
    return {path.name: mode(path) for path in folder.iterdir()}


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems start with: new files 0644, new folders 0755."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("usual_umask")
async def test_the_sqlite_database_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'trialbot.db'}")
    try:
        await upgrade(database)
        async with database.session() as session:
            assert list(await session.exec(select(Site))) == []
        # The pool holds the connection open: the WAL and its index exist now.
        modes = modes_in(tmp_path)
    finally:
        await database.dispose()
    assert modes == {"trialbot.db": 0o600, "trialbot.db-wal": 0o600, "trialbot.db-shm": 0o600}


def test_db_upgrade_creates_the_database_owner_only(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(STUDY_TOML, encoding="utf-8")
    previous = os.umask(0o022)  # inherited by the command
    try:
        result = trialbot(tmp_path, "db", "upgrade")
    finally:
        os.umask(previous)
    assert result.returncode == 0, result.stderr
    assert mode(tmp_path / "trialbot.db") == 0o600


def test_an_export_is_owner_only_also_when_it_replaces_files(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(STUDY_TOML, encoding="utf-8")
    (tmp_path / "forced").mkdir()
    older = tmp_path / "forced" / "participants.csv"
    older.write_text("an older export, readable by all\n", encoding="utf-8")
    older.chmod(0o644)
    previous = os.umask(0o022)
    try:
        fresh = trialbot(tmp_path, "export", "--out", "exports/2026-06", "--as-of", "2026-06-30")
        forced = trialbot(tmp_path, "export", "--out", "forced", "--force")
    finally:
        os.umask(previous)
    assert fresh.returncode == 0, fresh.stderr
    assert forced.returncode == 0, forced.stderr
    folder = tmp_path / "exports" / "2026-06"
    assert mode(folder) == 0o700
    assert modes_in(folder) == dict.fromkeys(FILES, 0o600)
    assert mode(older) == 0o600
    assert older.read_text(encoding="utf-8").startswith("study_id,")


def test_the_deployment_keeps_files_private_and_runs_unprivileged() -> None:
    unit = (ROOT / "deploy" / "trialbot.service").read_text(encoding="utf-8")
    assert "\nUMask=0077\n" in unit
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    users = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
