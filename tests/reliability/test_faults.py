"""A flaky Telegram (5xx, 502 pages, timeouts, 429) and a participant who blocked the bot:
every reminder still arrives, 429s are honoured, and the site hears who cannot be reached.

Telegram has no idempotency key: when it made the message but the bot's request timed out
(or got a 504), the bot cannot know and sends again. That is the one way a reminder arrives
twice here: the bot never sends again what Telegram answered it had sent, and each timeout
that delivered repeats a reminder once. (So does an answer that comes later than the bot
waits, which a loaded machine gives now and then: to the bot, that is a timeout too.)"""

from __future__ import annotations

import logging
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlmodel import col, or_, select
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest, RequestData

from messages import label
from sandbox import FaultRule, SandboxServer
from scheduler.dispatcher import Dispatcher
from study.config import StudyConfig
from study.database import Database
from study.models import Alert, OutboxMessage, OutboxStatus, Participant, ParticipantStatus
from tests.reliability.outbox import KEY, linked_participants, put_due_reminders, queued_rows
from tests.reliability.workers import TOKEN
from tests.support.clock import FakeClock
from tests.support.dispatch_worker import build_bot, build_dispatcher
from tests.support.factories import enrolled
from tests.support.study import ZJU2_ALERTS

log = logging.getLogger(__name__)

READ_TIMEOUT = 0.4  # PTB gives up waiting for an answer after this...
SLOW_ANSWER = 0.9  # ...and the sandbox's "timeout" fault answers after this
RETRY_AFTER = 7
PARTICIPANTS = 30
FIRST_CHAT = 8001
BLOCKED = 8999
BLOCKED_STUDY_ID = "ZJU2-999"


def flaky_telegram() -> list[FaultRule]:
    """One sure failure of each kind (the 429 twice), then ~13% random failures and 429s.
    The timeouts that deliver: Telegram made the message, the bot's request timed out
    (PTB gave up after `READ_TIMEOUT`) or was answered 504 at once."""
    return [
        FaultRule("sendMessage", "server_error", chat_id=FIRST_CHAT, count=1),
        FaultRule("sendMessage", "bad_gateway", chat_id=FIRST_CHAT + 1, count=1),
        FaultRule("sendMessage", "timeout", chat_id=FIRST_CHAT + 2, count=1, delay=SLOW_ANSWER),
        FaultRule(
            "sendMessage",
            "too_many_requests",
            chat_id=FIRST_CHAT + 3,
            count=2,
            retry_after=RETRY_AFTER,
        ),
        FaultRule(
            "sendMessage",
            "timeout",
            chat_id=FIRST_CHAT + 4,
            count=1,
            delay=SLOW_ANSWER,
            delivered=True,
        ),
        FaultRule(
            "sendMessage", "gateway_timeout", chat_id=FIRST_CHAT + 5, count=1, delivered=True
        ),
        FaultRule("sendMessage", "server_error", probability=0.04),
        FaultRule("sendMessage", "bad_gateway", probability=0.03),
        FaultRule("sendMessage", "timeout", probability=0.03, delay=SLOW_ANSWER),
        FaultRule("sendMessage", "too_many_requests", probability=0.03, retry_after=RETRY_AFTER),
        FaultRule("sendMessage", "timeout", probability=0.03, delay=SLOW_ANSWER, delivered=True),
    ]


def timeouts_that_delivered(sandbox: SandboxServer, chat: int) -> int:
    """Sends to `chat` that Telegram carried out while a fault told the bot they failed."""
    return sum(
        1
        for call in sandbox.calls("sendMessage")
        if call.params["chat_id"] == chat and call.injected and call.delivered
    )


class HeardRequest(HTTPXRequest):
    """PTB's HTTP client, counting for each chat the messages Telegram answered it had sent:
    what the bot heard, not what Telegram did."""

    def __init__(self) -> None:
        super().__init__(read_timeout=READ_TIMEOUT)
        self.sent: Counter[int] = Counter()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        write_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        connect_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        pool_timeout: Any = HTTPXRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        status, payload = await super().do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )
        if url.endswith("/sendMessage") and status == 200 and request_data is not None:
            self.sent[int(str(request_data.parameters["chat_id"]))] += 1
        return status, payload


def sent_once(sandbox: SandboxServer, heard: HeardRequest, chat: int) -> int:
    """How many of one message arrived in `chat`, asserting that the bot sent it again only
    while it had not heard that Telegram sent it, and that each timeout that delivered
    repeated it. An answer later than `READ_TIMEOUT`, which a loaded machine gives now and
    then without a fault, repeats it too: the bot cannot tell it from a timeout."""
    arrived = len(sandbox.bot_messages(chat))
    assert heard.sent[chat] == 1, f"chat {chat}: Telegram answered {heard.sent[chat]} sends"
    assert arrived >= 1 + timeouts_that_delivered(sandbox, chat), f"chat {chat}: not repeated"
    return arrived


@pytest.fixture
def heard() -> HeardRequest:
    return HeardRequest()


@pytest.fixture
async def bot(sandbox: SandboxServer, heard: HeardRequest) -> AsyncIterator[ExtBot[Any]]:
    # Without PTB's rate limiter: it paces in real seconds, and this test moves a fake clock.
    async with build_bot(sandbox.url, TOKEN, rate_limit=False, request=heard) as ptb_bot:
        yield ptb_bot


async def watched(database: Database) -> list[OutboxMessage]:
    """The test's reminders and the alert cards."""
    async with database.session() as session:
        rows = await session.exec(
            select(OutboxMessage).where(
                or_(
                    col(OutboxMessage.dedupe_key).startswith(KEY),
                    col(OutboxMessage.dedupe_key).startswith("alert:"),
                )
            )
        )
        return list(rows)


