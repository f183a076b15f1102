"""The rows of each exported file, built from the tables loaded in memory (no I/O here).

Each row is a mapping from the column names of `study.export_columns` to plain values;
`study.export` formats and writes them. Rows are sorted here, in Python, so that the order
never depends on a database's collation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from typing import Any

from study.export_columns import FILES
from study.export_summary import (
    Measures,
    attendance,
    counts_for_completion,
    follow_up,
    is_flare,
    is_urgent,
    measure,
    minutes_between,
    summarise,
)
from study.models import (
    Alert,
    CheckIn,
    CheckInKind,
    Infusion,
    LabResult,
    OutboxMessage,
    Participant,
    SentReply,
    Visit,
)
from study.outbox import is_edit
from study.protocol import Arm
from study.questionnaire import (
    CHECKIN,
    CONTRACEPTION,
    POST_INFUSION,
    QUESTIONNAIRE_VERSION,
    Question,
    question,
)
from study.triage import triage_contraception

Cell = str | int | float | bool | date | datetime | time | None
Row = dict[str, Cell]
ALL_ARMS = "all"
YEARS_PLACES = RATE_PLACES = 4
MINUTES_PLACES = DAYS_PLACES = 1
SYMPTOM_KINDS = frozenset({CheckInKind.SYMPTOMS, CheckInKind.POST_INFUSION})
PSEUDONYM = "coordinator-{}"


@dataclass(frozen=True)
class StudyData:
    """Every row the export reads, as loaded from the database."""

    participants: Sequence[Participant]
    visits: Sequence[Visit]
    infusions: Sequence[Infusion]
    labs: Sequence[LabResult]
    checkins: Sequence[CheckIn]
    alerts: Sequence[Alert]
    outbox: Sequence[OutboxMessage] = ()  # the messages sent
    replies: Sequence[SentReply] = ()


def fixed(value: float | None, places: int) -> str | None:
    """A computed figure with a fixed number of decimals."""
    return None if value is None else f"{value:.{places}f}"


def build_tables(
    data: StudyData, *, as_of: date, schema_revision: str | None
) -> dict[str, list[Row]]:
    """The rows of every file of `study.export_columns.FILES`, by file name."""
    return _Builder(data, as_of).tables(schema_revision)


class _Builder:
    """The rows of one export; holds the look-ups the files share."""

    def __init__(self, data: StudyData, as_of: date) -> None:
        self.data = data
        self.as_of = as_of
        self.participants = {p.id: p for p in data.participants}
        self.visits = {v.id: v for v in data.visits}
        self.coordinators = _pseudonyms(data)
        by_participant: dict[int | None, list[Visit]] = defaultdict(list)
        for visit in data.visits:
            by_participant[visit.participant_id].append(visit)
        self.visits_of = by_participant
        self.follow = {p.id: follow_up(p, by_participant[p.id], as_of) for p in data.participants}
        self.attendance = {
            v.id: attendance(v, self.follow[v.participant_id], as_of) for v in data.visits
        }

    def tables(self, schema_revision: str | None) -> dict[str, list[Row]]:
        measures = self._measures()
        tables: dict[str, list[Row]] = {
            "export_info.csv": [
                {
                    "as_of": self.as_of,
                    "schema_revision": schema_revision,
                    "questionnaire_version": QUESTIONNAIRE_VERSION,
                }
            ],
            "data_dictionary.csv": _dictionary(),
            "participants.csv": self._participants(measures),
            "visits.csv": self._visits(),
            "infusions.csv": self._infusions(),
            "labs.csv": self._labs(),
            "checkins.csv": self._checkins(),
            "contraception.csv": self._contraception(),
            "alerts.csv": self._alerts(),
            "messages.csv": self._messages(),
            "summary_by_arm.csv": self._summary(measures),
        }
        assert list(tables) == list(FILES)
        return tables

    def _study_id(self, participant_id: int | None) -> str | None:
        participant = self.participants.get(participant_id)
        return participant.study_id if participant else None

    def _visit_number(self, visit_id: int | None) -> int | None:
        visit = self.visits.get(visit_id)
        return visit.number if visit else None

    def _coordinator(self, user_id: int | None) -> str | None:
        return None if user_id is None else self.coordinators[user_id]

    def _measures(self) -> dict[int | None, Measures]:
        checkins: dict[int | None, list[CheckIn]] = defaultdict(list)
        alerts: dict[int | None, list[Alert]] = defaultdict(list)
        for checkin in self.data.checkins:
            checkins[checkin.participant_id].append(checkin)
        for alert in self.data.alerts:
            alerts[alert.participant_id].append(alert)
        return {
            p.id: measure(
                self.follow[p.id],
                (self.attendance[v.id] for v in self.visits_of[p.id]),
                checkins[p.id],
                alerts[p.id],
            )
            for p in self.data.participants
        }

    def _participants(self, measures: dict[int | None, Measures]) -> list[Row]:
        rows: list[Row] = []
        for p in sorted(self.data.participants, key=lambda p: p.study_id):
            follow, counts = self.follow[p.id], measures[p.id]
            rows.append(
                {
                    "study_id": p.study_id,
                    "site": p.site_code,
                    "arm": p.arm,
                    "randomized_on": p.randomized_on,
                    "enrolled_at": p.created_at,
                    "linked": p.telegram_chat_id is not None,
                    "linked_at": p.linked_at,
                    "language": p.language,
                    "can_become_pregnant": p.can_become_pregnant,
                    "status": p.status,
                    "status_changed_at": p.status_changed_at,
                    "followed_until": follow.until,
                    "followed_days": follow.days,
                    "participant_years": fixed(follow.days / 365.25, YEARS_PLACES),
                    "flare_alerts": counts.flare_alerts,
                    "urgent_alerts": counts.urgent_alerts,
                    "days_to_first_flare_alert": counts.days_to_first_flare,
                    "visits_attended": counts.visits_attended,
                    "visits_due": counts.visits_due,
                    "checkins_completed": counts.checkins_completed,
                    "checkins_closed": counts.checkins_closed,
                }
            )
        return rows

    def _visits(self) -> list[Row]:
        rows: list[tuple[tuple[str, int], Row]] = []
        for v in self.data.visits:
            study_id = self._study_id(v.participant_id) or ""
            row: Row = {
                "study_id": study_id,
                "visit_number": v.number,
                "month": v.month,
                "target_date": v.target_date,
                "window_start": v.window_start,
                "window_end": v.window_end,
                "appointment_date": v.appointment_date,
                "appointment_time": v.appointment_time,
                "status": v.status,
                "confirmed_at": v.confirmed_at,
                "attended_on": v.attended_on,
                "attendance": self.attendance[v.id],
            }
            rows.append(((study_id, v.number), row))
        return _sorted(rows)

    def _infusions(self) -> list[Row]:
        rows: list[tuple[tuple[str, date, int], Row]] = []
        for i in self.data.infusions:
            study_id = self._study_id(i.participant_id) or ""
            row: Row = {
                "study_id": study_id,
                "infusion_id": i.id,
                "visit_number": self._visit_number(i.visit_id),
                "planned_date": i.planned_date,
                "planned_time": i.planned_time,
                "dose_mg": i.dose_mg,
                "reason": i.reason,
                "status": i.status,
                "given_on": i.given_on,
                "criteria": _joined(i.criteria or ()),
                "confirmed_by": self._coordinator(i.confirmed_by),
                "cancel_reason": i.cancel_reason,
            }
            rows.append(((study_id, i.planned_date, i.id or 0), row))
        return _sorted(rows)

    def _labs(self) -> list[Row]:
        rows: list[tuple[tuple[str, int, int], Row]] = []
        for lab in self.data.labs:
            study_id = self._study_id(lab.participant_id) or ""
            number = self._visit_number(lab.visit_id)
            row: Row = {
                "study_id": study_id,
                "visit_number": number,
                "collected_on": lab.collected_on,
                "cd19_percent": lab.cd19_percent,
                "anti_dsdna_value": lab.anti_dsdna_value,
                "anti_dsdna_positive": lab.anti_dsdna_positive,
                "c3_value": lab.c3_value,
                "c3_lower_limit": lab.c3_lower_limit,
                "criteria_fired": _joined(lab.criteria_fired),
                "not_evaluable": _joined(lab.not_evaluable),
                "entered_by": self._coordinator(lab.entered_by),
                "entered_at": lab.entered_at,
            }
            rows.append(((study_id, -1 if number is None else number, lab.id or 0), row))
        return _sorted(rows)

    def _prompt(
        self, c: CheckIn, questions: Iterable[Question]
    ) -> tuple[tuple[str, datetime, int], Row]:
        study_id = self._study_id(c.participant_id) or ""
        row: Row = {
            "study_id": study_id,
            "checkin_id": c.id,
            "trigger": c.trigger,
            "questionnaire_version": c.questionnaire_version,
            "asked_at": c.asked_at,
            "answered_at": c.answered_at,
            "completed_at": c.completed_at,
            "status": c.status,
            "tier": c.tier,
        }
        row.update({q.code: _answer(c, q) for q in questions})
        return (study_id, c.asked_at, c.id or 0), row

    def _checkins(self) -> list[Row]:
        rows = []
        for c in self.data.checkins:
            if c.kind not in SYMPTOM_KINDS:
                continue
            key, row = self._prompt(c, (*CHECKIN, POST_INFUSION))
            follow = self.follow.get(c.participant_id)
            counted = follow is not None and counts_for_completion(c, follow)
            row.update(kind=c.kind, infusion_id=c.infusion_id, counts_for_completion=counted)
            rows.append((key, row))
        return _sorted(rows)

    def _contraception(self) -> list[Row]:
        rows = []
        for c in self.data.checkins:
            if c.kind != CheckInKind.CONTRACEPTION:
                continue
            key, row = self._prompt(c, CONTRACEPTION)
            row["possible_pregnancy"] = _possible_pregnancy(c)
            rows.append((key, row))
        return _sorted(rows)

    def _alerts(self) -> list[Row]:
        rows: list[tuple[tuple[str, datetime, int], Row]] = []
        for a in self.data.alerts:
            study_id = self._study_id(a.participant_id)
            follow = self.follow.get(a.participant_id)
            row: Row = {
                "alert_id": a.id,
                "study_id": study_id,
                "site": a.site_code,
                "kind": a.kind,
                "tier": a.tier,
                "status": a.status,
                "raised_at": a.raised_at,
                "answered_at": a.answered_at,
                "acknowledged_at": a.acknowledged_at,
                "minutes_to_acknowledge": fixed(
                    minutes_between(a.raised_at, a.acknowledged_at), MINUTES_PLACES
                ),
                "acknowledged_by": self._coordinator(a.acknowledged_by),
                "resolved_at": a.resolved_at,
                "minutes_to_resolve": fixed(
                    minutes_between(a.raised_at, a.resolved_at), MINUTES_PLACES
                ),
                "resolved_by": self._coordinator(a.resolved_by),
                "escalation_level": a.escalation_level,
                "checkin_id": a.checkin_id,
                "visit_number": self._visit_number(a.visit_id),
                "flare": is_flare(a),
                "urgent": is_urgent(a),
                "during_follow_up": None if follow is None else follow.covers(a.raised_at),
            }
            rows.append(((study_id or "", a.raised_at, a.id or 0), row))
        return _sorted(rows)

    def _messages(self) -> list[Row]:
        """What each message sent was: its template, language and version (never its text
        or a Telegram id)."""
        alerts = {a.id: a.participant_id for a in self.data.alerts}
        rows: list[tuple[tuple[str, datetime, str, int], Row]] = []
        for m in self.data.outbox:
            about = m.participant_id or alerts.get(m.alert_id)
            if about is None and isinstance(m.context.get("visit_id"), int):
                visit = self.visits.get(m.context["visit_id"])
                about = visit.participant_id if visit else None
            language, dot, _ = m.template_version.partition(".")
            study_id = self._study_id(about)
            row = _message(
                f"o{m.id}",
                study_id,
                m.sent_at,
                "participant" if m.participant_id is not None else "team",
                "outbox",
            )
            row |= {
                "edited": is_edit(m),
                "template": m.template,
                "language": language if dot else m.language,
                "template_version": m.template_version,
            }
            rows.append(((study_id or "", m.sent_at or m.due_at, "o", m.id or 0), row))
        for r in self.data.replies:
            recipient = "participant" if r.participant_id else "team" if r.chat_id < 0 else "other"
            study_id = self._study_id(r.participant_id)
            row = _message(f"r{r.id}", study_id, r.sent_at, recipient, "reply")
            row |= {
                "edited": r.edited,
                "template": r.template,
                "language": r.language,
                "template_version": r.template_version,
            }
            rows.append(((study_id or "", r.sent_at, "r", r.id or 0), row))
        return _sorted(rows)

    def _summary(self, measures: dict[int | None, Measures]) -> list[Row]:
        by_arm: dict[str, list[Measures]] = defaultdict(list)
        for p in self.data.participants:
            by_arm[p.arm].append(measures[p.id])
        arms = [arm.value for arm in Arm]
        arms += sorted(set(by_arm).difference(arms))
        groups = [(arm, by_arm[arm]) for arm in arms]
        groups.append((ALL_ARMS, [measures[p.id] for p in self.data.participants]))
        rows = []
        for arm, group in groups:
            summary = asdict(summarise(arm, group))
            summary["participant_years"] = fixed(summary["participant_years"], YEARS_PLACES)
            for name in (
                "flare_alerts_per_participant_year",
                "urgent_alerts_per_participant_year",
                "visit_attendance",
                "checkin_completion",
            ):
                summary[name] = fixed(summary[name], RATE_PLACES)
            summary["median_days_to_first_flare_alert"] = fixed(
                summary["median_days_to_first_flare_alert"], DAYS_PLACES
            )
            summary["median_minutes_to_acknowledge"] = fixed(
                summary["median_minutes_to_acknowledge"], MINUTES_PLACES
            )
            rows.append(summary)
        return rows


def _dictionary() -> list[Row]:
    return [
        {
            "file": name,
            "column": column.name,
            "type": column.type,
            "meaning": column.meaning,
            "codes_or_unit": column.codes,
        }
        for name, columns in FILES.items()
        for column in columns
    ]


def _pseudonyms(data: StudyData) -> dict[int, str]:
    """Each coordinator's Telegram user id -> `coordinator-<n>`, numbered in the order of
    their first recorded action (acknowledging, resolving, entering labs, confirming)."""
    acts: list[tuple[datetime, int]] = []
    for alert in data.alerts:
        if alert.acknowledged_by is not None and alert.acknowledged_at is not None:
            acts.append((alert.acknowledged_at, alert.acknowledged_by))
        if alert.resolved_by is not None and alert.resolved_at is not None:
            acts.append((alert.resolved_at, alert.resolved_by))
    acts += [(lab.entered_at, lab.entered_by) for lab in data.labs if lab.entered_by is not None]
    acts += [
        (infusion.updated_at or infusion.created_at, infusion.confirmed_by)
        for infusion in data.infusions
        if infusion.confirmed_by is not None
    ]
    numbers: dict[int, str] = {}
    for _, user_id in sorted(acts):
        numbers.setdefault(user_id, PSEUDONYM.format(len(numbers) + 1))
    return numbers


def _answer(checkin: CheckIn, question: Question) -> str | None:
    """The answer codes to a question in button order; only codes the question defines, so
    nothing else a participant might have sent can reach the export."""
    chosen = checkin.answers.get(question.code)
    if not isinstance(chosen, list) or not chosen:
        return None
    return _joined(answer for answer in question.answers if answer in chosen) or None


def _possible_pregnancy(checkin: CheckIn) -> bool | None:
    """What triage makes of C2 (empty if C2 was not answered)."""
    pregnancy = _answer(checkin, question("C2"))
    if pregnancy is None:
        return None
    return triage_contraception({"C2": pregnancy.split("|")}).possible_pregnancy


def _joined(codes: Iterable[str]) -> str:
    return "|".join(codes)


def _message(
    key: str, study_id: str | None, sent_at: datetime | None, recipient: str, via: str
) -> Row:
    return {
        "message_id": key,
        "study_id": study_id,
        "sent_at": sent_at,
        "recipient": recipient,
        "via": via,
    }


def _sorted(rows: Iterable[tuple[Any, Row]]) -> list[Row]:
    return [row for _, row in sorted(rows, key=lambda item: item[0])]
