"""The documented context of every template: names, and an example value of each.

Adding a template means adding it here; the tests render every entry in every language
and check the result is valid Telegram HTML under the length limit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from study.models import Alert, CheckIn, Infusion, Participant, Visit
from study.protocol import Labs
from study.questionnaire import ALL_QUESTIONS

_SITE = {"site_phone": "+86 571 0000 0000", "emergency_number": "120"}

EXAMPLES: dict[str, dict[str, Any]] = {
    "welcome": {
        "study_name": "Individualized rituximab in SLE",
        "site_name": "Second Affiliated Hospital, Zhejiang University",
        "reminder_days": [7, 2, 0],
        "checkin_interval_days": 14,
        "can_become_pregnant": True,
        "contraception_interval_weeks": 4,
        "preferred_hour": 9,
        **_SITE,
    },
    "start_unknown": {},
    "link_invalid": {},
    "link_wait": {"minutes": 15},
    "link_already_linked": {"site_phone": _SITE["site_phone"]},
    "chat_in_use": {"site_phone": _SITE["site_phone"]},
    "help": dict(_SITE),
    "next_appointments": {
        "visit_date": "2026-06-02",
        "visit_time": "09:30",
        "infusion_at_visit": False,
        "dose_decided_at_visit": True,
        "window_start": "2026-05-19",
        "window_end": "2026-06-16",
        "infusion_date": "2026-06-09",
        "infusion_time": None,
        "site_name": "Second Affiliated Hospital, Zhejiang University",
        "address": "Outpatient building, 3rd floor & <Rheumatology>",
        "instructions": "Please come fasting and bring your study booklet.",
        **_SITE,
    },
    "language_choose": {},
    "language_set": {},
    "free_text": {"forwarded": False, **_SITE},
    "forwarded_text": {"study_id": "ZJU2-001", "text": "我<今天>头有点疼 & 想问问 <b>医生</b>"},
    "error": dict(_SITE),
    "coordinator_hello": {"role_name": "coordinator", "site_codes": ["ZJU2"]},
    "error_duplicate_study_id": {"study_id": "ZJU2-001"},
    "error_enroll_row_missing": {"field": "randomized"},
    "error_enroll_row_yes_no": {"field": "can_become_pregnant", "value": "<b>false</b> & 1"},
    "enroll_row_refused": {
        "line": 3,
        "study_id": "ZJU2-002",
        "reason": "The study id ZJU2-002 is already enrolled.",
    },
    "enroll_rows_summary": {"rows": 10, "enrolled": 9, "refused": 1},
    "error_bad_study_id": {"study_id": "<ZJU 2>"},
    "error_unknown_site": {"site": "XYZ", "known": "ZJU2, PUMCH"},
    "error_bad_arm": {"arm": "high"},
    "error_bad_language": {"language": "fr"},
    "error_bad_timezone": {"timezone": "Mars/Base"},
    "error_bad_hour": {"hour": 25},
    "error_bad_date": {"date": "2026-02-30"},
    "error_randomized_future": {"date": "2031-01-01", "days": 90},
    "error_randomized_past": {"date": "2019-01-01"},
    "error_unknown_participant": {"study_id": "ZJU2-999"},
    "error_participant_closed": {"study_id": "ZJU2-001"},
    "error_visit_closed": {"visit_number": 3},
    "error_attended_future": {"visit_number": 3, "date": "2026-09-30"},
    "error_outside_window": {
        "participant_id": 1,
        "study_id": "ZJU2-001",
        "visit_number": 2,
        "date": "2026-10-01",
        "time": None,
        "window_start": "2026-08-19",
        "window_end": "2026-09-16",
    },
    "error_attended_outside_window": {
        "participant_id": 1,
        "study_id": "ZJU2-001",
        "visit_number": 2,
        "date": "2026-08-12",
        "window_start": "2026-08-19",
        "window_end": "2026-09-16",
    },
    "error_unknown_visit": {"visit_id": 42},
    "error_unknown_alert": {"alert_id": 12},
    "reminder": {
        "kind": "visit_infusion",
        "date": "2026-06-02",
        "time": "09:30",
        "days_before": 7,
        "site_name": "Second Affiliated Hospital, Zhejiang University",
        "address": "Outpatient building, 3rd floor & <Rheumatology>",
        "instructions": "Please come fasting and bring your study booklet.",
        "window_start": "2026-05-19",
        "window_end": "2026-06-16",
        "ask": True,
        "site_phone": _SITE["site_phone"],
    },
    "alert_card": {
        "tier": "T3",
        "kind": "reschedule_request",
        "note": None,
        "waited_minutes": None,
        "every_minutes": None,
        "answered_at": None,
        "recent_tiers": [],
        "study_id": "ZJU2-001",
        "arm": "standard",
        "evidence": [{"key": "reschedule_requested", "visit_number": 3, "date": "2026-06-02"}],
        "next_visit": "2026-06-02",
        "raised_at": "2026-06-01 09:00",
        "acknowledged_at": "2026-06-01 09:05",
        "acknowledged_by": "coordinator 111111",
        "resolved_at": "2026-06-01 10:00",
        "resolved_by": "coordinator 111111",
    },
    "visit_confirmed": {"date": "2026-06-02", "site_phone": _SITE["site_phone"]},
    "visit_reschedule_requested": {"date": "2026-06-02", "site_phone": _SITE["site_phone"]},
    "visit_missed_participant": {"date": "2026-06-02", "site_phone": _SITE["site_phone"]},
    "checkin_question": {
        "code": "Q9",
        "number": 9,
        "total": 13,
        "ticked": ["headache", "halluc_self_harm"],
        "proactive": True,
        "nudge": True,
        **_SITE,
    },
    "checkin_answered": {"code": "Q6", "chosen": ["rash", "hair_loss"]},
    "checkin_result": {
        "tier": "T1",
        "stopped": True,
        "next_checkin": None,
        "pregnancy": False,
        "self_harm": False,
        "crisis_phone": None,
        **_SITE,
    },
    "checkin_advice": {
        "tier": "T1",
        "end": "red_flag",
        "pregnancy": False,
        "self_harm": True,
        "crisis_phone": "400 161 9995",
        **_SITE,
    },
    "checkin_stopped": dict(_SITE),
    "digest": {
        "site_code": "ZJU2",
        "day": "2026-06-02",
        "items": [
            {"study_id": "ZJU2-001", "kind": "checkin", "raised_at": "2026-06-01 09:00"},
            {"study_id": "ZJU2-007", "kind": "missed_visit", "raised_at": "2026-05-30 09:00"},
        ],
    },
    "trend_caption": {
        "study_id": "ZJU2-001",
        "since": "2025-06-02",
        "today": "2026-04-30",
        "codes": ["Q2", "Q7", "PI", "C2"],
        "open_alerts": 1,
    },
    "previsit_summary": {
        "study_id": "ZJU2-001",
        "visit_number": 3,
        "date": "2026-06-02",
        "arm": "individualized",
        "tiers": ["T4", "none", "T3"],
        "t4_findings": [{"question": "Q11", "answer": "some"}],
        "open_alerts": 1,
    },
    # An alert that the site's alert chat refused (cause "chat") or that could not be
    # composed (cause "error": then without the kind and evidence), sent elsewhere.
    "alert_elsewhere": {
        "tier": "T1",
        "study_id": "ZJU2-001",
        "site_code": "ZJU2",
        "cause": "chat",
        "kind": "checkin",
        "evidence": [
            {
                "key": "finding",
                "question": "Q1",
                "answer": "chest_breathing",
                "tier": "T1",
                "rule": "base",
            }
        ],
        "answered_at": None,
        "raised_at": "2026-06-01 21:14",
    },
    # To the participant once the card of their T1/T2 report reached the team.
    "alert_delivered": {
        "tier": "T1",
        "pregnancy": False,
        "self_harm": True,
        "crisis_phone": "400 161 9995",
        **_SITE,
    },
    # Appended to a team message sent elsewhere because the alert chat refused it.
    "sent_elsewhere": {},
}

_PARTICIPANT = Participant(
    id=1,
    study_id="ZJU2-001",
    site_code="ZJU2",
    arm="individualized",
    randomized_on=date(2026, 3, 2),
    language="zh",
    timezone="Asia/Shanghai",
    preferred_hour=9,
    status="active",
    created_at=datetime(2026, 3, 2, tzinfo=UTC),
)
_VISITS = [
    Visit(
        id=n + 1,
        participant_id=1,
        number=n,
        month=3 * n,
        target_date=date(2026, 3, 2),
        window_start=date(2026, 3, 2),
        window_end=date(2026, 3, 2),
        status=status,
        appointment_time=time(9, 30) if n == 1 else None,
    )
    for n, status in enumerate(["attended", "confirmed", "planned"])
]
EXAMPLES.update(
    {
        "visit_moved": {"date": "2026-06-09", "time": "10:30", **_SITE},
        "infusion_moved": {"date": "2026-06-09", "time": None, **_SITE},
        "staff_only": {},
        "team_enroll_step": {"step": "study_id"},
        "team_help": {},
        "team_participant": {
            "detail": {
                "participant": _PARTICIPANT,
                "visits": _VISITS,
                "infusions": [
                    Infusion(
                        participant_id=1,
                        planned_date=date(2026, 3, 2),
                        dose_mg=500,
                        reason="protocol",
                        status="given",
                        created_at=datetime(2026, 3, 2, tzinfo=UTC),
                    ),
                    Infusion(
                        participant_id=1,
                        planned_date=date(2026, 6, 2),
                        dose_mg=500,
                        reason="redose",
                        status="proposed",
                        criteria=["cd19", "c3"],
                        created_at=datetime(2026, 3, 2, tzinfo=UTC),
                    ),
                ],
                "labs_by_visit": {2: object()},
                "recent_checkins": [
                    CheckIn(
                        participant_id=1,
                        kind="symptoms",
                        trigger="cadence",
                        questionnaire_version="2026.1",
                        tier=tier,
                        asked_at=datetime(2026, 4, day, tzinfo=UTC),
                    )
                    for tier, day in (("T3", 13), (None, 27))
                ],
                "open_alerts": [
                    Alert(
                        site_code="ZJU2",
                        kind="checkin",
                        tier="T3",
                        raised_at=datetime(2026, 4, 13, tzinfo=UTC),
                    )
                ],
            }
        },
        "team_upcoming": {
            "today": date(2026, 5, 26),
            "rows": [
                {
                    "day": date(2026, 6, 2),
                    "study_id": "ZJU2-001",
                    "what": "visit_infusion",
                    "visit_number": 1,
                    "status": "planned",
                },
                {
                    "day": date(2026, 6, 3),
                    "study_id": "ZJU2-002",
                    "what": "infusion",
                    "visit_number": None,
                    "status": "planned",
                },
            ],
        },
        "team_roster": {
            "sites": ["ZJU2"],
            "total": 1,
            "page": 1,
            "pages": 1,
            "rows": [
                {
                    "study_id": "ZJU2-001",
                    "site": "ZJU2",
                    "status": "active",
                    "next_visit": Visit(
                        participant_id=1,
                        number=2,
                        month=6,
                        target_date=date(2026, 9, 2),
                        window_start=date(2026, 8, 19),
                        window_end=date(2026, 9, 16),
                    ),
                    "last_tier": "T3",
                    "open_alerts": 1,
                }
            ],
        },
        "team_alerts": {
            "items": [
                {
                    "study_id": "ZJU2-001",
                    "alert": {"id": 12, "tier": "T1", "kind": "checkin", "status": "acknowledged"},
                },
            ],
            "cli": False,
        },
        "team_done": {
            "what": "visit_set",
            "study_id": "ZJU2-001",
            "number": 3,
            "date": "2026-06-09",
            "time": "10:30",
        },
        "team_withdraw_confirm": {"study_id": "ZJU2-001"},
        "team_enrolled": {
            "study_id": "ZJU2-001",
            "link": "https://t.me/trialbot_bot?start=abc_DEF-123",
            "expires_at": "2026-03-16",
            "renewed": False,
            "cli": False,
        },
        "team_labs": {
            "study_id": "ZJU2-001",
            "visit_number": 2,
            "arm": "individualized",
            "labs": Labs(cd19_percent=1.2, anti_dsdna_value=150.0, anti_dsdna_positive=True),
            "baseline": False,
            "fired": ["cd19"],
            "not_evaluable": ["anti_dsdna", "c3"],
            "previous_visit": None,
            "proposal": {"dose_mg": 500, "planned_date": date(2026, 9, 2)},
            "withdrawn": None,
            "decided": None,
            "rule": {
                "cd19_percent_at_least": 1.0,
                "dsdna_increase_percent_over": 100.0,
                "c3_decrease_percent_over": 50.0,
            },
            "cli": False,
        },
        "error_implausible_lab": {"lab": "c3", "value": 45.0, "low": 0, "high": 5},
        "error_no_proposal": {"study_id": "ZJU2-001", "visit_number": 2},
        "error_pregnancy_required": {
            "usage": "/enroll STUDY_ID SITE ARM YYYY-MM-DD [zh|en] yes|no"
        },
        "error_implausible_date": {"date": "0001-01-01"},
        "error_usage": {"usage": "/visit STUDY_ID VISIT_NUMBER YYYY-MM-DD [HH:MM]"},
        "error_bad_time": {"time": "25:61"},
        "error_bad_visit_number": {"number": "x"},
        "error_not_paused": {"study_id": "ZJU2-001"},
        "error_not_linked": {"study_id": "ZJU2-001"},
        "team_invitation_private": {
            "sent": True,
            "enrolled": True,
            "study_id": "ZJU2-001",
            "bot": "trialbot_bot",
        },
        "error_no_planned_infusion": {"study_id": "ZJU2-001"},
    }
)

# Other branches of a template, each rendered and checked like the main example.
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "reminder": [
        {
            **EXAMPLES["reminder"],
            "kind": kind,
            "days_before": days,
            "time": None,
            "address": None,
            "instructions": None,
            "window_start": None,
            "window_end": None,
            "ask": False,
        }
        for kind in ("visit", "visit_dose_decided_at_visit", "infusion")
        for days in (0, 1, 2)
    ],
    "alert_card": [
        {
            **EXAMPLES["alert_card"],
            "kind": kind,
            "tier": tier,
            "evidence": [evidence],
            "next_visit": None,
            "acknowledged_at": None,
            "acknowledged_by": None,
            "resolved_at": None,
            "resolved_by": None,
        }
        for kind, tier, evidence in (
            (
                "no_confirmation",
                "T3",
                {"key": "no_confirmation", "visit_number": 2, "date": "2026-06-02"},
            ),
            (
                "missed_visit",
                "T3",
                {
                    "key": "missed_visit",
                    "visit_number": 2,
                    "date": "2026-06-02",
                    "window_end": "2026-06-16",
                },
            ),
            ("unreachable", "T3", {"key": "unreachable", "reason": "forbidden: bot was blocked"}),
        )
    ]
    # Acknowledged and resolved on the command line: no Telegram user to name.
    + [{**EXAMPLES["alert_card"], "acknowledged_by": None, "resolved_by": None}],
    "welcome": [{**EXAMPLES["welcome"], "can_become_pregnant": False, "reminder_days": [1]}],
    "free_text": [{**EXAMPLES["free_text"], "forwarded": True}],
    "team_done": [
        {**EXAMPLES["team_done"], "what": what, "number": 2, "date": "2026-06-02", "time": None}
        for what in (
            "attended",
            "missed",
            "infusion_set",
            "infusion_given",
            "pause",
            "resume",
            "withdraw",
            "withdraw_cancelled",
            "dose_rejected",
            "pregnancy_yes",
            "pregnancy_no",
            "unlink",
        )
    ]
    + [{**EXAMPLES["team_done"], "what": "dose_rejected", "number": None}],
    "team_labs": [
        {
            **EXAMPLES["team_labs"],
            "arm": "standard",
            "labs": Labs(
                cd19_percent=0.2,
                anti_dsdna_value=40.0,
                anti_dsdna_positive=False,
                c3_value=0.45,
                c3_lower_limit=0.9,
            ),
            "fired": [],
            "not_evaluable": [],
            "proposal": None,
            "previous_visit": 1,
        },
        {**EXAMPLES["team_labs"], "baseline": True, "proposal": None, "fired": []},
        {**EXAMPLES["team_labs"], "proposal": None, "withdrawn": {"dose_mg": 500}, "fired": []},
        {**EXAMPLES["team_labs"], "cli": True},
    ]
    + [
        {**EXAMPLES["team_labs"], "proposal": None, "decided": decided, "cli": cli}
        for decided in (
            {"status": "planned", "planned_date": date(2026, 9, 9)},
            {"status": "given", "given_on": date(2026, 9, 9)},
            {"status": "cancelled"},
        )
        for cli in (False, True)
    ],
    "error_implausible_lab": [
        {"lab": lab, "value": value, "low": 0, "high": 100}
        for lab, value in (("cd19", 150.0), ("dsdna", -3.0), ("lln", float("nan")))
    ],
    "error_no_proposal": [{"study_id": "ZJU2-001", "visit_number": None}],
    "team_upcoming": [{**EXAMPLES["team_upcoming"], "rows": []}],
    "error_outside_window": [{**EXAMPLES["error_outside_window"], "cli": True}],
    "error_attended_outside_window": [{**EXAMPLES["error_attended_outside_window"], "cli": True}],
    # A full page (messages.team.ROSTER_ROWS) of the longest study ids, for the length limit.
    "team_roster": [
        {"sites": ["PUMCH"], "total": 0, "page": 1, "pages": 1, "rows": []},
        {
            "sites": ["PUMCH", "ZJU2"],
            "total": 400,
            "page": 20,
            "pages": 20,
            "rows": [
                {
                    **EXAMPLES["team_roster"]["rows"][0],
                    "study_id": f"ZJU2-{n:027d}",
                    "status": "unreachable",
                    "next_visit": None
                    if n % 2
                    else EXAMPLES["team_roster"]["rows"][0]["next_visit"],
                    "open_alerts": 12,
                }
                for n in range(20)
            ],
        },
    ],
    "team_alerts": [
        {"items": [], "cli": False},
        {"items": [], "cli": True},
        {**EXAMPLES["team_alerts"], "cli": True},
    ],
    "team_invitation_private": [
        {**EXAMPLES["team_invitation_private"], "sent": False, "enrolled": enrolled}
        for enrolled in (False, True)
    ],
    "team_enrolled": [
        {**EXAMPLES["team_enrolled"], "renewed": renewed, "cli": cli}
        for renewed in (False, True)
        for cli in (False, True)
    ],
    "team_enroll_step": [
        {"step": step} for step in ("site", "arm", "day", "language", "pregnancy", "cancelled")
    ],
    "checkin_result": [
        {**EXAMPLES["checkin_result"], "tier": tier, "stopped": False, "next_checkin": day}
        for tier in ("T2", "T3", "T4", None)
        for day in ("2026-06-16", None)
    ]
    + [{**EXAMPLES["checkin_result"], "tier": "T2", "pregnancy": True}],
    "checkin_advice": [
        {**EXAMPLES["checkin_advice"], "tier": tier, "end": end, "pregnancy": pregnancy}
        for tier in ("T1", "T2")
        for end in (None, "red_flag", "completed", "stopped", "expired", "replaced")
        for pregnancy in (False, True)
    ]
    + [{**EXAMPLES["checkin_advice"], "crisis_phone": None}],
    "checkin_question": [
        {
            **EXAMPLES["checkin_question"],
            "code": code,
            "ticked": [],
            "proactive": False,
            "nudge": False,
        }
        for code in ("Q1", "Q2", "Q12", "PI", "C1", "C2", "C3")
    ],
}

VARIANTS["alert_card"] += [
    {
        **EXAMPLES["alert_card"],
        "kind": "possible_pregnancy",
        "tier": "T2",
        "note": note,
        "answered_at": "2026-06-01 21:14",
        "recent_tiers": ["T4", "none"],
        "evidence": [
            {
                "key": "finding",
                "question": "C2",
                "answer": "not_sure",
                "tier": "T2",
                "rule": "base",
            },
            {
                "key": "finding",
                "question": "Q6",
                "answer": "hair_loss",
                "tier": "T3",
                "rule": "raised_much_worse",
            },
            {
                "key": "finding",
                "question": "Q11",
                "answer": "some",
                "tier": "T3",
                "rule": "repeated_t4",
            },
            {
                "key": "finding",
                "question": "Q3",
                "answer": "cough",
                "tier": "T2",
                "rule": "with_fever",
                "ticked": True,
            },
            {"key": "missed_checkins", "since": "2026-05-01"},
            {"key": "missed_contraception", "since": "2026-05-01"},
        ],
    }
    for note in ("resent", "escalated", "updated", None)
]
# Rounds of an unacknowledged alert: how long, and how often (T1 and T2 defaults, an odd
# setting, and a row queued before the card knew how long).
VARIANTS["alert_card"] += [
    {
        **EXAMPLES["alert_card"],
        "tier": tier,
        "note": note,
        "waited_minutes": waited,
        "every_minutes": every,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
        "resolved_by": None,
    }
    for tier, note, waited, every in (
        ("T1", "resent", 30, 30),
        ("T1", "escalated", 60, 30),
        ("T1", "escalated", 90, 30),
        ("T2", "escalated", 240, 240),
        ("T2", "resent", 45, 45),
        ("T1", "resent", None, 30),
        ("T1", "escalated", None, None),
    )
]

VARIANTS["alert_elsewhere"] = [
    {
        **EXAMPLES["alert_elsewhere"],
        "tier": "T2",
        "kind": "possible_pregnancy",
        "answered_at": "2026-06-01 21:14",
        "evidence": [
            {"key": "finding", "question": "C2", "answer": "yes", "tier": "T2", "rule": "base"}
        ],
    },
    {**EXAMPLES["alert_elsewhere"], "tier": "T3", "cause": "error", "kind": None, "evidence": []},
]
VARIANTS["alert_delivered"] = [
    {**EXAMPLES["alert_delivered"], "tier": "T2", "self_harm": False, "pregnancy": pregnancy}
    for pregnancy in (False, True)
]

VARIANTS["next_appointments"] = [
    {
        **EXAMPLES["next_appointments"],
        "visit_date": None,
        "visit_time": None,
        "window_start": None,
        "window_end": None,
        "infusion_date": None,
        "address": None,
        "instructions": None,
    },
    {**EXAMPLES["next_appointments"], "infusion_at_visit": True, "infusion_date": "2026-06-02"},
]

VARIANTS["trend_caption"] = [
    {**EXAMPLES["trend_caption"], "codes": [], "open_alerts": 0},
    {
        **EXAMPLES["trend_caption"],
        "codes": [q.code for q in ALL_QUESTIONS],
        "study_id": "PUMCH-0123456789012345678901234",
    },
]
