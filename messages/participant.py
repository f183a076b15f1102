"""The participant's own chat: the language choice, /help's buttons, and what comes next."""

from __future__ import annotations

from messages.callbacks import Language, NextAppointments, ReportSymptom
from messages.facts import site_facts, site_place
from messages.render import Keyboard, button, render
from study.config import LANGUAGES, StudyConfig
from study.models import Participant
from study.protocol import Arm
from study.views import NextAppointments as Coming


def language_keyboard(language: str) -> Keyboard:
    """The languages, each labelled in its own words (Chinese first)."""
    return [
        [button(f"language_{choice}", language, Language(choice).pack()) for choice in LANGUAGES]
    ]


def help_keyboard(language: str) -> Keyboard:
    """Under /help: start a symptom check-in now; see what comes next."""
    return [
        [button("report_symptom", language, ReportSymptom().pack())],
        [button("next_appointments", language, NextAppointments().pack())],
    ]


def next_appointments_text(participant: Participant, coming: Coming, config: StudyConfig) -> str:
    """/next: the next visit (its window when the day is in it, whether an infusion comes
    with it), the next infusion, the place and what to bring, in the participant's language."""
    language = participant.language
    visit, infusion, window = coming.visit, coming.infusion, coming.window
    return render(
        "next_appointments",
        language,
        visit_date=visit.visit_date if visit else None,
        visit_time=visit.appointment_time if visit else None,
        infusion_at_visit=coming.infusion_at_visit,
        dose_decided_at_visit=bool(
            visit and visit.month > 0 and participant.arm == Arm.INDIVIDUALIZED
        ),
        window_start=window[0] if window else None,
        window_end=window[1] if window else None,
        infusion_date=infusion.planned_date if infusion else None,
        infusion_time=infusion.planned_time if infusion else None,
        **site_place(participant, config, language),
        **site_facts(participant, config),
    )
