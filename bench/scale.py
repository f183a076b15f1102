"""10,000 participants: planning them, sweeping and polling over them, starting a bot on them.

- Planning: participants are enrolled and linked through the real use cases with the real
  planner (each in its own transaction, as `trialbot enroll` and the participant's /start
  do), which plans the whole calendar: 9 visits, the protocol's infusions and 3 reminders
  per event. That costs tens of milliseconds each, too long to do 10,000 times in a
  benchmark run, so a sample is enrolled on the empty database and copied in SQL
  (`bench.clone`) up to 10,000 minus a sample, and a second sample is enrolled at that size.
  `plan_10k_s` is 10,000 x the mean cost of the two samples (a linear fit between the empty
  and the full database); `--full` enrols all 10,000 for real instead (about 11 minutes).
- The database at 10,000 then serves the calendar sweeps, an idle dispatcher round, and the
  start of a real bot process (`bench.startup_probe`) against the sandbox.

Run alone: `python -m bench.scale [--full]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench.clone import clone_participants
from bench.support import (
    BOT_USERNAME,
    TOKEN,
    configure_logging,
    enrol_and_link,
    migrated_database,
    progress,
    report,
    study_config,
)
from messages import Keyboard
from sandbox import SandboxServer
from scheduler.dispatcher import Dispatcher
from scheduler.planner import Planner
from scheduler.service import SchedulerService
from study.clock import SystemClock
from study.config import StudyConfig
from study.database import Database
from tests.support.study import STUDY_TOML

TOTAL = 10_000
SAMPLE = 200
WARM_UP = 10
CHAT_BASE = 1_000_000
IDLE_ROUNDS = 5
REPOSITORY = Path(__file__).resolve().parent.parent

NOTES = {
    "plan_10k_s": "enrol + link (calendar, infusions, reminder rows) x 10,000 on SQLite, "
    "extrapolated from samples on the empty and the 10,000 database (--full measures it)",
    "plan_per_participant_ms": "plan_10k_s / 10,000 (the two samples: *_empty_db_ms and "
    "*_at_10k_ms)",
    "sweep_10k_s": "one run of SchedulerService.sweep() (every 5 min, and at start) at 10,000",
    "dispatch_idle_10k_ms": "one Dispatcher.run_once() with nothing due at 10,000 "
    "(every wake and every 30 s poll)",
    "start_10k_s": "bot process: settings -> running_bot entered (migration check, sites, "
    "PTB initialise, polling and scheduler started) at 10,000",
    "start_10k_process_s": "the same from spawning the interpreter (imports included)",
    "settle_10k_s": "settings -> first sweep and first dispatch finished",
    "rss_10k_mb": "VmRSS of that bot process once settled (its own process, /proc); "
    "rss_10k_peak_mb is its VmHWM",
    "rss_empty_mb": "the same with no participants",
}


class NothingSent:
    """A sender for rounds where nothing is due: being called is a failure."""

    async def send(self, chat_id: int, text: str, keyboard: Keyboard | None) -> int:
        raise AssertionError("nothing should be due in this benchmark")

    async def edit(
        self, chat_id: int, message_id: int, text: str, keyboard: Keyboard | None
    ) -> None:
        raise AssertionError("nothing should be edited in this benchmark")


async def timed_enrolment(
    database: Database, config: StudyConfig, first: int, count: int, warm_up: int = 0
) -> float:
    """Mean seconds to enrol and link one participant, over `count` of them (of which the
    first `warm_up` fill SQLAlchemy's statement caches and are not timed)."""
    now = datetime.now(UTC)
    enrol = partial(enrol_and_link, database, config, now=now, chat_base=CHAT_BASE, prefix="SCL")
    await enrol(indices=range(first, first + warm_up))
    started = time.perf_counter()
    await enrol(indices=range(first + warm_up, first + count))
    return (time.perf_counter() - started) / (count - warm_up)


async def build_and_plan(
    database: Database, config: StudyConfig, total: int, sample: int, full: bool
) -> dict[str, float]:
    if full:
        progress(f"scale: enrolling and linking all {total} participants (slow)")
        each = await timed_enrolment(database, config, 0, total, WARM_UP)
        return {"plan_10k_s": each * total, "plan_per_participant_ms": each * 1000}
    progress(f"scale: enrolling and linking {sample} participants on the empty database")
    first = await timed_enrolment(database, config, 0, sample, WARM_UP)
    copied = total - 2 * sample
    started = time.perf_counter()
    await clone_participants(database, copied // sample, copied % sample)
    progress(f"scale: copied them to {total - sample} in {time.perf_counter() - started:.1f} s")
    progress(f"scale: enrolling and linking {sample} more at that size")
    last = await timed_enrolment(database, config, total - sample, sample)
    return {
        "plan_10k_s": total * (first + last) / 2,
        "plan_per_participant_ms": (first + last) / 2 * 1000,
        "plan_per_participant_empty_db_ms": first * 1000,
        "plan_per_participant_at_10k_ms": last * 1000,
    }


async def sweep_and_idle(database: Database, config: StudyConfig) -> dict[str, float]:
    """One run of the scheduler's periodic sweeps, and idle dispatcher rounds."""
    clock = SystemClock()
    dispatcher = Dispatcher(database, NothingSent(), clock, config, Planner(config))
    service = SchedulerService(database=database, dispatcher=dispatcher, clock=clock, config=config)
    progress("scale: one run of the periodic sweeps, and idle dispatcher rounds")
    started = time.perf_counter()
    await service.sweep()  # not started: it only sweeps
    sweep = time.perf_counter() - started
    rounds = []
    for _ in range(IDLE_ROUNDS):
        started = time.perf_counter()
        result = await dispatcher.run_once()
        rounds.append(time.perf_counter() - started)
        assert result.handled == 0, result
    return {"sweep_10k_s": sweep, "dispatch_idle_10k_ms": statistics.median(rounds) * 1000}


async def start_probe(database_url: str, api_url: str, folder: Path) -> dict[str, Any]:
    """Run `bench.startup_probe` as its own process against the sandbox; its figures."""
    study_file = folder / "study.toml"
    study_file.write_text(STUDY_TOML, encoding="utf-8")
    python_path = os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))
    env = {
        **os.environ,
        "PYTHONPATH": python_path,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api_url,
        "DATABASE_URL": database_url,
        "TRIALBOT_STUDY_FILE": str(study_file),
        "TRIALBOT_LOG_LEVEL": "WARNING",
        "TRIALBOT_LOG_JSON": "false",
    }
    spawned = time.time()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.startup_probe",
        cwd=folder,  # no .env of the repository is read
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the start-up probe failed with exit code {process.returncode}")
    figures: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    figures["process_s"] = figures["ready_at"] - spawned
    return figures


