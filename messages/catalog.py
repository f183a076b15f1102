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
    "free_text": dict(_SITE),
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
}
