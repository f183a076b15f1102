"""A bot process that starts the way `trialbot run` does, reports how long that took and how
much memory it holds, and stops. `bench.scale` runs it as a subprocess, configured by the
environment like the real thing (TELEGRAM_BOT_TOKEN, TELEGRAM_API_URL, DATABASE_URL,
TRIALBOT_STUDY_FILE), so that its resident memory is the bot's alone.

It prints one JSON object on stdout:
- `ready_at`: the wall-clock time (`time.time()`) it was ready, for the parent to subtract
  the moment it spawned the process (interpreter start and imports included);
- `ready_s`: from settings to `running_bot` entered (database checked and sites mirrored,
  PTB initialised, polling started, scheduler started);
- `settled_s`: from settings until the first calendar sweep and the first dispatch ended
  (start-up including the first sweep);
- `rss_ready_mb`, `rss_settled_mb`, `hwm_mb`: VmRSS at those moments, and VmHWM (peak).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent

from bot.logs import configure_logging
from bot.runner import running_bot, running_of
from bot.services import build_services, prepare_database
from bot.settings import load_settings
from scheduler.service import SWEEP_JOB, SchedulerService

SETTLE_TIMEOUT = 120.0


def memory_mb() -> dict[str, float]:
    """VmRSS and VmHWM of this process, in MiB (Linux)."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values


async def probe() -> dict[str, float]:
    started = time.perf_counter()
    settings = load_settings()
    configure_logging(settings)
    services = build_services(settings)
    assert settings.token is not None, "the probe needs TELEGRAM_BOT_TOKEN"
    try:
        await prepare_database(services.database, services.config, migrate=False)
        async with running_bot(
            services, token=settings.token, api_url=settings.telegram_api_url
        ) as application:
            ready = time.perf_counter() - started
            ready_at = time.time()
            ready_memory = memory_mb()
            await _first_sweep_and_dispatch(running_of(application).scheduler)
            settled = time.perf_counter() - started
            settled_memory = memory_mb()
    finally:
        await services.close()
    return {
        "ready_at": ready_at,
        "ready_s": ready,
        "settled_s": settled,
        "rss_ready_mb": ready_memory["VmRSS"],
        "rss_settled_mb": settled_memory["VmRSS"],
        "hwm_mb": settled_memory["VmHWM"],
    }


async def _first_sweep_and_dispatch(scheduler: SchedulerService) -> None:
    """Wait for the sweep job that `SchedulerService.start` runs at once, then for the sweep
    it started to finish (the job only spawns it as a task of the service), then for the
    dispatcher to be idle. The listener is added before the event loop gets to run the job
    (nothing awaits between the scheduler's start and the body of `running_bot`)."""
    assert scheduler.scheduler is not None
    loop = asyncio.get_running_loop()
    swept = asyncio.Event()

    def on_job(event: JobExecutionEvent) -> None:
        if event.job_id == SWEEP_JOB:
            loop.call_soon_threadsafe(swept.set)

    scheduler.scheduler.add_listener(on_job, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    await asyncio.wait_for(swept.wait(), SETTLE_TIMEOUT)
    # The service keeps the tasks its jobs spawned; the sweep is one of them.
    spawned = list(scheduler._background)
    await asyncio.wait_for(asyncio.gather(*spawned), SETTLE_TIMEOUT)
    await asyncio.wait_for(scheduler.idle.wait(), SETTLE_TIMEOUT)


def main() -> None:
    sys.stdout.write(json.dumps(asyncio.run(probe())) + "\n")


if __name__ == "__main__":
    main()
