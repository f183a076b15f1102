"""`trialbot enroll --from FILE.csv`: many participants at once, each whole or not at all,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.bot.test_cli_team import Trialbot
from tests.support.study import STUDY_TOML

HEADER = "study_id,site,arm,randomized,can_become_pregnant,language,timezone,preferred_hour"
ROWS = [
    "ZJU2-001,ZJU2,standard,2026-09-01,no,,,",
    "ZJU2-002,ZJU2,individualized,2026-09-01,yes,en,Asia/Shanghai,8",
    "ZJU2-001,ZJU2,standard,2026-09-01,no,,,",  # line 4: twice in the file
    "XYZ-001,XYZ,standard,2026-09-01,no,,,",  # line 5: no such site
    "ZJU2-003,ZJU2,standard,2026-13-01,no,,,",  # line 6: no such date
    "ZJU2-004,ZJU2,standard,2026-09-01,,,,",  # line 7: the pregnancy answer left out
    "ZJU2-005,ZJU2,standard,2026-09-01,no,,,25",  # line 8: no such hour
    "ZJU2-006,ZJU2,standard,2026-09-01,FALSE,,,",  # line 9: a spreadsheet's answer
    "PUMCH-001,PUMCH,individualized,2026-10-15,no,zh,,",
]


@pytest.fixture
def trialbot(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Trialbot:
    (tmp_path / "study.toml").write_text(STUDY_TOML, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("TELEGRAM_", "TRIALBOT_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", database_url)
    return Trialbot(database_url, capsys, monkeypatch)


def write(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "site.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def participants(trialbot: Trialbot) -> list[str]:
    return [row["study_id"] for row in json.loads(trialbot.ok("participants", "--json"))]


def test_each_row_is_enrolled_or_refused_with_its_reason(
    trialbot: Trialbot, tmp_path: Path
) -> None:
    ran = trialbot("enroll", "--from", write(tmp_path, HEADER, *ROWS))
    assert ran.code == 1  # some rows were refused
    enrolled = re.findall(r"^(\d+)\s+(\S+)\s+(https://t\.me/\S+)", ran.out, re.M)
    assert [(line, study_id) for line, study_id, _ in enrolled] == [
        ("2", "ZJU2-001"),
        ("3", "ZJU2-002"),
        ("10", "PUMCH-001"),
    ]
    assert all("start=" in link for _, _, link in enrolled)
    assert len({link for _, _, link in enrolled}) == 3
    assert "Line 4 (ZJU2-001) was not enrolled: The study id ZJU2-001 is already enrolled." in (
        ran.out
    )
    assert "Line 5 (XYZ-001) was not enrolled: " in ran.out and "XYZ" in ran.out
    assert "Line 6 (ZJU2-003) was not enrolled: " in ran.out and "2026-13-01" in ran.out
    assert "Line 7 (ZJU2-004) was not enrolled: The column can_become_pregnant is empty." in (
        ran.out
    )
    assert "Line 8 (ZJU2-005) was not enrolled: " in ran.out and "25" in ran.out
    assert (
        "Line 9 (ZJU2-006) was not enrolled: The column can_become_pregnant is yes or no, "
        "not “FALSE”." in ran.out
    )
    summary = "3 of 9 rows enrolled, 6 refused (nothing of a refused row was kept)."
    assert summary in ran.out and summary in ran.err
    # Nothing of a refused row: no participant, no audit event, no calendar.
    assert sorted(participants(trialbot)) == ["PUMCH-001", "ZJU2-001", "ZJU2-002"]
    assert trialbot.actions() == ["enroll", "issue_code"] * 3
    shown = trialbot.ok("show", "ZJU2-002")  # the whole calendar of a row, as a single enroll
    assert "individualised arm" in shown and "can become pregnant: Yes" in shown
    assert "8. 2028-09-01 (month 24) planned" in shown and "2026-09-01 500 mg given" in shown


def test_the_json_report_and_a_file_without_refusals(trialbot: Trialbot, tmp_path: Path) -> None:
    ran = trialbot("enroll", "--from", write(tmp_path, HEADER, *ROWS[:2], ROWS[3]), "--json")
    assert ran.code == 1
    report = json.loads(ran.out)
    assert [row["study_id"] for row in report["enrolled"]] == ["ZJU2-001", "ZJU2-002"]
    first = report["enrolled"][1]
    assert first["line"] == 3 and first["language"] == "en" and first["arm"] == "individualized"
    assert first["link"] == f"https://t.me/trialbot_demo_bot?start={first['code']}"
    assert report["refused"] == [
        {
            "line": 4,
            "study_id": "XYZ-001",
            "error": "error_unknown_site",
            "reason": report["refused"][0]["reason"],
        }
    ]
    assert "XYZ" in report["refused"][0]["reason"]

    fine = trialbot("enroll", "--from", write(tmp_path, HEADER, ROWS[-1]), "--json")
    assert fine.code == 0, fine.err
    assert [row["study_id"] for row in json.loads(fine.out)["enrolled"]] == ["PUMCH-001"]
    assert json.loads(fine.out)["refused"] == []


def test_a_file_that_is_not_an_enrolment_list_enrols_nobody(
    trialbot: Trialbot, tmp_path: Path
) -> None:
    wrong = write(tmp_path, "study,site,arm,randomized,pregnant", "ZJU2-001,ZJU2,standard,,no")
    error = trialbot.refused("enroll", "--from", wrong)
    assert "missing: study_id, can_become_pregnant" in error
    assert "unknown: study, pregnant" in error and "nothing was enrolled" in error
    assert "cannot be read" in trialbot.refused("enroll", "--from", str(tmp_path / "none.csv"))
    assert participants(trialbot) == []


def test_from_a_file_or_from_options_never_both(trialbot: Trialbot, tmp_path: Path) -> None:
    both = trialbot.refused(
        "enroll", "--from", write(tmp_path, HEADER), "--study-id", "ZJU2-001", code=2
    )
    assert "enroll --from takes the participants from the file, not --study-id" in both
    single = trialbot.refused("enroll", "--study-id", "ZJU2-001", "--site", "ZJU2", code=2)
    assert (
        "the following arguments are required: --arm, --randomized, --can-become-pregnant" in single
    )


def test_a_row_is_enrolled_exactly_as_a_single_enroll(trialbot: Trialbot, tmp_path: Path) -> None:
    trialbot.ok(
        "enroll", "--study-id", "ZJU2-100", "--site", "ZJU2", "--arm", "individualized",
        "--randomized", "2026-11-20", "--can-become-pregnant", "yes", "--preferred-hour", "8",
    )  # fmt: skip
    row = "ZJU2-101,ZJU2,individualized,2026-11-20,yes,,,8"
    assert trialbot("enroll", "--from", write(tmp_path, HEADER, row)).code == 0
    single, bulk = (trialbot.ok("show", study_id) for study_id in ("ZJU2-100", "ZJU2-101"))
    assert bulk.replace("ZJU2-101", "ZJU2-100") == single
    events = trialbot.audit()
    for action in ("enroll", "issue_code"):
        first, second = (event for event in events if event["action"] == action)
        assert (second["actor"], second["entity"], second["before"]) == (
            first["actor"],
            first["entity"],
            first["before"],
        )
        assert second["after"].keys() == first["after"].keys()
        if action == "enroll":
            assert {**second["after"], "study_id": "ZJU2-100"} == first["after"]
