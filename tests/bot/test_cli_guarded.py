"""Guarded data entry on the command line (issue 14.4): a day outside a visit's window needs
--force, attendance cannot be in the future, sites and arms are checked the same way in every
command, `--json` errors are JSON, and the audit log names visits by their number."""

# ruff: noqa: F811 (`trialbot` is test_cli_team's fixture, imported to be used here)

from __future__ import annotations

import json

from tests.bot.test_cli_team import (  # noqa: F401
    INDIVIDUALISED,
    STANDARD,
    Trialbot,
    trialbot,
)


def test_a_visit_day_outside_its_window_needs_force(trialbot: Trialbot) -> None:
    trialbot.enroll("ZJU2-001", *STANDARD)  # visit 1: 2026-12-01, window 11-17 to 12-15
    refused = trialbot.refused("visit", "ZJU2-001", "1", "2026-12-20")
    assert "2026-12-20 is outside the protocol window of ZJU2-001's visit 1" in refused
    assert "2026-11-17 to 2026-12-15. Nothing was changed." in refused
    assert "run the command again with --force" in refused
    forced = trialbot.ok("visit", "ZJU2-001", "1", "2026-12-20", "--force")
    assert forced.startswith("✓ ZJU2-001 visit 1: Sunday, 20 December 2026.")
    assert "1. 2026-12-20 (month 3) planned" in trialbot.ok("show", "ZJU2-001")


def test_attended_on_a_future_day_is_refused(trialbot: Trialbot) -> None:
    trialbot.enroll("ZJU2-001", *STANDARD)
    refused = trialbot.refused("attended", "ZJU2-001", "1", "2026-11-26")  # today: 11-25
    assert "Visit 1 cannot be recorded as attended on 2026-11-26: that day has not come" in (
        refused
    )
    assert "attended (Wednesday, 25 November 2026)" in trialbot.ok(
        "attended", "ZJU2-001", "1", "2026-11-25"
    )


def test_attended_on_a_day_outside_the_window_needs_force(trialbot: Trialbot) -> None:
    trialbot.enroll("ZJU2-001", *STANDARD)  # visit 1's window: 2026-11-17 to 2026-12-15
    refused = trialbot.refused("attended", "ZJU2-001", "1", "2026-11-10")
    assert "2026-11-10 is outside the protocol window of ZJU2-001's visit 1" in refused
    assert "2026-11-17 to 2026-12-15. Nothing was changed." in refused
    assert "If the visit did take place that day (a protocol deviation), run the command " in (
        refused
    )
    assert "1. 2026-12-01 (month 3) planned" in trialbot.ok("show", "ZJU2-001")
    assert "mark_attended" not in trialbot.actions()
    forced = trialbot.ok("attended", "ZJU2-001", "1", "2026-11-10", "--force")
    assert "attended (Tuesday, 10 November 2026)" in forced
    assert trialbot.actions()[-1] == "mark_attended"


def test_attended_on_an_appointment_set_outside_the_window_is_not_asked_again(
    trialbot: Trialbot,
) -> None:
    trialbot.enroll("ZJU2-001", *STANDARD)
    trialbot.ok("visit", "ZJU2-001", "1", "2026-11-10", "--force")  # confirmed then
    assert "attended (Tuesday, 10 November 2026)" in trialbot.ok("attended", "ZJU2-001", "1")


def test_participants_of_an_unknown_site_is_an_error_as_in_enroll(trialbot: Trialbot) -> None:
    trialbot.enroll("ZJU2-001", *STANDARD)
    refused = trialbot.refused("participants", "--site", "XX")
    assert "There is no site with the code XX." in refused
    assert "ZJU2-001" in trialbot.ok("participants", "--site", "ZJU2")


def test_the_british_spelling_of_the_individualised_arm_is_accepted(trialbot: Trialbot) -> None:
    for study_id, spelling in (("ZJU2-001", "individualised"), ("ZJU2-002", "individualized")):
        out = trialbot.ok(
            "enroll", "--study-id", study_id, "--site", "ZJU2", "--arm", spelling,
            "--randomized", "2026-09-01", "--can-become-pregnant", "no", "--json",
        )  # fmt: skip
        assert json.loads(out)["arm"] == "individualized"
    listed = json.loads(trialbot.ok("participants", "--json"))
    assert {row["arm"] for row in listed} == {"individualized"}


def error_of(trialbot: Trialbot, *args: str, code: int) -> dict[str, str]:
    """The command fails with exit `code` and its stderr is exactly one JSON error object."""
    ran = trialbot(*args)
    assert ran.code == code, ran
    assert ran.out == ""
    (line,) = ran.err.splitlines()
    parsed = json.loads(line)
    assert set(parsed) == {"error"} and set(parsed["error"]) == {"code", "message"}
    return dict(parsed["error"])


def test_json_errors_are_json_on_every_command(trialbot: Trialbot) -> None:
    trialbot.enroll("ZJU2-001", *INDIVIDUALISED)
    duplicate = error_of(
        trialbot,
        "enroll", "--study-id", "ZJU2-001", "--site", "ZJU2", *STANDARD,
        "--can-become-pregnant", "no", "--json",
        code=1,
    )  # fmt: skip
    assert duplicate == {
        "code": "error_duplicate_study_id",
        "message": "The study id ZJU2-001 is already enrolled.",
    }
    site = error_of(trialbot, "participants", "--site", "XX", "--json", code=1)
    assert site["code"] == "error_unknown_site" and "XX" in site["message"]
    unknown = error_of(trialbot, "invite", "ZJU2-999", "--json", code=1)
    assert unknown["code"] == "error_unknown_participant"
    missing = error_of(trialbot, "enroll", "--study-id", "ZJU2-002", "--json", code=2)
    assert missing["code"] == "usage" and "--site" in missing["message"]
    bad_arm = error_of(
        trialbot,
        "enroll", "--study-id", "ZJU2-003", "--site", "ZJU2", "--arm", "high",
        "--randomized", "2026-09-01", "--can-become-pregnant", "no", "--json",
        code=2,
    )  # fmt: skip
    assert bad_arm["code"] == "usage" and "invalid choice: 'high'" in bad_arm["message"]
    # A command without JSON output still answers a --json caller's error in JSON.
    outside = error_of(trialbot, "visit", "ZJU2-001", "1", "2027-01-20", "--json", code=2)
    assert outside["code"] == "usage"
    audit = error_of(trialbot, "audit", "--participant", "ZJU2-999", "--json", code=1)
    assert audit["code"] == "error_unknown_participant"
    # Without --json the errors stay words.
    assert trialbot("invite", "ZJU2-999").err.startswith("trialbot: There is no participant")


def test_audit_lines_name_a_visit_by_its_protocol_number(trialbot: Trialbot) -> None:
    trialbot.enroll("ZJU2-001", *INDIVIDUALISED)
    trialbot.enroll("ZJU2-002", *INDIVIDUALISED)  # its visits take other table ids
    trialbot.ok("visit", "ZJU2-002", "2", "2027-03-01")
    trialbot.ok("labs", "ZJU2-002", "2", "cd19=0.5")
    lines = trialbot.ok("audit", "--participant", "ZJU2-002").splitlines()
    (visit_line,) = [line for line in lines if "set_appointment" in line]
    assert "  visit 2  " in visit_line
    (labs_line,) = [line for line in lines if "record_labs" in line]
    assert "  labs of visit 2  " in labs_line
    events = [json.loads(line) for line in trialbot.ok("audit", "--json").splitlines()]
    (event,) = [e for e in events if e["action"] == "set_appointment"]
    assert event["visit_number"] == 2 and event["entity_id"] != "2"
