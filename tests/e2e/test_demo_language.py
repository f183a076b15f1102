"""`make run` says the demo site team writes Chinese, and how to have it write English
(issue 14.5); following that advice works."""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path

import pytest

from bot.runner import serve
from bot.services import load_config
from bot.settings import Settings


def no_token(database_url: str, study_file: Path) -> Settings:
    return Settings(
        _env_file=None,
        telegram_bot_token="",
        database_url=database_url,
        trialbot_study_file=study_file,
        trialbot_sandbox_port=0,
    )


def stopped() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


async def test_the_demo_says_how_to_switch_the_team_to_english(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study_file = tmp_path / "study.toml"  # absent: `make run` on a fresh clone
    await serve(no_token(database_url, study_file), stop=stopped())
    printed = capsys.readouterr().out
    assert "The site team's messages are in Chinese, as at the trial's sites." in printed
    assert (
        f'copy bot/demo_study.toml to {study_file} and add language = "en" under [sites.DEMO]'
        in printed
    )

    # Done as it says: the team writes English, and the hint is gone.
    bundled = resources.files("bot").joinpath("demo_study.toml").read_text(encoding="utf-8")
    study_file.write_text(
        bundled.replace('name = "Demo Hospital"\n', 'name = "Demo Hospital"\nlanguage = "en"\n'),
        encoding="utf-8",
    )
    settings = no_token(database_url, study_file)
    assert load_config(settings).site_language("DEMO") == "en"
    await serve(settings, stop=stopped())
    printed = capsys.readouterr().out
    assert "Chat as the demo participant" in printed and "in Chinese" not in printed
