"""A simulated network round trip: every Bot API call takes it, side by side with the others,
set by the constructor, the control API (and its client) or `python -m sandbox --latency-ms`.

Durations are read on the event loop's clock around real calls; nothing sleeps to wait."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
import telegram

from sandbox import SandboxClient, SandboxError, SandboxServer
from sandbox.__main__ import arguments, build_server
from tests.sandbox.conftest import TOKEN, USER, make_bot

RTT_MS = 120.0
RTT = RTT_MS / 1000


@pytest.fixture
async def far() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(latency_ms=RTT_MS) as server:
        server.add_bot(TOKEN, username="trialbot_test_bot")
        server.add_user(USER, "Participant").started = True
        yield server


async def timed(call: Awaitable[Any]) -> float:
    """Seconds the call took, by the event loop's clock."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    await call
    return loop.time() - started


async def test_every_call_takes_the_round_trip_and_telegram_gets_it_halfway(
    far: SandboxServer,
) -> None:
    async with make_bot(far) as bot:
        loop = asyncio.get_running_loop()
        for call in (bot.get_me(), bot.send_message(USER, "far away"), bot.get_updates()):
            asked = loop.time()
            wall_asked = far.now()
            took = await timed(call)
            assert took >= RTT, f"a call answered in {took * 1000:.0f} ms"
            assert far.calls()[-1].time >= wall_asked + RTT / 2 - 0.005  # the request travelled
            assert loop.time() >= asked + RTT
    assert [m.text for m in far.bot_messages(USER)] == ["far away"]


async def test_calls_in_flight_wait_side_by_side(far: SandboxServer) -> None:
    others = range(2001, 2017)  # one after another: 1.9 s; side by side, not half that
    for user_id in others:
        far.add_user(user_id, "U").started = True
    async with make_bot(far) as bot:
        await bot.get_me()  # connections and PTB's start-up out of the way
        took = await timed(asyncio.gather(*(bot.send_message(u, "hi") for u in others)))
    assert RTT <= took < len(others) * RTT / 2, f"{len(others)} calls took {took:.2f} s"


async def test_a_long_poll_ends_half_a_round_trip_after_the_update(far: SandboxServer) -> None:
    account = far.world.bots[TOKEN]
    async with make_bot(far) as bot:
        loop = asyncio.get_running_loop()
        poll = asyncio.create_task(bot.get_updates(timeout=4))
        await far.wait_until(lambda: account.poll_generation == 1, 3.0, "the long poll")
        arrived = loop.time()
        await far.send_text(USER, "wake up")
        updates = await asyncio.wait_for(poll, 3.5)
        answered = loop.time()
    assert [u.message.text for u in updates if u.message] == ["wake up"]
    assert RTT / 2 <= answered - arrived < 4.0


async def test_the_control_api_sets_and_reports_the_round_trip(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    async with SandboxClient(sb.url) as client:
        assert await client.latency() == 0.0
        assert await client.set_latency(RTT_MS) == {"ms": RTT_MS}
        assert sb.latency_ms == RTT_MS
        assert await timed(bot.send_message(user, "slow now")) >= RTT
        with pytest.raises(SandboxError, match="latency"):
            await client.set_latency(-1)
        sb.reset()
        assert await client.latency() == RTT_MS, "reset keeps the network as it is"
        await client.set_latency(0)
        assert sb.latency_ms == 0.0


def test_python_m_sandbox_takes_a_latency_option() -> None:
    server = build_server(arguments(["--port", "0", "--latency-ms", "80"]))
    assert server.latency_ms == 80.0
    assert build_server(arguments(["--port", "0"])).latency_ms == 0.0
    with pytest.raises(SystemExit):
        arguments(["--latency-ms", "-5"])
    with pytest.raises(SandboxError):
        SandboxServer(latency_ms=float("nan"))
