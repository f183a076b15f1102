"""`trialbot export` and `trialbot audit` as an operator runs them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from migrations import head_revision
from study.export_columns import FILES
from tests.bot.test_cli import trialbot
from tests.study.test_export_odm import check_odm
from tests.support.study import STUDY_TOML

AS_OF = "2026-06-30"


def run(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = trialbot(workdir, *args, LOGNAME="alice")
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study with two participants enrolled by `cli:alice`, in SQLite."""
    path = tmp_path_factory.mktemp("cli_export")
    (path / "study.toml").write_text(STUDY_TOML, encoding="utf-8")
    day1 = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    for study_id, site in (("ZJU2-001", "ZJU2"), ("PUMCH-001", "PUMCH")):
        enrolled = run(
            path,
            "enroll",
            *("--study-id", study_id, "--site", site, "--arm", "standard"),
            *("--randomized", day1, "--can-become-pregnant", "no"),
        )
        assert enrolled.returncode == 0, enrolled.stderr
    return path


def test_export_writes_every_file_and_says_how_many_rows(workdir: Path) -> None:
    result = run(workdir, "export", "--out", "first", "--as-of", AS_OF)
    assert result.returncode == 0, result.stderr
    out = workdir / "first"
    assert sorted(path.name for path in out.iterdir()) == sorted(FILES)
    counts = dict(line.split() for line in result.stdout.splitlines()[1:-1])
    assert counts == {
        "first/export_info.csv": "1",
        "first/data_dictionary.csv": str(sum(len(columns) for columns in FILES.values())),
        "first/participants.csv": "2",
        "first/visits.csv": "18",
        "first/infusions.csv": "10",
        "first/labs.csv": "0",
        "first/checkins.csv": "0",
        "first/contraception.csv": "0",
        "first/messages.csv": "0",
        "first/alerts.csv": "0",
        "first/summary_by_arm.csv": "3",
    }
    assert f"Exported as of {AS_OF}: 11 files in first" in result.stdout
    participants = (out / "participants.csv").read_text(encoding="utf-8")
    assert "\nPUMCH-001,PUMCH,standard," in participants
    assert "\nZJU2-001,ZJU2,standard," in participants
    assert (
        (out / "export_info.csv")
        .read_text(encoding="utf-8")
        .startswith(f"as_of,schema_revision,questionnaire_version\n{AS_OF},{head_revision()},")
    )


def test_export_as_odm_writes_one_owner_only_file_valid_against_the_odm_schema(
    workdir: Path,
) -> None:
    previous = os.umask(0o022)  # inherited by the command
    try:
        result = run(workdir, "export", "--format", "odm", "--out", "odm", "--as-of", AS_OF)
    finally:
        os.umask(previous)
    assert result.returncode == 0, result.stderr
    assert [line.split() for line in result.stdout.splitlines()] == [
        ["file", "subjects"],
        ["odm/trialbot_odm.xml", "2"],
        ["Exported", "as", "of", f"{AS_OF}:", "1", "file", "in", "odm"],
    ]
    folder = workdir / "odm"
    assert [path.name for path in folder.iterdir()] == ["trialbot_odm.xml"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "trialbot_odm.xml").stat().st_mode) == 0o600
    content = (folder / "trialbot_odm.xml").read_bytes()
    check_odm(content)
    assert b'<SubjectData SubjectKey="PUMCH-001">' in content
    assert b'<SubjectData SubjectKey="ZJU2-001">' in content
    assert f'FileOID="trialbot.NCT04127747.{AS_OF}"'.encode() in content


def test_export_refuses_a_non_empty_directory_unless_forced(workdir: Path) -> None:
    assert run(workdir, "export", "--out", "again", "--as-of", AS_OF).returncode == 0
    written = {path.name: path.read_bytes() for path in (workdir / "again").iterdir()}

    refused = run(workdir, "export", "--out", "again", "--as-of", AS_OF)
    assert refused.returncode == 1
    assert "again is not empty" in refused.stderr
    assert "--force" in refused.stderr
    (workdir / "not_a_dir").write_text("x", encoding="utf-8")
    assert "not_a_dir is not a directory" in run(workdir, "export", "--out", "not_a_dir").stderr

    forced = run(workdir, "export", "--out", "again", "--as-of", AS_OF, "--force")
    assert forced.returncode == 0, forced.stderr
    assert {path.name: path.read_bytes() for path in (workdir / "again").iterdir()} == written


def test_export_counts_to_today_in_utc_by_default(workdir: Path) -> None:
    before = datetime.now(UTC).date()
    assert run(workdir, "export", "--out", "today").returncode == 0
    info = (workdir / "today" / "export_info.csv").read_text(encoding="utf-8")
    assert info.split("\n")[1].split(",")[0] in {
        before.isoformat(),
        datetime.now(UTC).date().isoformat(),
    }


def test_audit_filters_by_participant_and_actor(workdir: Path) -> None:
    table = run(workdir, "audit", "--participant", "ZJU2-001")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["at", "(UTC)", "actor", "action", "participant", "entity", "change"]
    assert [line.split()[2:5] for line in lines[1:-1]] == [
        ["cli:alice", "enroll", "ZJU2-001"],
        ["cli:alice", "issue_code", "ZJU2-001"],
    ]
    assert lines[-1] == "2 events"

    as_json = run(workdir, "audit", "--actor", "cli:alice", "--json")
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(e["study_id"], e["action"]) for e in events] == [
        ("ZJU2-001", "enroll"),
        ("ZJU2-001", "issue_code"),
        ("PUMCH-001", "enroll"),
        ("PUMCH-001", "issue_code"),
    ]
    assert all(e["actor"] == "cli:alice" and e["at"].endswith("Z") for e in events)

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert run(workdir, "audit", "--since", tomorrow).stdout.splitlines()[-1] == "0 events"
    assert run(workdir, "audit", "--actor", "tg:111111").stdout.splitlines()[-1] == "0 events"


def test_audit_of_an_unknown_participant_says_so(workdir: Path) -> None:
    result = run(workdir, "audit", "--participant", "NOPE-1")
    assert result.returncode == 1
    assert "There is no participant with the study id NOPE-1" in result.stderr
