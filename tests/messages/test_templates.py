"""Every message exists in both languages, renders with its documented context, and is
valid Telegram HTML within Telegram's limits (checked by the sandbox's parser)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import UndefinedError

from messages import Button, render
from messages.catalog import EXAMPLES, VARIANTS
from messages.render import MAX_MESSAGE_CHARS
from sandbox.html import parse_html, utf16_len
from study.config import LANGUAGES

TEMPLATES = Path(str(resources.files("messages"))) / "templates"


def template_names(language: str) -> set[str]:
    return {p.stem for p in (TEMPLATES / language).glob("*.j2") if not p.stem.startswith("_")}


def test_every_template_exists_in_every_language_and_is_documented() -> None:
    names = [template_names(language) for language in LANGUAGES]
    assert all(n == names[0] for n in names), "a template is missing in one language"
    assert names[0] == set(EXAMPLES), "templates and messages/catalog.py disagree"


def test_labels_have_the_same_keys_in_every_language() -> None:
    keys = [
        set(tomllib.loads((TEMPLATES / language / "labels.toml").read_text(encoding="utf-8")))
        for language in LANGUAGES
    ]
    assert all(k == keys[0] for k in keys)


CASES = [(name, context) for name, context in EXAMPLES.items()] + [
    (name, context) for name, contexts in VARIANTS.items() for context in contexts
]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("name", "context"), CASES)
def test_renders_as_valid_telegram_html(
    name: str, context: dict[str, object], language: str
) -> None:
    html = render(name, language, **context)
    text, _entities = parse_html(html)  # raises where Telegram would refuse
    assert text.strip(), "renders to nothing"
    assert utf16_len(text) <= MAX_MESSAGE_CHARS
    assert "{{" not in html and "{%" not in html


@pytest.mark.parametrize("name", sorted(n for n, ctx in EXAMPLES.items() if ctx))
def test_a_missing_context_value_is_an_error_not_a_blank(name: str) -> None:
    with pytest.raises((UndefinedError, TypeError, KeyError, ValueError)):
        render(name, "zh")


def test_chinese_comes_first_and_is_chinese() -> None:
    assert "欢迎" in render("welcome", "zh", **EXAMPLES["welcome"])
    assert "Welcome" in render("welcome", "en", **EXAMPLES["welcome"])


hostile = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300
) | st.sampled_from(["<b>", "</i>", "&amp;", "&", "<a href='x'>", "\"'<>&", "<script>x</script>"])


@given(hostile)
def test_interpolated_values_are_escaped_for_telegram(value: str) -> None:
    for language in LANGUAGES:
        html = render("error_unknown_participant", language, study_id=value)
        text, entities = parse_html(html)
        assert value.strip() in text or not value.strip()
        assert entities == []


def test_callback_data_is_limited_to_64_bytes() -> None:
    Button("ok", data="x" * 64)
    with pytest.raises(ValueError, match="1-64 bytes"):
        Button("too long", data="é" * 33)
    with pytest.raises(ValueError, match="exactly one"):
        Button("neither")
