"""`trialbot run` as a child process on simulated time: start it, read its clock, kill it.

Each run gets `TRIALBOT_CLOCK_START` = where the benchmark's simulated time stands when it
is started, so time keeps moving while the bot is down. The child's clock starts ticking a
moment later (Python has to import everything first): it logs where and when it started
(`SimulatedClock.describe`), and every moment of that run is converted with that: the oracle
judges the bot by its own clock. Once the run serves, its health endpoint is asked once, and
the `checked_at` it answers must agree. The harness checks each clock against its own
timeline (`timeline_lag`): a run's clock may lag it by the time the run took to start, never
run ahead of it.

The clock used to be read from the health endpoint alone, again and again until an answer
came within 4 ms (the quickest answer being the most precise). Each answer is a health report
(six queries) on the bot's event loop: on a starved machine 50 of them, back to back, took
the bot 3-6 wall seconds at each start, the very moments the oracle gives it to catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
READY_LINE = "trialbot is running as"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
CLOCK_LINE = re.compile(r"simulated time: (\S+) at (\S+) on the wall clock, (\S+) times as fast")
# A warning or error of trialbot's own loggers (PTB's about the injected faults are expected).
PROBLEM = re.compile(r"^\S+ \S+ (?:WARNING|ERROR|CRITICAL) (?!telegram\.)\S+: ")


@dataclass(frozen=True)
class Launch:
    """What every run of the bot shares."""

    workdir: Path
    database_url: str
    api_url: str
    token: str
    study_file: Path
    speed: float
    poll_seconds: float
    sweep_seconds: float
    concurrency: int
    log_level: str = "INFO"  # TRIALBOT_LOG_LEVEL: DEBUG traces each message by row id


@dataclass
class Reading:
    """The bot's simulated clock at a wall-clock moment."""

    wall: float
    simulated: datetime

    def at(self, wall: float, speed: float) -> datetime:
        """The simulated time at another wall-clock moment, on a clock of `speed`."""
        return self.simulated + timedelta(seconds=(wall - self.wall) * speed)


