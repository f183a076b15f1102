"""The study team's operations on the command line, the same use cases as in Telegram.

Whoever can run `trialbot` on the server acts for every site; the audit log records them as
`cli:<user>`. Output is the Telegram text in English without markup.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, time

from bot.services import Services
from bot.team_labs import labs_text, parse_labs
from messages import plain, render
from study.enrollment import get_participant
from study.infusions import (
    cancel_proposal,
    confirm_proposal,
    proposal_of_visit,
    record_given,
    schedule_infusion,
)
from study.labs import record_labs
from study.models import CancelReason
from study.pregnancy import set_can_become_pregnant
from study.status import pause, resume, withdraw
from study.views import open_alerts, participant_detail, upcoming
from study.visits import mark_attended, mark_missed, set_appointment, visit_by_number

LANGUAGE = "en"
COMMANDS = (
    "show",
    "upcoming",
    "alerts",
    "visit",
    "attended",
    "missed",
    "infusion",
    "given",
    "labs",
    "confirm",
    "reject",
    "can-become-pregnant",
    "pause",
    "resume",
    "withdraw",
)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, not {text!r}") from None


def _time(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HH:MM, not {text!r}") from None


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The team's subcommands of `trialbot`."""
    show = commands.add_parser("show", help="a participant: calendar, infusions, alerts")
    show.add_argument("study_id")
    for name, text in (
        ("upcoming", "visits and infusions of the next 14 days"),
        ("alerts", "open alerts"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--site", action="append", help="only this site (repeatable)")
    visit = commands.add_parser("visit", help="set a visit's appointment (tells the participant)")
    visit.add_argument("study_id")
    visit.add_argument("number", type=int)
    visit.add_argument("day", type=_date, metavar="YYYY-MM-DD")
    visit.add_argument("at", type=_time, nargs="?", metavar="HH:MM")
    attended = commands.add_parser("attended", help="record a visit as attended")
    attended.add_argument("study_id")
    attended.add_argument("number", type=int)
    attended.add_argument("day", type=_date, nargs="?", metavar="YYYY-MM-DD")
    missed = commands.add_parser("missed", help="record a visit as missed")
    missed.add_argument("study_id")
    missed.add_argument("number", type=int)
    infusion = commands.add_parser("infusion", help="plan or move the next infusion")
    infusion.add_argument("study_id")
    infusion.add_argument("day", type=_date, metavar="YYYY-MM-DD")
    infusion.add_argument("at", type=_time, nargs="?", metavar="HH:MM")
    given = commands.add_parser("given", help="record the next planned infusion as given")
    given.add_argument("study_id")
    given.add_argument("day", type=_date, metavar="YYYY-MM-DD")
    labs = commands.add_parser(
        "labs",
        help="enter a visit's labs: cd19=1.2 dsdna=150+ c3=0.45 lln=0.9 (CD19 in %% of "
        "lymphocytes, anti-dsDNA in IU/mL and +/-, C3 and its lower limit of normal in g/L; "
        "a value left out keeps what was entered before)",
    )
    labs.add_argument("study_id")
    labs.add_argument("number", type=int)
    labs.add_argument("values", nargs="+", metavar="KEY=VALUE")
    confirm = commands.add_parser(
        "confirm", help="confirm a visit's proposed infusion (on its day, or DATE)"
    )
    confirm.add_argument("study_id")
    confirm.add_argument("number", type=int)
    confirm.add_argument("day", type=_date, nargs="?", metavar="YYYY-MM-DD")
    confirm.add_argument("at", type=_time, nargs="?", metavar="HH:MM")
    reject = commands.add_parser("reject", help="reject a visit's proposed infusion")
    reject.add_argument("study_id")
    reject.add_argument("number", type=int)
    pregnant = commands.add_parser(
        "can-become-pregnant",
        help="change whether the participant can become pregnant (yes: contraception and "
        "pregnancy questions are asked; no: they stop)",
    )
    pregnant.add_argument("study_id")
    pregnant.add_argument("answer", choices=["yes", "no"])
    for name, text in (("pause", "stop messages until resumed"), ("resume", "resume messages")):
        command = commands.add_parser(name, help=text)
        command.add_argument("study_id")
    leave = commands.add_parser("withdraw", help="withdraw: no more contact, data kept")
    leave.add_argument("study_id")
    leave.add_argument(
        "--yes", action="store_true", required=True, help="confirm (withdrawal stops all contact)"
    )


async def run(services: Services, args: argparse.Namespace, actor: str) -> None:
    """Carry out one of the team's subcommands and print what happened."""
    now, replanner = services.clock.now(), services.replanner
    sites = args.site if getattr(args, "site", None) else sorted(services.config.sites)
    async with services.database.session() as session:
        if args.command in ("upcoming", "alerts"):
            if args.command == "alerts":
                rows = await open_alerts(session, sites)
                items = [{"alert": alert, "study_id": study_id} for alert, study_id in rows]
                _out(render("team_alerts", LANGUAGE, items=items))
            else:
                _out(
                    render(
                        "team_upcoming",
                        LANGUAGE,
                        today=now.date(),
                        rows=await upcoming(session, sites, today=now.date()),
                    )
                )
            return
        participant = await get_participant(session, args.study_id)

        def done(what: str, **facts: object) -> None:
            values = {"number": None, "date": None, "time": None, **facts}
            _out(render("team_done", LANGUAGE, what=what, study_id=participant.study_id, **values))

        if args.command == "show":
            _out(
                render(
                    "team_participant",
                    LANGUAGE,
                    detail=await participant_detail(session, participant),
                )
            )
        elif args.command in ("visit", "attended", "missed"):
            visit = await visit_by_number(session, participant.id or 0, args.number)
            if args.command == "visit":
                visit = await set_appointment(
                    session,
                    visit.id or 0,
                    day=args.day,
                    at=args.at,
                    actor=actor,
                    now=now,
                    replanner=replanner,
                )
                done("visit_set", number=visit.number, date=visit.visit_date, time=args.at)
            elif args.command == "attended":
                on = args.day or visit.visit_date
                await mark_attended(
                    session, visit.id or 0, on=on, actor=actor, now=now, replanner=replanner
                )
                done("attended", number=visit.number, date=on)
            else:
                await mark_missed(session, visit.id or 0, actor=actor, now=now, replanner=replanner)
                done("missed", number=visit.number)
        elif args.command == "infusion":
            infusion = await schedule_infusion(
                session,
                participant,
                day=args.day,
                at=args.at,
                actor=actor,
                now=now,
                config=services.config,
                replanner=replanner,
            )
            done("infusion_set", date=infusion.planned_date, time=args.at)
        elif args.command == "given":
            await record_given(
                session, participant, on=args.day, actor=actor, now=now, replanner=replanner
            )
            done("infusion_given", date=args.day)
        elif args.command == "labs":
            outcome = await record_labs(
                session,
                participant,
                args.number,
                parse_labs(args.values),
                actor=actor,
                now=now,
                config=services.config,
            )
            _out(labs_text(outcome, participant, args.number, LANGUAGE, services.config, cli=True))
        elif args.command == "confirm":
            proposal = await proposal_of_visit(session, participant, args.number)
            infusion = await confirm_proposal(
                session,
                participant,
                proposal,
                day=args.day,
                at=args.at,
                actor=actor,
                now=now,
                replanner=replanner,
            )
            done("infusion_set", date=infusion.planned_date, time=args.at)
        elif args.command == "reject":
            proposal = await proposal_of_visit(session, participant, args.number)
            await cancel_proposal(
                session,
                participant,
                proposal,
                reason=CancelReason.REJECTED,
                actor=actor,
                now=now,
            )
            done("dose_rejected", number=args.number)
        elif args.command == "can-become-pregnant":
            await set_can_become_pregnant(
                session,
                participant,
                args.answer == "yes",
                actor=actor,
                now=now,
                config=services.config,
            )
            done(f"pregnancy_{args.answer}")
        elif args.command == "resume":
            await resume(session, participant, actor=actor, now=now, replanner=replanner)
            done(args.command)
        else:
            silence = {"pause": pause, "withdraw": withdraw}[args.command]
            await silence(
                session,
                participant,
                actor=actor,
                now=now,
                config=services.config,
                replanner=replanner,
            )
            done(args.command)


def _out(html: str) -> None:
    sys.stdout.write(plain(html) + "\n")
