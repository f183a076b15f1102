"""The check-in and contraception cadence: when a participant is asked (pure functions)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from study.cadence import (
    ContraceptionDue,
    LocalSchedule,
    checkin_candidates_before,
    contraception_due,
    contraception_until,
    infusions_asked_about_since,
    next_checkin_at,
    post_infusion_question_at,
    post_infusion_trigger,
)
from study.config import ProtocolConfig
from study.localtime import allowed_hour, is_quiet
from study.models import CheckInTrigger
from study.protocol import add_months

DEFAULT = ProtocolConfig()
SHANGHAI = LocalSchedule("Asia/Shanghai", 9, (21, 8))
CADENCE = CheckInTrigger.CADENCE
VISIT = CheckInTrigger.VISIT_REMINDER

hours = st.integers(0, 23)
quiet_hours = st.tuples(hours, hours)
zones = st.timezone_keys(allow_prefix=False)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2060, 12, 31), timezones=st.just(UTC)
)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31))
schedules = st.builds(LocalSchedule, zones, hours, quiet_hours)


def local(day: date, hour: int, minute: int = 0, zone: str = "Asia/Shanghai") -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(zone))


def wall(instant: datetime, zone: str) -> tuple[date, int, int]:
    there = instant.astimezone(ZoneInfo(zone))
    return there.date(), there.hour, there.minute


# --- the symptom check-in -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "last", "interval", "schedule", "expected"),
    [
        (
            "linked in the evening: 14 days on, at the preferred hour",
            local(date(2026, 3, 2), 20, 15),
            14,
            SHANGHAI,
            (date(2026, 3, 16), 9, 0),
        ),
        (
            "asked late after an outage: the next keeps its hour",
            local(date(2026, 3, 16), 11, 30),
            14,
            SHANGHAI,
            (date(2026, 3, 30), 9, 0),
        ),
        (
            "a late preferred hour moves before quiet hours",
            local(date(2026, 3, 2), 9),
            14,
            LocalSchedule("Asia/Shanghai", 22, (21, 8)),
            (date(2026, 3, 16), 20, 0),
        ),
        (
            "a night preferred hour moves to when quiet hours end",
            local(date(2026, 3, 2), 9),
            14,
            LocalSchedule("Asia/Shanghai", 3, (21, 8)),
            (date(2026, 3, 16), 8, 0),
        ),
        (
            "over a leap day",
            local(date(2028, 2, 20), 9),
            14,
            SHANGHAI,
            (date(2028, 3, 5), 9, 0),
        ),
        (
            "a configured interval",
            local(date(2026, 3, 2), 9),
            7,
            SHANGHAI,
            (date(2026, 3, 9), 9, 0),
        ),
    ],
)
def test_the_next_checkin(
    case: str,
    last: datetime,
    interval: int,
    schedule: LocalSchedule,
    expected: tuple[date, int, int],
) -> None:
    assert wall(next_checkin_at(last, interval, schedule), schedule.zone) == expected, case


@pytest.mark.parametrize(
    ("zone", "last", "expected_utc"),
    [
        # Berlin leaves winter time on 29 March 2026: same local hour, one hour earlier in UTC.
        ("Europe/Berlin", datetime(2026, 3, 20, 8, 0, tzinfo=UTC), datetime(2026, 4, 3, 7, 0)),
        # New York returns to winter time on 1 November 2026.
        (
            "America/New_York",
            datetime(2026, 10, 25, 13, 0, tzinfo=UTC),
            datetime(2026, 11, 8, 14, 0),
        ),
    ],
)
def test_a_dst_change_keeps_the_checkin_on_its_local_hour(
    zone: str, last: datetime, expected_utc: datetime
) -> None:
    due = next_checkin_at(last, 14, LocalSchedule(zone, 9, (21, 8)))
    assert due == expected_utc.replace(tzinfo=UTC)
    assert wall(due, zone)[1:] == (9, 0)


@given(instants, st.integers(1, 60), schedules)
def test_the_next_checkin_is_never_early_never_quiet_and_found_in_sql(
    last: datetime, interval: int, schedule: LocalSchedule
) -> None:
    due = next_checkin_at(last, interval, schedule)
    assert due.tzinfo is not None
    day, hour, _ = wall(due, schedule.zone)
    # Never on an earlier day than the interval after the last, in the participant's zone,
    # and on that day unless daylight saving pushed the hour into quiet hours.
    assert day - schedule.day_of(last) in (timedelta(days=interval), timedelta(days=interval + 1))
    assert not is_quiet(hour, schedule.quiet_hours)
    # The sweep's SQL pre-filter never leaves out a participant who is due.
    assert last <= checkin_candidates_before(due, interval)


@given(days, hours, st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York"]))
def test_the_checkin_is_at_the_preferred_hour_when_it_is_allowed(
    day: date, preferred: int, zone: str
) -> None:
    schedule = LocalSchedule(zone, preferred, (21, 8))
    due = next_checkin_at(local(day, 12, zone=zone), 14, schedule)
    expected = allowed_hour(preferred, (21, 8))
    assert wall(due, zone) == (day + timedelta(days=14), expected, 0)


# --- the questions after an infusion --------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "at", "hours", "expected"),
    [
        ("time unknown: the next day at the preferred hour", None, 24, (date(2026, 3, 3), 9, 0)),
        ("time unknown: a week later at the preferred hour", None, 168, (date(2026, 3, 9), 9, 0)),
        ("recorded at 14:00: 24 hours later", time(14), 24, (date(2026, 3, 3), 14, 0)),
        ("recorded at 14:30: 7 days later", time(14, 30), 168, (date(2026, 3, 9), 14, 30)),
        ("24 hours later is quiet: when quiet ends", time(22, 30), 24, (date(2026, 3, 4), 8, 0)),
        ("early morning: when quiet ends that day", time(6), 24, (date(2026, 3, 3), 8, 0)),
    ],
)
def test_the_question_after_an_infusion(
    case: str, at: time | None, hours: int, expected: tuple[date, int, int]
) -> None:
    asked = post_infusion_question_at(date(2026, 3, 2), at, hours, SHANGHAI)
    assert wall(asked, SHANGHAI.zone) == expected, case


def test_the_24_hour_question_counts_real_hours_over_a_dst_change() -> None:
    berlin = LocalSchedule("Europe/Berlin", 9, (21, 8))
    asked = post_infusion_question_at(date(2026, 3, 28), time(14), 24, berlin)
    assert wall(asked, berlin.zone) == (date(2026, 3, 29), 15, 0)  # summer time began


def test_which_question_an_interval_asks() -> None:
    assert post_infusion_trigger(24) == CheckInTrigger.INFUSION_24H
    assert post_infusion_trigger(12) == CheckInTrigger.INFUSION_24H
    assert post_infusion_trigger(168) == CheckInTrigger.INFUSION_7D


@given(days, st.none() | st.times(), st.integers(0, 24 * 30), schedules)
def test_the_question_after_an_infusion_is_never_early_never_quiet(
    day: date, at: time | None, hours: int, schedule: LocalSchedule
) -> None:
    asked = post_infusion_question_at(day, at, hours, schedule)
    _, hour, _ = wall(asked, schedule.zone)
    assert not is_quiet(hour, schedule.quiet_hours)
    if at is None:
        assert schedule.day_of(asked) - day in (
            timedelta(days=max(1, hours // 24)),
            timedelta(days=max(1, hours // 24) + 1),
        )
    else:
        given_at = datetime.combine(day, at, tzinfo=ZoneInfo(schedule.zone))
        waited = asked - given_at.astimezone(UTC)
        # At least the interval (the 24-hour question covers the whole first day), and at
        # most the quiet hours (and a daylight-saving hour) later.
        assert timedelta(hours=hours) <= waited < timedelta(hours=hours + 26)


@given(days, st.none() | st.times(), st.data())
def test_an_infusion_whose_question_is_open_is_never_filtered_out(
    day: date, at: time | None, data: st.DataObject
) -> None:
    schedule = data.draw(schedules)
    for hours in DEFAULT.post_infusion_checkin_hours:
        asked = post_infusion_question_at(day, at, hours, schedule)
        open_for = data.draw(st.floats(0, DEFAULT.checkin_expire_hours * 3600 - 1))
        now = asked + timedelta(seconds=open_for)
        assert day >= infusions_asked_about_since(now, DEFAULT)


# --- contraception --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("infusions", "months", "until"),
    [
        ([date(2026, 3, 2)], 12, date(2027, 3, 2)),
        ([date(2026, 3, 2), date(2026, 9, 2), date(2026, 6, 1)], 12, date(2027, 9, 2)),
        ([date(2026, 8, 31)], 6, date(2027, 2, 28)),  # no 31 February: its last day
        ([date(2027, 8, 31)], 6, date(2028, 2, 29)),  # a leap year
        ([date(2026, 3, 2)], 0, date(2026, 3, 2)),
        ([], 12, None),  # no infusion: no questions
    ],
)
def test_contraception_until(infusions: list[date], months: int, until: date | None) -> None:
    assert contraception_until(infusions, months) == until


@given(st.lists(days, min_size=1, max_size=6), st.integers(0, 36))
def test_contraception_until_is_add_months_of_the_last_infusion(
    infusions: list[date], months: int
) -> None:
    until = contraception_until(infusions, months)
    assert until == add_months(max(infusions), months)
    assert until is not None and until >= max(infusions)


LINKED = local(date(2026, 3, 2), 10)
VISIT_DAY = date(2026, 6, 2)  # the month-3 visit; its first reminder is 7 days before


def due(
    now: datetime,
    *,
    until: date | None = date(2027, 3, 2),
    last_asked: datetime | None = None,
    visits: tuple[date, ...] = (VISIT_DAY,),
) -> ContraceptionDue | None:
    return contraception_due(
        now,
        SHANGHAI,
        DEFAULT,
        until=until,
        last_asked=last_asked,
        linked_at=LINKED,
        upcoming_visits=visits,
    )


@pytest.mark.parametrize(
    ("case", "now", "kwargs", "expected"),
    [
        ("four weeks after linking, before the hour", local(date(2026, 3, 30), 8, 59), {}, None),
        (
            "four weeks after linking, at the hour",
            local(date(2026, 3, 30), 9),
            {},
            ContraceptionDue(CADENCE, date(2026, 3, 30)),
        ),
        (
            "a day late (the bot was down): still the cadence day's",
            local(date(2026, 3, 31), 15),
            {},
            ContraceptionDue(CADENCE, date(2026, 3, 30)),
        ),
        (
            "already asked that day",
            local(date(2026, 3, 30), 15),
            {"last_asked": local(date(2026, 3, 30), 9, 1)},
            None,
        ),
        (
            "four weeks after the last ones",
            local(date(2026, 4, 27), 9),
            {"last_asked": local(date(2026, 3, 30), 9, 1)},
            ContraceptionDue(CADENCE, date(2026, 4, 27)),
        ),
        (
            "with the visit's first reminder",
            local(date(2026, 5, 26), 9),
            {"last_asked": local(date(2026, 5, 18), 9)},
            ContraceptionDue(VISIT, date(2026, 5, 26)),
        ),
        (
            "not with the visit's reminder when asked in the week before",
            local(date(2026, 5, 26), 9),
            {"last_asked": local(date(2026, 5, 20), 9)},
            None,
        ),
        (
            "on the last day",
            local(date(2027, 3, 2), 9),
            {"until": date(2027, 3, 2), "last_asked": local(date(2027, 2, 2), 9), "visits": ()},
            ContraceptionDue(CADENCE, date(2027, 3, 2)),
        ),
        (
            "the day after the last day",
            local(date(2027, 3, 3), 9),
            {"until": date(2027, 3, 2), "last_asked": local(date(2027, 2, 3), 9), "visits": ()},
            None,
        ),
        ("without any infusion", local(date(2026, 3, 30), 9), {"until": None}, None),
    ],
)
def test_contraception_due(
    case: str, now: datetime, kwargs: dict[str, object], expected: ContraceptionDue | None
) -> None:
    assert due(now, **kwargs) == expected, case  # type: ignore[arg-type]


@given(days, st.integers(0, 24), st.integers(1, 400), st.integers(0, 23), st.data())
def test_contraception_stops_exactly_on_its_last_day(
    infusion: date, months: int, days_after: int, hour: int, data: st.DataObject
) -> None:
    until = contraception_until([infusion], months)
    assert until is not None
    schedule = data.draw(schedules)
    # However long since the last questions, and whatever the visits: nothing after `until`.
    later = datetime.combine(until + timedelta(days=days_after), time(hour))
    now = later.replace(tzinfo=ZoneInfo(schedule.zone)).astimezone(UTC)
    assume(schedule.day_of(now) > until)
    last = data.draw(st.none() | st.just(now - timedelta(days=data.draw(st.integers(1, 400)))))
    visits = data.draw(st.lists(st.dates(until, until + timedelta(days=30)), max_size=3))
    found = contraception_due(
        now,
        schedule,
        DEFAULT,
        until=until,
        last_asked=last,
        linked_at=now - timedelta(days=500),
        upcoming_visits=visits,
    )
    assert found is None
    # ... and on the last day itself, when its questions fall due then, they are asked.
    on_last_day = schedule.at_preferred_hour(until)
    assume(schedule.day_of(on_last_day) == until)
    previous = on_last_day - timedelta(days=DEFAULT.contraception_interval_days)
    assume(schedule.day_of(previous) == until - timedelta(days=28))
    found = contraception_due(
        on_last_day,
        schedule,
        DEFAULT,
        until=until,
        last_asked=previous,
        linked_at=previous - timedelta(days=500),
        upcoming_visits=(),
    )
    assert found == ContraceptionDue(CADENCE, until)


@given(instants, st.integers(-48, 24 * 60), schedules, st.integers(1, 60))
def test_contraception_is_never_due_before_its_hour_nor_twice(
    linked: datetime, hours_later: int, schedule: LocalSchedule, interval: int
) -> None:
    protocol = ProtocolConfig(contraception_interval_days=interval)
    now = linked + timedelta(hours=hours_later)
    found = contraception_due(
        now,
        schedule,
        protocol,
        until=schedule.day_of(now) + timedelta(days=1),
        last_asked=None,
        linked_at=linked,
        upcoming_visits=(),
    )
    if found is None:
        return
    at = schedule.at_preferred_hour(found.day)
    assert at <= now
    assert not is_quiet(wall(at, schedule.zone)[1], schedule.quiet_hours)
    again = contraception_due(
        now,
        schedule,
        protocol,
        until=schedule.day_of(now) + timedelta(days=1),
        last_asked=now,
        linked_at=linked,
        upcoming_visits=(),
    )
    assert again is None
