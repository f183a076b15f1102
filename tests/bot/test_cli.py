"""The `trialbot` command as an operator meets it: clear errors, never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings
from migrations import head_revision
from tests.support.study import STUDY_TOML

ROOT = Path(__file__).resolve().parents[2]


def trialbot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TRIALBOT_"))}
    clean.pop("DATABASE_URL", None)
    return subprocess.run(  # noqa: S603 (our own command, fixed arguments)
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"DATABASE_URL": "mysql://db/x"},
            "DATABASE_URL = 'mysql://db/x': expected sqlite:///path or postgresql://",
        ),
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN = (hidden): expected a token"),
        ({"TELEGRAM_API_URL": "ftp://x"}, "TELEGRAM_API_URL = 'ftp://x': expected an http"),
        ({"TRIALBOT_LOG_LEVEL": "LOUD"}, "TRIALBOT_LOG_LEVEL = 'LOUD'"),
    ],
)
def test_a_bad_setting_is_named_with_its_value(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    result = trialbot(tmp_path, "participants", **env)
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert "not-a-token" not in result.stderr  # a token is never printed


def test_a_bad_study_file_stops_run_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(
        STUDY_TOML.replace('phone = "+86 10 0000 0000"', "phone = 12"), encoding="utf-8"
    )
    result = trialbot(
        tmp_path,
        "run",
        TELEGRAM_BOT_TOKEN="123456:" + "A" * 30,
        TELEGRAM_API_URL="http://127.0.0.1:9",
    )
    assert result.returncode == 1
    assert "sites.PUMCH.phone = 12: Input should be a valid string" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["--webhook", "http://bot.example.org/telegram"],
            {"TRIALBOT_WEBHOOK_SECRET": "s" * 32},
            "needs TRIALBOT_WEBHOOK_URL, an https:// address Telegram can reach",
        ),
        (
            ["--webhook", "https://bot.example.org/telegram"],
            {},
            "needs TRIALBOT_WEBHOOK_SECRET, so that only Telegram's requests are accepted",
        ),
    ],
    ids=["plain-http", "no-secret"],
)
def test_run_with_a_webhook_refuses_what_telegram_would_not_accept(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    (tmp_path / "study.toml").write_text(STUDY_TOML, encoding="utf-8")
    result = trialbot(tmp_path, "run", *args, TELEGRAM_BOT_TOKEN="123456:" + "A" * 30, **env)
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_then_an_outdated_database_is_refused_politely(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(STUDY_TOML, encoding="utf-8")
    upgraded = trialbot(tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"database schema revision: {head_revision()}" in upgraded.stdout
    import sqlite3

    with sqlite3.connect(tmp_path / "trialbot.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0000'")
    refused = trialbot(tmp_path, "participants")
    assert refused.returncode == 1
    assert "run `trialbot db upgrade`" in refused.stderr


def test_env_example_documents_every_setting() -> None:
    documented = set(re.findall(r"^#? ?([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert {name.upper() for name in Settings.model_fields} <= documented


@pytest.mark.parametrize("command", [["participants"], ["templates"], ["audit"]])
def test_a_reader_that_stops_early_ends_the_command_quietly(
    tmp_path: Path, command: list[str]
) -> None:
    """`trialbot participants | head -1`: once `head` has its line and exits, the command
    stops without a traceback and with the status a shell shows for `cat big | head`."""
    (tmp_path / "study.toml").write_text(STUDY_TOML, encoding="utf-8")
    assert trialbot(tmp_path, "db", "upgrade").returncode == 0
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the command writes: no race with the pipe's buffer
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TRIALBOT_"))}
    clean.pop("DATABASE_URL", None)
    try:
        result = subprocess.run(  # noqa: S603 (our own command, fixed arguments)
            [sys.executable, "-m", "bot", *command],
            cwd=tmp_path,
            env=clean,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    assert result.stderr == ""
    assert result.returncode == 141  # 128 + SIGPIPE
