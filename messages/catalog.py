"""The documented context of every template: names, and an example value of each.

Adding a template means adding it here; the tests render every entry in every language
and check the result is valid Telegram HTML under the length limit.
"""

from __future__ import annotations

from typing import Any

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
    "language_choose": {},
    "language_set": {},
    "free_text": {"forwarded": False, **_SITE},
    "forwarded_text": {"study_id": "ZJU2-001", "text": "我<今天>头有点疼 & 想问问 <b>医生</b>"},
    "error": {},
    "coordinator_hello": {"role_name": "coordinator", "site_codes": ["ZJU2"]},
    "error_duplicate_study_id": {"study_id": "ZJU2-001"},
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
    "error_unknown_visit": {"visit_id": 42},
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
    "checkin_result": {"tier": "T1", "stopped": True, "next_checkin": None, **_SITE},
    "checkin_stopped": dict(_SITE),
    "digest": {
        "site_code": "ZJU2",
        "day": "2026-06-02",
        "items": [
            {"study_id": "ZJU2-001", "kind": "checkin", "raised_at": "2026-06-01 09:00"},
            {"study_id": "ZJU2-007", "kind": "missed_visit", "raised_at": "2026-05-30 09:00"},
        ],
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
}

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
    ],
    "welcome": [{**EXAMPLES["welcome"], "can_become_pregnant": False, "reminder_days": [1]}],
    "free_text": [{**EXAMPLES["free_text"], "forwarded": True}],
    "checkin_result": [
        {**EXAMPLES["checkin_result"], "tier": tier, "stopped": False, "next_checkin": day}
        for tier in ("T2", "T3", "T4", None)
        for day in ("2026-06-16", None)
    ],
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
            },
            {"key": "missed_checkins", "since": "2026-05-01"},
            {"key": "missed_contraception", "since": "2026-05-01"},
        ],
    }
    for note in ("resent", "escalated", None)
]
