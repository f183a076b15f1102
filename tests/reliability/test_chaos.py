"""Chaos, short: the real `trialbot run` on simulated time, killed with SIGKILL a few times
over six simulated days against a flaky Telegram. Every reminder the protocol requires
arrives, none is stale or wrong, none is crowded out (the load is light), and a repeat comes
only from a kill (at most the one message in flight in each chat) or from a timeout after
which Telegram had made the message.

The machinery and the oracle are the chaos benchmark's (`python -m bench.chaos` runs a month
with 200 participants and 20 kills); the oracle's rules are in `bench/chaos_oracle.py`. It is
checked against a planted fault: the same run, judged as if the bot had dropped every
morning-of reminder, must show each of them lost. The fast tests below show the rules on
made-up runs. Simulated time passes in real time in the chaos test, so it takes about 80 s.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from bench.chaos import ChaosResult, ChaosSettings, judged_again, run_chaos
from bench.chaos_deliveries import Delivery, Stretch
from bench.chaos_oracle import Allowances, Judgement, Oracle, countdown, is_reminder
from bench.chaos_process import logged_clock
from bench.chaos_world import Person
from messages import render
from study.clock import SimulatedClock

log = logging.getLogger(__name__)

# Six simulated days in 72 s (two hours of simulated time a second, as in the benchmark).
# The load is light, so a reminder is required after 1.5 s (3 h) of fair chance: enough for a
# bot starting up on a busy machine, short enough for morning-of reminders due by 09:00.
SETTINGS = ChaosSettings(participants=30, days=6, kills=4, minutes=1.2, seed=6, slack_seconds=1.5)


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosResult]:
    """One short chaos run for the tests of this module (on its own event loop)."""
    workdir = tmp_path_factory.mktemp("chaos")
    result = asyncio.run(run_chaos(SETTINGS, workdir, say=log.info))
    log.info("chaos figures: %s (the runs' logs are in %s)", result.figures, workdir)
    yield result


def test_the_harness_reads_a_runs_clock_from_its_log_exactly() -> None:
    """Each run's clock is known from the line it logs as it starts, not read from its
    health endpoint again and again (which took a starved bot seconds at each start)."""
    clock = SimulatedClock(datetime(2026, 3, 1, 8, tzinfo=UTC), speed=7200.0)
    line = f"2026-11-30 18:22:38,362 INFO bot.runner: {clock.describe()}"
    assert logged_clock("2026-11-30 18:22:38,362 INFO bot.runner: trialbot is running") is None
    logged = logged_clock(line)
    assert logged is not None
    started, speed = logged
    before = time.time()
    now = clock.now()
    after = time.time()  # a busy machine may pause the test between two reads of the clock
    assert speed == 7200.0
    # to within a millisecond of wall time
    millisecond = timedelta(seconds=7200 * 0.001)
    assert started.at(before, speed) - millisecond <= now <= started.at(after, speed) + millisecond


@pytest.mark.slow
def test_killed_and_restarted_over_days_every_required_reminder_arrives(
    chaos: ChaosResult,
) -> None:
    figures, judgement = chaos.figures, chaos.judgement

    assert figures["chaos_kills"] == SETTINGS.kills
    assert judgement.required >= 10, f"too little to judge: {figures}"
    assert judgement.required_by_days_before[0] > 0, "morning-of reminders are judged too"
    assert judgement.caught_up > 0, "some reminders were due while the bot was down"
    assert judgement.lost == []
    assert judgement.crowded_out == [], "the load is light: nothing may be crowded out"
    assert judgement.stale == []
    assert judgement.wrong == []
    assert chaos.clock_problems == []
    # Several chats are sent to at once: a kill may repeat one message in each of them.
    assert figures["chaos_duplicated_per_chat_per_kill_max"] <= 1, chaos.repeats
    assert chaos.repeats.unexplained == []
    assert figures["chaos_rejected_by_telegram"] == 0
    assert figures["chaos_faults_injected"] > 0, "Telegram was meant to fail now and then"
    assert chaos.problems == [], "the bot logged warnings or errors of its own"


@pytest.mark.slow
def test_the_oracle_reports_lost_every_morning_of_reminder_a_bot_drops(
    chaos: ChaosResult,
) -> None:
    languages = {person.chat_id: person.language for person in chaos.people}

    def morning_of(delivery: Delivery) -> bool:
        language = languages.get(delivery.chat_id)
        return (
            language is not None
            and is_reminder(delivery, language)
            and countdown(delivery, language) == 0
        )

    dropped = sum(morning_of(d) for ds in chaos.received.values() for d in ds)
    required = chaos.judgement.required_by_days_before
    assert dropped >= required[0] > 0

    planted = judged_again(chaos, morning_of)

    assert planted.required_by_days_before == required
    assert len(planted.lost) == required[0], planted.lost
    assert planted.crowded_out == []
    assert planted.received == chaos.judgement.received - dropped


# The oracle on made-up runs: a participant in Shanghai (UTC+8) who prefers 09:00, with the
# 3-month visit on 2026-06-02 (reminders due 05-26, 05-31 and 06-02 at 01:00 UTC).
ENROLLED = datetime(2026, 5, 20, 2, 0, tzinfo=UTC)
VISIT = date(2026, 6, 2)
PERSON = Person(
    study_id="ZJU2-001",
    chat_id=42,
    site_code="ZJU2",
    arm="standard",
    randomized_on=date(2026, 3, 2),
    language="en",
    timezone="Asia/Shanghai",
    preferred_hour=9,
    can_become_pregnant=False,
)
ALLOWANCES = Allowances(
    slack=timedelta(hours=1),
    in_flight=timedelta(minutes=30),
    tolerance=timedelta(minutes=1),
    capacity=6 / 3600,  # Telegram's limit here: six messages an hour
    busy_share=0.5,
)


def at(day: int, hour: float) -> datetime:
    return datetime(2026, 5, 1, tzinfo=UTC) + timedelta(days=day - 1, hours=hour)


def reminder(
    when: datetime, *, day: date = VISIT, says: int | None = None, run: int = 1
) -> Delivery:
    """The reminder as the bot words it, arriving `when` (its countdown `says`, if given)."""
    return Delivery(PERSON.chat_id, 1, when, run, *_texts(when, day=day, says=says), ())


def _texts(when: datetime, *, day: date = VISIT, says: int | None = None) -> tuple[str, str]:
    """A reminder's text and HTML, arriving `when` in Shanghai."""
    local_day = (when + timedelta(hours=8)).date()
    html = render(
        "reminder",
        "en",
        kind="visit",
        date=day.isoformat(),
        time=None,
        days_before=(day - local_day).days if says is None else says,
        site_name="Site",
        address=None,
        instructions=None,
        window_start=None,
        window_end=None,
        ask=False,
        site_phone="+86 1",
    )
    return re.sub(r"</?b>", "", html), html


