"""The guided /enroll behind a load balancer: two bot processes on one database, each update
handed to either of them, as a webhook load balancer does; the conversation goes on
whichever process takes the next answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from sqlmodel import select
from telegram import Update
from telegram.ext import Application

from bot.runner import Updates, running_bot
from bot.sender import TelegramRateLimiter
from bot.services import Services
from sandbox import SandboxServer
from study.config import StudyConfig
from study.database import Database
from study.models import EnrollDraft, Participant
from tests.e2e.conftest import TOKEN
from tests.support.clock import FakeClock
from tests.support.study import ZJU2_COORDINATOR

C = ZJU2_COORDINATOR


class LoadBalancer:
    """Hands each new update of the sandbox to the process a test names."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.last = 0

    async def to(self, application: Application) -> None:  # type: ignore[type-arg]
        fresh = [u for u in self.sandbox.pending_updates() if int(str(u["update_id"])) > self.last]
        assert len(fresh) == 1, fresh
        self.last = int(str(fresh[0]["update_id"]))
        await application.process_update(Update.de_json(fresh[0], application.bot))


@pytest.fixture
async def processes(
    services: Services, sandbox: SandboxServer, database_url: str, config: StudyConfig
) -> AsyncIterator[tuple[Application, Application]]:  # type: ignore[type-arg]
    """Two bots on the same database, each with its own engine (as two processes have),
    taking no updates themselves."""
    second_database = Database.from_url(database_url)
    second = Services(
        settings=services.settings, config=config, database=second_database, clock=services.clock
    )
    sandbox.set_time(services.clock.now().timestamp())
    async with AsyncExitStack() as stack:
        apps = [
            await stack.enter_async_context(
                running_bot(
                    each,
                    token=TOKEN,
                    api_url=sandbox.url,
                    rate_limiter=TelegramRateLimiter(per_chat_burst=1000),
                    updates=Updates("none"),
                )
            )
            for each in (services, second)
        ]
        yield apps[0], apps[1]
    await second_database.dispose()


async def test_a_guided_enrolment_goes_on_in_whichever_process_takes_the_answer(
    sandbox: SandboxServer,
    processes: tuple[Application, Application],  # type: ignore[type-arg]
    database: Database,
    clock: FakeClock,
) -> None:
    first, second = processes
    balancer = LoadBalancer(sandbox)

    async def say(text: str, process: Application) -> str:  # type: ignore[type-arg]
        sent = await sandbox.send_text(user_id=C, text=text)
        await balancer.to(process)
        return (await sandbox.wait_for_message(C, after_message_id=sent.message_id)).text

    async def press(data: str, process: Application) -> str:  # type: ignore[type-arg]
        last = sandbox.bot_messages(C)[-1]
        assert data in last.button_data(), last.button_data()
        await sandbox.press(user_id=C, chat_id=C, message_id=last.message_id, data=data)
        await balancer.to(process)
        return (await sandbox.wait_for_message(C, after_message_id=last.message_id)).text

    assert "请输入研究编号" in await say("/enroll", first)
    assert "请选择组别" in await say("ZJU2-070", second)
    assert "随机化日期是哪一天" in await press("e:arm:individualized", first)
    assert "使用哪种语言" in await say("2026-03-02", second)
    assert "是否有可能怀孕" in await press("e:lang:en", first)
    enrolled = await press("e:preg:no", second)
    assert enrolled.startswith("✓ 已入组 ZJU2-070")
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
        drafts = list(await session.exec(select(EnrollDraft)))
    assert (participant.study_id, participant.arm, participant.language) == (
        "ZJU2-070",
        "individualized",
        "en",
    )
    assert participant.randomized_on.isoformat() == "2026-03-02"
    assert drafts == [], "a finished enrolment leaves no draft behind"


async def test_a_cancel_on_one_process_ends_the_enrolment_on_the_other(
    sandbox: SandboxServer,
    processes: tuple[Application, Application],  # type: ignore[type-arg]
    database: Database,
) -> None:
    first, second = processes
    balancer = LoadBalancer(sandbox)

    async def say(text: str, process: Application) -> str:  # type: ignore[type-arg]
        sent = await sandbox.send_text(user_id=C, text=text)
        await balancer.to(process)
        return (await sandbox.wait_for_message(C, after_message_id=sent.message_id)).text

    assert "请输入研究编号" in await say("/enroll", first)
    assert "取消" in await say("/cancel", second)
    # The study id typed now is no answer to anything: the coordinator hears the usual hello.
    assert "/team" in await say("ZJU2-071", first)
    async with database.session() as session:
        assert list(await session.exec(select(Participant))) == []


async def test_a_button_of_a_step_already_answered_is_no_longer_active(
    sandbox: SandboxServer,
    processes: tuple[Application, Application],  # type: ignore[type-arg]
    database: Database,
) -> None:
    first, second = processes
    balancer = LoadBalancer(sandbox)
    sent = await sandbox.send_text(user_id=C, text="/enroll")
    await balancer.to(first)
    sent = await sandbox.send_text(user_id=C, text="ZJU2-072")
    await balancer.to(second)
    arm_question = await sandbox.wait_for_message(C, after_message_id=sent.message_id)
    # Pressed twice (the second time from a phone that still shows the buttons): taken once.
    for process, stale in ((first, False), (second, True)):
        query = await sandbox.press(
            user_id=C,
            chat_id=C,
            message_id=arm_question.message_id,
            data="e:arm:standard",
            forge=stale,
        )
        await balancer.to(process)
        answer = await sandbox.wait_for_callback_answer(query)
    assert answer.text == "这个按钮已经失效。"
    async with database.session() as session:
        draft = (await session.exec(select(EnrollDraft))).one()
    assert (draft.step, draft.answers["arm"]) == ("day", "standard")
