"""The deployment image's lock file: every package pinned, with the hashes pip checks.

    python deploy/lock.py              # write deploy/requirements.lock (needs `uv`)
    python deploy/lock.py --upgrade    # the same, with the newest versions allowed
    python deploy/lock.py --check      # is the lock current with pyproject.toml? (CI)

The lock is compiled by uv from PyPI for Python 3.11 on any platform, keeping the pins it
already has unless asked to upgrade. It records a digest of pyproject.toml's dependencies, so
that the check needs no network: a dependency changed without `python deploy/lock.py` makes
it fail, as does a pin outside what pyproject.toml allows or a pin without hashes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "deploy" / "requirements.lock"
STAMP = "# pyproject.toml dependencies sha256:"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?: ;.*)? \\$")
HASH = re.compile(r"^ +--hash=sha256:[0-9a-f]{64}(?: \\)?$")
COMMAND = "python deploy/lock.py"


def dependencies(pyproject: Path = PYPROJECT) -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in project["dependencies"]]


def digest(pyproject: Path = PYPROJECT) -> str:
    """What the lock was compiled from: the dependencies and the Python versions."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    normal = {
        "requires-python": project.get("requires-python"),
        "dependencies": sorted(str(Requirement(text)) for text in project["dependencies"]),
    }
    return hashlib.sha256(json.dumps(normal, sort_keys=True).encode()).hexdigest()


def pins(lock_text: str) -> dict[str, Version]:
    """Each pinned package of a lock and its version; ValueError for a pin without hashes."""
    found: dict[str, Version] = {}
    lines = lock_text.splitlines()
    for number, line in enumerate(lines):
        match = PIN.match(line)
        if match is None:
            continue
        following = lines[number + 1] if number + 1 < len(lines) else ""
        if not HASH.match(following):
            raise ValueError(f"{match.group(1)}=={match.group(2)} has no --hash")
        found[canonicalize_name(match.group(1))] = Version(match.group(2))
    return found


def problems(pyproject: Path = PYPROJECT, lock: Path = LOCK) -> list[str]:
    """Why the lock is not current with pyproject.toml (empty when it is)."""
    if not lock.exists():
        return [f"{lock.relative_to(ROOT)} is missing"]
    text = lock.read_text(encoding="utf-8")
    found: list[str] = []
    if f"{STAMP} {digest(pyproject)}" not in text.splitlines():
        found.append("pyproject.toml's dependencies changed since the lock was written")
    try:
        pinned = pins(text)
    except ValueError as exc:
        return [*found, str(exc)]
    for requirement in dependencies(pyproject):
        version = pinned.get(canonicalize_name(requirement.name))
        if version is None:
            found.append(f"{requirement.name} is not pinned")
        elif not requirement.specifier.contains(version, prereleases=True):
            found.append(f"{requirement.name}=={version} is outside {requirement}")
    return found


def compile_lock(*, upgrade: bool) -> None:
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv is None:
        raise SystemExit("deploy/lock.py needs uv: pip install uv")
    command = [
        uv,
        "pip",
        "compile",
        str(PYPROJECT.relative_to(ROOT)),
        "--generate-hashes",
        "--universal",
        "--python-version",
        "3.11",
        "--no-config",  # PyPI itself, which the image's pip downloads from
        "--custom-compile-command",
        COMMAND,
        "--output-file",
        str(LOCK.relative_to(ROOT)),
        "--quiet",
        *(["--upgrade"] if upgrade else []),
    ]
    subprocess.run(command, cwd=ROOT, check=True)  # noqa: S603 (our own command)
    lines = [line for line in LOCK.read_text(encoding="utf-8").splitlines() if STAMP not in line]
    header = next(number for number, line in enumerate(lines) if not line.startswith("#"))
    lines.insert(header, f"{STAMP} {digest()}")
    LOCK.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that it is current")
    parser.add_argument("--upgrade", action="store_true", help="allow newer versions")
    args = parser.parse_args()
    if not args.check:
        compile_lock(upgrade=args.upgrade)
    found = problems()
    if found:
        sys.stderr.write(
            "deploy/requirements.lock is not current:\n"
            + "".join(f"  - {problem}\n" for problem in found)
            + f"Run `{COMMAND}` (with uv installed) and commit the lock.\n"
        )
        raise SystemExit(1)
    sys.stdout.write("deploy/requirements.lock is current with pyproject.toml\n")


if __name__ == "__main__":
    main()
