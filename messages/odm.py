"""The export as one CDISC ODM 1.3.2 document (a snapshot), for EDCs that import ODM.

It is made from the rows of the CSV export (`study.export.export_tables`), so it carries
exactly what the CSV files carry and nothing more: study ids (the subject keys), never a
name or a Telegram id; answer codes, never text a participant typed. Left out: the derived
follow-up figures of participants.csv and the per-arm summary (analysis results, not
collected data), and alerts about no participant (ODM keeps clinical data per subject).

The same rows and the same creation time give the same bytes: elements and attributes in a
fixed order, UTF-8, indented. Values follow ODM's data types: dates YYYY-MM-DD, datetimes UTC
with `Z`, times HH:MM:SS, booleans `true`/`false`; an empty cell is no `ItemData` at all.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, time

import odmlib.odm_1_3_2.model as odm

from messages.odm_metadata import (
    FORMS,
    PARTICIPANT,
    Form,
    group_oid,
    is_multi,
    item_oid,
    measurement_units,
    metadata,
    visit_event,
)
from study.config import StudyConfig
from study.export import cell
from study.export_rows import Cell, Row
from study.questionnaire import QUESTIONNAIRE_VERSION

ODM_FILE = "trialbot_odm.xml"
ODM_NAMESPACE = "http://www.cdisc.org/ns/odm/v1.3"


def odm_export(
    tables: Mapping[str, Sequence[Row]], *, config: StudyConfig, created_at: datetime
) -> bytes:
    """The ODM document of an export's `tables` (`study.export.export_tables`).

    `created_at` is the document's CreationDateTime (pass the clock's now).
    """
    info = tables["export_info.csv"][0]
    as_of, revision = cell(info["as_of"]), cell(info["schema_revision"])
    study_oid = config.study.registry_id
    version_oid = f"MDV.{QUESTIONNAIRE_VERSION}"
    document = odm.ODM(
        FileOID=f"trialbot.{study_oid}.{as_of}",
        FileType="Snapshot",
        Granularity="All",
        CreationDateTime=cell(created_at.astimezone(UTC)),
        ODMVersion="1.3.2",
        Originator="trialbot",
        SourceSystem="trialbot",
        Description=(
            f"trialbot export as of {as_of}; database schema {revision or 'unknown'}; "
            f"questionnaire {QUESTIONNAIRE_VERSION}"
        ),
    )
    study = odm.Study(OID=study_oid)
    study.GlobalVariables = odm.GlobalVariables(
        StudyName=odm.StudyName(_content=config.study.name),
        StudyDescription=odm.StudyDescription(_content=config.study.name),
        ProtocolName=odm.ProtocolName(_content=study_oid),
    )
    study.BasicDefinitions = measurement_units()
    study.MetaDataVersion = [
        metadata(
            oid=version_oid,
            name=f"trialbot questionnaire {QUESTIONNAIRE_VERSION}",
            visits=_visits(config, tables["visits.csv"]),
        )
    ]
    document.Study = [study]
    clinical = odm.ClinicalData(StudyOID=study_oid, MetaDataVersionOID=version_oid)
    clinical.SubjectData = _subjects(tables)
    document.ClinicalData = [clinical]
    return _serialise(document)


def _visits(config: StudyConfig, rows: Iterable[Row]) -> dict[int, int]:
    """Each protocol visit's number and month: the protocol's, and any the data holds."""
    visits = dict(enumerate(config.protocol.visit_months))
    for row in rows:
        number, month = row["visit_number"], row["month"]
        if isinstance(number, int) and isinstance(month, int):
            visits.setdefault(number, month)
    return visits


def _subjects(tables: Mapping[str, Sequence[Row]]) -> list[odm.SubjectData]:
    """One SubjectData per participant, in study id order; within it the participant
    event, then the visits by number, then the repeating events in the order of their rows
    (the CSV order: date, then id)."""
    events: dict[str, dict[tuple[str, str | None], odm.StudyEventData]] = defaultdict(dict)
    for form in FORMS:
        for row in tables[form.file]:
            study_id = row["study_id"]
            if not isinstance(study_id, str):
                continue  # an alert about no participant (see the module's docstring)
            event, repeat = _event_of(form, row)
            found = events[study_id].get((event, repeat))
            if found is None:
                found = odm.StudyEventData(StudyEventOID=event, StudyEventRepeatKey=repeat)
                events[study_id][(event, repeat)] = found
            found.FormData.append(_form_data(form, row))
    subjects = []
    for study_id in sorted(events):
        subject = odm.SubjectData(SubjectKey=study_id)
        subject.StudyEventData = sorted(events[study_id].values(), key=_event_order)
        subjects.append(subject)
    return subjects


def _event_of(form: Form, row: Row) -> tuple[str, str | None]:
    if form.event is None:
        return visit_event(int(str(row["visit_number"]))), None
    return form.event, None if form.key is None else cell(row[form.key])


def _event_order(event: odm.StudyEventData) -> tuple[int, int]:
    oid = str(event.StudyEventOID)
    if oid == PARTICIPANT:
        return (0, 0)
    if oid.startswith("SE.V"):
        return (1, int(oid.removeprefix("SE.V")))
    return (2, 0)  # sorted() is stable: repeats keep the order of their rows


def _form_data(form: Form, row: Row) -> odm.FormData:
    data = odm.FormData(FormOID=form.oid)
    singles = [
        odm.ItemData(ItemOID=item_oid(form, c.name), Value=_value(row[c.name]))
        for c in form.columns()
        if not is_multi(c.name) and row[c.name] not in (None, "")
    ]
    data.ItemGroupData.append(odm.ItemGroupData(ItemGroupOID=group_oid(form), ItemData=singles))
    for column in form.columns():
        answers = row[column.name]
        if not is_multi(column.name) or not isinstance(answers, str):
            continue
        data.ItemGroupData += [
            odm.ItemGroupData(
                ItemGroupOID=group_oid(form, column.name),
                ItemGroupRepeatKey=str(repeat),
                ItemData=[odm.ItemData(ItemOID=item_oid(form, column.name), Value=answer)],
            )
            for repeat, answer in enumerate(answers.split("|"), 1)
        ]
    return data


def _value(value: Cell) -> str:
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    return cell(value)


def _serialise(document: odm.ODM) -> bytes:
    root = document.to_xml()  # odmlib's tree, in no namespace until the root declares it
    assert root is not None
    root.set("xmlns", ODM_NAMESPACE)  # the only one used (xml:lang needs no declaration)
    ET.indent(root)
    content: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return content + b"\n"


__all__ = ["ODM_FILE", "odm_export"]