def sending(began: datetime, ended: datetime, every: timedelta) -> Stretch:
    """A run that sent something `every` so often."""
    sends = tuple(began + every * n for n in range(int((ended - began) / every)))
    return Stretch(began, ended, sends)


def busy(began: datetime, ended: datetime) -> Stretch:
    """A run that sent at the limit (every ten minutes) all along."""
    return sending(began, ended, timedelta(minutes=10))


def judged(
    stretches: list[Stretch], deliveries: list[Delivery], allowances: Allowances = ALLOWANCES
) -> Judgement:
    oracle = Oracle(stretches, enrolled_at=ENROLLED, end=at(40, 0), allowances=allowances)
    return oracle.judge([PERSON], {PERSON.chat_id: deliveries})


def test_the_oracle_requires_every_reminder_of_a_bot_that_stays_up() -> None:
    up = [Stretch(ENROLLED, at(40, 0), ())]
    on_time = [reminder(at(26, 1.1)), reminder(at(31, 1.1)), reminder(at(33, 1.1))]

    assert judged(up, on_time).required_by_days_before == {7: 1, 2: 1, 0: 1}
    assert judged(up, on_time).lost == []
    missing = judged(up, on_time[:1] + on_time[2:])
    assert missing.lost == [
        "ZJU2-001: the reminder due 2026-05-31 01:00Z for the visit of 2026-06-02 never arrived"
    ]
    crowded = judged([busy(ENROLLED, at(40, 0))], on_time[:1] + on_time[2:])
    assert (crowded.lost, len(crowded.crowded_out)) == ([], 1)


