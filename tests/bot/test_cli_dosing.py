"""Dosing and enrolment safety on the command line: the pregnancy answer is required and can
be changed, proposals are confirmed or rejected by visit, labs carry units and ranges."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.bot.test_cli import trialbot
from tests.support.study import STUDY_TOML

ENROL = (
    "enroll",
    *("--study-id", "ZJU2-001", "--site", "ZJU2", "--arm", "individualized"),
    *("--randomized", "2026-09-01"),
)


def ok(tmp_path: Path, *args: str) -> str:
    result = trialbot(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def failed(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = trialbot(tmp_path, *args)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    return result


def audit(tmp_path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in ok(tmp_path, "audit", "--json").splitlines()]


@pytest.mark.slow
def test_enroll_without_the_pregnancy_answer_is_refused_and_it_can_be_changed_later(
    tmp_path: Path,
) -> None:
    (tmp_path / "study.toml").write_text(STUDY_TOML, encoding="utf-8")
    refused = failed(tmp_path, *ENROL)
    assert refused.returncode == 2
    assert "the following arguments are required: --can-become-pregnant" in refused.stderr
    assert "ZJU2-001" not in ok(tmp_path, "participants")
    assert "expected yes or no" in failed(tmp_path, *ENROL, "--can-become-pregnant", "x").stderr

    enrolled = json.loads(ok(tmp_path, *ENROL, "--can-become-pregnant", "no", "--json"))
    assert {"study_id", "code", "link"} <= set(enrolled)
    assert "can become pregnant: the contraception and pregnancy questions are asked" in ok(
        tmp_path, "can-become-pregnant", "ZJU2-001", "yes"
    )
    assert "can become pregnant: Yes" in ok(tmp_path, "show", "ZJU2-001")
    assert "cannot become pregnant" in ok(tmp_path, "can-become-pregnant", "ZJU2-001", "no")
    assert "can become pregnant: No" in ok(tmp_path, "show", "ZJU2-001")
    changes = [e for e in audit(tmp_path) if e["action"] == "set_can_become_pregnant"]
    assert [c["after"] for c in changes] == [
        {"can_become_pregnant": True},
        {"can_become_pregnant": False},
    ]
    enrolment = next(e for e in audit(tmp_path) if e["action"] == "enroll")
    assert enrolment["after"]["can_become_pregnant"] is False  # type: ignore[index]


@pytest.mark.slow
def test_proposals_are_confirmed_or_rejected_by_visit_and_labs_show_units(
    tmp_path: Path,
) -> None:
    (tmp_path / "study.toml").write_text(STUDY_TOML, encoding="utf-8")
    ok(tmp_path, *ENROL, "--can-become-pregnant", "no")
    baseline = ok(tmp_path, "labs", "ZJU2-001", "0", "cd19=5")
    assert "Baseline visit (month 0, before the first infusion)" in baseline
    assert "Proposed" not in baseline

    implausible = failed(tmp_path, "labs", "ZJU2-001", "1", "c3=45", "lln=0.9")
    assert "C3 45 is not plausible: expected 0 to 5 g/L" in implausible.stderr

    first = ok(tmp_path, "labs", "ZJU2-001", "1", "c3=0.4", "lln=0.9")
    assert "C3: 0.4 g/L (lower limit of normal: 0.9 g/L)" in first
    proposed = ok(tmp_path, "labs", "ZJU2-001", "1", "cd19=2")
    assert "CD19+ B cells: 2 % of lymphocytes" in proposed
    assert "C3: 0.4 g/L" in proposed  # kept from the first entry
    assert "trialbot reject ZJU2-001 1" in proposed
    assert "is rejected; nothing is planned" in ok(tmp_path, "reject", "ZJU2-001", "1")
    again = failed(tmp_path, "reject", "ZJU2-001", "1")
    assert "no proposed infusion awaiting a decision for visit 1" in again.stderr

    ok(tmp_path, "labs", "ZJU2-001", "2", "cd19=3")
    assert "infusion planned for Wednesday, 10 March 2027" in ok(
        tmp_path, "confirm", "ZJU2-001", "2", "2027-03-10"
    )
    shown = ok(tmp_path, "show", "ZJU2-001")
    assert "2027-03-10 500 mg planned (cd19)" in shown
    actions = [e["action"] for e in audit(tmp_path)]
    assert actions[-3:] == ["record_labs", "propose_infusion", "confirm_infusion"]
    assert "reject_infusion" in actions
