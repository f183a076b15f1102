"""The study team's operations on the command line: the operations of `study.team`, as in
Telegram.

Whoever can run `trialbot` on the server acts for every site; the audit log records them as
`cli:<user>`. A subcommand's arguments are its operation's fields (same names), parsed by
the rules Telegram uses (`bot.parse`); the output is the Telegram reply's template in
English, without markup.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from bot.parse import parse_date, parse_labs, parse_number, parse_time, parse_yes_no
from bot.services import Services
from messages import plain, render
from messages.alerts import alert_card
from messages.charts import trend_caption, trend_chart_png
from messages.team import TeamResult, team_reply
from study import team as ops
from study.errors import DomainError
from study.models import Alert

LANGUAGE = "en"
T = TypeVar("T")
# What argparse's own usage line does not say (a domain error echoes at most 40 characters).
LABS_USAGE = "cd19=1.2 dsdna=150+ c3=0.45 lln=0.9"
PREGNANCY_USAGE = "yes|no"


def explain(error: DomainError) -> str:
    """A domain error as its template words it, in the command line's language."""
    return plain(render(error.key, LANGUAGE, **error.details))


def typed(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from a parser of `bot.parse`: what it refuses is explained by its
    template."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except DomainError as error:
            raise argparse.ArgumentTypeError(explain(error)) from None

    return convert


class _Labs(argparse.Action):
    """`cd19=1.2 dsdna=150+ ...` into one `Labs` (any subset; ranges are the use case's)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        try:
            setattr(namespace, self.dest, parse_labs(list(values or []), LABS_USAGE))
        except DomainError as error:
            parser.error(explain(error))


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The team's subcommands of `trialbot`, each bound to its operation."""
    show = _add(commands, "show", ops.ShowParticipant, "a participant: calendar, infusions, alerts")
    show.add_argument("study_id")
    show.add_argument(
        "--chart",
        type=Path,
        metavar="FILE.png",
        help="also write the participant's trend chart (PNG) to this file, its legend printed",
    )
    for name, listed, text in (
        ("upcoming", ops.ListUpcoming, "visits and infusions of the next 14 days"),
        ("alerts", ops.ListAlerts, "open alerts, numbered for ack and resolve"),
    ):
        listing = _add(commands, name, listed, text)
        listing.add_argument(
            "--site", dest="sites", action="append", help="only this site (repeatable)"
        )
    visit = _add(
        commands, "visit", ops.SetVisit, "set a visit's appointment (tells the participant)"
    )
    _visit_of(visit)
    _day(visit)
    _at(visit)
    visit.add_argument(
        "--force",
        action="store_true",
        help="set a day outside the visit's protocol window (a deviation; refused without)",
    )
    attended = _add(commands, "attended", ops.MarkAttended, "record a visit as attended")
    _visit_of(attended)
    _day(attended, optional=True)
    attended.add_argument(
        "--force",
        action="store_true",
        help="record a day outside the visit's protocol window (a deviation; refused without)",
    )
    _visit_of(_add(commands, "missed", ops.MarkMissed, "record a visit as missed"))
    infusion = _add(commands, "infusion", ops.SetInfusion, "plan or move the next infusion")
    infusion.add_argument("study_id")
    _day(infusion)
    _at(infusion)
    given = _add(
        commands, "given", ops.RecordGiven, "record the next planned infusion as given (today)"
    )
    given.add_argument("study_id")
    _day(given, optional=True)
    labs = _add(
        commands,
        "labs",
        ops.EnterLabs,
        "enter a visit's labs: cd19=1.2 dsdna=150+ c3=0.45 lln=0.9 (CD19 in %% of "
        "lymphocytes, anti-dsDNA in IU/mL and +/-, C3 and its lower limit of normal in g/L; "
        "a value left out keeps what was entered before)",
    )
    _visit_of(labs)
    labs.add_argument("labs", nargs="+", action=_Labs, metavar="KEY=VALUE")
    confirm = _add(
        commands,
        "confirm",
        ops.ConfirmDose,
        "confirm a visit's proposed infusion (on its day, or DATE)",
    )
    _visit_of(confirm)
    _day(confirm, optional=True)
    _at(confirm)
    _visit_of(_add(commands, "reject", ops.RejectDose, "reject a visit's proposed infusion"))
    pregnant = _add(
        commands,
        "can-become-pregnant",
        ops.SetCanBecomePregnant,
        "change whether the participant can become pregnant (yes: contraception and "
        "pregnancy questions are asked; no: they stop)",
    )
    pregnant.add_argument("study_id")
    pregnant.add_argument(
        "value", type=typed(lambda text: parse_yes_no(text, PREGNANCY_USAGE)), metavar="yes|no"
    )
    for name, silence, text in (
        ("pause", ops.Pause, "stop messages until resumed"),
        ("resume", ops.Resume, "resume messages"),
    ):
        _add(commands, name, silence, text).add_argument("study_id")
    _add(
        commands,
        "unlink",
        ops.Unlink,
        "forget a participant's chat linked by mistake (then `invite` gives a new link)",
    ).add_argument("study_id")
    leave = _add(commands, "withdraw", ops.Withdraw, "withdraw: no more contact, data kept")
    leave.add_argument("study_id")
    leave.add_argument(
        "--yes", action="store_true", required=True, help="confirm (withdrawal stops all contact)"
    )
    for name, operation, text in (
        ("ack", ops.Acknowledge, "acknowledge an alert: its re-sending and escalation stop"),
        ("resolve", ops.Resolve, "resolve an alert"),
    ):
        _add(commands, name, operation, text).add_argument(
            "alert_id", type=typed(parse_alert_id), metavar="NUMBER", help="as `alerts` shows"
        )


def parse_alert_id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise DomainError("error_unknown_alert", alert_id=text)
    return int(text)


def _add(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    operation: type[Any],
    text: str,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=text)
    parser.set_defaults(operation=operation)
    return parser


def _visit_of(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study_id")
    parser.add_argument("number", type=typed(parse_number), metavar="VISIT_NUMBER")


def _day(parser: argparse.ArgumentParser, *, optional: bool = False) -> None:
    parser.add_argument(
        "day", type=typed(parse_date), nargs="?" if optional else None, metavar="YYYY-MM-DD"
    )


def _at(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("at", type=typed(parse_time), nargs="?", metavar="HH:MM")


def operation_of(args: argparse.Namespace) -> ops.Operation[TeamResult | Alert]:
    """The operation a parsed subcommand names, its fields filled from the arguments (a
    field no argument sets, such as the pressed card of a button, keeps its default)."""
    kind = args.operation
    operation: ops.Operation[TeamResult | Alert] = kind(
        **{f.name: getattr(args, f.name) for f in fields(kind) if hasattr(args, f.name)}
    )
    return operation


def server_team(services: Services, actor: str) -> ops.Team:
    """Whoever runs `trialbot` on the server: acting for every site, audited as `actor`."""
    return ops.Team(
        actor=actor,
        sites=frozenset(services.config.sites),
        now=services.clock.now(),
        config=services.config,
        replanner=services.replanner,
    )


async def run(services: Services, args: argparse.Namespace, actor: str) -> None:
    """Carry out one of the team's subcommands, for every site, and print what happened."""
    async with services.database.session() as session:
        result = await operation_of(args).run(session, server_team(services, actor))
        if isinstance(result, Alert):  # acknowledged or resolved: its card as it now stands
            text, _ = await alert_card(session, result, LANGUAGE, services.config)
        else:
            text, _ = team_reply(result, LANGUAGE, cli=True)
        chart: Path | None = getattr(args, "chart", None)
        if chart is not None:
            trend = await ops.ShowTrend(args.study_id).run(session, server_team(services, actor))
            await asyncio.to_thread(chart.write_bytes, trend_chart_png(trend))
            text = f"{text}\n\n{trend_caption(trend, LANGUAGE)}"
    sys.stdout.write(plain(text) + "\n")
