"""What the deployment files give the bot to run on, beyond its data (see test_data_at_rest)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_service_gets_the_cpu_first_when_other_work_keeps_the_cores_busy() -> None:
    """Starved of CPU, reminders due at a restart were sent too late; the unit gives the bot
    ten times a service's default weight (`CPUWeight=`, 1-10000, default 100)."""
    unit = (ROOT / "deploy" / "trialbot.service").read_text(encoding="utf-8")
    service = unit.split("[Service]", 1)[1].split("\n[", 1)[0]
    weights = [line for line in service.splitlines() if line.startswith("CPUWeight=")]
    assert len(weights) == 1
    assert int(weights[0].removeprefix("CPUWeight=")) >= 1000
