"""The escalation clock: when an unacknowledged alert is sent again, and to which chats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import parse_study_text
from study.alerts import sites_acting_on_alerts
from study.config import EscalationClock
from study.escalation import (
    ESCALATED,
    RESENT,
    Round,
    clock_started,
    first_round_at,
    latest_round,
    resend_every,
    round_of,
)
from tests.support.study import (
    ADMIN,
    PUMCH_ALERTS,
    PUMCH_COORDINATOR,
    ZJU2_ALERTS,
    ZJU2_COORDINATOR,
    ZJU2_ESCALATION,
    ZJU2_ON_CALL,
    study_config,
)

DEFAULT = EscalationClock()
RAISED = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
minutes = st.integers(1, 24 * 60)
clocks = st.builds(
    EscalationClock,
    t1_resend_minutes=minutes,
    t1_escalate_minutes=minutes,
    t2_resend_minutes=minutes,
    t2_escalate_minutes=minutes,
)
tiers = st.sampled_from(["T1", "T2"])


def schedule(tier: str, clock: EscalationClock, count: int) -> list[tuple[int, str]]:
    """The first rounds as (minutes after the clock started, note)."""
    rounds = [round_of(tier, RAISED, number, clock) for number in range(1, count + 1)]
    return [(r.waited // timedelta(minutes=1), r.note) for r in rounds if r is not None]


@pytest.mark.parametrize(
    ("case", "tier", "clock", "expected"),
    [
        (
            "T1 by default: 30 re-sent, 60 escalated, then both chats every 30",
            "T1",
            DEFAULT,
            [(30, RESENT), (60, ESCALATED), (90, ESCALATED), (120, ESCALATED)],
        ),
        (
            "T2 by default: escalated after 4 hours, then every 4 hours",
            "T2",
            DEFAULT,
            [(240, ESCALATED), (480, ESCALATED), (720, ESCALATED), (960, ESCALATED)],
        ),
        (
            "escalation not a multiple of the interval: escalated at its minute",
            "T1",
            EscalationClock(t1_resend_minutes=30, t1_escalate_minutes=100),
            [(30, RESENT), (60, RESENT), (90, RESENT), (100, ESCALATED), (130, ESCALATED)],
        ),
        (
            "escalation before the first re-send",
            "T1",
            EscalationClock(t1_resend_minutes=30, t1_escalate_minutes=20),
            [(20, ESCALATED), (50, ESCALATED), (80, ESCALATED)],
        ),
        (
            "T2 with its own re-send interval",
            "T2",
            EscalationClock(t2_resend_minutes=60, t2_escalate_minutes=240),
            [(60, RESENT), (120, RESENT), (180, RESENT), (240, ESCALATED), (300, ESCALATED)],
        ),
    ],
)
def test_the_rounds_of_an_unacknowledged_alert(
    case: str, tier: str, clock: EscalationClock, expected: list[tuple[int, str]]
) -> None:
    assert schedule(tier, clock, len(expected)) == expected, case


@pytest.mark.parametrize(
    ("tier", "after", "expected"),
    [
        ("T1", 29, None),
        ("T1", 30, (1, 30, RESENT)),
        ("T1", 59, (1, 30, RESENT)),
        ("T1", 60, (2, 60, ESCALATED)),
        ("T1", 95, (3, 90, ESCALATED)),
        ("T1", 24 * 60, (48, 24 * 60, ESCALATED)),  # after a day down: only the latest
        ("T2", 239, None),
        ("T2", 240, (1, 240, ESCALATED)),
        ("T2", 500, (2, 480, ESCALATED)),
        ("T3", 10_000, None),  # in the daily digest, no rounds
        ("T4", 10_000, None),
    ],
)
def test_the_round_due_now(tier: str, after: int, expected: tuple[int, int, str] | None) -> None:
    found = latest_round(tier, RAISED, RAISED + timedelta(minutes=after), DEFAULT)
    if expected is None:
        assert found is None
        return
    assert found is not None
    number, waited, note = expected
    assert (found.number, found.waited, found.note) == (number, timedelta(minutes=waited), note)
    assert found.due_at == RAISED + timedelta(minutes=waited)


def test_first_rounds_and_intervals_by_tier() -> None:
    assert first_round_at("T1", RAISED, DEFAULT) == RAISED + timedelta(minutes=30)
    assert first_round_at("T2", RAISED, DEFAULT) == RAISED + timedelta(hours=4)
    assert first_round_at("T3", RAISED, DEFAULT) is None
    assert resend_every("T1", DEFAULT) == timedelta(minutes=30)
    assert resend_every("T2", EscalationClock(t2_resend_minutes=90)) == timedelta(minutes=90)
    assert resend_every("T3", DEFAULT) is None


@given(tiers, clocks, st.integers(0, 7 * 24 * 60))
def test_rounds_go_on_until_acknowledged_and_stay_escalated(
    tier: str, clock: EscalationClock, after: int
) -> None:
    now = RAISED + timedelta(minutes=after)
    found = latest_round(tier, RAISED, now, clock)
    first = first_round_at(tier, RAISED, clock)
    assert first is not None
    if found is None:
        assert now < first
        return
    assert found.due_at <= now
    following = round_of(tier, RAISED, found.number + 1, clock)
    assert following is not None and now < following.due_at  # the latest one due
    # Never more than an interval apart, whatever the settings: it keeps going.
    assert following.due_at - found.due_at <= resend_every(tier, clock)  # type: ignore[operator]
    assert following.due_at > found.due_at
    # Once escalated, every later round is too; and escalated exactly from the setting on.
    escalate = clock.t1_escalate_minutes if tier == "T1" else clock.t2_escalate_minutes
    assert found.escalated == (found.waited >= timedelta(minutes=escalate))
    assert following.escalated or not found.escalated


@given(tiers, clocks, st.integers(0, 500), st.integers(-(10**6), 10**6))
def test_the_clock_start_is_found_again_from_the_next_round(
    tier: str, clock: EscalationClock, done: int, shift: int
) -> None:
    started = RAISED + timedelta(minutes=shift)
    following = round_of(tier, started, done + 1, clock)
    assert following is not None
    assert clock_started(tier, done, following.due_at, clock) == started
    # ... so the round due at that moment is exactly that next round.
    assert latest_round(tier, started, following.due_at, clock) == following


def test_a_round_says_where_it_goes() -> None:
    assert Round(1, RAISED, timedelta(minutes=30), escalated=False).note == RESENT
    assert Round(2, RAISED, timedelta(minutes=60), escalated=True).note == ESCALATED


# --- who may acknowledge and resolve, where -------------------------------------------------

OTHER_CHAT = -1009999999999


@pytest.mark.parametrize(
    ("who", "chat", "sites"),
    [
        (ZJU2_COORDINATOR, ZJU2_ALERTS, {"ZJU2"}),
        (ZJU2_COORDINATOR, ZJU2_COORDINATOR, {"ZJU2"}),  # a coordinator, in any chat
        (PUMCH_COORDINATOR, ZJU2_ALERTS, {"PUMCH"}),  # never another site's alerts
        (ADMIN, PUMCH_ALERTS, {"ZJU2", "PUMCH"}),
        (ZJU2_ON_CALL, ZJU2_ESCALATION, {"ZJU2"}),  # on call: in the escalation chat
        (ZJU2_ON_CALL, ZJU2_ALERTS, set()),  # ... and nowhere else
        (ZJU2_ON_CALL, ZJU2_ON_CALL, set()),
        (ZJU2_ON_CALL, PUMCH_ALERTS, set()),
        (ZJU2_ON_CALL, OTHER_CHAT, set()),
        (123, ZJU2_ESCALATION, set()),  # a stranger
    ],
)
def test_who_may_act_on_alerts_where(who: int, chat: int, sites: set[str]) -> None:
    assert sites_acting_on_alerts(study_config(), who, chat) == sites


def test_on_call_people_are_not_coordinators() -> None:
    config = study_config()
    assert config.roles_of(ZJU2_ON_CALL) == {}
    assert config.on_call_sites(ZJU2_ON_CALL) == {"ZJU2"}
    assert config.on_call_sites(ZJU2_COORDINATOR) == frozenset()


def test_on_call_at_one_site_coordinator_at_another() -> None:
    config = parse_study_text(
        """
[study]
name = "S"
[sites.A]
name = "A"
phone = "123"
alert_chat_id = -1
escalation_chat_id = -2
coordinators = [{ telegram_user_id = 7, role = "on_call" }]
[sites.B]
name = "B"
phone = "123"
alert_chat_id = -3
coordinators = [{ telegram_user_id = 7, role = "coordinator" }]
""",
        source="study.toml",
    )
    assert config.roles_of(7) == {"B": "coordinator"}
    assert sites_acting_on_alerts(config, 7, -2) == {"A", "B"}
    assert sites_acting_on_alerts(config, 7, -1) == {"B"}
