"""A participant's trend chart reaches the team as a Telegram photo with its legend as the
caption: after `/participant` (in a private chat or the site's chat) and with the pre-visit
summary; a chart that cannot be drawn never stops the summary's text, and one being drawn
holds up no participant."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from bot.settings import Settings
from messages import charts
from sandbox import SandboxMessage, SandboxServer
from scheduler.service import SchedulerService
from study.config import StudyConfig
from study.database import Database
from study.models import CheckIn, CheckInKind, CheckInTrigger, Participant, PromptStatus
from study.trends import Trend
from tests.e2e.conftest import advance_to
from tests.reliability.outbox import put_due_reminders
from tests.study.test_export import Study, symptoms
from tests.study.test_trends import add_two_years
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import ZJU2_ALERTS, ZJU2_COORDINATOR

pytestmark = pytest.mark.usefixtures("bot")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """One send at a time: a chart being drawn must not hold it."""
    return settings.model_copy(update={"trialbot_send_concurrency": 1})


Setup = Callable[[Study], Awaitable[Participant]]
P = 5001


async def no_data(study: Study) -> Participant:
    participant: Participant = await study.enrol("ZJU2-001", "ZJU2", "standard", date(2026, 3, 2))
    return participant


async def one_checkin(study: Study) -> Participant:
    participant = await no_data(study)
    asked = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    await study.checkin(participant, asked, symptoms(Q2="once", Q7="pain", Q12="same"))
    return participant


async def two_years(study: Study) -> Participant:
    day1 = date(2024, 4, 1)
    participant: Participant = await study.enrol(
        "ZJU2-001", "ZJU2", "standard", day1, can_become_pregnant=True
    )
    await add_two_years(study.database, participant, day1)
    return participant


async def linked(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> Participant:
    """A participant who opened their invitation (pre-visit summaries are of active ones)."""
    sandbox.add_user(P, "P")
    participant, code = await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    sent = await sandbox.send_text(user_id=P, text=f"/start {code}")
    await sandbox.wait_for_message(P, after_message_id=sent.message_id)
    return participant


def photo_width_height(message: SandboxMessage) -> tuple[int, int]:
    largest = message.extra["photo"][-1]
    return largest["width"], largest["height"]


async def ask(sandbox: SandboxServer, text: str, chat_id: int) -> list[SandboxMessage]:
    """The coordinator's command, the bot's answer in that chat and the photo after it
    (a site chat may get other messages of the bot meanwhile)."""
    sent = await sandbox.send_text(user_id=ZJU2_COORDINATOR, text=text, chat_id=chat_id)
    answer = await sandbox.wait_for_message(
        chat_id, after_message_id=sent.message_id, predicate=lambda m: "ZJU2-0" in m.text
    )
    photo = await sandbox.wait_for_message(
        chat_id, after_message_id=sent.message_id, predicate=lambda m: m.kind == "photo"
    )
    return [answer, photo]


@pytest.mark.parametrize(
    ("setup", "since", "reported"),
    [
        (no_data, "2026-03-02", "按问题列出报告的情况（无）"),
        (one_checkin, "2026-03-02", "Q2 "),
        (two_years, "2024-04-01", "C2 "),
    ],
)
@pytest.mark.parametrize("chat", ["private", "site"])
async def test_participant_sends_the_text_then_the_chart_with_its_legend(
    setup: Setup,
    since: str,
    reported: str,
    chat: str,
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await setup(Study(database, config, clock))
    chat_id = ZJU2_COORDINATOR if chat == "private" else ZJU2_ALERTS
    text, chart = await ask(sandbox, "/participant ZJU2-001", chat_id)
    assert text.kind == "text" and text.text.startswith("ZJU2-001 · ZJU2 · 标准剂量组")
    assert chart.kind == "photo", chart.text
    assert photo_width_height(chart) == (1200, 800)
    assert chart.text.startswith(f"趋势 · ZJU2-001 · {since} 至 2026-03-02")
    assert reported in chart.text and len(chart.text) <= 1024
    assert text.message_id < chart.message_id


async def test_a_refused_participant_command_sends_no_chart(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await no_data(Study(database, config, clock))
    sent = await sandbox.send_text(user_id=ZJU2_COORDINATOR, text="/participant ZJU2-999")
    refusal = await sandbox.wait_for_message(ZJU2_COORDINATOR, after_message_id=sent.message_id)
    assert "ZJU2-999" in refusal.text
    await ask(sandbox, "/participant ZJU2-001", ZJU2_COORDINATOR)  # handled in order
    kinds = [m.kind for m in sandbox.bot_messages(ZJU2_COORDINATOR)]
    assert kinds[-3:] == ["text", "text", "photo"]


SUMMARY_DUE = datetime(2026, 5, 30, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai, 3 days before


def summaries(sandbox: SandboxServer) -> list[SandboxMessage]:
    return [m for m in sandbox.bot_messages(ZJU2_ALERTS) if "随访前汇总 · ZJU2-001" in m.text]


async def test_the_previsit_summary_comes_as_the_chart_captioned_by_summary_and_legend(
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    scheduler: SchedulerService,
) -> None:
    participant = await linked(sandbox, database, config, clock)
    asked = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    study = Study(database, config, clock)
    await study.checkin(participant, asked, symptoms(Q2="once", Q7="pain", Q12="same"))
    await advance_to(SUMMARY_DUE, scheduler, sandbox, clock)
    (summary,) = summaries(sandbox)
    assert summary.kind == "photo" and photo_width_height(summary) == (1200, 800)
    head, legend = summary.text.split("\n\n趋势 · ")
    assert head.startswith("随访前汇总 · ZJU2-001\n第 1 次随访：2026年6月2日星期二")
    assert legend.startswith("ZJU2-001 · 2026-03-02 至 2026-05-30") and "Q7 " in legend
    assert len(summary.text) <= 1024


async def test_a_chart_that_cannot_be_drawn_leaves_the_summary_as_text(
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    scheduler: SchedulerService,
) -> None:
    participant = await linked(sandbox, database, config, clock)
    async with database.session() as session:  # a tier no chart row is drawn for
        session.add(
            CheckIn(
                participant_id=participant.id or 0,
                kind=CheckInKind.SYMPTOMS,
                trigger=CheckInTrigger.CADENCE,
                questionnaire_version="2026.2",
                asked_at=clock.now() + timedelta(days=1),
                answers={"Q11": ["some"]},
                status=PromptStatus.COMPLETED,
                tier="T9",
            )
        )
    await advance_to(SUMMARY_DUE, scheduler, sandbox, clock)
    (summary,) = summaries(sandbox)
    assert summary.kind == "text" and "趋势" not in summary.text
    assert summary.text.startswith("随访前汇总 · ZJU2-001\n第 1 次随访：2026年6月2日星期二")


async def test_while_a_summarys_chart_is_drawn_participants_are_answered_and_reminded(
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    scheduler: SchedulerService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A chart takes a fifth to half a second to draw: never on the event loop, nor inside
    the transaction that claimed the summary (SQLite's write lock), nor in a send's slot
    (this module's bot has one)."""
    participant = await linked(sandbox, database, config, clock)
    drawing, drawn, release = threading.Event(), threading.Event(), threading.Event()
    draw = charts.trend_chart_png

    def slowly(trend: Trend) -> bytes:  # as long as the test says (20 s at most)
        drawing.set()
        release.wait(timeout=20)
        png = draw(trend)
        drawn.set()
        return png

    # Drawn in a thread here (in the bot the drawing process), so that the test holds it.
    monkeypatch.setattr(charts, "trend_chart_png", slowly)
    monkeypatch.setattr(charts, "DRAWING", charts.ChartProcess(lambda: ThreadPoolExecutor(1)))
    clock.set(SUMMARY_DUE)
    sandbox.set_time(SUMMARY_DUE.timestamp())
    await scheduler.sweep()
    scheduler.wake()
    assert await asyncio.to_thread(drawing.wait, 10), "the summary's chart was never drawn"
    # The participant's own reminder of their visit, due now too, may come in between.
    sent = await sandbox.send_text(user_id=P, text="/checkin")  # a write, then a question
    question = await sandbox.wait_for_message(
        P, after_message_id=sent.message_id, predicate=lambda m: "1/13" in m.text
    )
    answered_while_drawing = not drawn.is_set()
    await put_due_reminders(database, [participant], now=clock.now())  # wakes the dispatcher
    await sandbox.wait_for_message(
        P, after_message_id=question.message_id, predicate=lambda m: "2027年3月2日" in m.text
    )
    reminded_while_drawing = not drawn.is_set()
    release.set()
    await scheduler.idle.wait()
    assert answered_while_drawing
    assert reminded_while_drawing
    async with database.reading() as session:
        asked = await session.exec(select(CheckIn.trigger))
        assert CheckInTrigger.ON_DEMAND in asked.all()
    (summary,) = summaries(sandbox)
    assert summary.kind == "photo"
