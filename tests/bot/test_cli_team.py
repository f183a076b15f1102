"""The team's operations on the command line: the same use cases, English plain text."""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from bot.cli import _actor, main
from study.alerts import raise_alert
from study.database import Database
from study.enrollment import get_participant
from study.models import Tier, saved_id
from tests.bot.test_cli import trialbot as trialbot_process
from tests.support.study import STUDY_TOML, study_config

VISIT_DAY = datetime(2026, 12, 3, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.mark.slow
def test_the_team_operations_on_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(STUDY_TOML, encoding="utf-8")

    commands = iter(range(100))

    def run(*args: str) -> str:
        # On the day of visit 1, as a site records it (a future day cannot be attended), each
        # command a minute after the one before (the audit log is in time order).
        start = VISIT_DAY + timedelta(minutes=next(commands))
        result = trialbot_process(tmp_path, *args, TRIALBOT_CLOCK_START=start.isoformat())
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
    refused = trialbot_process(tmp_path, "withdraw", "ZJU2-001")
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
    unknown = trialbot_process(tmp_path, "show", "ZJU2-999")
    assert unknown.returncode == 1
    assert "There is no participant with the study id ZJU2-999." in unknown.stderr


# Every team command through the real `main()`, on SQLite and PostgreSQL: what it does, and
# one refusal that changes nothing. The clock is the settings' simulated one (no token: the
# sandbox rules), started on Wednesday 25 November 2026, 09:00 in Shanghai.

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
INDIVIDUALISED = ("--arm", "individualized", "--randomized", "2026-09-01")
STANDARD = ("--arm", "standard", "--randomized", "2026-09-01")


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


class Trialbot:
    """`trialbot ARGS...` in this process, on one database, as the server's user; each
    command a minute after the one before."""

    def __init__(
        self, url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.url = url
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.commands = 0

    def __call__(self, *args: str) -> Ran:
        start = NOW + timedelta(minutes=self.commands)
        self.commands += 1
        self.monkeypatch.setenv("TRIALBOT_CLOCK_START", start.isoformat())
        self.capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err
        return Ran(code, out, err)

    def ok(self, *args: str) -> str:
        ran = self(*args)
        assert ran.code == 0, ran.err
        assert "<b>" not in ran.out and "&lt;" not in ran.out  # plain text, not Telegram HTML
        return ran.out

    def refused(self, *args: str, code: int = 1) -> str:
        """The command fails with `code` (1: refused by the study; 2: by argument parsing),
        saying why, and writes no audit event."""
        before = self.actions()
        ran = self(*args)
        assert ran.code == code, (ran.code, ran.out, ran.err)
        assert self.actions() == before
        return ran.err

    def enroll(self, study_id: str, *arm: str, pregnant: str = "no") -> str:
        return self.ok(
            "enroll",
            *("--study-id", study_id, "--site", study_id.split("-")[0], *arm),
            *("--can-become-pregnant", pregnant),
        )

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.ok("audit", "--json").splitlines()]

    def actions(self) -> list[str]:
        return [event["action"] for event in self.audit()]

    def raise_alert(self, study_id: str) -> int:
        """A T1 alert for the participant, as a red-flag answer raises it."""

        async def raise_one() -> int:
            database = Database.from_url(self.url)
            try:
                async with database.session() as session:
                    participant = await get_participant(session, study_id)
                    alert = await raise_alert(
                        session,
                        config=study_config(),
                        participant=participant,
                        kind="checkin",
                        tier=Tier.T1,
                        evidence=[
                            {
                                "key": "finding",
                                "question": "Q1",
                                "answer": "chest_breathing",
                                "tier": "T1",
                                "rule": "base",
                            }
                        ],
                        now=NOW,
                    )
                    return saved_id(alert)
            finally:
                await database.dispose()

        return asyncio.run(raise_one())


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


def test_enroll_and_invite_print_the_invitation_as_telegram_words_it(trialbot: Trialbot) -> None:
    enrolled = trialbot.enroll("ZJU2-001", *STANDARD)
    assert enrolled.startswith("✓ ZJU2-001 is enrolled. Give this invitation link")
    assert "https://t.me/trialbot_demo_bot?start=" in enrolled
    assert "trialbot invite ZJU2-001 gives a new one" in enrolled
    duplicate = trialbot.refused(
        "enroll", "--study-id", "ZJU2-001", "--site", "ZJU2", *STANDARD,
        "--can-become-pregnant", "no",
    )  # fmt: skip
    assert "The study id ZJU2-001 is already enrolled." in duplicate

    invited = trialbot.ok("invite", "ZJU2-001")
    assert invited.startswith("✓ A new invitation for ZJU2-001; earlier links no longer work.")
    first, second = (re.findall(r"start=(\S+)", text)[0] for text in (enrolled, invited))
    assert first != second
    assert "There is no participant with the study id ZJU2-999." in trialbot.refused(
        "invite", "ZJU2-999"
    )
    assert trialbot.actions() == ["enroll", "issue_code", "issue_code"]
    assert {event["actor"] for event in trialbot.audit()} == {_actor()}


def test_show_upcoming_and_alerts_read_every_site(trialbot: Trialbot) -> None:
    trialbot.enroll("ZJU2-001", *STANDARD)
    trialbot.enroll("PUMCH-001", *STANDARD)
    shown = trialbot.ok("show", "ZJU2-001")
    assert shown.startswith("ZJU2-001 · ZJU2 · standard-dose arm")
    assert "1. 2026-12-01 (month 3) planned" in shown
    assert "There is no participant with the study id ZJU2-999." in trialbot.refused(
        "show", "ZJU2-999"
    )

    upcoming = trialbot.ok("upcoming")
    assert "from Wednesday, 25 November 2026" in upcoming
    assert "2026-12-01 · ZJU2-001 · visit 1" in upcoming
    assert "2026-12-01 · PUMCH-001 · visit 1" in upcoming
    only_pumch = trialbot.ok("upcoming", "--site", "PUMCH")
    assert "PUMCH-001" in only_pumch and "ZJU2-001" not in only_pumch
    assert "There is no site with the code XX." in trialbot.refused("upcoming", "--site", "XX")

    assert "None." in trialbot.ok("alerts")
    alert_id = trialbot.raise_alert("PUMCH-001")
    alerts = trialbot.ok("alerts")
    assert f"{alert_id} · T1 urgent · PUMCH-001" in alerts
    assert "trialbot ack NUMBER, trialbot resolve NUMBER" in alerts
    assert "PUMCH-001" not in trialbot.ok("alerts", "--site", "ZJU2")
    assert "There is no site with the code XX." in trialbot.refused("alerts", "--site", "XX")


def test_the_calendar_commands_change_it_and_refuse_what_cannot_be(trialbot: Trialbot) -> None:
    trialbot.enroll("ZJU2-001", *STANDARD)
    assert trialbot.ok("visit", "ZJU2-001", "1", "2026-12-03", "10:00").startswith(
        "✓ ZJU2-001 visit 1: Thursday, 3 December 2026, 10:00."
    )
    assert "There is no visit with the number 12." in trialbot.refused(
        "visit", "ZJU2-001", "12", "2026-12-03"
    )
    assert "The visit number x was not understood" in trialbot.refused(
        "visit", "ZJU2-001", "x", "2026-12-03", code=2
    )

    assert "that day has not come yet. Nothing was changed." in trialbot.refused(
        "attended", "ZJU2-001", "1"
    )
    assert "visit 1 recorded as attended (Tuesday, 24 November 2026)" in trialbot.ok(
        "attended", "ZJU2-001", "1", "2026-11-24"
    )
    assert "The date 1999-12-03 cannot be right" in trialbot.refused(
        "attended", "ZJU2-001", "2", "1999-12-03"
    )
    assert "✓ ZJU2-001 visit 2 recorded as missed." in trialbot.ok("missed", "ZJU2-001", "2")
    assert "Visit 1 is already recorded as attended" in trialbot.refused("missed", "ZJU2-001", "1")

    assert "infusion planned for Monday, 8 March 2027, 09:30" in trialbot.ok(
        "infusion", "ZJU2-001", "2027-03-08", "09:30"
    )
    assert "The time 9h30 was not understood" in trialbot.refused(
        "infusion", "ZJU2-001", "2027-03-08", "9h30", code=2
    )
    # Without a date, given today (Shanghai).
    assert "infusion recorded as given (Wednesday, 25 November 2026)" in trialbot.ok(
        "given", "ZJU2-001"
    )
    assert "infusion recorded as given (Monday, 1 March 2027)" in trialbot.ok(
        "given", "ZJU2-001", "2027-03-01"
    )
    trialbot.enroll("ZJU2-002", *INDIVIDUALISED)
    assert "The participant ZJU2-002 has no planned infusion." in trialbot.refused(
        "given", "ZJU2-002"
    )
    assert trialbot.actions()[2:6] == [
        "set_appointment",
        "mark_attended",
        "mark_missed",
        "schedule_infusion",
    ]


def test_labs_and_the_proposals_they_make_are_decided_by_visit(trialbot: Trialbot) -> None:
    trialbot.enroll("ZJU2-001", *INDIVIDUALISED)
    labs = trialbot.ok("labs", "ZJU2-001", "1", "cd19=2.5", "dsdna=40-")
    assert "Proposed: one 500 mg infusion on Tuesday, 1 December 2026" in labs
    assert "trialbot confirm ZJU2-001 1 [DATE]; if not: trialbot reject ZJU2-001 1" in labs
    assert "CD19+ B cells 150 is not plausible: expected 0 to 100 %" in trialbot.refused(
        "labs", "ZJU2-001", "2", "cd19=150"
    )
    assert "Usage: cd19=1.2 dsdna=150+ c3=0.45 lln=0.9" in trialbot.refused(
        "labs", "ZJU2-001", "2", "cd19", code=2
    )
    assert "✓ ZJU2-001: the proposed infusion of visit 1 is rejected" in trialbot.ok(
        "reject", "ZJU2-001", "1"
    )
    assert "no proposed infusion awaiting a decision for visit 1" in trialbot.refused(
        "reject", "ZJU2-001", "1"
    )
    trialbot.ok("labs", "ZJU2-001", "2", "cd19=3")
    assert "infusion planned for Wednesday, 10 March 2027, 08:30" in trialbot.ok(
        "confirm", "ZJU2-001", "2", "2027-03-10", "08:30"
    )
    assert "no proposed infusion awaiting a decision for visit 2" in trialbot.refused(
        "confirm", "ZJU2-001", "2"
    )
    assert trialbot.actions()[2:] == [
        "record_labs",
        "propose_infusion",
        "reject_infusion",
        "record_labs",
        "propose_infusion",
        "confirm_infusion",
    ]


def test_pause_resume_withdraw_and_the_pregnancy_answer(trialbot: Trialbot) -> None:
    trialbot.enroll("ZJU2-001", *STANDARD)
    assert "✓ ZJU2-001 can become pregnant" in trialbot.ok("can-become-pregnant", "ZJU2-001", "yes")
    assert "Usage: yes|no" in trialbot.refused("can-become-pregnant", "ZJU2-001", "maybe", code=2)
    assert "The participant ZJU2-001 is not paused." in trialbot.refused("resume", "ZJU2-001")
    assert "✓ ZJU2-001 is paused" in trialbot.ok("pause", "ZJU2-001")
    assert "✓ ZJU2-001 is resumed." in trialbot.ok("resume", "ZJU2-001")
    assert "--yes" in trialbot.refused("withdraw", "ZJU2-001", code=2)
    assert "✓ ZJU2-001 is withdrawn" in trialbot.ok("withdraw", "ZJU2-001", "--yes")
    assert "ZJU2-001 has withdrawn or completed the study" in trialbot.refused("pause", "ZJU2-001")
    assert trialbot.actions()[2:] == ["set_can_become_pregnant", "pause", "resume", "withdraw"]
    assert "Status: withdrawn" in trialbot.ok("show", "ZJU2-001")


def test_an_alert_is_acknowledged_and_resolved_on_the_command_line(trialbot: Trialbot) -> None:
    trialbot.enroll("ZJU2-001", *STANDARD)
    alert_id = trialbot.raise_alert("ZJU2-001")
    assert "There is no alert 999 at your sites." in trialbot.refused("ack", "999")
    assert "There is no alert x at your sites." in trialbot.refused("resolve", "x", code=2)

    card = trialbot.ok("ack", str(alert_id))
    assert card.startswith("T1 urgent · ZJU2-001")
    assert "✓ Acknowledged on the server, " in card and "Resolved" not in card
    assert "acknowledged" in trialbot.ok("alerts")
    resolved = trialbot.ok("resolve", str(alert_id))
    assert "✓ Resolved on the server, " in resolved
    assert "None." in trialbot.ok("alerts")
    assert "✓ Resolved on the server, " in trialbot.ok("resolve", str(alert_id))  # no change

    changes = [e for e in trialbot.audit() if e["entity"] == "alert" and e["actor"] != "system"]
    assert [(e["action"], e["actor"], e["after"]) for e in changes] == [
        ("acknowledge_alert", _actor(), {"status": "acknowledged"}),
        ("resolve_alert", _actor(), {"status": "resolved"}),
    ]


def test_show_writes_the_trend_chart_as_a_png_and_prints_its_legend(
    trialbot: Trialbot, tmp_path: Path
) -> None:
    trialbot.enroll("ZJU2-001", *STANDARD)
    chart = tmp_path / "chart.png"
    shown = trialbot.ok("show", "ZJU2-001", "--chart", str(chart))
    assert shown.startswith("ZJU2-001 · ZJU2 · standard-dose arm")
    assert "Trend · ZJU2-001" in shown and "Dotted line: today." in shown
    with Image.open(chart) as image:
        image.verify()  # a valid PNG, whole
        assert (image.format, image.size) == ("PNG", (1200, 800))
    assert "There is no participant with the study id ZJU2-999." in trialbot.refused(
        "show", "ZJU2-999", "--chart", str(tmp_path / "other.png")
    )
    assert not (tmp_path / "other.png").exists()
