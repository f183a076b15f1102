"""Logs never carry what a person wrote: not in a handler's traceback, not in the parameters
of a database error. They still say which exception it was and where it was raised."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.logs import configure_logging
from bot.services import Services
from bot.settings import Settings
from messages import plain, render_bilingual
from sandbox import SandboxServer
from study.models import AuditEvent

P = 5001
Callback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[object, object, None]]
SECRET = "my rash is worse and I am pregnant"  # what a participant might type


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging replaces the root logger's handlers; put pytest's back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:], root.level = handlers, level


async def explode(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A handler with a bug that quotes the message in its exception."""
    assert update.message is not None
    raise ValueError(f"could not understand {update.message.text!r}")


def store_the_text(services: Services, errors: list[BaseException]) -> Callback:
    """A handler with a bug that writes the message into a row that breaks a constraint."""

    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        try:
            async with services.database.session() as session:
                session.add(
                    AuditEvent(
                        at=services.clock.now(),
                        actor="test",
                        action="note",
                        entity="participant",
                        participant_id=999_999,  # no such participant
                        after={"text": update.message.text},
                    )
                )
        except IntegrityError as error:
            errors.append(error)
            raise

    return handler


async def say_the_secret(sandbox: SandboxServer) -> None:
    """The participant writes `SECRET`; returns once they were told, politely, that it went
    wrong (the error handler has logged by then)."""
    sent = await sandbox.send_text(user_id=P, text=SECRET)
    apology = plain(render_bilingual("error", site_phone=None, emergency_number="120"))
    await sandbox.wait_for_message(
        P, after_message_id=sent.message_id, predicate=lambda m: m.text == apology
    )


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("bug", ["traceback", "database"])
async def test_a_handler_error_is_logged_with_where_it_was_but_not_the_text(
    bot: Application,  # type: ignore[type-arg]
    services: Services,
    sandbox: SandboxServer,
    capsys: pytest.CaptureFixture[str],
    bug: str,
) -> None:
    json_lines = bug == "database"  # each log format once
    configure_logging(Settings(_env_file=None, trialbot_log_json=json_lines))
    errors: list[BaseException] = []
    callback = explode if bug == "traceback" else store_the_text(services, errors)
    bot.add_handler(MessageHandler(filters.TEXT, callback), group=-100)  # before all
    sandbox.add_user(P, "P")

    await say_the_secret(sandbox)

    log = capsys.readouterr().err
    assert SECRET not in log
    assert "error while handling an update" in log
    if bug == "traceback":
        assert "ValueError: (message not logged" in log
        assert f'File "{Path(__file__)}"' in log and "in explode" in log
    else:
        assert errors and SECRET not in str(errors[0])  # the engine hides parameters
        (entry,) = [json.loads(line) for line in log.splitlines() if '"bot.errors"' in line]
        assert "sqlalchemy.exc.IntegrityError: (message not logged" in entry["exception"]
        assert "in handler" in entry["exception"]


@pytest.mark.usefixtures("restore_logging")
async def test_at_debug_the_log_still_has_no_text_nor_the_database_s_parameters(
    bot: Application,  # type: ignore[type-arg]
    services: Services,
    sandbox: SandboxServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # DEBUG is what an operator turns on to see why a message was late; the database
    # drivers log each statement with its parameters at that level.
    configure_logging(Settings(_env_file=None, trialbot_log_level="DEBUG"))
    bot.add_handler(MessageHandler(filters.TEXT, store_the_text(services, [])), group=-100)
    sandbox.add_user(P, "P")

    await say_the_secret(sandbox)

    log = capsys.readouterr().err
    assert "error while handling an update" in log
    assert SECRET not in log
    # Our own lines are there at DEBUG (the dispatcher's trace of each message).
    assert logging.getLogger("scheduler.dispatcher").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)