async def deliver_all(
    dispatcher: Dispatcher, database: Database, clock: FakeClock, sandbox: SandboxServer
) -> None:
    """Drain; move the clock to the next retry; again, until nothing watched is pending.
    After each drain, a row refused with 429 must wait at least its `retry_after`."""
    for _ in range(100):
        attempts = {row.id: row.attempts for row in await watched(database)}
        await dispatcher.drain()
        rows = await watched(database)
        for row in rows:
            refused = (row.last_error or "").startswith("429")
            tried_now = row.attempts > attempts.get(row.id, 0)
            if refused and tried_now and row.status == OutboxStatus.PENDING:
                assert row.available_at >= clock.now() + timedelta(seconds=RETRY_AFTER)
        pending = [row.available_at for row in rows if row.status == OutboxStatus.PENDING]
        if not pending:
            return
        clock.set(min(pending))
        sandbox.set_time(clock.now().timestamp())
    raise AssertionError("the outbox never emptied")


def assert_retries_waited_for_retry_after(sandbox: SandboxServer) -> None:
    """As Telegram saw it: after a 429, the next try for that chat came `retry_after` later."""
    by_chat: dict[Any, list[Any]] = defaultdict(list)
    for call in sandbox.calls("sendMessage"):
        by_chat[call.params["chat_id"]].append(call)
    refused = 0
    for chat, calls in by_chat.items():
        for call, following in pairwise(calls):
            if call.error_code == 429:
                refused += 1
                assert following.time >= call.time + RETRY_AFTER, f"chat {chat} retried early"
    assert refused >= 2


async def test_flaky_telegram_delivers_every_reminder_repeated_only_after_a_timeout_that_delivered(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
    heard: HeardRequest,
) -> None:
    sandbox.set_time(clock.now().timestamp())
    chats = list(range(FIRST_CHAT, FIRST_CHAT + PARTICIPANTS))
    participants = await linked_participants(database, sandbox, chats, now=clock.now())
    await put_due_reminders(database, participants, now=clock.now())
    rules = [sandbox.faults.add(rule) for rule in flaky_telegram()]
    dispatcher = build_dispatcher(database, bot, clock, config, rng=random.Random(3))

    await deliver_all(dispatcher, database, clock, sandbox)

    assert all(rule.fired == rule.count for rule in rules if rule.count is not None)
    assert sum(rule.fired for rule in rules) >= 7
    repeated = 0
    for chat in chats:
        assert len({m.text for m in sandbox.bot_messages(chat)}) == 1, f"chat {chat}: others"
        repeated += sent_once(sandbox, heard, chat) - 1
    log.info("reminders repeated after a timeout that delivered: %s of %s", repeated, len(chats))
    assert repeated >= 2, "the sure timeouts that delivered repeat their reminder"
    assert_retries_waited_for_retry_after(sandbox)
    rows = {row.participant_id: row for row in await queued_rows(database)}
    for participant in participants:
        row = rows[participant.id]
        assert row.status == OutboxStatus.SENT
        *_, last = sandbox.bot_messages(participant.telegram_chat_id or 0)
        assert row.telegram_message_id == last.message_id


async def test_a_participant_who_blocked_the_bot_is_reported_to_the_site(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    bot: ExtBot[Any],
    heard: HeardRequest,
) -> None:
    sandbox.set_time(clock.now().timestamp())
    others = await linked_participants(database, sandbox, [FIRST_CHAT], now=clock.now())
    sandbox.add_user(BLOCKED, "Blocked participant")
    await sandbox.send_text(BLOCKED, "/start")
    blocked, _ = await enrolled(
        database, config, clock, study_id=BLOCKED_STUDY_ID, chat_id=BLOCKED, language="en"
    )
    sandbox.block(BLOCKED)
    await put_due_reminders(database, [*others, blocked], now=clock.now())
    for rule in flaky_telegram():
        sandbox.faults.add(rule)
    dispatcher = build_dispatcher(database, bot, clock, config, rng=random.Random(5))

    await deliver_all(dispatcher, database, clock, sandbox)

    refusals = [call for call in sandbox.rejections() if call.params["chat_id"] == BLOCKED]
    assert [call.error_code for call in refusals] == [403], "tried once, not again"
    async with database.session() as session:
        person = await session.get(Participant, blocked.id)
        assert person is not None
        assert person.status == ParticipantStatus.UNREACHABLE
        theirs = list(
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.participant_id == blocked.id)
            )
        )
        alert = (await session.exec(select(Alert))).one()
    assert {row.status for row in theirs if row.dedupe_key.startswith(KEY)} == {OutboxStatus.FAILED}
    calendar = [row for row in theirs if not row.dedupe_key.startswith(KEY)]
    assert calendar, "the participant's own visit reminders were planned"
    assert {row.status for row in calendar} == {OutboxStatus.CANCELLED}
    assert (alert.kind, alert.tier, alert.participant_id) == ("unreachable", "T3", blocked.id)

    sent_once(sandbox, heard, ZJU2_ALERTS)
    cards = sandbox.bot_messages(ZJU2_ALERTS)
    language = config.site_language("ZJU2")
    first_line, *_ = cards[0].text.splitlines()
    assert label("tier_T3", language) in first_line
    assert BLOCKED_STUDY_ID in first_line
    assert label("alert_kind_unreachable", language) in cards[0].text
    sent_once(sandbox, heard, FIRST_CHAT)