def test_a_missing_reminder_is_lost_unless_the_bot_sent_near_the_limit_all_along() -> None:
    on_time = [reminder(at(26, 1.1)), reminder(at(31, 1.1)), reminder(at(33, 1.1))]
    without_morning_of = on_time[:2]  # its chance: 09:00 to noon local, three hours
    idle = judged([Stretch(ENROLLED, at(40, 0), ())], without_morning_of)
    assert idle.lost == [
        "ZJU2-001: the reminder due 2026-06-02 01:00Z for the visit of 2026-06-02 never arrived"
    ]
    # Sending, but at a third of the limit: the bot had room for it.
    slow = judged([sending(ENROLLED, at(40, 0), timedelta(minutes=30))], without_morning_of)
    assert (len(slow.lost), slow.crowded_out) == (1, [])
    crowded = judged([busy(ENROLLED, at(40, 0))], without_morning_of)
    assert (crowded.lost, len(crowded.crowded_out)) == ([], 1)


def test_a_reminder_is_lost_when_one_due_later_went_before_it() -> None:
    # At the limit all along, but another person's reminder due at 02:00 UTC (10:00 in
    # Shanghai) arrived at 02:30, while ours, due at 01:00, never came.
    later = Person(
        **{**PERSON.__dict__, "study_id": "ZJU2-002", "chat_id": 43, "preferred_hour": 10}
    )
    theirs = Delivery(43, 1, at(33, 2.5), 1, *_texts(at(33, 2.5)), ())
    oracle = Oracle(
        [busy(ENROLLED, at(40, 0))], enrolled_at=ENROLLED, end=at(40, 0), allowances=ALLOWANCES
    )
    mine = [reminder(at(26, 1.1)), reminder(at(31, 1.1))]
    judgement = oracle.judge([PERSON, later], {PERSON.chat_id: mine, 43: [theirs]})
    ours = PERSON.study_id
    assert [line for line in judgement.crowded_out if line.startswith(ours)] == []
    assert [line for line in judgement.lost if line.startswith(ours)] == [
        "ZJU2-001: the reminder due 2026-06-02 01:00Z for the visit of 2026-06-02 never arrived"
    ]


def test_a_reminder_behind_check_in_nudges_of_a_later_deadline_is_lost() -> None:
    # At the limit all along. Another person's check-in nudge arrived at 02:00 UTC (10:00 in
    # Shanghai), while our "today" reminder, due at 01:00 and stale at noon, never came: a
    # nudge's check-in stays open for hours more (72 after the asking), so it went first
    # wrongly. The same nudge during our 7-day reminder's chance (its visit a week away)
    # may have had the earlier deadline: that one is crowded out.
    other = Person(**{**PERSON.__dict__, "study_id": "ZJU2-002", "chat_id": 43})
    text = "A message from your study team\nYou have a few questions left to answer."

    def nudge(when: datetime) -> Delivery:
        return Delivery(43, 1, when, 1, text, text, ())

    def ours(deliveries: list[Delivery], nudged: datetime) -> tuple[list[str], list[str]]:
        oracle = Oracle(
            [busy(ENROLLED, at(40, 0))],
            enrolled_at=ENROLLED,
            end=at(40, 0),
            allowances=ALLOWANCES,
        )
        judgement = oracle.judge([PERSON, other], {PERSON.chat_id: deliveries, 43: [nudge(nudged)]})
        mine = PERSON.study_id
        return (
            [line for line in judgement.lost if line.startswith(mine)],
            [line for line in judgement.crowded_out if line.startswith(mine)],
        )

    assert ours([reminder(at(26, 1.1)), reminder(at(31, 1.1))], at(33, 2)) == (
        ["ZJU2-001: the reminder due 2026-06-02 01:00Z for the visit of 2026-06-02 never arrived"],
        [],
    )
    assert ours([reminder(at(31, 1.1)), reminder(at(33, 1.1))], at(26, 1.5)) == (
        [],
        ["ZJU2-001: the reminder due 2026-05-26 01:00Z for the visit of 2026-06-02 never arrived"],
    )


