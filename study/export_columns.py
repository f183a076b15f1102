"""Every column of every exported file, with its type, meaning and codes: the data dictionary.

The export writes exactly these columns in this order, and `data_dictionary.csv` is made from
the same definitions, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from study.export_summary import Attendance
from study.models import (
    AlertStatus,
    CancelReason,
    CheckInKind,
    CheckInTrigger,
    InfusionStatus,
    ParticipantStatus,
    PromptStatus,
    Tier,
    VisitStatus,
)
from study.protocol import Arm, Criterion
from study.questionnaire import CHECKIN, CONTRACEPTION, POST_INFUSION, Question

TYPES = ("text", "integer", "decimal", "date", "datetime", "time", "boolean", "code", "codes")
TEXT, INTEGER, DECIMAL, DATE, DATETIME, TIME, BOOLEAN, CODE, CODES = TYPES
TYPE_MEANING = (
    "the column's type: date is YYYY-MM-DD, a calendar date in the participant's time zone; "
    "datetime is UTC, YYYY-MM-DDTHH:MM:SSZ; time is local HH:MM; boolean is true or false; "
    "code is one of the codes listed; codes is several codes joined by |; "
    "an empty cell is a missing value"
)


@dataclass(frozen=True)
class Column:
    """One column of an exported file, as the data dictionary describes it."""

    name: str
    type: str
    meaning: str
    codes: str = ""


def _codes(values: Iterable[object]) -> str:
    return " | ".join(str(value) for value in values)


def _answers(question: Question) -> Column:
    return Column(
        question.code,
        CODES if question.multi else CODE,
        f"answer to {question.code} ({question.domain}); several answers joined by |"
        if question.multi
        else f"answer to {question.code} ({question.domain})",
        _codes(question.answers),
    )


STUDY_ID = Column("study_id", TEXT, "the participant's study id")
TIER = Column("tier", CODE, "triage tier (CLINICAL.md); empty: nothing to report", _codes(Tier))
TRIGGER = Column("trigger", CODE, "why it was put", _codes(CheckInTrigger))
QUESTIONNAIRE = Column("questionnaire_version", TEXT, "version of the questionnaire put")
ASKED = Column("asked_at", DATETIME, "when it was put")
ANSWERED = Column("answered_at", DATETIME, "the participant's last answer")
CLOSED = Column("completed_at", DATETIME, "when it closed (completed, stopped or expired)")
PROMPT_STATUS = Column("status", CODE, "open, or how it closed", _codes(PromptStatus))
CHECKIN_ID = Column("checkin_id", INTEGER, "the check-in's id (database key)")
COORDINATOR = "a coordinator's pseudonym, coordinator-<n>, numbered by first recorded action"

EXPORT_INFO = (
    Column("as_of", DATE, "the export's today: follow-up and overdue visits are counted to it"),
    Column("schema_revision", TEXT, "the database schema (Alembic) revision"),
    Column("questionnaire_version", TEXT, "the questionnaire version of this trialbot"),
)

DATA_DICTIONARY = (
    Column("file", TEXT, "the exported file"),
    Column("column", TEXT, "the column, in file order"),
    Column("type", TEXT, TYPE_MEANING, _codes(TYPES)),
    Column("meaning", TEXT, "what the column holds, with its definition"),
    Column("codes_or_unit", TEXT, "the codes allowed, or the unit"),
)

PARTICIPANTS = (
    STUDY_ID,
    Column("site", CODE, "the site's code (study.toml)"),
    Column("arm", CODE, "randomised arm", _codes(Arm)),
    Column("randomized_on", DATE, "day 1"),
    Column("enrolled_at", DATETIME, "when the participant was enrolled in trialbot"),
    Column("linked", BOOLEAN, "whether a Telegram chat is linked (the chat is never exported)"),
    Column("linked_at", DATETIME, "when the chat was linked"),
    Column("language", CODE, "language of the messages", "zh | en"),
    Column("can_become_pregnant", BOOLEAN, "asked the contraception questions"),
    Column("status", CODE, "status in trialbot", _codes(ParticipantStatus)),
    Column("status_changed_at", DATETIME, "when the status last changed"),
    Column(
        "followed_until",
        DATE,
        "earliest of the as-of date, the day of withdrawal or completion, and the day of the "
        "final protocol visit (attended on, else appointment, else target date)",
    ),
    Column("followed_days", INTEGER, "followed_until minus randomized_on (0 if negative)", "days"),
    Column("participant_years", DECIMAL, "followed_days / 365.25", "years"),
    Column(
        "flare_alerts",
        INTEGER,
        "alerts of kind checkin (symptom check-ins) of tier T1-T3 raised during follow-up "
        "(local date from randomized_on to followed_until)",
    ),
    Column("urgent_alerts", INTEGER, "alerts of any kind of tier T1 or T2 during follow-up"),
    Column(
        "days_to_first_flare_alert",
        INTEGER,
        "local date of the first flare alert during follow-up minus randomized_on; empty if none",
        "days",
    ),
    Column("visits_attended", INTEGER, "follow-up visits (month > 0) attended"),
    Column(
        "visits_due",
        INTEGER,
        "follow-up visits attended, missed or overdue (see visits.csv attendance)",
    ),
    Column("checkins_completed", INTEGER, "cadence symptom check-ins completed during follow-up"),
    Column(
        "checkins_closed",
        INTEGER,
        "cadence symptom check-ins completed, expired or stopped during follow-up",
    ),
)

VISITS = (
    STUDY_ID,
    Column("visit_number", INTEGER, "0 is the randomisation visit (day 1)"),
    Column("month", INTEGER, "protocol month of the visit", "months"),
    Column("target_date", DATE, "the protocol's date"),
    Column("window_start", DATE, "first day of the visit window"),
    Column("window_end", DATE, "last day of the visit window"),
    Column("appointment_date", DATE, "the appointment, if set"),
    Column("appointment_time", TIME, "the appointment's local time, if set"),
    Column("status", CODE, "status of the visit", _codes(VisitStatus)),
    Column("confirmed_at", DATETIME, "when the participant confirmed they will come"),
    Column("attended_on", DATE, "the day the participant came"),
    Column(
        "attendance",
        CODE,
        "how the visit counts towards attendance: baseline (month 0, not counted), attended, "
        "missed, overdue (not recorded and its last day, window end or a later appointment, "
        "before the as-of date and before withdrawal or completion), not_due (not counted)",
        _codes(Attendance.ALL),
    ),
)

INFUSIONS = (
    STUDY_ID,
    Column("infusion_id", INTEGER, "the infusion's id (database key)"),
    Column("visit_number", INTEGER, "the visit it belongs to, if any"),
    Column("planned_date", DATE, "planned day"),
    Column("planned_time", TIME, "planned local time, if set"),
    Column("dose_mg", INTEGER, "rituximab dose", "mg"),
    Column(
        "reason",
        CODE,
        "protocol: fixed by the arm's schedule; redose: proposed by the individualised-arm rule; "
        "coordinator: added by a coordinator",
        "protocol | redose | coordinator",
    ),
    Column("status", CODE, "status of the infusion", _codes(InfusionStatus)),
    Column("given_on", DATE, "the day it was given"),
    Column("criteria", CODES, "re-dose criteria that fired, joined by |", _codes(Criterion)),
    Column("confirmed_by", TEXT, COORDINATOR),
    Column(
        "cancel_reason",
        CODE,
        "why a proposed re-dose was cancelled: rejected by the team, or withdrawn because "
        "corrected labs no longer met the rule",
        _codes(CancelReason),
    ),
)

LABS = (
    STUDY_ID,
    Column("visit_number", INTEGER, "the visit the labs belong to"),
    Column("collected_on", DATE, "the day the sample was taken"),
    Column("cd19_percent", DECIMAL, "CD19+ B cells", "% of lymphocytes"),
    Column("anti_dsdna_value", DECIMAL, "anti-dsDNA", "IU/mL"),
    Column("anti_dsdna_positive", BOOLEAN, "anti-dsDNA positive"),
    Column("c3_value", DECIMAL, "complement C3", "g/L"),
    Column("c3_lower_limit", DECIMAL, "lower limit of normal of C3", "g/L"),
    Column("criteria_fired", CODES, "re-dose criteria that fired", _codes(Criterion)),
    Column("not_evaluable", CODES, "criteria not evaluable for lack of data", _codes(Criterion)),
    Column("entered_by", TEXT, COORDINATOR),
    Column("entered_at", DATETIME, "when the labs were entered"),
)

CHECKINS = (
    STUDY_ID,
    CHECKIN_ID,
    Column(
        "kind",
        CODE,
        "symptoms: Q1-Q13; post_infusion: the question after an infusion",
        _codes((CheckInKind.SYMPTOMS, CheckInKind.POST_INFUSION)),
    ),
    TRIGGER,
    Column("infusion_id", INTEGER, "the infusion a post-infusion check-in follows"),
    QUESTIONNAIRE,
    ASKED,
    ANSWERED,
    CLOSED,
    PROMPT_STATUS,
    TIER,
    Column(
        "counts_for_completion",
        BOOLEAN,
        "a closed symptom check-in put by the cadence and asked during follow-up: counted in "
        "check-in completion = completed / (completed + expired + stopped)",
    ),
    *(_answers(question) for question in (*CHECKIN, POST_INFUSION)),
)

CONTRACEPTION_CHECKS = (
    STUDY_ID,
    CHECKIN_ID,
    TRIGGER,
    QUESTIONNAIRE,
    ASKED,
    ANSWERED,
    CLOSED,
    PROMPT_STATUS,
    TIER,
    Column("possible_pregnancy", BOOLEAN, "C2 answered not_sure or yes (a T2 alert is raised)"),
    *(_answers(question) for question in CONTRACEPTION),
)

ALERTS = (
    Column("alert_id", INTEGER, "the alert's id (database key; the audit log's entity id)"),
    Column("study_id", TEXT, "the participant's study id (empty for a site-wide alert)"),
    Column("site", CODE, "the site alerted"),
    Column(
        "kind",
        CODE,
        "what raised it: a check-in (checkin = symptoms, post_infusion, contraception, "
        "possible_pregnancy), a visit (reschedule_request, no_confirmation, missed_visit), "
        "prompts left unanswered (missed_checkins, missed_contraception), or unreachable",
    ),
    Column("tier", CODE, "triage tier", _codes(Tier)),
    Column("status", CODE, "status now", _codes(AlertStatus)),
    Column("raised_at", DATETIME, "when the alert was raised"),
    Column("answered_at", DATETIME, "possible pregnancy: when the participant answered"),
    Column("acknowledged_at", DATETIME, "when a coordinator took it on (or resolved it)"),
    Column("minutes_to_acknowledge", DECIMAL, "acknowledged_at minus raised_at", "minutes"),
    Column("acknowledged_by", TEXT, COORDINATOR),
    Column("resolved_at", DATETIME, "when a coordinator resolved it"),
    Column("minutes_to_resolve", DECIMAL, "resolved_at minus raised_at", "minutes"),
    Column("resolved_by", TEXT, COORDINATOR),
    Column(
        "escalation_level",
        INTEGER,
        "escalation rounds reached while unacknowledged, at its latest tier",
    ),
    Column("checkin_id", INTEGER, "the check-in that raised it (checkins/contraception.csv)"),
    Column("visit_number", INTEGER, "the visit it is about"),
    Column("flare", BOOLEAN, "kind checkin and tier T1, T2 or T3"),
    Column("urgent", BOOLEAN, "tier T1 or T2"),
    Column(
        "during_follow_up",
        BOOLEAN,
        "raised on a local date from randomized_on to followed_until (empty: no participant)",
    ),
)

MESSAGES = (
    Column(
        "message_id",
        TEXT,
        "the message's key in this export: o<n> for a proactive message (the outbox's row n), "
        "r<n> for a direct reply (recorded reply n)",
    ),
    Column(
        "study_id",
        TEXT,
        "the participant who received it; for a message to the study team, the participant "
        "it is about (empty: about no one participant, or not known)",
    ),
    Column("sent_at", DATETIME, "when it was sent (or, edited, when its text was replaced)"),
    Column(
        "recipient",
        CODE,
        "who received it: the participant, the study team (a site's or the escalation "
        "chat, or a coordinator's private chat for a proactive message), or other (a private "
        "chat of someone not linked as a participant: a coordinator, or a person not yet linked)",
        "participant | team | other",
    ),
    Column(
        "via",
        CODE,
        "outbox: a proactive message sent by the dispatcher; reply: a direct answer to "
        "what someone did",
        "outbox | reply",
    ),
    Column(
        "edited",
        BOOLEAN,
        "it replaced the text of an earlier message instead of being a new one (a check-in "
        "question once answered; an alert's cards once it was acknowledged or resolved)",
    ),
    Column(
        "template",
        TEXT,
        "the template its text was rendered from (messages/templates/<language>/<template>.j2)",
    ),
    Column("language", CODE, "the language of its text", "zh | en"),
    Column(
        "template_version",
        TEXT,
        "the version of the template's approved text: <language>.<first 12 hex digits of "
        "the SHA-256 of its sources>, as `trialbot templates` lists them; 1 for a message "
        "sent before versions were recorded",
    ),
)

SUMMARY_BY_ARM = (
    Column("arm", CODE, "the arm, or all for every participant", _codes((*Arm, "all"))),
    Column("participants", INTEGER, "participants randomised to the arm"),
    Column("participant_years", DECIMAL, "sum of followed_days / 365.25", "years"),
    Column("flare_alerts", INTEGER, "sum of flare_alerts (participants.csv)"),
    Column(
        "flare_alerts_per_participant_year",
        DECIMAL,
        "flare_alerts / participant_years",
        "per participant-year",
    ),
    Column("urgent_alerts", INTEGER, "sum of urgent_alerts (participants.csv)"),
    Column(
        "urgent_alerts_per_participant_year",
        DECIMAL,
        "urgent_alerts / participant_years",
        "per participant-year",
    ),
    Column("participants_with_flare_alert", INTEGER, "participants with a flare alert"),
    Column(
        "median_days_to_first_flare_alert",
        DECIMAL,
        "median of days_to_first_flare_alert among participants with one (not censored)",
        "days",
    ),
    Column("visits_attended", INTEGER, "sum of visits_attended"),
    Column("visits_due", INTEGER, "sum of visits_due (attended + missed + overdue)"),
    Column("visit_attendance", DECIMAL, "visits_attended / visits_due", "proportion 0-1"),
    Column("checkins_completed", INTEGER, "sum of checkins_completed"),
    Column("checkins_closed", INTEGER, "sum of checkins_closed"),
    Column(
        "checkin_completion",
        DECIMAL,
        "checkins_completed / checkins_closed (cadence symptom check-ins)",
        "proportion 0-1",
    ),
    Column(
        "alerts_acknowledged",
        INTEGER,
        "acknowledged alerts of any kind or tier about the arm's participants during follow-up",
    ),
    Column(
        "median_minutes_to_acknowledge",
        DECIMAL,
        "median of minutes_to_acknowledge over those alerts",
        "minutes",
    ),
)

FILES: dict[str, tuple[Column, ...]] = {
    "export_info.csv": EXPORT_INFO,
    "data_dictionary.csv": DATA_DICTIONARY,
    "participants.csv": PARTICIPANTS,
    "visits.csv": VISITS,
    "infusions.csv": INFUSIONS,
    "labs.csv": LABS,
    "checkins.csv": CHECKINS,
    "contraception.csv": CONTRACEPTION_CHECKS,
    "alerts.csv": ALERTS,
    "messages.csv": MESSAGES,
    "summary_by_arm.csv": SUMMARY_BY_ARM,
}
"""Every file of the export, in the order written, with its columns in order."""
