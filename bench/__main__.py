"""`python -m bench` (`make bench`): every benchmark, figures on stdout as `name: value`.

Progress goes to stderr; after the figures, lines starting with `#` say what each measures.
`python -m bench dispatch scale` runs only those parts; `--full` enrols all 10,000 for real.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from bench import dispatch, lateness, scale
from bench.support import configure_logging, progress, report

Measure = Callable[..., Coroutine[Any, Any, dict[str, float]]]
PARTS: dict[str, tuple[Measure, dict[str, str]]] = {
    "dispatch": (dispatch.measure, dispatch.NOTES),
    "lateness": (lateness.measure, lateness.NOTES),
    "scale": (scale.measure, scale.NOTES),
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("parts", nargs="*", help=f"some of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--full", action="store_true", help="scale: enrol all 10,000 for real")
    arguments = parser.parse_args()
    unknown = sorted(set(arguments.parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose among {', '.join(PARTS)}")
    configure_logging()
    figures: dict[str, float] = {}
    notes: dict[str, str] = {}
    for name in arguments.parts or PARTS:
        measure, part_notes = PARTS[name]
        progress(f"{name}: starting")
        options = {"full": True} if name == "scale" and arguments.full else {}
        figures |= asyncio.run(measure(**options))
        notes |= part_notes
    report(figures)
    print()
    for name, note in notes.items():
        print(f"# {name}: {note}")


if __name__ == "__main__":
    main()
