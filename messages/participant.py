"""Buttons of the participant's own chat: the language choice, and "report a symptom"."""

from __future__ import annotations

from messages.callbacks import Language, ReportSymptom
from messages.render import Keyboard, button
from study.config import LANGUAGES


def language_keyboard(language: str) -> Keyboard:
    """The languages, each labelled in its own words (Chinese first)."""
    return [
        [button(f"language_{choice}", language, Language(choice).pack()) for choice in LANGUAGES]
    ]


def help_keyboard(language: str) -> Keyboard:
    """Under /help: start a symptom check-in now."""
    return [[button("report_symptom", language, ReportSymptom().pack())]]
