"""Chaos: the real `trialbot run`, killed at random moments over a simulated month, against
a flaky Telegram; then every participant's chat is checked against the protocol.

The benchmark starts the sandbox Telegram in its own process, enrols and links the
participants through the real use cases (`chaos_world`), and runs `python -m bot run` (the
`trialbot` command) as a child process on simulated time (`TRIALBOT_CLOCK_START`/`_SPEED`),
so that a month passes in minutes (`chaos_process`). It kills the child with SIGKILL at
seeded random moments and restarts it after a while, some outages lasting days, with its
clock where simulated time stands then (`chaos_schedule`). Telegram answers a few percent
of sends with 5xx errors, now and then 429, and now and then makes the message but answers
504 (the bot cannot know it arrived). At the end `chaos_deliveries` reads what each chat
received and when, and the repeats, from the sandbox's transcript alone; `chaos_oracle` says
which reminders each participant had to receive, from the visit calendar and the moments the
bot was up, and judges what came.

Run alone: `python -m bench.chaos` (about six minutes); `--help` lists the knobs
(`--postgres URL --concurrency 8`: several sends at a time on PostgreSQL). It exits 1 if a
required reminder was lost, a stale one sent, a repeat is unexplained or a run's clock
disagrees with the harness. Not part of `make bench` (too long).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from bench.chaos_deliveries import (
    Delivery,
    Repeats,
    Stretch,
    collect,
    repeats,
    run_at,
    same_content,
    stretches,
)
from bench.chaos_oracle import Allowances, Judgement, Oracle
from bench.chaos_process import Launch
from bench.chaos_schedule import draw_outages, drive
from bench.chaos_world import (
    TOKEN,
    Person,
    draw_people,
    enrol_and_link,
    flaky_telegram,
    furnish,
    study_toml,
)
from bench.support import (
    configure_logging,
    fresh_database,
    migrated_database,
    percentile,
    progress,
    report,
)
from bot.config import parse_study_text
from sandbox import SandboxServer

DAY = timedelta(days=1)


@dataclass(frozen=True)
class ChaosSettings:
    participants: int = 200
    days: int = 30
    kills: int = 20
    minutes: float = 6.0  # wall-clock minutes for the simulated window
    seed: int = 20261125
    failure_share: float = 0.04  # sends answered 500/502/504 (429s come on top)
    long_outage_share: float = 0.15  # outages of half a day to two days
    poll_seconds: float = 0.2
    concurrency: int = 12  # TRIALBOT_SEND_CONCURRENCY: messages in flight (the default)
    trace: bool = False  # the bot logs each message's way by row id (in the runs' logs)
    # The periodic checks hold SQLite's write lock for about a second at 200 participants
    # (hours of simulated time): every 6 s here, every 5 minutes in production.
    sweep_seconds: float = 6.0
    # Wall-clock allowances, in seconds (simulated time is this times the clock's speed):
    slack_seconds: float = 1.0  # a fair chance to send what fell due
    in_flight_seconds: float = 2.0  # a claimed batch of 50 at Telegram's 30 a second
    tolerance_seconds: float = 0.02  # reading a run's clock
    # Crowded out only when sending at least this share of Telegram's 30 messages a second:
    busy_share: float = 0.5
    telegram_per_second: float = 30.0
    startup_seconds: float = 1.2  # how long a restart takes, for planning the outages
    start: datetime = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Monday
    postgres_url: str | None = None  # a server to create a fresh database on; else SQLite

    @property
    def end(self) -> datetime:
        return self.start + self.days * DAY

    @property
    def speed(self) -> float:
        return self.days * DAY.total_seconds() / (self.minutes * 60)

    def simulated(self, wall_seconds: float) -> timedelta:
        return timedelta(seconds=wall_seconds * self.speed)

    def wall_seconds(self, simulated: timedelta) -> float:
        return simulated.total_seconds() / self.speed

    @property
    def allowances(self) -> Allowances:
        return Allowances(
            slack=self.simulated(self.slack_seconds),
            in_flight=self.simulated(self.in_flight_seconds),
            tolerance=self.simulated(self.tolerance_seconds),
            capacity=self.telegram_per_second / self.speed,
            busy_share=self.busy_share,
        )


@dataclass
class ChaosResult:
    figures: dict[str, float | int]
    judgement: Judgement
    repeats: Repeats
    oracle: Oracle  # kept with what it judged, so a self-check can judge a tampered copy
    people: list[Person]
    received: dict[int, list[Delivery]]
    problems: list[str] = field(default_factory=list)  # the bot's own warnings and errors
    clock_problems: list[str] = field(default_factory=list)  # runs' clocks vs the timeline

    @property
    def lost(self) -> int:
        return len(self.judgement.lost)

    @property
    def stale(self) -> int:
        return len(self.judgement.stale)

    @property
    def failed(self) -> bool:
        """Lost, stale, an unexplained repeat, or a clock the harness cannot trust."""
        return bool(self.lost or self.stale or self.repeats.unexplained or self.clock_problems)


def judged_again(result: ChaosResult, dropped: Callable[[Delivery], bool]) -> Judgement:
    """The same oracle on the same run as if the bot had never sent the deliveries that
    `dropped` picks: they leave the chats and the runs' sends (a planted fault, for the
    oracle's self-check)."""
    gone = {(d.chat_id, d.message_id) for ds in result.received.values() for d in ds if dropped(d)}
    moments = {
        d.at for ds in result.received.values() for d in ds if (d.chat_id, d.message_id) in gone
    }
    received = {
        chat: [d for d in ds if (d.chat_id, d.message_id) not in gone]
        for chat, ds in result.received.items()
    }
    oracle = result.oracle
    activity = [
        Stretch(s.began, s.ended, tuple(at for at in s.sends if at not in moments))
        for s in oracle.stretches
    ]
    again = Oracle(
        activity, enrolled_at=oracle.enrolled_at, end=oracle.end, allowances=oracle.allowances
    )
    return again.judge(result.people, received)