def test_a_reminder_waits_for_those_of_nearer_visits_and_is_crowded_out_not_lost() -> None:
    # At the limit all along. Another person's 2-day reminder, due an hour after our 7-day
    # one but for a visit five days sooner, went first: the dispatcher sends the earliest
    # deadline first, so ours never came for want of room, not because it was passed over.
    sooner = Person(
        **{
            **PERSON.__dict__,
            "study_id": "ZJU2-002",
            "chat_id": 43,
            "preferred_hour": 10,
            "randomized_on": date(2026, 2, 28),  # the 3-month visit on 05-28
        }
    )
    theirs = Delivery(43, 1, at(26, 2.5), 1, *_texts(at(26, 2.5), day=date(2026, 5, 28)), ())
    oracle = Oracle(
        [busy(ENROLLED, at(40, 0))], enrolled_at=ENROLLED, end=at(40, 0), allowances=ALLOWANCES
    )
    mine = [reminder(at(31, 1.1)), reminder(at(33, 1.1))]
    judgement = oracle.judge([PERSON, sooner], {PERSON.chat_id: mine, 43: [theirs]})
    ours = PERSON.study_id
    assert [line for line in judgement.lost if line.startswith(ours)] == []
    assert [line for line in judgement.crowded_out if line.startswith(ours)] == [
        "ZJU2-001: the reminder due 2026-05-26 01:00Z for the visit of 2026-06-02 never arrived"
    ]


def test_after_an_outage_only_the_latest_due_reminder_is_required() -> None:
    # Down from 05-25 to 06-01 06:00 UTC (14:00 local): the 7- and 2-day reminders fell due.
    up = [Stretch(ENROLLED, at(25, 0), ()), Stretch(at(32, 6), at(40, 0), ())]
    judgement = judged(up, [reminder(at(32, 6.2)), reminder(at(33, 1.1))])
    assert judgement.required_by_days_before == {7: 0, 2: 1, 0: 1}
    assert (judgement.lost, judgement.caught_up) == ([], 1)
    # Back at 23:00 local, in quiet hours: the 2-day one may go at 08:00, the morning-of one
    # falls due at 09:00, within the hour the bot is given: only the latter is required.
    late = [Stretch(ENROLLED, at(25, 0), ()), Stretch(at(32, 15), at(40, 0), ())]
    judgement = judged(late, [reminder(at(33, 1.1))])
    assert (judgement.required_by_days_before, judgement.lost) == ({7: 0, 2: 0, 0: 1}, [])


def test_the_oracle_flags_stale_and_wrong_reminders() -> None:
    up = [Stretch(ENROLLED, at(40, 0), ())]
    after_noon = reminder(at(33, 5))  # 13:00 local on the day
    wrong_day = reminder(at(26, 1.1), day=VISIT + timedelta(days=1))
    miscounted = reminder(at(31, 1.1), says=3)
    in_flight = reminder(at(33, 4 + 10 / 60))  # 12:10 local: a batch claimed before noon
    judgement = judged(up, [after_noon, wrong_day, miscounted, in_flight])
    assert len(judgement.stale) == 2, judgement.stale
    assert judgement.after_noon_in_flight == [
        "ZJU2-001: reminder at 2026-06-02 04:10Z (run 1) for the visit of 2026-06-02, 0:09:00 late"
    ]
    assert judgement.wrong == [
        "ZJU2-001: reminder at 2026-05-31 01:06Z (run 1) for the visit of 2026-06-02: "
        "says 3 days ahead on 2026-05-31"
    ]


def test_a_caught_up_reminder_is_not_credited_to_an_earlier_one() -> None:
    # Down over the morning-of reminder (due 06-02 01:00 UTC) and back at 02:00, too late for
    # it to be required with three hours of slack before noon; the bot still sends it.
    roomy = Allowances(
        slack=timedelta(hours=3),
        in_flight=timedelta(hours=4),
        tolerance=timedelta(minutes=1),
        capacity=6 / 3600,
    )
    up = [Stretch(ENROLLED, at(32, 12), ()), Stretch(at(33, 2), at(40, 0), ())]
    sent = [reminder(at(26, 1.1)), reminder(at(31, 1.1)), reminder(at(33, 2.5))]
    judgement = judged(up, sent, roomy)
    assert judgement.required_by_days_before == {7: 1, 2: 1, 0: 0}
    assert judgement.lost == []
    assert max(judgement.delays) < timedelta(hours=1), judgement.delays
