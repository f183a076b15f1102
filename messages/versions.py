"""Which approved text a message was: every template's version, a hash of its sources.

Ethics committees approve the words participants and teams read. A template's version is
`<language>.<12 hex digits>`: the start of the SHA-256 of every file that makes its text in
that language: the template itself, the templates it imports (`_advice.j2` ...), and the
language's catalogs of short texts, `labels.toml` (button labels, tier and arm names) and
`questionnaire.toml` (questions and answers), which any message may show. So a version
changes exactly when something a reader of that message in that language could see may have
changed, and the same sources give the same version on every machine. Each language has its
own version: the Chinese and the English text are approved, and changed, each on its own.

`trialbot templates` lists every version (the ethics dossier); each message sent records the
version it was rendered from (`OutboxMessage.template_version` for the outbox's messages,
`SentReply` for direct replies).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from jinja2 import meta

from messages.render import template_environment
from study.config import LANGUAGES

CATALOGS = ("labels.toml", "questionnaire.toml")
HEX_DIGITS = 12


@dataclass(frozen=True)
class TemplateVersion:
    """One template in one language: its version and the files it was hashed from."""

    name: str
    language: str
    version: str
    sources: tuple[str, ...]  # paths under messages/templates, in hashing order


def template_names() -> list[str]:
    """Every message template (partials, whose names start with `_`, left out), sorted."""
    folder = resources.files("messages").joinpath("templates", LANGUAGES[0])
    names = (entry.name for entry in folder.iterdir() if entry.name.endswith(".j2"))
    return sorted(name.removesuffix(".j2") for name in names if not name.startswith("_"))


@cache
def template_version(name: str, language: str) -> TemplateVersion:
    """The version of the template `name` in `language` (see the module's docstring)."""
    sources = [*_templates(f"{language}/{name}.j2"), *(f"{language}/{c}" for c in CATALOGS)]
    digest = hashlib.sha256()
    for path in sources:
        content = _read(path)
        digest.update(f"{path}\0{len(content)}\0".encode())
        digest.update(content)
    return TemplateVersion(
        name, language, f"{language}.{digest.hexdigest()[:HEX_DIGITS]}", tuple(sources)
    )


def version_of(name: str, language: str) -> str:
    """Just the version string, e.g. `zh.3f2a9c0d1b7e`."""
    return template_version(name, language).version


def all_versions() -> list[TemplateVersion]:
    """Every template in every language, by name, then language (zh first)."""
    return [template_version(name, lang) for name in template_names() for lang in LANGUAGES]


def _templates(path: str) -> list[str]:
    """`path` and the templates it imports or includes, recursively, each once."""
    found = [path]
    for current in found:
        source = _read(current).decode("utf-8")
        for referenced in meta.find_referenced_templates(template_environment().parse(source)):
            if referenced is not None and referenced not in found:
                found.append(referenced)
    return found


def _read(path: str) -> bytes:
    return resources.files("messages").joinpath("templates", path).read_bytes()


__all__ = ["TemplateVersion", "all_versions", "template_names", "template_version", "version_of"]
