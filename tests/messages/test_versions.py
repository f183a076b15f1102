"""Template versions: every message template in both languages, a short hash of exactly
the files its text is made of; listed by `trialbot templates` for the ethics dossier."""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from pathlib import Path

from messages.catalog import EXAMPLES
from messages.render import render
from messages.versions import all_versions, template_names, template_version, version_of
from tests.bot.test_cli import trialbot

VERSION = re.compile(r"^(zh|en)\.[0-9a-f]{12}$")


def test_every_template_that_can_be_sent_is_listed_in_both_languages() -> None:
    assert template_names() == sorted(EXAMPLES)
    versions = all_versions()
    assert [(v.name, v.language) for v in versions] == [
        (name, language) for name in sorted(EXAMPLES) for language in ("zh", "en")
    ]
    assert all(VERSION.match(v.version) and len(v.version) <= 16 for v in versions)
    # The Chinese and the English text are approved each on its own.
    assert version_of("help", "zh") != version_of("help", "en")
    assert len({v.version for v in versions}) == len(versions)


def test_a_version_covers_the_template_what_it_imports_and_the_catalogs() -> None:
    card = template_version("alert_card", "zh")
    assert card.sources == (
        "zh/alert_card.j2",
        "zh/_evidence.j2",
        "zh/labels.toml",
        "zh/questionnaire.toml",
    )
    digest = hashlib.sha256()
    for path in card.sources:
        content = resources.files("messages").joinpath("templates", path).read_bytes()
        digest.update(f"{path}\0{len(content)}\0".encode() + content)
    assert card.version == f"zh.{digest.hexdigest()[:12]}"


def test_a_rendered_message_knows_its_template_and_language() -> None:
    text = render("help", "en", site_phone="+86 571 0000 0000", emergency_number="120")
    assert (text.template, text.language) == ("help", "en")
    assert type(text + "!") is str  # joined to other text it is a plain string


def test_trialbot_templates_lists_every_version_as_text_and_json(tmp_path: Path) -> None:
    listed = trialbot(tmp_path, "templates")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["template", "language", "version", "sources"]
    assert ["help", "zh", version_of("help", "zh"), "zh/help.j2"] in [
        line.split()[:4] for line in lines
    ]
    assert len(lines) == 1 + 2 * len(EXAMPLES)
    as_json = trialbot(tmp_path, "templates", "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert {(r["name"], r["language"]): r["version"] for r in rows} == {
        (v.name, v.language): v.version for v in all_versions()
    }
    assert rows[0]["sources"][0] == f"{rows[0]['language']}/{rows[0]['name']}.j2"
