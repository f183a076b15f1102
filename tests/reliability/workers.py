"""Dispatcher worker processes (`tests.support.dispatch_worker`) that tests start and kill."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from sandbox import SandboxServer

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456789:TEST-token-for-the-sandbox-0000000000"
START_TIMEOUT = 30.0


class Worker:
    """One worker process; what it writes to stderr is kept for failure messages."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._stderr = bytearray()
        self._reader = asyncio.create_task(self._collect_stderr())

    async def _collect_stderr(self) -> None:
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.read(65536):
            self._stderr += chunk

    def log(self) -> str:
        state = "running" if self.process.returncode is None else f"exit {self.process.returncode}"
        text = self._stderr.decode(errors="replace")[-4000:]
        return f"worker {self.process.pid} ({state}); stderr:\n{text}"

    async def ready(self) -> None:
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), START_TIMEOUT)
        except TimeoutError:
            line = b"(nothing)"
        if line.strip() != b"ready":
            await self.close()
            raise AssertionError(f"the worker did not start: {line!r}\n{self.log()}")

    async def crash(self) -> None:
        """SIGKILL: no clean-up, whatever it was doing."""
        self.process.kill()
        await asyncio.wait_for(self.process.wait(), 10)

    async def stop(self) -> int:
        """SIGTERM: it finishes the batch in hand and exits. Returns how many it sent."""
        assert self.process.stdout is not None
        self.process.terminate()
        last_words = await asyncio.wait_for(self.process.stdout.read(), 15)
        await asyncio.wait_for(self.process.wait(), 5)
        await self._reader
        assert self.process.returncode == 0, self.log()
        count = last_words.decode().removeprefix("sent ").strip()
        assert count.isdigit(), f"{last_words!r}\n{self.log()}"
        return int(count)

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        await self._reader


@asynccontextmanager
async def running_worker(
    database_url: str,
    sandbox: SandboxServer,
    *,
    lease_seconds: float | None = None,
    concurrency: int | None = None,
    rate_limit: bool = True,
) -> AsyncIterator[Worker]:
    """A worker sending the outbox of `database_url` to the sandbox, once it is ready."""
    options = ["--database-url", database_url, "--api-url", sandbox.url, "--token", TOKEN]
    if lease_seconds is not None:
        options += ["--lease-seconds", str(lease_seconds)]
    if concurrency is not None:
        options += ["--concurrency", str(concurrency)]
    options.append("--rate-limit" if rate_limit else "--no-rate-limit")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.dispatch_worker",
        *options,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    worker = Worker(process)
    try:
        await worker.ready()
        yield worker
    finally:
        await worker.close()


async def wait_for(
    sandbox: SandboxServer,
    condition: Callable[[], bool],
    what: str,
    workers: list[Worker],
    timeout: float = 30.0,  # noqa: ASYNC109
) -> None:
    """`sandbox.wait_until`, failing with the workers' state and logs."""
    try:
        await sandbox.wait_until(condition, timeout=timeout, what=what)
    except TimeoutError as exc:
        logs = "\n".join(worker.log() for worker in workers)
        raise AssertionError(f"{exc}\n{logs}") from None
