"""Facts that many messages carry: how a participant reaches a person, and where they go."""

from __future__ import annotations

from study.config import Language, StudyConfig
from study.models import Participant


def site_facts(participant: Participant, config: StudyConfig) -> dict[str, str | None]:
    """The participant's site phone, emergency number and crisis line (None if the site has
    none), under the names every template uses for them."""
    site = config.sites[participant.site_code]
    return {
        "site_phone": site.phone,
        "emergency_number": site.emergency_number,
        "crisis_phone": site.crisis_phone,
    }


def site_place(
    participant: Participant, config: StudyConfig, language: str
) -> dict[str, str | None]:
    """The participant's site name, address and visit instructions in `language` (None where
    study.toml has none), under the names the reminder and /next templates use."""
    site = config.sites[participant.site_code]
    chosen: Language = "en" if language == "en" else "zh"
    return {
        "site_name": site.name,
        "address": site.address.get(chosen) if site.address else None,
        "instructions": (site.visit_instructions.get(chosen) if site.visit_instructions else None),
    }
