"""The team's operations on the command line: the same use cases, English plain text."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bot.test_cli import trialbot
from tests.support.study import STUDY_TOML


def test_the_team_operations_on_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(STUDY_TOML, encoding="utf-8")

    def run(*args: str) -> str:
        result = trialbot(tmp_path, *args)
        assert result.returncode == 0, result.stderr
        assert "<b>" not in result.stdout
        return result.stdout

    run(
        "enroll",
        "--study-id",
        "ZJU2-001",
        "--site",
        "ZJU2",
        "--arm",
        "individualized",
        "--randomized",
        "2026-09-01",
        "--can-become-pregnant",
        "no",
    )
    assert "visit 1: Thursday, 3 December 2026, 10:00" in run(
        "visit", "ZJU2-001", "1", "2026-12-03", "10:00"
    )
    labs = run("labs", "ZJU2-001", "1", "cd19=2.5", "dsdna=40-")
    assert "Individualised re-dose rule: met" in labs and "CD19+ B cells ≥ 1%" in labs
    assert "CD19+ B cells: 2.5 % of lymphocytes" in labs
    assert "anti-dsDNA: 40 IU/mL, negative" in labs
    assert "Proposed: one 500 mg infusion on Thursday, 3 December 2026" in labs
    assert "trialbot confirm ZJU2-001 1 [DATE]" in labs
    assert "trialbot reject ZJU2-001 1" in labs
    assert "infusion planned for Thursday, 3 December 2026" in run(
        "infusion", "ZJU2-001", "2026-12-03"
    )
    assert "recorded as attended" in run("attended", "ZJU2-001", "1")
    assert "recorded as given" in run("given", "ZJU2-001", "2026-12-03")
    assert "visit 2 recorded as missed" in run("missed", "ZJU2-001", "2")
    assert "is paused" in run("pause", "ZJU2-001")
    assert "is resumed" in run("resume", "ZJU2-001")
    shown = run("show", "ZJU2-001")
    assert "1. 2026-12-03 10:00 (month 3) attended · labs entered" in shown
    assert "2026-12-03 500 mg given (cd19)" in shown
    refused = trialbot(tmp_path, "withdraw", "ZJU2-001")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert "is withdrawn" in run("withdraw", "ZJU2-001", "--yes")
    actions = [json.loads(line)["action"] for line in run("audit", "--json").splitlines()]
    assert actions == [
        "enroll",
        "issue_code",
        "set_appointment",
        "record_labs",
        "propose_infusion",
        "schedule_infusion",
        "mark_attended",
        "record_infusion_given",
        "mark_missed",
        "pause",
        "resume",
        "withdraw",
    ]
    unknown = trialbot(tmp_path, "show", "ZJU2-999")
    assert unknown.returncode == 1
    assert "There is no participant with the study id ZJU2-999." in unknown.stderr
