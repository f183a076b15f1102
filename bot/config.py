"""Reading `study.toml` (the parsing and validation live in `study.config`)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from study.config import StudyConfig, parse_study_config
from study.errors import ConfigError


def load_study_file(path: Path) -> StudyConfig:
    """The study configuration at `path`, or ConfigError saying what is wrong and where."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "TRIALBOT_STUDY_FILE",
            [f"{str(path)!r}: no such file; copy study.example.toml to study.toml and edit it"],
        ) from None
    except OSError as exc:
        raise ConfigError("TRIALBOT_STUDY_FILE", [f"{str(path)!r}: {exc.strerror}"]) from None
    return parse_study_text(text, source=str(path))


def parse_study_text(text: str, *, source: str) -> StudyConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [f"not valid TOML: {exc}"]) from None
    return parse_study_config(data, source=source)


def demo_study() -> StudyConfig:
    """The bundled study used by the no-token demo when there is no study.toml."""
    text = resources.files("bot").joinpath("demo_study.toml").read_text(encoding="utf-8")
    return parse_study_text(text, source="demo_study.toml (bundled)")