async def run_chaos(
    settings: ChaosSettings,
    workdir: Path,
    say: Callable[[str], None] = progress,
    *,
    keep: bool = False,
) -> ChaosResult:
    """The whole benchmark in `workdir` (the runs' logs stay there; with `keep` a PostgreSQL
    database too, named in `workdir`/database.txt)."""
    began = time.perf_counter()
    rng = random.Random(settings.seed)
    study = study_toml(settings.participants)
    config = parse_study_text(study, source="bench/chaos_world.py")
    people = draw_people(
        settings.participants, enrolled_at=settings.start, days=settings.days, rng=rng
    )
    outages = draw_outages(
        rng,
        start=settings.start,
        end=settings.end,
        kills=settings.kills,
        long_share=settings.long_outage_share,
        startup=settings.simulated(settings.startup_seconds),
    )
    study_file = workdir / "study.toml"
    study_file.write_text(study, encoding="utf-8")
    site_chats = [site.alert_chat_id for site in config.sites.values()] + [
        site.escalation_chat_id
        for site in config.sites.values()
        if site.escalation_chat_id is not None
    ]
    async with (
        fresh_database(settings.postgres_url, workdir, keep=keep) as url,
        migrated_database(url, config) as database,
        SandboxServer(host="127.0.0.1", port=0, seed=settings.seed) as sandbox,
    ):
        furnish(sandbox, config, people)
        await enrol_and_link(database, config, people, now=settings.start)
        say(f"chaos: {len(people)} participants enrolled and linked; the bot starts")
        faults = [sandbox.faults.add(rule) for rule in flaky_telegram(settings.failure_share)]
        launch = Launch(
            workdir=workdir,
            database_url=url,
            api_url=sandbox.url,
            token=TOKEN,
            study_file=study_file,
            speed=settings.speed,
            poll_seconds=settings.poll_seconds,
            sweep_seconds=settings.sweep_seconds,
            concurrency=settings.concurrency,
            log_level="DEBUG" if settings.trace else "INFO",
        )
        runs = await drive(launch, outages, start=settings.start, end=settings.end, say=say)
        say("chaos: the window is over; judging")
        received = collect(sandbox, [p.chat_id for p in people] + site_chats, runs)
        activity = stretches(sandbox, runs)
        refused = sandbox.rejections()
        for call in refused:  # Telegram's own words, none of a participant's
            run = run_at(runs, call.time)
            say(
                f"chaos: Telegram refused a {call.method} of run {run.number} at "
                f"{run.clock(call.time):%d %b %H:%M:%S}: {call.error_code} {call.description}"
            )
        injected = sum(rule.fired for rule in faults)
        made_anyway = sum(rule.fired for rule in faults if rule.delivered)
    allowances = settings.allowances
    oracle = Oracle(activity, enrolled_at=settings.start, end=settings.end, allowances=allowances)
    verdict = oracle.judge(people, received)
    copies = verdict.reminder_copies + same_content(received, skip=verdict.reminders)
    repeated = repeats(copies, runs, in_flight=allowances.in_flight)
    clock_problems = [
        problem for run in runs if (problem := run.clock_problem(allowances.tolerance))
    ]
    lags = [run.timeline_lag for run in runs if run.timeline_lag is not None]
    downtime = sum(
        ((later.up[0] - earlier.up[1]) for earlier, later in pairwise(runs)),
        timedelta(),
    )
    problems = [line for run in runs for line in run.problems]
    delays = [settings.wall_seconds(delay) for delay in verdict.delays]
    per_kill = repeated.per_kill
    figures: dict[str, float | int] = {
        "chaos_participants": len(people),
        "chaos_simulated_days": settings.days,
        "chaos_clock_speed": settings.speed,
        "chaos_kills": sum(run.killed for run in runs),
        "chaos_send_concurrency": settings.concurrency,
        "chaos_downtime_days": downtime / DAY,
        "chaos_messages": sum(len(deliveries) for deliveries in received.values()),
        "chaos_site_messages": sum(len(received[chat]) for chat in site_chats),
        "chaos_faults_injected": injected,
        "chaos_faults_made_anyway": made_anyway,
        "chaos_reminders_required": verdict.required,
        **{
            f"chaos_reminders_required_{days}d": count
            for days, count in verdict.required_by_days_before.items()
        },
        "chaos_reminders_due_while_down": verdict.due_while_down,
        "chaos_reminders_caught_up": verdict.caught_up,
        "chaos_reminders_received": verdict.received,
        "chaos_lost": len(verdict.lost),
        "chaos_crowded_out": len(verdict.crowded_out),
        "chaos_duplicated": repeated.duplicated,
        "chaos_duplicated_per_kill_max": max(per_kill.values(), default=0),
        "chaos_duplicated_per_chat_per_kill_max": max(
            repeated.per_chat_per_kill.values(), default=0
        ),
        "chaos_duplicated_after_kill": sum(per_kill.values()),
        "chaos_duplicated_after_timeout": repeated.after_timeout,
        "chaos_duplicated_unexplained": len(repeated.unexplained),
        "chaos_stale": len(verdict.stale),
        "chaos_after_noon_in_flight": len(verdict.after_noon_in_flight),
        "chaos_wrong": len(verdict.wrong),
        "chaos_reminder_delay_p50_s": percentile(delays, 50),
        "chaos_reminder_delay_p99_s": percentile(delays, 99),
        "chaos_reminder_delay_max_s": max(delays, default=0.0),
        "chaos_checkin_prompts": verdict.checkin_prompts,
        "chaos_checkin_nudges": verdict.checkin_nudges,
        "chaos_rejected_by_telegram": len(refused),
        "chaos_bot_warnings": len(problems),
        "chaos_clock_lag_max_s": settings.wall_seconds(max(lags, default=timedelta())),
        "chaos_clock_problems": len(clock_problems),
        "chaos_wall_seconds": time.perf_counter() - began,
    }
    return ChaosResult(
        figures,
        verdict,
        repeated,
        oracle,
        people,
        received,
        problems=problems,
        clock_problems=clock_problems,
    )


