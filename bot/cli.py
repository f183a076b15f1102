"""The `trialbot` command: argument parsing and wiring only; the work is in study/ and bot/."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, NoReturn

from bot import cli_enroll, cli_team
from bot.cli_invite import sandbox_invitation_lines, write_qr
from bot.parse import parse_date
from bot.services import (
    SANDBOX_USERNAME,
    Services,
    build_services,
    prepare_database,
)
from bot.settings import load_settings
from messages import plain, render
from messages.team import invitation_text
from messages.versions import all_versions
from study import audit
from study.audit_log import read_audit_log
from study.codes import deep_link
from study.config import LANGUAGES
from study.enrollment import EnrollmentRequest
from study.errors import ConfigError, DomainError, TrialbotError
from study.export import ExportFile, csv_files, export_tables
from study.protocol import Arm, arm_named
from study.reports import participant_overview
from study.team import Enroll, Invite

CLI_LANGUAGE = "en"


class CommandFailed(TrialbotError):
    """A command could not do what was asked; the message says why."""


_date = cli_team.typed(parse_date)


def _yes_no(text: str) -> bool:
    if text.lower() not in {"yes", "no"}:
        raise argparse.ArgumentTypeError("expected yes or no")
    return text.lower() == "yes"


class UsageError(TrialbotError):
    """Words argparse refused: `main` prints them as argparse would, or as JSON."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    """argparse's parser (its subcommands' too), leaving how a usage error is shown to
    `main`: with --json it is JSON like every other error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = _Parser(
        prog="trialbot",
        description="Telegram study companion for NCT04127747. "
        "Settings come from the environment and .env (see .env.example).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run_cmd = commands.add_parser(
        "run", help="run the bot and its scheduler (no token: the local sandbox demo)"
    )
    taking = run_cmd.add_mutually_exclusive_group()
    taking.add_argument(
        "--webhook",
        metavar="URL",
        help="take updates by webhook at this https address (TRIALBOT_UPDATES=webhook and "
        "TRIALBOT_WEBHOOK_URL; the secret and listen address come from the environment)",
    )
    taking.add_argument(
        "--updates",
        choices=["polling", "webhook", "none"],
        help="how this process takes updates (TRIALBOT_UPDATES): 'none' only sends, for "
        "extra processes on one PostgreSQL database",
    )

    enroll_cmd = commands.add_parser(
        "enroll",
        help="enrol a participant and print an invite (--from FILE.csv: many at once)",
        description="Enrol one participant (--study-id, --site, --arm, --randomized and "
        "--can-become-pregnant are required), or every row of a CSV file with --from: its "
        f"header names {', '.join(cli_enroll.REQUIRED)} and may name "
        f"{', '.join(cli_enroll.OPTIONAL)}, with the values of the options of the same names. "
        "Each row is enrolled whole or not at all; a refused row is reported with its reason "
        "and does not stop the others; the exit code is 1 if any row was refused.",
    )
    enroll_cmd.add_argument(
        "--from",
        dest="from_file",
        type=Path,
        metavar="FILE.csv",
        help="enrol every row of this CSV file (instead of the options below)",
    )
    enroll_cmd.add_argument("--study-id", help="1-32 letters, digits or '-' (required)")
    enroll_cmd.add_argument("--site", help="a site code of study.toml (required)")
    enroll_cmd.add_argument(
        "--arm",
        type=arm_named,  # `individualised` (British) is accepted as `individualized`
        choices=[arm.value for arm in Arm],
        help="standard or individualized (required)",
    )
    enroll_cmd.add_argument(
        "--randomized", type=_date, metavar="YYYY-MM-DD", help="day 1 (required)"
    )
    enroll_cmd.add_argument("--language", choices=LANGUAGES, help="default: the study's")
    enroll_cmd.add_argument(
        "--can-become-pregnant",
        # no default: a forgotten answer must not switch the questions off
        type=_yes_no,
        metavar="yes|no",
        help="whether the participant can become pregnant: yes asks the contraception and "
        "pregnancy questions (required)",
    )
    enroll_cmd.add_argument("--timezone", help="IANA zone; default: the site's")
    enroll_cmd.add_argument(
        "--preferred-hour", type=int, metavar="0-23", help="local hour for messages"
    )
    enroll_cmd.add_argument(
        "--json", action="store_true", help="print one JSON object (with --from: enrolled, refused)"
    )
    _qr_option(enroll_cmd)

    invite_cmd = commands.add_parser(
        "invite", help="issue a fresh invite code (the previous one stops working)"
    )
    invite_cmd.add_argument("study_id")
    invite_cmd.add_argument("--json", action="store_true", help="print one JSON object")
    _qr_option(invite_cmd)

    list_cmd = commands.add_parser("participants", help="list participants")
    list_cmd.add_argument("--site", help="only this site")
    list_cmd.add_argument("--json", action="store_true", help="print a JSON array")

    export_cmd = commands.add_parser(
        "export", help="write the statistician's CSV files, or one CDISC ODM 1.3.2 file"
    )
    export_cmd.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="created if missing; must be empty"
    )
    export_cmd.add_argument(
        "--format",
        choices=["csv", "odm"],
        default="csv",
        help="csv: the CSV files and their data dictionary (default); odm: one CDISC ODM 1.3.2 "
        "file, trialbot_odm.xml",
    )
    export_cmd.add_argument(
        "--as-of", type=_date, metavar="YYYY-MM-DD", help="the export's today (default: UTC today)"
    )
    export_cmd.add_argument(
        "--force", action="store_true", help="write into a non-empty DIR, replacing its files"
    )

    audit_cmd = commands.add_parser("audit", help="read the audit log")
    audit_cmd.add_argument("--participant", metavar="STUDY_ID", help="events about them")
    audit_cmd.add_argument("--actor", help="events by them, e.g. tg:111111 or cli:alice")
    audit_cmd.add_argument("--since", type=_date, metavar="YYYY-MM-DD", help="from this UTC day")
    audit_cmd.add_argument(
        "--until", type=_date, metavar="YYYY-MM-DD", help="to this UTC day, inclusive"
    )
    audit_cmd.add_argument("--json", action="store_true", help="print one JSON object a line")

    templates_cmd = commands.add_parser(
        "templates",
        help="list every message template with its version in each language (a hash of its "
        "sources), for the ethics dossier",
    )
    templates_cmd.add_argument("--json", action="store_true", help="print a JSON array")

    cli_team.add_commands(commands)

    db_cmd = commands.add_parser("db", help="database maintenance")
    db_commands = db_cmd.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply every pending migration (back up first)")
    db_commands.add_parser("current", help="print the schema revision of the database")
    return parser


