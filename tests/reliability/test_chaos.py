"""Chaos, short: the real `trialbot run` on simulated time, killed with SIGKILL a few times
over six simulated days against a flaky Telegram. Every reminder the protocol requires
arrives, none is stale or wrong, and each kill repeats at most the one message in flight.

The machinery and the oracle are the chaos benchmark's (`python -m bench.chaos` runs a month
with 200 participants and 20 kills); the oracle's rules are in `bench/chaos_oracle.py`, and
the fast tests below show it catches what it must. Simulated time passes in real time in the
chaos test, so it takes about 50 s.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bench.chaos import ChaosSettings, run_chaos
from bench.chaos_deliveries import Delivery, Stretch
from bench.chaos_oracle import Allowances, Judgement, Oracle
from bench.chaos_world import Person
from messages import render

log = logging.getLogger(__name__)

# Six simulated days in 42 s (about 3.4 h of simulated time a second). The load is light, so
# a reminder is required after 0.6 s (2 h) of fair chance: the morning-of ones count too.
SETTINGS = ChaosSettings(participants=30, days=6, kills=4, minutes=0.7, seed=6, slack_seconds=0.6)


@pytest.mark.slow
async def test_killed_and_restarted_over_days_every_required_reminder_arrives(
    tmp_path: Path,
) -> None:
    result = await run_chaos(SETTINGS, tmp_path, say=log.info)
    figures, judgement = result.figures, result.judgement
    log.info("chaos figures: %s", figures)
    logs = f"(the runs' logs are in {tmp_path})"

    assert figures["chaos_kills"] == SETTINGS.kills
    assert judgement.required >= 10, f"too little to judge: {figures}"
    assert judgement.caught_up > 0, "some reminders were due while the bot was down"
    assert judgement.lost == [], logs
    assert judgement.stale == [], logs
    assert judgement.wrong == [], logs
    assert figures["chaos_duplicated_per_kill_max"] <= 1, result.repeats
    assert figures["chaos_duplicated_unexplained"] == 0, result.repeats
    assert figures["chaos_rejected_by_telegram"] == 0
    assert figures["chaos_faults_injected"] > 0, "Telegram was meant to fail now and then"
    assert result.problems == [], "the bot logged warnings or errors of its own"


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
    idle=timedelta(minutes=40),
    tolerance=timedelta(minutes=1),
)


def at(day: int, hour: float) -> datetime:
    return datetime(2026, 5, 1, tzinfo=UTC) + timedelta(days=day - 1, hours=hour)


def reminder(
    when: datetime, *, day: date = VISIT, says: int | None = None, run: int = 1
) -> Delivery:
    """The reminder as the bot words it, arriving `when` (its countdown `says`, if given)."""
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
    text = re.sub(r"</?b>", "", html)
    return Delivery(PERSON.chat_id, 1, when, run, text, html, ())


def busy(began: datetime, ended: datetime) -> Stretch:
    """A run that sent something every ten minutes."""
    sends = tuple(
        began + timedelta(minutes=10 * n)
        for n in range(int((ended - began) / timedelta(minutes=10)))
    )
    return Stretch(began, ended, sends)


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
    judgement = judged(up, [after_noon, wrong_day, miscounted])
    assert len(judgement.stale) == 2, judgement.stale
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
        idle=timedelta(hours=1),
        tolerance=timedelta(minutes=1),
    )
    up = [Stretch(ENROLLED, at(32, 12), ()), Stretch(at(33, 2), at(40, 0), ())]
    sent = [reminder(at(26, 1.1)), reminder(at(31, 1.1)), reminder(at(33, 2.5))]
    judgement = judged(up, sent, roomy)
    assert judgement.required_by_days_before == {7: 1, 2: 1, 0: 0}
    assert judgement.lost == []
    assert max(judgement.delays) < timedelta(hours=1), judgement.delays
