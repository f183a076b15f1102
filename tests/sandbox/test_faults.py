"""Injected faults and Telegram's flood limits, as PTB experiences them."""

from __future__ import annotations

from datetime import timedelta

import pytest
import telegram
from telegram.request import HTTPXRequest

from sandbox import FaultRule, SandboxError, SandboxServer
from tests.sandbox.conftest import TOKEN, make_bot

# PTB 22 warns that RetryAfter.retry_after will become a timedelta.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def seconds(error: telegram.error.RetryAfter) -> float:
    value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def test_too_many_requests_is_retry_after(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    rule = sb.faults.add(
        FaultRule(method="sendMessage", kind="too_many_requests", retry_after=7, count=1)
    )
    with pytest.raises(telegram.error.RetryAfter) as error:
        await bot.send_message(user, "x")
    assert seconds(error.value) == 7
    assert await bot.send_message(user, "then fine")
    assert rule.fired == 1
    [injected, _fine] = sb.calls("sendMessage")
    assert injected.injected and injected.error_code == 429
    assert sb.rejections() == []


@pytest.mark.parametrize("kind", ["server_error", "bad_gateway"])
async def test_server_faults_are_network_errors(
    sb: SandboxServer, bot: telegram.Bot, user: int, kind: str
) -> None:
    sb.faults.add(FaultRule(method="sendmessage", kind=kind))  # type: ignore[arg-type]
    with pytest.raises(telegram.error.NetworkError) as error:
        await bot.send_message(user, "lost")
    assert not isinstance(error.value, telegram.error.BadRequest)
    assert sb.bot_messages(user) == []
    assert sb.rejections() == []


async def test_faults_can_claim_telegram_refusals(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    sb.faults.add(FaultRule(kind="blocked", count=1))
    sb.faults.add(FaultRule(kind="chat_not_found", count=1))
    with pytest.raises(telegram.error.Forbidden, match="blocked"):
        await bot.send_message(user, "x")
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(user, "x")
    assert sb.rejections() == []


async def test_a_bot_kicked_from_a_group_is_forbidden(sb: SandboxServer, bot: telegram.Bot) -> None:
    sb.add_group(-100123, "Team")
    sb.faults.add(FaultRule(method="sendMessage", kind="kicked", chat_id=-100123))
    with pytest.raises(telegram.error.Forbidden, match="bot was kicked from the group chat"):
        await bot.send_message(-100123, "anyone there?")
    assert sb.bot_messages(-100123) == []
    assert sb.calls("sendMessage")[0].error_code == 403
    assert sb.rejections() == []


async def test_a_migrated_group_answers_with_its_new_id_as_telegram_does(
    sb: SandboxServer, bot: telegram.Bot
) -> None:
    sb.add_group(-123, "Team", supergroup=False)
    sb.add_group(-1001234567890, "Team")
    sb.faults.add(
        FaultRule(
            method="sendMessage", kind="migrated", chat_id=-123, migrate_to_chat_id=-1001234567890
        )
    )
    with pytest.raises(telegram.error.ChatMigrated) as error:
        await bot.send_message(-123, "to the old group")
    assert error.value.new_chat_id == -1001234567890
    assert (await bot.send_message(-1001234567890, "to the new one")).chat.type == "supergroup"
    [refused, _sent] = sb.calls("sendMessage")
    assert refused.error_code == 400 and "upgraded to a supergroup" in (refused.description or "")
    assert sb.bot_messages(-123) == []


def test_a_migration_fault_needs_the_new_chat_id() -> None:
    with pytest.raises(SandboxError, match="migrate_to_chat_id"):
        FaultRule(kind="migrated")
    with pytest.raises(SandboxError, match="migrate_to_chat_id"):
        FaultRule(kind="kicked", migrate_to_chat_id=-1001)


@pytest.mark.parametrize("delivered", [False, True])
async def test_timeout_leaves_the_client_without_an_answer(
    sb: SandboxServer, user: int, delivered: bool
) -> None:
    sb.faults.add(FaultRule(method="sendMessage", kind="timeout", delay=1.5, delivered=delivered))
    async with make_bot(sb, read_timeout=0.5) as impatient:
        with pytest.raises(telegram.error.TimedOut):
            await impatient.send_message(user, "did it arrive?")
    assert [m.text for m in sb.bot_messages(user)] == (["did it arrive?"] if delivered else [])
    [call] = sb.calls("sendMessage")
    assert call.injected and call.delivered == delivered


@pytest.mark.parametrize("delivered", [False, True])
async def test_a_gateway_timeout_fails_at_once_even_when_telegram_made_the_message(
    sb: SandboxServer, bot: telegram.Bot, user: int, delivered: bool
) -> None:
    sb.faults.add(
        FaultRule(method="sendMessage", kind="gateway_timeout", delay=0.01, delivered=delivered)
    )
    with pytest.raises(telegram.error.NetworkError) as error:
        await bot.send_message(user, "did it arrive?")  # a patient client: 5 s read timeout
    assert not isinstance(error.value, telegram.error.BadRequest)
    assert [m.text for m in sb.bot_messages(user)] == (["did it arrive?"] if delivered else [])
    [call] = sb.calls("sendMessage")
    assert (call.ok, call.error_code, call.injected) == (False, 504, True)
    assert call.delivered == delivered
    assert sb.rejections() == []


async def test_delay_answers_late_but_normally(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    sb.faults.add(FaultRule(method="sendMessage", kind="delay", delay=0.05))
    assert (await bot.send_message(user, "slow")).text == "slow"


async def test_rules_match_by_chat_and_fire_by_seeded_chance(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    sb.add_group(-100123, "Team", members=[user])
    sb.faults.add(FaultRule(kind="server_error", chat_id=-100123))
    assert await bot.send_message(user, "private is fine")
    with pytest.raises(telegram.error.NetworkError):
        await bot.send_message(-100123, "group fails")
    sb.faults.clear()

    sb.faults.seed(3)
    rule = sb.faults.add(FaultRule(method="sendMessage", kind="server_error", probability=0.5))
    outcomes = []
    for i in range(20):
        try:
            await bot.send_message(user, f"try {i}")
            outcomes.append(True)
        except telegram.error.NetworkError:
            outcomes.append(False)
    assert 0 < outcomes.count(False) < 20 and outcomes.count(False) == rule.fired


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_flood_limits_per_private_chat_and_group(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    clock = FakeMonotonic()
    sb.limiter.monotonic = clock
    sb.enforce_rate_limits(True)
    for i in range(3):  # a short burst is fine
        await bot.send_message(user, f"burst {i}")
    with pytest.raises(telegram.error.RetryAfter) as error:
        await bot.send_message(user, "too fast")
    assert seconds(error.value) == 1
    assert sb.rejections()[-1].error_code == 429
    clock.now += 1.0
    assert await bot.send_message(user, "paced")

    sb.add_group(-100123, "Team", members=[user])
    for i in range(20):
        await bot.send_message(-100123, f"group {i}")
        clock.now += 0.05  # 20 messages in one second stay within 30 msg/s
    with pytest.raises(telegram.error.RetryAfter) as error:
        await bot.send_message(-100123, "21st in a minute")
    assert seconds(error.value) >= 2
    sb.enforce_rate_limits(False)
    assert await bot.send_message(-100123, "limits off")


async def test_flood_limit_of_30_messages_per_second_per_bot(
    sb: SandboxServer, bot: telegram.Bot
) -> None:
    clock = FakeMonotonic()
    sb.limiter.monotonic = clock
    for user_id in range(2001, 2032):
        sb.add_user(user_id, "U").started = True
    sb.enforce_rate_limits(True)
    for user_id in range(2001, 2031):
        await bot.send_message(user_id, "news")
    with pytest.raises(telegram.error.RetryAfter):
        await bot.send_message(2031, "one too many")
    assert sb.world.bots[TOKEN].bot_id == bot.id


async def test_fault_rules_reject_unknown_kinds() -> None:
    with pytest.raises(SandboxError, match="unknown fault kind"):
        FaultRule(kind="meteor")  # type: ignore[arg-type]


async def test_request_timeouts_are_the_clients(sb: SandboxServer, user: int) -> None:
    """A slow answer within the client's timeout is just slow (the fault does not cut it)."""
    sb.faults.add(FaultRule(method="sendMessage", kind="timeout", delay=0.05, delivered=True))
    request = HTTPXRequest(read_timeout=2.0)
    async with telegram.Bot(TOKEN, base_url=f"{sb.url}/bot", request=request) as patient:
        assert (await patient.send_message(user, "made it")).text == "made it"