class BotRun:
    """One `trialbot run` process."""

    def __init__(self, number: int, launch: Launch, start: datetime) -> None:
        self.number = number
        self.launch = launch
        self.start = start  # its TRIALBOT_CLOCK_START
        self.spawned = 0.0  # wall clock (time.time()), like the sandbox's records
        self.ready = 0.0
        self.ended: float | None = None
        self.killed = False
        self.problems: list[str] = []  # its own warnings and errors (see PROBLEM)
        self.timeline_lag: timedelta | None = None  # the harness's time minus its clock
        self._reading: Reading | None = None  # its clock's origin, from its log
        self._logged_speed: float | None = None
        self._served: tuple[float, float, datetime] | None = None  # asked, answered, checked_at
        self._tail: deque[str] = deque(maxlen=60)
        self._ready = asyncio.Event()
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._health_port = free_port()
        self._log_path = launch.workdir / f"run-{number:02d}.log"

    async def begin(self) -> None:
        """Start the process; return once it serves, with its clock known."""
        self.spawned = time.time()
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=self.launch.workdir,
            env=self._environment(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read_log())
        try:
            await asyncio.wait_for(self._ready.wait(), START_TIMEOUT)
        except TimeoutError:
            await self.kill()
            raise RuntimeError(f"run {self.number} did not start:\n{self.log_tail()}") from None
        self.ready = time.time()
        if self._reading is None or self._logged_speed != self.launch.speed:
            await self.kill()
            raise RuntimeError(
                f"run {self.number} did not log its clock at {self.launch.speed} times as "
                f"fast:\n{self.log_tail()}"
            )
        self._served = await self._ask_clock()

    def _environment(self) -> dict[str, str]:
        launch = self.launch
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("TRIALBOT_", "TELEGRAM_")) and name != "DATABASE_URL"
        }
        path = os.pathsep.join(filter(None, [str(ROOT), inherited.get("PYTHONPATH")]))
        return {
            **inherited,
            "PYTHONPATH": path,
            "TELEGRAM_BOT_TOKEN": launch.token,
            "TELEGRAM_API_URL": launch.api_url,
            "DATABASE_URL": launch.database_url,
            "TRIALBOT_STUDY_FILE": str(launch.study_file),
            "TRIALBOT_CLOCK_START": self.start.isoformat(),
            "TRIALBOT_CLOCK_SPEED": repr(launch.speed),
            "TRIALBOT_POLL_SECONDS": repr(launch.poll_seconds),
            "TRIALBOT_SWEEP_SECONDS": repr(launch.sweep_seconds),
            "TRIALBOT_SEND_CONCURRENCY": str(launch.concurrency),
            "TRIALBOT_HEALTH_LISTEN": f"127.0.0.1:{self._health_port}",
            "TRIALBOT_LOG_LEVEL": launch.log_level,
        }

    async def _read_log(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        with self._log_path.open("w", encoding="utf-8") as log:
            while raw := await self._process.stderr.readline():
                line = raw.decode(errors="replace").rstrip("\n")
                log.write(line + "\n")
                self._tail.append(line)
                if clock := logged_clock(line):
                    self._reading, self._logged_speed = clock
                if READY_LINE in line:
                    self._ready.set()
                if PROBLEM.match(line):
                    self.problems.append(line)

    async def _ask_clock(self) -> tuple[float, float, datetime]:
        """Its health endpoint's `checked_at`, with the wall-clock moments of the question
        and the answer (it was taken in between)."""
        async with httpx.AsyncClient(timeout=10) as client:
            asked = time.time()
            answer = await client.get(f"http://127.0.0.1:{self._health_port}/health")
            answered = time.time()
        return asked, answered, datetime.fromisoformat(answer.json()["checked_at"])

    def clock(self, wall: float) -> datetime:
        """The run's simulated time at a wall-clock moment."""
        assert self._reading is not None, "the run's clock is known once it serves"
        return self._reading.at(wall, self.launch.speed)

    def clock_problem(self, tolerance: timedelta) -> str | None:
        """What is wrong with this run's clock against the harness's timeline, if anything:
        it may lag by the time the run took to start (its clock starts once Python has
        imported everything), never run ahead; and what its health endpoint answered must
        agree with the clock it logged."""
        assert self.timeline_lag is not None, "the harness reads the timeline once it serves"
        assert self._served is not None
        asked, answered, checked_at = self._served
        if not self.clock(asked) - tolerance <= checked_at <= self.clock(answered) + tolerance:
            return (
                f"run {self.number}: its health endpoint answered {checked_at}, not between "
                f"{self.clock(asked)} and {self.clock(answered)} as the clock it logged"
            )
        starting = timedelta(seconds=(self.ready - self.spawned) * self.launch.speed)
        if -tolerance <= self.timeline_lag <= starting + tolerance:
            return None
        return (
            f"run {self.number}: its clock is {self.timeline_lag} behind the harness's "
            f"timeline (start-up took {starting} of simulated time)"
        )

    def wall_at(self, moment: datetime) -> float:
        """The wall-clock moment when this run's clock shows `moment`."""
        assert self._reading is not None
        ahead = (moment - self._reading.simulated).total_seconds()
        return self._reading.wall + ahead / self.launch.speed

    @property
    def up(self) -> tuple[datetime, datetime]:
        """From serving to its end, by its own clock."""
        assert self.ended is not None
        return self.clock(self.ready), self.clock(self.ended)

    async def kill(self) -> None:
        """SIGKILL: a crash, whatever it was doing."""
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            self._process.send_signal(signal.SIGKILL)
        self.ended = time.time()
        self.killed = True
        await asyncio.wait_for(self._process.wait(), STOP_TIMEOUT)
        await self._finish_log()

    async def stop(self) -> None:
        """SIGTERM: it finishes what it holds and exits cleanly."""
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        self.ended = time.time()
        code = await asyncio.wait_for(self._process.wait(), STOP_TIMEOUT)
        await self._finish_log()
        if code != 0:
            raise RuntimeError(f"run {self.number} exited {code}:\n{self.log_tail()}")

    async def _finish_log(self) -> None:
        if self._reader is not None:
            await asyncio.wait_for(self._reader, STOP_TIMEOUT)

    def log_tail(self) -> str:
        return "\n".join(self._tail)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def logged_clock(line: str) -> tuple[Reading, float] | None:
    """A run's clock (where and when it started, and its speed), if `line` is the one
    `SimulatedClock.describe` logs."""
    found = CLOCK_LINE.search(line)
    if found is None:
        return None
    simulated, wall, speed = found.groups()
    started = Reading(datetime.fromisoformat(wall).timestamp(), datetime.fromisoformat(simulated))
    return started, float(speed)
