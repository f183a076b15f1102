"""One Jinja2 environment for every message, with Telegram-HTML escaping.

Messages are `templates/<language>/<name>.j2`; short texts (button labels) are
`templates/<language>/labels.toml`, looked up by key. Autoescape is always on and undefined
names are errors, so a template can neither inject markup nor silently lose a value.
"""

from __future__ import annotations

import html
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache, lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from study.config import LANGUAGES, Language

BABEL_LOCALES: dict[str, str] = {"zh": "zh_CN", "en": "en_GB"}
MAX_MESSAGE_CHARS = 4096
MAX_CALLBACK_BYTES = 64
BILINGUAL = ""  # the `language` of a text rendered in every language
_TAG = re.compile(r"</?[a-z-]+(?:\s[^>]*)?>")


@dataclass(frozen=True)
class Button:
    """An inline button: a label and either callback data or a URL."""

    text: str
    data: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.url is None):
            raise ValueError("a button has exactly one of data or url")
        if self.data is not None and not 1 <= len(self.data.encode()) <= MAX_CALLBACK_BYTES:
            raise ValueError(f"callback data must be 1-{MAX_CALLBACK_BYTES} bytes")


Keyboard = list[list[Button]]


class Rendered(str):
    """A message's text that remembers the template and language it was rendered from
    (so that what sends it can record which approved text it was: `messages.versions`).
    Joining it to other text gives a plain `str`."""

    template: str
    language: str

    def __new__(cls, text: str, template: str, language: str) -> Rendered:
        rendered = super().__new__(cls, text)
        rendered.template, rendered.language = template, language
        return rendered


@lru_cache(maxsize=4096)  # a claim of fifty reminders names a handful of days
def _full_date(value: date | str, language: Language) -> str:
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if not isinstance(value, date):
        raise TypeError(f"full_date needs a date or an ISO date string, not {value!r}")
    return format_date(value, "full", locale=BABEL_LOCALES[language])


def _short_time(value: time | datetime | str, language: Language) -> str:
    if isinstance(value, str):
        value = time.fromisoformat(value)
    if not isinstance(value, time | datetime):
        raise TypeError(f"short_time needs a time or an ISO time string, not {value!r}")
    return format_time(value, "HH:mm", locale=BABEL_LOCALES[language])


def warm_up() -> None:
    """Load every language's labels, questions and date formats now, before the bot takes
    its first update. Babel otherwise loads a locale on its first date, inside the event
    loop: a press answered 70 ms late in a burst on a slow machine (`bench/HISTORY.md`).
    Templates are left to compile on first use (2 ms each at the median, up to 50 on a
    loaded machine): all of them would add 0.5-0.9 s to every start."""
    for language in LANGUAGES:
        _labels(language)
        _questionnaire(language)
        _full_date(date(2026, 1, 1), language)  # loads the locale: its times come with it


def template_environment() -> Environment:
    """The one Jinja2 environment of every message (`messages.versions` parses with it)."""
    return _environment()


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("messages", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    return env


def _catalog(language: Language, name: str) -> dict[str, Any]:
    path = resources.files("messages").joinpath("templates", language, name)
    return tomllib.loads(path.read_text(encoding="utf-8"))


@cache
def _labels(language: Language) -> dict[str, str]:
    return _catalog(language, "labels.toml")


@cache
def _questionnaire(language: Language) -> dict[str, dict[str, str]]:
    return _catalog(language, "questionnaire.toml")


def question_text(code: str, language: str, part: str = "text") -> str:
    """A question's `text`, its short `title`, or the label of one of its answer codes."""
    lang = _check_language(language)
    try:
        return _questionnaire(lang)[code][part]
    except KeyError:
        raise KeyError(f"no {code}.{part} in {lang}/questionnaire.toml") from None


def _check_language(language: str) -> Language:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
    return language


def render(name: str, language: str, /, **context: Any) -> Rendered:
    """The message `name` in `language`, as Telegram HTML, stripped of outer blank lines."""
    lang = _check_language(language)
    template = _environment().get_template(f"{lang}/{name}.j2")
    text = template.render(
        **context,
        lang=lang,
        full_date=lambda value: _full_date(value, lang),
        short_time=lambda value: _short_time(value, lang),
        label=lambda key, **kw: label(key, lang, **kw),
        question_text=lambda code, part="text": question_text(code, lang, part),
    )
    return Rendered(text.strip(), name, lang)


def render_bilingual(name: str, /, **context: Any) -> Rendered:
    """The message in every language, Chinese first: for people whose language is unknown
    (its `language` is `BILINGUAL`)."""
    text = "\n\n".join(render(name, language, **context) for language in LANGUAGES)
    return Rendered(text, name, BILINGUAL)


def label(key: str, language: str, /, **context: Any) -> str:
    """A short text (a button label) as plain text; `{name}` placeholders are filled in."""
    lang = _check_language(language)
    try:
        text = _labels(lang)[key]
    except KeyError:
        raise KeyError(f"no label {key!r} in {lang}/labels.toml") from None
    return text.format(**context) if context else text


def button(key: str, language: str, data: str, /, **context: Any) -> Button:
    """A callback button whose label is the label `key` in `language`."""
    return Button(label(key, language, **context), data=data)


def local_stamp(instant: datetime | None, zone: str, language: str) -> str | None:
    """A moment as a site reads it: `yyyy-MM-dd HH:mm` in the zone `zone` (None stays None)."""
    if instant is None:
        return None
    local = instant.astimezone(ZoneInfo(zone))
    return format_datetime(local, "yyyy-MM-dd HH:mm", locale=BABEL_LOCALES[language])


def plain(html_text: str) -> str:
    """A rendered message without its Telegram-HTML markup (for terminals and logs)."""
    return html.unescape(_TAG.sub("", html_text))