NOTES = {
    "chaos_lost": "required reminders that never arrived and were not crowded out (the "
    "oracle's rules are in bench/chaos_oracle.py); must be 0",
    "chaos_stale": "reminders naming a date that is not a visit to come, or arriving after "
    "the visit's noon by more than a claimed batch takes in flight (in_flight_seconds of wall "
    "time); must be 0",
    "chaos_after_noon_in_flight": "reminders that arrived after the visit's noon, within "
    "that allowance: claimed before noon, sent while their batch was in flight",
    "chaos_wrong": "reminders with a wrong countdown or kind, or earlier than due",
    "chaos_duplicated": "arrivals identical to an earlier one in the same chat (a reminder: "
    "the same visit and countdown), read from the transcript alone; _after_kill: the copy "
    "before was made by a run killed right after; _after_timeout: Telegram made it while the "
    "bot heard of a failure; _unexplained: neither (must be 0); _per_chat_per_kill_max: the "
    "most one kill repeated in one chat (at most 1: the message in flight)",
    "chaos_crowded_out": "required reminders that did not arrive while the bot sent at least "
    "half of Telegram's 30 a second all along, nothing of a later deadline going first (30 a "
    "second of wall-clock time are a few an hour of simulated time): a capacity limit of the "
    "time-lapse, not a loss",
    "chaos_clock_lag_max_s": "how far a run's clock lagged the harness's timeline when it "
    "started serving (wall-clock seconds; its start-up), checked for every run",
    "chaos_reminder_delay_p50_s": "wall-clock seconds from the first moment the bot could "
    "send a required reminder (up, out of quiet hours) to its arrival",
    "chaos_checkin_prompts": "check-in and contraception questions asked (not judged)",
    "chaos_rejected_by_telegram": "calls refused by Telegram's own checks, not by an injected "
    "fault (a limit, a stale button's answer...): each is named on stderr as the run ends",
}


