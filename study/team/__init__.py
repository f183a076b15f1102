"""The study team's operations, written once for every front end.

A Telegram command, a button under a team message and a `trialbot` subcommand each parse
their input into one of these frozen dataclasses (its fields are the operation's typed
arguments) and call `await operation.run(session, team)` in one transaction; `team` (a
`Team`) says who acts, for which sites and when. The result is typed (`Done` for a change,
a read model for a view) and rendered by `messages.team` the same way for both front ends.
Domain errors are `DomainError`s whose key names the template that explains them.
"""

from study.team.alerts import Acknowledge, Resolve
from study.team.calendar import (
    MarkAttended,
    MarkAttendedAnyway,
    MarkMissed,
    RecordGiven,
    SetInfusion,
    SetVisit,
    SetVisitAnyway,
)
from study.team.dosing import ConfirmDose, DecideProposal, EnterLabs, LabsEntered, RejectDose
from study.team.enrolment import Enroll, Invite
from study.team.scope import Done, Operation, Team
from study.team.status import (
    AnswerWithdraw,
    Pause,
    Resume,
    SetCanBecomePregnant,
    Unlink,
    Withdraw,
)
from study.team.views import (
    AlertList,
    ListAlerts,
    ListParticipants,
    ListUpcoming,
    Roster,
    ShowParticipant,
    ShowTrend,
    UpcomingList,
)

__all__ = [
    "Acknowledge",
    "AlertList",
    "AnswerWithdraw",
    "ConfirmDose",
    "DecideProposal",
    "Done",
    "Enroll",
    "EnterLabs",
    "Invite",
    "LabsEntered",
    "ListAlerts",
    "ListParticipants",
    "ListUpcoming",
    "MarkAttended",
    "MarkAttendedAnyway",
    "MarkMissed",
    "Operation",
    "Pause",
    "RecordGiven",
    "RejectDose",
    "Resolve",
    "Resume",
    "Roster",
    "SetCanBecomePregnant",
    "SetInfusion",
    "SetVisit",
    "SetVisitAnyway",
    "ShowParticipant",
    "ShowTrend",
    "Team",
    "Unlink",
    "UpcomingList",
    "Withdraw",
]