async def measure(total: int = TOTAL, sample: int = SAMPLE, full: bool = False) -> dict[str, float]:
    config = study_config()
    with tempfile.TemporaryDirectory(prefix="trialbot-bench-") as tmp:
        folder = Path(tmp)
        big_url = f"sqlite:///{folder / 'scale.db'}"
        empty_url = f"sqlite:///{folder / 'empty.db'}"
        async with migrated_database(big_url, config) as database:
            figures = await build_and_plan(database, config, total, sample, full)
            figures |= await sweep_and_idle(database, config)
        async with migrated_database(empty_url, config):
            pass
        async with SandboxServer() as sandbox:
            sandbox.add_bot(TOKEN, username=BOT_USERNAME)
            progress("scale: starting bot processes (a warm-up, then empty, then 10,000)")
            await start_probe(empty_url, sandbox.url, folder)
            empty = await start_probe(empty_url, sandbox.url, folder)
            big = await start_probe(big_url, sandbox.url, folder)
    return {
        **figures,
        "start_10k_s": big["ready_s"],
        "start_10k_process_s": big["process_s"],
        "settle_10k_s": big["settled_s"],
        "start_empty_s": empty["ready_s"],
        "rss_10k_mb": big["rss_settled_mb"],
        "rss_10k_peak_mb": big["hwm_mb"],
        "rss_empty_mb": empty["rss_settled_mb"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--full", action="store_true", help="enrol all 10,000 for real")
    arguments = parser.parse_args()
    configure_logging()
    report(asyncio.run(measure(full=arguments.full)))


if __name__ == "__main__":
    main()
