"""The study team's messages: how each team operation's result reads, and the team's buttons.

Telegram replies with these; the command line prints the same text without markup
(`messages.plain`), rendered with `cli=True` where a message names what to do next (a
`trialbot` command instead of a button).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from messages.callbacks import (
    AttendedAnyway,
    DoseDecision,
    EnrollChoice,
    RosterPage,
    VisitAnyway,
    WithdrawAnswer,
)
from messages.render import Button, Keyboard, button, render
from study.enrollment import Invitation
from study.models import Infusion, Participant, saved_id
from study.protocol import Arm
from study.team import AlertList, Done, LabsEntered, Roster, UpcomingList
from study.views import ParticipantDetail

TeamResult = Done | ParticipantDetail | UpcomingList | AlertList | LabsEntered | Roster
Reply = tuple[str, Keyboard | None]


def team_reply(result: TeamResult, language: str, *, cli: bool = False) -> Reply:
    """The answer to a team operation: its text, and buttons where one decides next."""
    if isinstance(result, Done):
        return done_text(result, language), None
    if isinstance(result, ParticipantDetail):
        return render("team_participant", language, detail=result), None
    if isinstance(result, UpcomingList):
        return render("team_upcoming", language, rows=result.rows, today=result.today), None
    if isinstance(result, Roster):
        return roster_page(result, 1, language, cli=cli)
    if isinstance(result, AlertList):
        items = [{"alert": alert, "study_id": study_id} for alert, study_id in result.items]
        return render("team_alerts", language, items=items, cli=cli), None
    keyboard = None if cli else decision_keyboard(result.outcome.proposal, language)
    return labs_text(result, language, cli=cli), keyboard


ROSTER_ROWS = 20
"""Participants a roster page shows: 20 rows of at most ~170 characters stay well within a
message (4096), with a 32-character study id and the longest labels."""


def roster_page(roster: Roster, page: int, language: str, *, cli: bool = False) -> Reply:
    """Page `page` (from 1; past the end: the last) of the roster, with buttons to the pages
    before and after it (none on the command line, which prints every row)."""
    pages = max(1, -(-len(roster.rows) // ROSTER_ROWS))
    page = min(max(page, 1), pages)
    rows = roster.rows if cli else roster.rows[(page - 1) * ROSTER_ROWS : page * ROSTER_ROWS]
    text = render(
        "team_roster",
        language,
        sites=roster.sites,
        rows=rows,
        total=len(roster.rows),
        page=page,
        pages=1 if cli else pages,
    )
    moves = [
        button(key, language, RosterPage(to).pack(), page=to)
        for key, to in (("roster_previous", page - 1), ("roster_next", page + 1))
        if 1 <= to <= pages
    ]
    return text, [moves] if moves and not cli else None


def done_text(done: Done, language: str) -> str:
    """The confirmation of a change (`team_done`)."""
    return render(
        "team_done",
        language,
        what=done.what,
        study_id=done.study_id,
        number=done.number,
        date=done.day,
        time=done.at,
    )


def labs_text(entered: LabsEntered, language: str, *, cli: bool = False) -> str:
    """The visit's labs and the re-dose rule's verdict (naming `trialbot` commands for the
    command line, buttons and `/` commands for Telegram)."""
    outcome = entered.outcome
    return render(
        "team_labs",
        language,
        study_id=entered.participant.study_id,
        visit_number=entered.visit_number,
        arm=entered.participant.arm,
        labs=outcome.labs,
        baseline=outcome.baseline,
        fired=[str(c) for c in outcome.decision.fired],
        not_evaluable=[str(c) for c in outcome.decision.not_evaluable],
        previous_visit=outcome.previous_visit,
        proposal=outcome.proposal,
        withdrawn=outcome.withdrawn,
        decided=outcome.decided,
        rule=entered.rule,
        cli=cli,
    )


def decision_keyboard(proposal: Infusion | None, language: str) -> Keyboard | None:
    """Confirm and Reject, bound to this one proposal."""
    if proposal is None:
        return None
    proposal_id = saved_id(proposal)
    return [
        [
            button(
                "confirm_dose",
                language,
                DoseDecision(proposal_id, "ok").pack(),
                date=proposal.planned_date.isoformat(),
            ),
            button("reject_dose", language, DoseDecision(proposal_id, "no").pack()),
        ]
    ]


def outside_window_question(details: dict[str, object], language: str) -> Reply:
    """A visit day refused for being outside its window (`error_outside_window`'s details),
    with the button that sets it anyway."""
    day, at = str(details["date"]), details["time"]
    data = VisitAnyway(
        int(str(details["participant_id"])),
        int(str(details["visit_number"])),
        day.replace("-", ""),
        str(at).replace(":", "") if at else "-",
    ).pack()
    keyboard = [[button("visit_anyway", language, data, date=day)]]
    return render("error_outside_window", language, **details), keyboard


def attended_outside_window_question(details: dict[str, object], language: str) -> Reply:
    """An attended day refused for being outside the visit's window
    (`error_attended_outside_window`'s details), with the button that records it anyway."""
    day = str(details["date"])
    data = AttendedAnyway(
        int(str(details["participant_id"])), int(str(details["visit_number"])), day.replace("-", "")
    ).pack()
    keyboard = [[button("attended_anyway", language, data, date=day)]]
    return render("error_attended_outside_window", language, **details), keyboard


CONFIRM_QUESTIONS: dict[str, Callable[[dict[str, object], str], Reply]] = {
    "error_outside_window": outside_window_question,
    "error_attended_outside_window": attended_outside_window_question,
}
"""The refusals that a coordinator may override (a protocol deviation): each key's question,
with the button that does it anyway."""


def withdraw_question(participant: Participant, language: str) -> Reply:
    """ "Withdraw this participant?", with Yes and No."""
    participant_id, study_id = saved_id(participant), participant.study_id
    keyboard = [
        [
            button(
                "withdraw_yes",
                language,
                WithdrawAnswer(participant_id, "yes").pack(),
                study_id=study_id,
            ),
            button("withdraw_no", language, WithdrawAnswer(participant_id, "no").pack()),
        ]
    ]
    return render("team_withdraw_confirm", language, study_id=study_id), keyboard


def enroll_step(step: str, language: str, *, sites: Iterable[str] = ()) -> Reply:
    """A question of the guided enrolment, with the choices it offers as buttons (none where
    the answer is typed: the study id, or another day than today)."""
    choices: dict[str, Keyboard] = {
        "site": [[Button(site, data=EnrollChoice("site", site).pack()) for site in sites]],
        "arm": [
            [
                button(f"arm_{arm.value}", language, EnrollChoice("arm", arm.value).pack())
                for arm in Arm
            ]
        ],
        "day": [[button("today", language, EnrollChoice("day", "today").pack())]],
        "language": [
            [
                button(f"language_{code}", language, EnrollChoice("lang", code).pack())
                for code in ("zh", "en")
            ]
        ],
        "pregnancy": [
            [
                button(answer, language, EnrollChoice("preg", answer).pack())
                for answer in ("yes", "no")
            ]
        ],
    }
    return render("team_enroll_step", language, step=step), choices.get(step)


def invitation_text(
    invitation: Invitation, link: str, language: str, *, renewed: bool, cli: bool = False
) -> str:
    """The invitation link of a participant just enrolled, or a fresh one (`renewed`)."""
    return render(
        "team_enrolled",
        language,
        study_id=invitation.participant.study_id,
        link=link,
        expires_at=invitation.expires_at.date(),
        renewed=renewed,
        cli=cli,
    )
