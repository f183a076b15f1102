"""`trialbot run` as a child process, the way an operator starts it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

READY = b"trialbot is running as"
TIMEOUT = 60.0


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any trialbot setting, plus `settings`."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TRIALBOT_", "TELEGRAM_")) and name != "DATABASE_URL"
    }
    return {**inherited, **settings}


@dataclass
class RunProcess:
    """A started `trialbot run`; `stderr` collects what it logged."""

    process: asyncio.subprocess.Process
    stderr: bytearray = field(default_factory=bytearray)

    @property
    def log(self) -> str:
        return self.stderr.decode(errors="replace")

    async def ready_or_exited(self) -> int | None:
        """None once it is running, else its exit code (it refused to start)."""
        stream = self.process.stderr
        assert stream is not None
        async with asyncio.timeout(TIMEOUT):
            while READY not in self.stderr:
                line = await stream.readline()
                if not line:
                    return await self.process.wait()
                self.stderr += line
        return None

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send `sig` (if it still runs) and return its exit code."""
        if self.process.returncode is None:
            self.process.send_signal(sig)
        assert self.process.stderr is not None
        self.stderr += await asyncio.wait_for(self.process.stderr.read(), TIMEOUT)
        return await asyncio.wait_for(self.process.wait(), TIMEOUT)


async def start_run(cwd: Path, env: dict[str, str], *args: str, umask: int = 0o022) -> RunProcess:
    """`python -m bot run ARGS` in `cwd` with exactly `env`, under `umask`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=lambda: os.umask(umask),
    )
    return RunProcess(process)
