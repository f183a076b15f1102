"""Facts that many messages carry: how a participant reaches a person."""

from __future__ import annotations

from study.config import StudyConfig
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
