"""The CDISC ODM 1.3.2 export: valid against the ODM 1.3.2 schema, the same data as the CSV
files (and nothing more), code lists in both languages, the same bytes every time and on both
databases (a golden file).

Regenerate the golden file after an intended change with
`TRIALBOT_UPDATE_GOLDEN=1 pytest tests/study/test_export_odm.py` (written from the SQLite
run; the PostgreSQL run still compares), then review the diff.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import odmlib.loader
import odmlib.odm_loader
import pytest
import xmlschema
from odmlib.exceptions import OdmlibOIDError
from odmlib.oid_generator import create_oid_checker
from odmlib.schema_manager import get_schema_path

from messages.odm import ODM_FILE, odm_export
from messages.odm_metadata import FORMS, is_multi, item_oid
from messages.render import label, question_text
from migrations import current_revision
from study.config import StudyConfig
from study.database import Database
from study.export import export_study, export_tables
from study.questionnaire import ALL_QUESTIONS
from tests.study.test_export import (
    AS_OF,
    FREE_TEXT,
    TELEGRAM_IDS,
    UNREACHABLE_REASON,
    UPDATE_GOLDEN,
    seed,
)
from tests.support.clock import FakeClock

GOLDEN = Path(__file__).parent.parent / "golden" / "odm" / ODM_FILE
CREATED = datetime(2026, 4, 30, 8, 15, tzinfo=UTC)
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@cache
def odm_schema() -> xmlschema.XMLSchema:
    """The official ODM 1.3.2 schema (ODM1-3-2.xsd and its imports), as odmlib bundles it."""
    return xmlschema.XMLSchema(get_schema_path("odm", "1.3.2"))


async def export_odm(database: Database, config: StudyConfig, as_of: date = AS_OF) -> bytes:
    revision = await current_revision(database)
    async with database.session() as session:
        tables = await export_tables(session, as_of=as_of, schema_revision=revision)
    content = odm_export(tables, config=config, created_at=CREATED)
    check_odm(content)
    return content


def parse(content: bytes) -> ET.Element:
    return ET.fromstring(content)  # noqa: S314 - our own export, not untrusted input


def check_odm(content: bytes) -> None:
    """Valid against the ODM 1.3.2 schema, and every OID it refers to is defined once."""
    odm_schema().validate(io.BytesIO(content))
    loader = odmlib.loader.ODMLoader(odmlib.odm_loader.XMLODMLoader())
    loader.load_odm_string(content.decode("utf-8"))
    checker = create_oid_checker("odm_1_3_2")
    assert loader.root().verify_oids(checker)
    assert loader.root().unreferenced_oids(checker) == {}


async def test_the_checks_of_the_export_catch_a_broken_document(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    """The schema and the OID check are not vacuous: each refuses what it should."""
    await seed(database, config, clock)
    content = await export_odm(database, config)
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        check_odm(content.replace(b'FileType="Snapshot"', b'FileType="Everything"'))
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        check_odm(content.replace(b"<Protocol>", b"<Protocol><Bogus />", 1))
    with pytest.raises(OdmlibOIDError):
        check_odm(content.replace(b'ItemOID="IT.Q6"', b'ItemOID="IT.Q66"'))


async def csv_rows(database: Database, name: str) -> list[dict[str, str]]:
    revision = await current_revision(database)
    async with database.session() as session:
        files = await export_study(session, as_of=AS_OF, schema_revision=revision)
    content = next(file.content for file in files if file.name == name)
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


async def test_the_odm_export_of_a_seeded_study_is_valid_and_matches_the_golden_file(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await seed(database, config, clock)
    content = await export_odm(database, config)
    if UPDATE_GOLDEN and database.is_sqlite:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_bytes(content)
    assert content == GOLDEN.read_bytes(), (
        f"the ODM export differs from {GOLDEN}; if the change is intended, regenerate with "
        "TRIALBOT_UPDATE_GOLDEN=1 and review the diff"
    )
    assert content == await export_odm(database, config)


async def test_an_empty_study_exports_valid_metadata_and_no_subject(
    database: Database, config: StudyConfig
) -> None:
    root = parse(await export_odm(database, config))
    assert root.get("ODMVersion") == "1.3.2" and root.get("FileType") == "Snapshot"
    assert root.findall("odm:ClinicalData/odm:SubjectData", NS) == []
    events = [e.get("OID") for e in root.iterfind(".//odm:StudyEventDef", NS)]
    visits = [f"SE.V{n}" for n in range(len(config.protocol.visit_months))]
    repeating = ["SE.INFUSION", "SE.CHECKIN", "SE.CONTRACEPTION", "SE.ALERT", "SE.MESSAGE"]
    assert events == ["SE.PARTICIPANT", *visits, *repeating]


async def test_no_telegram_id_or_free_text_reaches_the_odm_file(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await seed(database, config, clock)
    text = (await export_odm(database, config)).decode("utf-8")
    for telegram_id in TELEGRAM_IDS:
        assert str(abs(telegram_id)) not in text
    for words in (FREE_TEXT, "FREE-TEXT", "我的日记", UNREACHABLE_REASON, "blocked", "tg:"):
        assert words not in text


def clinical_values(root: ET.Element) -> dict[tuple[str, str, str | None, str], list[str]]:
    """Every ItemData value by (study id, event, repeat key, item OID)."""
    found: dict[tuple[str, str, str | None, str], list[str]] = {}
    for subject in root.iterfind(".//odm:SubjectData", NS):
        for event in subject.iterfind("odm:StudyEventData", NS):
            for item in event.iterfind(".//odm:ItemData", NS):
                key = (
                    str(subject.get("SubjectKey")),
                    str(event.get("StudyEventOID")),
                    event.get("StudyEventRepeatKey"),
                    str(item.get("ItemOID")),
                )
                found.setdefault(key, []).append(str(item.get("Value")))
    return found


async def test_every_value_of_the_csv_files_is_in_the_odm_file_where_its_form_says(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await seed(database, config, clock)
    values = clinical_values(parse(await export_odm(database, config)))
    expected: dict[tuple[str, str, str | None, str], list[str]] = {}
    for form in FORMS:
        for row in await csv_rows(database, form.file):
            if not row["study_id"]:
                continue
            event = form.event or f"SE.V{row['visit_number']}"
            repeat = row[form.key] if form.key else None
            for column in form.items:
                oid = item_oid(form, column)
                if not row[column]:
                    continue
                cell = row[column]
                parts = cell.split("|") if is_multi(column) else [cell]
                if column.endswith("_time"):
                    parts = [part + ":00" for part in parts]
                expected.setdefault((row["study_id"], event, repeat, oid), []).extend(parts)
    assert values == expected


async def test_each_question_and_its_answers_read_in_chinese_and_english(
    database: Database, config: StudyConfig
) -> None:
    root = parse(await export_odm(database, config))
    for question in ALL_QUESTIONS:
        item = root.find(f".//odm:ItemDef[@OID='IT.{question.code}']", NS)
        assert item is not None, question.code
        wording = {
            t.get(XML_LANG): t.text for t in item.iterfind("odm:Question/odm:TranslatedText", NS)
        }
        assert wording == {lang: question_text(question.code, lang) for lang in ("zh", "en")}
        ref = item.find("odm:CodeListRef", NS)
        assert ref is not None and ref.get("CodeListOID") == f"CL.{question.code}"
        codes = root.find(f".//odm:CodeList[@OID='CL.{question.code}']", NS)
        assert codes is not None
        decoded = {
            (entry.get("CodedValue"), text.get(XML_LANG)): text.text
            for entry in codes.iterfind("odm:CodeListItem", NS)
            for text in entry.iterfind("odm:Decode/odm:TranslatedText", NS)
        }
        assert decoded == {
            (answer, lang): question_text(question.code, lang, answer)
            for answer in question.answers
            for lang in ("zh", "en")
        }
    tiers = root.find(".//odm:CodeList[@OID='CL.CHECKIN.TIER']", NS)
    assert tiers is not None
    assert [
        t.text
        for t in tiers.iterfind(
            "odm:CodeListItem[@CodedValue='T1']/odm:Decode/odm:TranslatedText", NS
        )
    ] == [label("tier_T1", "zh"), label("tier_T1", "en")]
