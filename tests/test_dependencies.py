"""What the deployment installs: pinned and hashed, current with pyproject.toml, and never a
version with a known advisory for the libraries that face the network or render text."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# The first version free of every advisory known when the minimums were set (see pyproject).
FIRST_SAFE = {"aiohttp": "3.14.4", "jinja2": "3.1.6"}
LAST_UNSAFE = {"aiohttp": "3.14.3", "jinja2": "3.1.5"}


def requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = (Requirement(text) for text in project["dependencies"])
    return {canonicalize_name(requirement.name): requirement for requirement in found}


def check_lock(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own script)
        [sys.executable, str(root / "deploy" / "lock.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(FIRST_SAFE))
def test_no_version_with_a_known_advisory_is_allowed(name: str) -> None:
    specifier = requirements()[name].specifier
    assert specifier.contains(FIRST_SAFE[name])
    assert not specifier.contains(LAST_UNSAFE[name])


def test_sqlmodel_has_an_upper_bound() -> None:
    specifier = requirements()["sqlmodel"].specifier
    assert any(spec.operator in ("<", "<=", "==", "~=") for spec in specifier)


def test_the_lock_is_current_and_the_image_installs_from_it_with_hashes() -> None:
    checked = check_lock(ROOT)
    assert checked.returncode == 0, checked.stderr
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert "--require-hashes -r /tmp/requirements.lock" in dockerfile
    assert "--no-deps /wheels/*.whl" in dockerfile  # trialbot itself brings nothing unpinned


def test_a_dependency_changed_without_a_new_lock_fails_the_check(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    for name in ("deploy/lock.py", "deploy/requirements.lock", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    pyproject = tmp_path / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace('"aiohttp>=3.14.4"', '"aiohttp>=3.99"'), encoding="utf-8")

    checked = check_lock(tmp_path)

    assert checked.returncode == 1
    assert "pyproject.toml's dependencies changed since the lock was written" in checked.stderr
    assert "aiohttp==" in checked.stderr and "is outside aiohttp>=3.99" in checked.stderr
    assert "python deploy/lock.py" in checked.stderr