def keep_transcript(result: ChaosResult, path: Path) -> None:
    """What the oracle judged, for reading after the run: every delivery (by the bot's
    clock), every run's sends, and the verdict's lines."""
    judgement = result.judgement
    kept = {
        "figures": result.figures,
        "people": [vars(person) for person in result.people],
        "runs": [
            {"began": s.began, "ended": s.ended, "sends": list(s.sends)}
            for s in result.oracle.stretches
        ],
        "deliveries": [
            {
                "chat": d.chat_id,
                "message_id": d.message_id,
                "at": d.at,
                "run": d.run,
                "fault": d.fault,
                "text": d.text,
            }
            for deliveries in result.received.values()
            for d in deliveries
        ],
        "verdict": {
            "lost": judgement.lost,
            "crowded_out": judgement.crowded_out,
            "stale": judgement.stale,
            "after_noon_in_flight": judgement.after_noon_in_flight,
            "wrong": judgement.wrong,
            "unexplained_repeats": result.repeats.unexplained,
            "clock": result.clock_problems,
        },
    }
    path.write_text(json.dumps(kept, default=str, ensure_ascii=False, indent=1), encoding="utf-8")


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = ChaosSettings()
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--participants", type=int, default=defaults.participants)
    parser.add_argument("--days", type=int, default=defaults.days, help="simulated window")
    parser.add_argument("--kills", type=int, default=defaults.kills)
    parser.add_argument(
        "--minutes", type=float, default=defaults.minutes, help="wall time of the window"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=defaults.concurrency,
        help="TRIALBOT_SEND_CONCURRENCY of the bot (default 12, as the product's; at most one "
        "repeat per chat per kill)",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="the bot logs each message's way through its dispatcher by outbox row id "
        "(TRIALBOT_LOG_LEVEL=DEBUG), to see with --keep why one was late",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="create a fresh database on this PostgreSQL server (default: a SQLite file)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="keep the runs' logs, the database and transcript.json (what was judged) in DIR "
        "(a PostgreSQL database is kept on its server, named in DIR/database.txt)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    configure_logging()
    settings = ChaosSettings(
        participants=arguments.participants,
        days=arguments.days,
        kills=arguments.kills,
        minutes=arguments.minutes,
        seed=arguments.seed,
        concurrency=arguments.concurrency,
        trace=arguments.trace,
        postgres_url=arguments.postgres,
    )
    if arguments.keep is not None:
        arguments.keep.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(run_chaos(settings, arguments.keep, keep=True))
        keep_transcript(result, arguments.keep / "transcript.json")
    else:
        with tempfile.TemporaryDirectory(prefix="trialbot-chaos-") as work:
            result = asyncio.run(run_chaos(settings, Path(work)))
    for title, lines in (
        ("lost", result.judgement.lost),
        ("crowded out", result.judgement.crowded_out),
        ("stale", result.judgement.stale),
        ("after noon, in flight", result.judgement.after_noon_in_flight),
        ("wrong", result.judgement.wrong),
        ("bot warnings", result.problems),
        ("clock", result.clock_problems),
        ("unexplained repeat", result.repeats.unexplained),
    ):
        for line in lines[:20]:
            progress(f"{title}: {line}")
    report(result.figures)
    print()
    for name, note in NOTES.items():
        print(f"# {name}: {note}")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
