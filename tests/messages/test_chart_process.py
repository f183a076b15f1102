"""Charts are drawn in a process of their own (matplotlib holds the GIL for tenths of a
second, which in a thread of the bot stalls its event loop and its database round trips):
one that dies is replaced without losing the chart, one left idle gives its memory back,
and it ends when the bot is killed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import Executor
from pathlib import Path

import pytest

from messages import charts
from messages.charts import ChartProcess
from tests.messages.test_chart_photo import QUIET

PNG = b"\x89PNG"


async def test_a_drawing_process_that_died_is_replaced_and_the_chart_still_drawn() -> None:
    started: list[Executor] = []

    def start() -> Executor:
        started.append(charts._drawing_process())
        return started[-1]

    drawing = ChartProcess(start)
    try:
        assert (await drawing.draw(QUIET)).startswith(PNG)
        worker = await asyncio.wrap_future(started[0].submit(os.getpid))
        assert worker != os.getpid()  # not in the bot's process
        os.kill(worker, signal.SIGKILL)  # as the kernel's out-of-memory killer would
        assert (await drawing.draw(QUIET)).startswith(PNG)
        assert len(started) == 2
        assert (await drawing.draw(QUIET)).startswith(PNG)
        assert len(started) == 2  # the new one stays
    finally:
        for executor in started:
            executor.shutdown(wait=True, cancel_futures=True)


async def test_the_drawing_process_stops_when_idle_and_starts_again_for_the_next_chart() -> None:
    started: list[Executor] = []

    def start() -> Executor:
        started.append(charts._drawing_process())
        return started[-1]

    drawing = ChartProcess(start, idle_seconds=1.0)
    try:
        assert (await drawing.draw(QUIET)).startswith(PNG)
        worker = await asyncio.wrap_future(started[0].submit(os.getpid))
        deadline = time.monotonic() + 20
        while _running(worker) and time.monotonic() < deadline:  # noqa: ASYNC110 (a process)
            await asyncio.sleep(0.05)
        assert not _running(worker), "the idle drawing process was never stopped"
        assert (await drawing.draw(QUIET)).startswith(PNG)
        assert len(started) == 2
    finally:
        for executor in started:
            executor.shutdown(wait=True, cancel_futures=True)


KILLED_BOT = """
import os, signal
from messages.charts import _drawing_process

if __name__ == "__main__":
    drawing = _drawing_process()  # held, as the bot holds it: dropped, it would stop its worker
    print(drawing.submit(os.getpid).result(), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_the_drawing_process_ends_when_the_bot_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "killed_bot.py"
    script.write_text(KILLED_BOT, encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    said, complained = tmp_path / "stdout", tmp_path / "stderr"
    # Files, not pipes, which a live worker would hold open.
    with said.open("w") as stdout, complained.open("w") as stderr:
        done = subprocess.run(  # noqa: S603 (this interpreter, our script)
            [sys.executable, str(script)],
            stdout=stdout,
            stderr=stderr,
            timeout=60,
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
    assert done.returncode == -signal.SIGKILL, complained.read_text()
    worker = int(said.read_text().split()[0])
    deadline = time.monotonic() + 10 * charts.PARENT_CHECK_SECONDS
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    lingering = _running(worker)
    if lingering:
        os.kill(worker, signal.SIGKILL)
    assert not lingering, "the drawing process outlived the bot that started it"


def _running(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
