"""Fuzz fixtures: the three-site study, the sandbox and bot of the end-to-end tests, a driver
that plays actions and records errors, and the figures printed at the end of the session."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from telegram.ext import Application

from bot.services import Services
from sandbox import SandboxServer
from study.config import StudyConfig
from tests.e2e.conftest import BOT_USERNAME, TOKEN, bot, services, settings
from tests.fuzz.cast import FUZZ_STUDY_TOML, SILENT, fuzz_study_config
from tests.fuzz.driver import Driver, ErrorLog

__all__ = ["bot", "services", "settings"]  # the end-to-end fixtures, used as they are

FIGURES = pytest.StashKey[list[tuple[str, dict[str, object]]]]()
RecordFigures = Callable[[dict[str, object]], None]


@pytest.fixture
def config() -> StudyConfig:
    return fuzz_study_config()


@pytest.fixture
def study_file(tmp_path: Path) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(FUZZ_STUDY_TOML, encoding="utf-8")
    return path


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    """A sandbox Telegram with the bot only; the run adds its people and chats. Unlike the
    end-to-end fixture it does not check rejections at the end: the fuzz test does."""
    async with SandboxServer(host="127.0.0.1", port=0) as server:
        server.add_bot(TOKEN, username=BOT_USERNAME)
        yield server


@pytest.fixture
def driver(
    sandbox: SandboxServer,
    bot: Application,  # type: ignore[type-arg]
    services: Services,
) -> Iterator[Driver]:
    driver = Driver(sandbox, bot, services, silent_chats=frozenset(SILENT))
    errors = ErrorLog(driver)
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        yield driver
    finally:
        root.removeHandler(errors)


@pytest.fixture
def fuzz_figures(request: pytest.FixtureRequest) -> RecordFigures:
    """Keep a test's figures for the summary at the end of the session."""

    def record(figures: dict[str, object]) -> None:
        request.config.stash.setdefault(FIGURES, []).append((request.node.nodeid, figures))

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    runs = terminalreporter.config.stash.get(FIGURES, [])
    if not runs:
        return
    terminalreporter.section("fuzz figures")
    for nodeid, figures in runs:
        terminalreporter.write_line(nodeid)
        for name, value in figures.items():
            terminalreporter.write_line(f"  {name}: {value}")
