"""The study metadata of the CDISC ODM 1.3.2 export: events, forms, item groups, items and
code lists, made from the same column definitions as the CSV export's data dictionary
(`study.export_columns`), so that the two exports describe the same data.

- One event per protocol visit (`SE.V<number>`, scheduled) holding the visit's form and its
  labs; one repeating event each for infusions, symptom check-ins, contraception checks and
  alerts (unscheduled, keyed by their ids as in the CSV files); and `SE.PARTICIPANT` for what
  is recorded about the participant once.
- Each question of the questionnaires is an item with its zh and en wording and a code list
  of its answer codes with their zh and en labels (`messages/templates/*/questionnaire.toml`).
  A multi-select question is a repeating item group: one answer code per repeat.
- Other coded columns get a code list too: decoded in zh and en where `labels.toml` has a
  label for every code (tiers, arms, statuses), else an enumerated list of the codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import odmlib.odm_1_3_2.model as odm

from messages.render import label, question_text
from study.config import LANGUAGES
from study.export_columns import (
    BOOLEAN,
    CODE,
    DATE,
    DATETIME,
    DECIMAL,
    FILES,
    INTEGER,
    TIME,
    Column,
)
from study.questionnaire import ALL_QUESTIONS, Question

QUESTIONS = {question.code: question for question in ALL_QUESTIONS}
DATA_TYPES = {INTEGER: "integer", DECIMAL: "float", DATE: "date", DATETIME: "datetime"}
DATA_TYPES |= {TIME: "time", BOOLEAN: "boolean"}
UNITS = {
    "% of lymphocytes": "MU.PERCENT_LYMPHOCYTES",
    "IU/mL": "MU.IU_PER_ML",
    "g/L": "MU.G_PER_L",
    "mg": "MU.MG",
    "minutes": "MU.MINUTES",
    "months": "MU.MONTHS",
    "days": "MU.DAYS",
}
# Coded columns whose codes labels.toml words in both languages: (form, column) -> key prefix.
LABELLED = {
    ("PARTICIPANT", "arm"): "arm_",
    ("PARTICIPANT", "language"): "language_",
    ("PARTICIPANT", "status"): "status_",
    ("VISIT", "status"): "visit_",
    ("INFUSION", "status"): "infusion_",
    ("CHECKIN", "tier"): "tier_",
    ("CONTRACEPTION", "tier"): "tier_",
    ("ALERT", "tier"): "tier_",
    ("ALERT", "status"): "alert_status_",
    ("MESSAGE", "language"): "language_",
}
PARTICIPANT = "SE.PARTICIPANT"


@dataclass(frozen=True)
class Form:
    """One form of the export: the CSV file its rows come from, the columns that are its
    items, and the event it belongs to (`None`: the event of the row's protocol visit).
    `key` is the column that numbers a repeating event's repeats."""

    name: str
    file: str
    items: tuple[str, ...]
    event: str | None
    key: str | None = None

    @property
    def oid(self) -> str:
        return f"F.{self.name}"

    def columns(self) -> tuple[Column, ...]:
        by_name = {column.name: column for column in FILES[self.file]}
        return tuple(by_name[name] for name in self.items)


def _all_but(file: str, *left_out: str) -> tuple[str, ...]:
    return tuple(c.name for c in FILES[file] if c.name not in left_out)


FORMS = (
    Form(
        "PARTICIPANT",
        "participants.csv",
        (
            "site",
            "arm",
            "randomized_on",
            "enrolled_at",
            "linked",
            "linked_at",
            "language",
            "can_become_pregnant",
            "status",
            "status_changed_at",
        ),
        PARTICIPANT,
    ),
    Form("VISIT", "visits.csv", _all_but("visits.csv", "study_id", "visit_number"), None),
    Form("LABS", "labs.csv", _all_but("labs.csv", "study_id", "visit_number"), None),
    Form(
        "INFUSION",
        "infusions.csv",
        _all_but("infusions.csv", "study_id", "infusion_id"),
        "SE.INFUSION",
        "infusion_id",
    ),
    Form(
        "CHECKIN",
        "checkins.csv",
        _all_but("checkins.csv", "study_id", "checkin_id"),
        "SE.CHECKIN",
        "checkin_id",
    ),
    Form(
        "CONTRACEPTION",
        "contraception.csv",
        _all_but("contraception.csv", "study_id", "checkin_id"),
        "SE.CONTRACEPTION",
        "checkin_id",
    ),
    Form(
        "ALERT",
        "alerts.csv",
        _all_but("alerts.csv", "study_id", "alert_id"),
        "SE.ALERT",
        "alert_id",
    ),
    Form(
        "MESSAGE",
        "messages.csv",
        _all_but("messages.csv", "study_id", "message_id"),
        "SE.MESSAGE",
        "message_id",
    ),
)
REPEATING_EVENTS = {
    "SE.INFUSION": "Infusion",
    "SE.CHECKIN": "Symptom check-in",
    "SE.CONTRACEPTION": "Contraception check",
    "SE.ALERT": "Alert",
    "SE.MESSAGE": "Message sent (template and version)",
}
VISIT_FORMS = tuple(form for form in FORMS if form.event is None)


def visit_event(number: int) -> str:
    """The OID of the event of protocol visit `number`."""
    return f"SE.V{number}"


def item_oid(form: Form, column: str) -> str:
    """The OID of a column's item: a question's own code, else the form and column."""
    return f"IT.{column}" if column in QUESTIONS else f"IT.{form.name}.{column.upper()}"


def group_oid(form: Form, column: str | None = None) -> str:
    """The item group of a form's columns, or of one multi-select question's answers."""
    return f"IG.{form.name}" if column is None else f"IG.{form.name}.{column}"


def is_multi(column: str) -> bool:
    question = QUESTIONS.get(column)
    return question is not None and question.multi


def metadata(*, oid: str, name: str, visits: dict[int, int]) -> odm.MetaDataVersion:
    """The metadata version: `visits` maps each protocol visit's number to its month."""
    version = odm.MetaDataVersion(OID=oid, Name=name)
    events = [PARTICIPANT, *(visit_event(n) for n in sorted(visits)), *REPEATING_EVENTS]
    version.Protocol = odm.Protocol(
        StudyEventRef=[
            odm.StudyEventRef(StudyEventOID=event, OrderNumber=order, Mandatory="No")
            for order, event in enumerate(events, 1)
        ]
    )
    version.StudyEventDef = [
        _event(PARTICIPANT, "Participant", "Common", [f for f in FORMS if f.event == PARTICIPANT]),
        *(
            _event(visit_event(n), f"Visit {n} (month {month})", "Scheduled", VISIT_FORMS)
            for n, month in sorted(visits.items())
        ),
        *(
            _event(oid_, title, "Unscheduled", [f for f in FORMS if f.event == oid_], True)
            for oid_, title in REPEATING_EVENTS.items()
        ),
    ]
    version.FormDef = [_form(form) for form in FORMS]
    lists = _CodeLists()
    for form in FORMS:
        singles = [c for c in form.columns() if not is_multi(c.name)]
        version.ItemGroupDef.append(_group(group_oid(form), form.name, singles, form))
        version.ItemGroupDef += [
            _group(group_oid(form, c.name), f"{form.name}_{c.name}", [c], form, repeating=True)
            for c in form.columns()
            if is_multi(c.name)
        ]
        version.ItemDef += [_item(form, column, lists) for column in form.columns()]
    version.CodeList = lists.defined()
    return version


def measurement_units() -> odm.BasicDefinitions:
    """The units of the items that have one (each defined once, in order of first use)."""
    used = dict.fromkeys(
        c.codes
        for form in FORMS
        for c in form.columns()
        if c.codes in UNITS and c.type in (INTEGER, DECIMAL)
    )
    return odm.BasicDefinitions(
        MeasurementUnit=[
            odm.MeasurementUnit(
                OID=UNITS[unit], Name=unit, Symbol=odm.Symbol(TranslatedText=[_text(unit, "en")])
            )
            for unit in used
        ]
    )


def _event(
    oid: str, name: str, kind: str, forms: Iterable[Form], repeating: bool = False
) -> odm.StudyEventDef:
    return odm.StudyEventDef(
        OID=oid,
        Name=name,
        Repeating="Yes" if repeating else "No",
        Type=kind,
        FormRef=[
            odm.FormRef(FormOID=form.oid, OrderNumber=order, Mandatory="No")
            for order, form in enumerate(forms, 1)
        ],
    )


def _form(form: Form) -> odm.FormDef:
    groups = [group_oid(form)] + [
        group_oid(form, c.name) for c in form.columns() if is_multi(c.name)
    ]
    return odm.FormDef(
        OID=form.oid,
        Name=form.name.capitalize(),
        Repeating="No",
        ItemGroupRef=[
            odm.ItemGroupRef(ItemGroupOID=group, OrderNumber=order, Mandatory="No")
            for order, group in enumerate(groups, 1)
        ],
    )


def _group(
    oid: str, name: str, columns: Iterable[Column], form: Form, *, repeating: bool = False
) -> odm.ItemGroupDef:
    return odm.ItemGroupDef(
        OID=oid,
        Name=name,
        Repeating="Yes" if repeating else "No",
        ItemRef=[
            odm.ItemRef(ItemOID=item_oid(form, c.name), OrderNumber=order, Mandatory="No")
            for order, c in enumerate(columns, 1)
        ],
    )


def _item(form: Form, column: Column, lists: _CodeLists) -> odm.ItemDef:
    item = odm.ItemDef(
        OID=item_oid(form, column.name),
        Name=column.name,
        DataType=DATA_TYPES.get(column.type, "text"),
        Description=odm.Description(TranslatedText=[_text(column.meaning, "en")]),
    )
    question = QUESTIONS.get(column.name)
    if question is not None:
        item.Question = odm.Question(
            TranslatedText=[
                _text(question_text(question.code, language), language) for language in LANGUAGES
            ]
        )
        item.CodeListRef = odm.CodeListRef(CodeListOID=lists.of_question(question))
    elif column.type == CODE and column.codes:
        item.CodeListRef = odm.CodeListRef(CodeListOID=lists.of_column(form, column))
    elif column.codes in UNITS and column.type in (INTEGER, DECIMAL):
        item.MeasurementUnitRef = [odm.MeasurementUnitRef(MeasurementUnitOID=UNITS[column.codes])]
    return item


class _CodeLists:
    """The code lists the items refer to, each defined once, in order of first use."""

    def __init__(self) -> None:
        self.lists: dict[str, odm.CodeList] = {}

    def defined(self) -> list[odm.CodeList]:
        return list(self.lists.values())

    def of_question(self, question: Question) -> str:
        oid = f"CL.{question.code}"
        if oid not in self.lists:
            self.lists[oid] = odm.CodeList(
                OID=oid,
                Name=f"{question.code} answers",
                DataType="text",
                CodeListItem=[
                    _decoded(
                        answer,
                        order,
                        [(question_text(question.code, lang, answer), lang) for lang in LANGUAGES],
                    )
                    for order, answer in enumerate(question.answers, 1)
                ],
            )
        return oid

    def of_column(self, form: Form, column: Column) -> str:
        codes = [code.strip() for code in column.codes.split("|")]
        oid = f"CL.{form.name}.{column.name.upper()}"
        prefix = LABELLED.get((form.name, column.name))
        words = _labels(prefix, codes) if prefix is not None else None
        if words is None:
            self.lists[oid] = odm.CodeList(
                OID=oid,
                Name=f"{form.name.lower()} {column.name}",
                DataType="text",
                EnumeratedItem=[
                    odm.EnumeratedItem(CodedValue=code, OrderNumber=order)
                    for order, code in enumerate(codes, 1)
                ],
            )
        else:
            self.lists[oid] = odm.CodeList(
                OID=oid,
                Name=f"{form.name.lower()} {column.name}",
                DataType="text",
                CodeListItem=[
                    _decoded(code, order, words[code]) for order, code in enumerate(codes, 1)
                ],
            )
        return oid


def _labels(prefix: str, codes: Iterable[str]) -> dict[str, list[tuple[str, str]]] | None:
    """Each code's label in every language, or None if labels.toml lacks one of them."""
    try:
        return {
            code: [(label(prefix + code, language), language) for language in LANGUAGES]
            for code in codes
        }
    except KeyError:
        return None


def _decoded(code: str, order: int, words: Iterable[tuple[str, str]]) -> odm.CodeListItem:
    return odm.CodeListItem(
        CodedValue=code,
        OrderNumber=order,
        Decode=odm.Decode(TranslatedText=[_text(text, language) for text, language in words]),
    )


def _text(text: str, language: str) -> odm.TranslatedText:
    return odm.TranslatedText(_content=text, lang=language)


__all__ = [
    "FORMS",
    "PARTICIPANT",
    "Form",
    "group_oid",
    "is_multi",
    "item_oid",
    "measurement_units",
    "metadata",
    "visit_event",
]