def _qr_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--qr",
        type=Path,
        metavar="FILE.png",
        help="also write the link as a QR code (PNG, owner-only) to scan at the bedside",
    )


# What a shell reports for a program that SIGPIPE ended (128 + 13), as `cat big | head` does.
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script."""
    try:
        try:
            _main(argv)
        finally:
            sys.stdout.flush()  # a reader that went away shows here, not at the interpreter's exit
    except BrokenPipeError:
        # `trialbot audit | head -1`: the reader has what it wanted. Stop quietly, as Unix
        # tools do, with their status; stdout goes to devnull so that nothing writes again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)


def _main(argv: Sequence[str] | None) -> None:
    # Opt in to PTB's coming timedelta durations (our code handles both), which also
    # silences its deprecation warning on every 429.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    as_json = "--json" in (sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "enroll":
            _check_enroll(parser, args)
    except UsageError as exc:
        if as_json:
            _fail_json("usage", f"{exc.parser.prog}: {exc.message}", 2)
        argparse.ArgumentParser.error(exc.parser, exc.message)  # usage, and exit 2
    try:
        if args.command == "run":
            from bot.runner import run

            run(load_settings(**_run_overrides(args)))
        elif args.command == "templates":  # needs no settings and no database
            _templates(json_output=args.json)
        else:
            asyncio.run(_dispatch(args))
    except (ConfigError, CommandFailed) as exc:
        code = "config" if isinstance(exc, ConfigError) else "failed"
        if as_json:
            _fail_json(code, str(exc), 1)
        sys.stderr.write(f"trialbot: {exc}\n")
        sys.exit(1)
    except DomainError as exc:
        text = plain(render(exc.key, CLI_LANGUAGE, cli=True, **exc.details))
        if as_json:
            _fail_json(exc.key, text, 1)
        sys.stderr.write(f"trialbot: {text}\n")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def _fail_json(code: str, message: str, status: int) -> NoReturn:
    """An error as JSON, the one shape of every command's errors under --json: on stderr,
    `{"error": {"code": ..., "message": ...}}` (code: `usage`, `config`, `failed`, or the
    refusal's template key such as `error_unknown_site`), then exit `status`."""
    error = {"code": code, "message": message}
    sys.stderr.write(json.dumps({"error": error}, ensure_ascii=False, sort_keys=True) + "\n")
    sys.exit(status)


SINGLE_ENROLL = ("study_id", "site", "arm", "randomized", "can_become_pregnant")
SINGLE_ONLY = (*SINGLE_ENROLL, "language", "timezone", "preferred_hour")


def _check_enroll(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A single `enroll` needs its five options; `--from` takes none of them."""
    if args.from_file is not None:
        given = [name for name in SINGLE_ONLY if getattr(args, name) is not None]
        if given:
            options = ", ".join(f"--{name.replace('_', '-')}" for name in given)
            parser.error(f"enroll --from takes the participants from the file, not {options}")
        return
    missing = [name for name in SINGLE_ENROLL if getattr(args, name) is None]
    if missing:
        options = ", ".join(f"--{name.replace('_', '-')}" for name in missing)
        parser.error(f"the following arguments are required: {options}")


def _run_overrides(args: argparse.Namespace) -> dict[str, object]:
    overrides: dict[str, object] = {}
    if args.webhook is not None:
        overrides |= {"trialbot_updates": "webhook", "trialbot_webhook_url": args.webhook}
    if args.updates is not None:
        overrides["trialbot_updates"] = args.updates
    return overrides


async def _dispatch(args: argparse.Namespace) -> None:
    services = build_services(load_settings())
    try:
        if args.command == "db":
            await _db(services, args.db_command)
            return
        await prepare_database(services.database, services.config, migrate=False)
        if args.command == "enroll":
            await _enroll(services, args)
        elif args.command == "invite":
            await _invite(services, args)
        elif args.command == "participants":
            await _participants(services, args)
        elif args.command == "export":
            await _export(services, args)
        elif args.command == "audit":
            await _audit(services, args)
        elif hasattr(args, "operation"):  # one of the team's operations
            await cli_team.run(services, args, _actor())
    finally:
        await services.close()


async def _db(services: Services, action: str) -> None:
    from migrations import current_revision

    if action == "upgrade":
        await prepare_database(services.database, services.config, migrate=True)
    _out(f"database schema revision: {await current_revision(services.database)}")


async def bot_username(services: Services) -> str:
    """The username getMe reports for the configured token (the demo's without a token)."""
    settings = services.settings
    if settings.token is None:
        return SANDBOX_USERNAME
    # python-telegram-bot only here: most commands never talk to Telegram.
    from telegram import Bot
    from telegram.error import TelegramError

    bot = Bot(settings.token, base_url=f"{settings.telegram_api_url}/bot")
    try:
        async with bot:
            return bot.username
    except TelegramError as exc:
        raise CommandFailed(
            f"could not ask the Bot API at {settings.telegram_api_url} for the bot's "
            f"username ({type(exc).__name__}: {exc}); nothing was changed"
        ) from None


def _actor() -> str:
    try:
        return audit.cli_actor(getpass.getuser())
    except (KeyError, OSError):
        return audit.cli_actor("unknown")


async def _enroll(services: Services, args: argparse.Namespace) -> None:
    if args.from_file is not None:
        await _enroll_file(services, args.from_file, as_json=args.json)
        return
    username = await bot_username(services)
    request = EnrollmentRequest(
        study_id=args.study_id,
        site_code=args.site,
        arm=args.arm,
        randomized_on=args.randomized,
        language=args.language,
        can_become_pregnant=args.can_become_pregnant,
        timezone=args.timezone,
        preferred_hour=args.preferred_hour,
    )
    await _invitation(services, Enroll(request), username, as_json=args.json, qr=args.qr)


async def _enroll_file(services: Services, path: Path, *, as_json: bool) -> None:
    """Enrol every row of the file, print the invitations and the refusals; exit code 1 if
    any row was refused."""
    try:
        rows = cli_enroll.read_rows(path)
    except cli_enroll.BadFile as exc:
        raise CommandFailed(str(exc)) from None
    username = await bot_username(services)
    outcomes = await cli_enroll.enroll_rows(services, rows, _actor())
    if as_json:
        _out_json(cli_enroll.report_json(outcomes, username))
    else:
        for line in cli_enroll.report_lines(outcomes, username, _out_table):
            _out(line)
    if any(outcome.refusal is not None for outcome in outcomes):
        raise CommandFailed(cli_enroll.summary(outcomes))


async def _invite(services: Services, args: argparse.Namespace) -> None:
    username = await bot_username(services)
    await _invitation(services, Invite(args.study_id), username, as_json=args.json, qr=args.qr)


async def _invitation(
    services: Services,
    operation: Enroll | Invite,
    username: str,
    *,
    as_json: bool,
    qr: Path | None = None,
) -> None:
    """Enrol or invite again, and print the invitation: as JSON, or as in Telegram (and, in
    the no-token demo, where to open it in the sandbox); `qr`: also write its QR code."""
    async with services.database.session() as session:
        invitation = await operation.run(session, cli_team.server_team(services, _actor()))
    participant = invitation.participant
    link = deep_link(username, invitation.code)
    if qr is not None:
        write_qr(qr, link)
    if as_json:
        _out_json(
            {
                "study_id": participant.study_id,
                "site": participant.site_code,
                "arm": participant.arm,
                "randomized": participant.randomized_on.isoformat(),
                "language": participant.language,
                "code": invitation.code,
                "link": link,
                "expires_at": invitation.expires_at.isoformat(),
            }
        )
        return
    renewed = isinstance(operation, Invite)
    _out(plain(invitation_text(invitation, link, CLI_LANGUAGE, renewed=renewed, cli=True)))
    if qr is not None:
        _out(f"QR code written to {qr}")
    if services.settings.token is None:
        for line in await sandbox_invitation_lines(services.settings, invitation.code):
            _out(line)


async def _participants(services: Services, args: argparse.Namespace) -> None:
    if args.site is not None:  # an unknown site is an error, as in `enroll`
        cli_team.server_team(services, _actor()).within([args.site])
    async with services.database.session() as session:
        rows = await participant_overview(session, site_code=args.site)
    if args.json:
        _out_json([row.as_dict() for row in rows])
        return
    columns = [
        "study_id",
        "site",
        "arm",
        "randomized",
        "status",
        "linked",
        "language",
        "next_visit",
    ]
    table = [
        [str(row.as_dict()[name] if row.as_dict()[name] is not None else "-") for name in columns]
        for row in rows
    ]
    _out_table(columns, table)
    _out(f"{len(rows)} participant{'s' if len(rows) != 1 else ''}")


async def _export(services: Services, args: argparse.Namespace) -> None:
    from messages.odm import ODM_FILE, odm_export  # odmlib: only for this command
    from migrations import current_revision

    out: Path = args.out
    _check_export_dir(out, force=args.force)
    as_of = args.as_of or services.clock.now().date()
    revision = await current_revision(services.database)
    async with services.database.session() as session:
        tables = await export_tables(session, as_of=as_of, schema_revision=revision)
    if args.format == "odm":
        content = odm_export(tables, config=services.config, created_at=services.clock.now())
        files = [ExportFile(ODM_FILE, len(tables["participants.csv"]), content)]
    else:
        files = csv_files(tables)
    _write_export(out, files)
    counted = "subjects" if args.format == "odm" else "rows"
    _out_table(["file", counted], [[str(out / file.name), str(file.rows)] for file in files])
    _out(f"Exported as of {as_of.isoformat()}: {len(files)} file{'s' * (len(files) != 1)} in {out}")


def _check_export_dir(out: Path, *, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise CommandFailed(f"{out} is not a directory; nothing was written")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise CommandFailed(
            f"{out} is not empty; choose an empty directory, or add --force to replace "
            "the export's files in it. Nothing was written."
        )


def _write_export(out: Path, files: list[ExportFile]) -> None:
    """The files, owner-only whatever the umask: the folder 0700 when the export creates it,
    each file 0600 (study data: calendars, answer codes, alerts)."""
    if not out.is_dir():
        out.mkdir(mode=0o700, parents=True)
        out.chmod(0o700)
    for file in files:
        _write_private(out / file.name, file.content)


def _write_private(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        os.fchmod(descriptor, 0o600)  # also when --force replaces an older, wider file
        stream.write(content)


async def _audit(services: Services, args: argparse.Namespace) -> None:
    since = datetime.combine(args.since, time(), tzinfo=UTC) if args.since else None
    until = (
        datetime.combine(args.until + timedelta(days=1), time(), tzinfo=UTC) if args.until else None
    )
    async with services.database.session() as session:
        rows = await read_audit_log(
            session, study_id=args.participant, actor=args.actor, since=since, until=until
        )
    if args.json:
        for row in rows:
            _out_json(row.as_dict())
        return
    table = [
        [
            f"{row.at:%Y-%m-%d %H:%M:%S}",
            row.actor,
            row.action,
            row.study_id or "-",
            row.subject,
            row.change() or "-",
        ]
        for row in rows
    ]
    _out_table(["at (UTC)", "actor", "action", "participant", "entity", "change"], table)
    _out(f"{len(rows)} event{'s' if len(rows) != 1 else ''}")


def _templates(*, json_output: bool) -> None:
    versions = all_versions()
    if json_output:
        _out_json([asdict(version) for version in versions])
        return
    _out_table(
        ["template", "language", "version", "sources"],
        [[v.name, v.language, v.version, " ".join(v.sources)] for v in versions],
    )


def _out_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    for line in [header, *rows]:
        _out(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _out_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, sort_keys=True) + "\n")
