"""At DEBUG the log follows each message through the dispatcher by its row's id, never its
text: why a message was late (behind its chat, waiting for a slot, tried again) is read
from the log beside its row."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from telegram.ext import ExtBot

from bot.sender import PtbSender
from sandbox import FaultRule, SandboxServer
from scheduler.dispatcher import Dispatcher
from scheduler.planner import Planner
from study.config import StudyConfig
from study.database import Database
from tests.reliability.outbox import linked_participants, put_due_reminders, queued_rows
from tests.support.clock import FakeClock

FAILS_ONCE, GOES_AT_ONCE = 8601, 8602
FAULT = "NetworkError: Internal Server Error"  # how PTB reports the sandbox's 500
ROW = re.compile(r"outbox row (\d+): (.*)")


def steps(caplog: pytest.LogCaptureFixture) -> dict[int, list[str]]:
    """Each row's steps, in the order logged; a claim counts as one step of each row."""
    of_row: dict[int, list[str]] = {}
    for record in caplog.records:
        if record.name != "scheduler.dispatcher" or record.levelno != logging.DEBUG:
            continue
        line = record.getMessage()
        if line.startswith("claimed outbox rows "):
            for row_id in re.findall(r"\d+", line.removeprefix("claimed outbox rows ")):
                of_row.setdefault(int(row_id), []).append("claimed")
        elif found := ROW.fullmatch(line):
            of_row.setdefault(int(found[1]), []).append(found[2])
    return of_row


async def test_each_message_s_way_is_logged_by_its_row_without_its_text(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.set_time(clock.now().timestamp())
    participants = await linked_participants(
        database, sandbox, [FAILS_ONCE, GOES_AT_ONCE], now=clock.now()
    )
    await put_due_reminders(database, participants, now=clock.now())
    sandbox.faults.add(FaultRule("sendMessage", "server_error", chat_id=FAILS_ONCE, count=1))
    dispatcher = Dispatcher(database, PtbSender(bot), clock, config, Planner(config))

    with caplog.at_level(logging.DEBUG, logger="scheduler.dispatcher"):
        await dispatcher.drain()
        clock.advance(timedelta(minutes=30))  # past the back-off
        await dispatcher.drain()

    rows = {row.participant_id: row.id for row in await queued_rows(database)}
    failed, fine = (rows[p.id] for p in participants)
    assert failed is not None and fine is not None
    way = [
        "claimed",
        "its turn in its chat",
        "in a slot, its turn under the overall limit",
        "sending",
    ]
    assert steps(caplog) == {
        fine: [*way, "sent and recorded"],
        failed: [*way, f"failed for now ({FAULT})", *way, "sent and recorded"],
    }
    texts = [call.params["text"] for call in sandbox.calls("sendMessage") if call.ok]
    assert len(texts) == 2
    for record in caplog.records:
        assert not any(str(text) in record.getMessage() for text in texts)
