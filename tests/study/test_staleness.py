"""The staleness rules: what a queued message checks before it is sent, case by case.

Each case is the state at send time and the reason the row is expired with (None: it is
sent). The reasons are what an operator reads in `outbox.last_error`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from study.errors import Stale, TrialbotError
from study.escalation import ESCALATED, RESENT
from study.models import (
    Alert,
    AlertStatus,
    CheckIn,
    Infusion,
    InfusionStatus,
    Participant,
    ParticipantStatus,
    PromptStatus,
    Visit,
    VisitStatus,
)
from study.staleness import (
    check_alert_card,
    check_alert_elsewhere,
    check_digest,
    check_infusion_reminder,
    check_open_checkin,
    check_recipient,
    check_upcoming_visit,
    check_visit_reminder,
    days_before,
)

DAY = date(2026, 6, 2)
RAISED = datetime(2026, 6, 1, 9, tzinfo=UTC)


def reason(rule: Callable[[], object]) -> str | None:
    """Why the rule refuses (its Stale's text), or None when the message holds."""
    try:
        rule()
    except Stale as stale:
        return str(stale)
    return None


def participant(status: str = ParticipantStatus.ACTIVE, chat: int | None = 7) -> Participant:
    return Participant(
        study_id="ZJU2-001",
        site_code="ZJU2",
        arm="standard",
        randomized_on=DAY,
        language="zh",
        timezone="Asia/Shanghai",
        preferred_hour=9,
        status=status,
        telegram_chat_id=chat,
    )


def visit(
    status: str = VisitStatus.PLANNED,
    *,
    target: date = DAY,
    appointment: date | None = None,
    at: time | None = None,
) -> Visit:
    return Visit(
        participant_id=1,
        number=2,
        month=3,
        target_date=target,
        window_start=target,
        window_end=target,
        appointment_date=appointment,
        appointment_time=at,
        status=status,
    )


def infusion(status: str = InfusionStatus.PLANNED, day: date = DAY) -> Infusion:
    return Infusion(
        participant_id=1, planned_date=day, dose_mg=500, reason="protocol", status=status
    )


def alert(status: str = AlertStatus.OPEN) -> Alert:
    return Alert(site_code="ZJU2", kind="checkin", tier="T1", status=status, raised_at=RAISED)


def checkin(status: str = PromptStatus.OPEN) -> CheckIn:
    return CheckIn(
        participant_id=1,
        kind="symptoms",
        trigger="cadence",
        questionnaire_version="2026.2",
        asked_at=RAISED,
        status=status,
    )


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (participant(), None),
        (None, "participant not linked"),
        (participant(chat=None), "participant not linked"),
        (participant(ParticipantStatus.INVITED, chat=None), "participant not linked"),
        (participant(ParticipantStatus.PAUSED), "participant paused"),
        (participant(ParticipantStatus.UNREACHABLE), "participant unreachable"),
        (participant(ParticipantStatus.WITHDRAWN), "participant withdrawn"),
        (participant(ParticipantStatus.COMPLETED), "participant completed"),
    ],
)
def test_only_an_active_linked_participant_is_written_to(
    who: Participant | None, expected: str | None
) -> None:
    assert reason(lambda: check_recipient(who)) == expected


@pytest.mark.parametrize(
    ("state", "day", "at", "expected"),
    [
        (visit(), "2026-06-02", None, None),
        (visit(VisitStatus.CONFIRMED), "2026-06-02", None, None),
        (visit(at=time(9, 30)), "2026-06-02", "09:30", None),
        (visit(appointment=date(2026, 6, 5)), "2026-06-05", None, None),
        (None, "2026-06-02", None, "visit no longer upcoming"),
        (visit(VisitStatus.RESCHEDULE_REQUESTED), "2026-06-02", None, "visit no longer upcoming"),
        (visit(VisitStatus.ATTENDED), "2026-06-02", None, "visit no longer upcoming"),
        (visit(VisitStatus.MISSED), "2026-06-02", None, "visit no longer upcoming"),
        (visit(appointment=date(2026, 6, 5)), "2026-06-02", None, "visit moved"),
        (visit(at=time(14, 0)), "2026-06-02", None, "visit moved"),
        (visit(), "2026-06-02", "09:30", "visit moved"),
        (visit(at=time(9, 30)), "2026-06-02", "10:30", "visit moved"),
    ],
)
def test_a_visit_reminder_holds_while_the_visit_is_upcoming_on_its_date_and_time(
    state: Visit | None, day: str, at: str | None, expected: str | None
) -> None:
    assert reason(lambda: check_visit_reminder(state, day, at)) == expected


