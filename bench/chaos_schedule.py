"""When the chaos benchmark kills the bot, and the loop that kills and restarts it.

Simulated time runs whether the bot is up or not: each run starts with its clock where the
benchmark's simulated time stands, so an outage of two days means the next run wakes two
days later and has to catch up.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bench.chaos_process import BotRun, Launch


@dataclass(frozen=True)
class Outage:
    at: datetime  # when the bot is killed (simulated time)
    downtime: timedelta  # how long it stays down, besides the time it takes to start


class Timeline:
    """The benchmark's simulated time."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start = start
        self.speed = speed
        self.wall_zero = time.time()

    def now(self) -> datetime:
        return self.at(time.time())

    def at(self, wall: float) -> datetime:
        """Simulated time at a wall-clock moment."""
        return self.start + timedelta(seconds=(wall - self.wall_zero) * self.speed)

    def wall_at(self, moment: datetime) -> float:
        return self.wall_zero + (moment - self.start).total_seconds() / self.speed


def draw_outages(
    rng: random.Random,
    *,
    start: datetime,
    end: datetime,
    kills: int,
    long_share: float,
    startup: timedelta,
) -> list[Outage]:
    """`kills` kills at random moments, each followed by an outage: `long_share` of them
    last half a day to two days, the others up to three hours. The uptimes are a random
    split of what the outages leave of the window's first nine tenths, so that the last run
    has time to catch up before the end."""
    downtimes = [
        timedelta(days=rng.uniform(0.5, 2))
        if rng.random() < long_share
        else timedelta(hours=rng.uniform(0, 3))
        for _ in range(kills)
    ]
    budget = (end - start) * 0.9 - startup * (kills + 1)
    down = sum(downtimes, timedelta())
    if down > budget / 2:  # the bot is up half the time at least
        downtimes = [downtime * ((budget / 2) / down) for downtime in downtimes]
    uptime = budget - sum(downtimes, timedelta())
    cuts = sorted(rng.random() for _ in range(kills))
    outages, moment, previous = [], start, 0.0
    for cut, downtime in zip(cuts, downtimes, strict=True):
        moment += startup + uptime * (cut - previous)
        outages.append(Outage(moment, downtime))
        moment += downtime
        previous = cut
    return outages


async def until(wall: float) -> None:
    """Let simulated time pass (the sandbox, on this event loop, keeps serving)."""
    await asyncio.sleep(max(0.0, wall - time.time()))


async def drive(
    launch: Launch,
    outages: Sequence[Outage],
    *,
    start: datetime,
    end: datetime,
    say: Callable[[str], None],
) -> list[BotRun]:
    """Run the bot from `start` to `end`, killing it at each outage and restarting it after
    the downtime. A kill due while a run is still starting strikes as soon as it serves."""
    timeline = Timeline(start, launch.speed)
    runs: list[BotRun] = []

    async def begin() -> BotRun:
        run = BotRun(len(runs) + 1, launch, timeline.now())
        runs.append(run)
        await run.begin()
        run.timeline_lag = timeline.at(run.ready) - run.clock(run.ready)
        return run

    try:
        run = await begin()
        for number, outage in enumerate(outages, 1):
            await until(timeline.wall_at(outage.at))
            await run.kill()
            killed_at = run.clock(run.ended or 0.0)
            say(f"chaos: kill {number}/{len(outages)} at {killed_at:%d %b %H:%M}")
            await until(timeline.wall_at(timeline.now() + outage.downtime))
            run = await begin()
        await until(run.wall_at(end))
        await run.stop()
    finally:
        for leftover in runs:
            if leftover.ended is None:
                await leftover.kill()
    return runs
