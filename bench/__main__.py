"""`python -m bench` (`make bench`): every benchmark, figures on stdout as `name: value`.

Progress goes to stderr; after the figures, lines starting with `#` say what each measures.
Throughput and lateness are measured twice: against a sandbox answering at once (as on one
machine), and with 80 ms added to every Bot API call (`_rtt80` figures), as from a server
far from Telegram. Button presses are answered during a burst and a sweep (`bench.buttons`),
and the burst's red flag measured, on SQLite and, with `--postgres URL`, PostgreSQL.
`python -m bench dispatch scale` runs only those parts; `--latency-ms` picks other round
trips; `--full` enrols all 10,000 for real (see `bench.scale`).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from bench import burst, buttons, dispatch, lateness, scale
from bench.support import configure_logging, postgres_server, progress, report

Measure = Callable[..., Coroutine[Any, Any, dict[str, float | int]]]
LATENCIES_MS = (0.0, 80.0)
PARTS: dict[str, tuple[Measure, dict[str, str], bool]] = {  # measure, notes, at each latency
    "dispatch": (dispatch.measure, dispatch.NOTES, True),
    "burst": (burst.measure, burst.NOTES, True),
    "lateness": (lateness.measure, lateness.NOTES, True),
    "buttons": (buttons.measure, buttons.NOTES, False),
    "scale": (scale.measure, scale.NOTES, False),
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("parts", nargs="*", help=f"some of {', '.join(PARTS)} (default: all)")
    parser.add_argument(
        "--latency-ms",
        type=float,
        action="append",
        metavar="MS",
        help="round trip per Bot API call for dispatch, burst and lateness (repeatable; "
        f"default: {' and '.join(f'{ms:g}' for ms in LATENCIES_MS)})",
    )
    parser.add_argument("--full", action="store_true", help="scale: enrol all 10,000 for real")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=postgres_server(),
        help="buttons, burst: also on a fresh database on this PostgreSQL server (default: "
        "TRIALBOT_BENCH_POSTGRES_URL or TRIALBOT_TEST_POSTGRES_URL)",
    )
    parser.add_argument(
        "--participants", type=int, default=scale.TOTAL, help="scale: how many (default 10,000)"
    )
    arguments = parser.parse_args()
    unknown = sorted(set(arguments.parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose among {', '.join(PARTS)}")
    configure_logging()
    latencies = arguments.latency_ms or LATENCIES_MS
    figures: dict[str, float | int] = {}
    notes: dict[str, str] = {}
    for name in arguments.parts or PARTS:
        measure, part_notes, networked = PARTS[name]
        if networked:
            databases = {"postgres": arguments.postgres} if name == "burst" else {}
            for latency_ms in latencies:
                progress(f"{name} at {latency_ms:g} ms: starting")
                figures |= asyncio.run(measure(latency_ms, **databases))
        elif name == "buttons":
            progress(f"{name}: starting")
            figures |= asyncio.run(measure(arguments.postgres))
        else:
            progress(f"{name}: starting")
            options = {"full": arguments.full, "total": arguments.participants}
            figures |= asyncio.run(measure(**options))
        notes |= part_notes
    report(figures)
    print()
    for name, note in notes.items():
        print(f"# {name}: {note}")


if __name__ == "__main__":
    main()