@pytest.mark.parametrize(
    ("state", "day", "expected"),
    [
        (infusion(), "2026-06-02", None),
        (None, "2026-06-02", "infusion no longer planned"),
        (infusion(InfusionStatus.PROPOSED), "2026-06-02", "infusion no longer planned"),
        (infusion(InfusionStatus.GIVEN), "2026-06-02", "infusion no longer planned"),
        (infusion(InfusionStatus.CANCELLED), "2026-06-02", "infusion no longer planned"),
        (infusion(day=date(2026, 6, 9)), "2026-06-02", "infusion moved"),
    ],
)
def test_an_infusion_reminder_holds_while_it_is_planned_on_its_date(
    state: Infusion | None, day: str, expected: str | None
) -> None:
    assert reason(lambda: check_infusion_reminder(state, day)) == expected


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 5, 26), 7),
        (date(2026, 5, 31), 2),  # planned for 2 days before, sent late: still 2
        (date(2026, 6, 1), 1),  # sent a day late: says 1, not 2
        (date(2026, 6, 2), 0),
    ],
)
def test_days_before_counts_from_today_not_from_the_plan(today: date, expected: int) -> None:
    assert days_before(DAY, today) == expected


@given(st.dates(), st.dates())
def test_an_event_already_past_is_never_reminded_of(day: date, today: date) -> None:
    if day < today:
        assert reason(lambda: days_before(day, today)) == "event already past"
    else:
        assert days_before(day, today) == (day - today).days >= 0


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (visit(), None),
        (visit(VisitStatus.CONFIRMED), None),
        (None, "visit no longer upcoming"),
        (visit(VisitStatus.RESCHEDULE_REQUESTED), "visit no longer upcoming"),
        (visit(VisitStatus.ATTENDED), "visit no longer upcoming"),
    ],
)
def test_a_previsit_summary_holds_while_the_visit_is_upcoming(
    state: Visit | None, expected: str | None
) -> None:
    assert reason(lambda: check_upcoming_visit(state)) == expected


ACKED = "acknowledged meanwhile: no re-send or escalation needed"


@pytest.mark.parametrize(
    ("state", "note", "expected"),
    [
        (alert(), None, None),
        (alert(), RESENT, None),
        (alert(), ESCALATED, None),
        (alert(AlertStatus.ACKNOWLEDGED), None, None),  # the first card shows it as it is
        (alert(AlertStatus.RESOLVED), None, None),
        (None, None, "alert gone"),
        (alert(AlertStatus.ACKNOWLEDGED), RESENT, ACKED),
        (alert(AlertStatus.ACKNOWLEDGED), ESCALATED, ACKED),
        (alert(AlertStatus.RESOLVED), ESCALATED, ACKED),
    ],
)
def test_an_alert_card_is_re_sent_or_escalated_only_while_nobody_acknowledged_it(
    state: Alert | None, note: str | None, expected: str | None
) -> None:
    assert reason(lambda: check_alert_card(state, note)) == expected


@pytest.mark.parametrize(
    ("state", "note", "expected"),
    [
        (alert(), None, None),
        (alert(), ESCALATED, None),
        (alert(AlertStatus.ACKNOWLEDGED), None, None),
        (None, None, "alert resolved meanwhile"),
        (alert(AlertStatus.RESOLVED), None, "alert resolved meanwhile"),
        (alert(AlertStatus.ACKNOWLEDGED), RESENT, ACKED),
        (alert(AlertStatus.ACKNOWLEDGED), ESCALATED, ACKED),
    ],
)
def test_an_alert_sent_elsewhere_holds_until_resolved(
    state: Alert | None, note: str | None, expected: str | None
) -> None:
    assert reason(lambda: check_alert_elsewhere(state, note)) == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (checkin(), None),
        (None, "check-in no longer open"),
        (checkin(PromptStatus.COMPLETED), "check-in no longer open"),
        (checkin(PromptStatus.EXPIRED), "check-in no longer open"),
        (checkin(PromptStatus.STOPPED), "check-in no longer open"),
    ],
)
def test_a_checkin_question_holds_while_the_checkin_is_open(
    state: CheckIn | None, expected: str | None
) -> None:
    assert reason(lambda: check_open_checkin(state)) == expected


def test_a_digest_holds_while_one_of_its_alerts_is_not_resolved() -> None:
    assert check_digest(["one"]) == ["one"]
    assert reason(lambda: check_digest([])) == "every alert of the digest was resolved"


def test_stale_is_one_of_the_projects_errors() -> None:
    assert issubclass(Stale, TrialbotError)
