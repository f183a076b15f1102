"""Two years of visit reminders through the real bot, the scheduler and the sandbox."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from sqlmodel import col, select

from bot.services import Services
from sandbox import SandboxMessage, SandboxServer
from scheduler.service import SchedulerService
from study.config import StudyConfig
from study.database import Database
from study.models import OutboxMessage, OutboxStatus, Visit
from study.visits import mark_attended, set_appointment
from tests.e2e.conftest import advance_to
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import ZJU2_ALERTS

pytestmark = pytest.mark.usefixtures("bot")

P = 5001
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def link(sandbox: SandboxServer, code: str, user_id: int = P) -> None:
    sandbox.add_user(user_id, "P")
    sent = await sandbox.send_text(user_id=user_id, text=f"/start {code}")
    await sandbox.wait_for_message(user_id, after_message_id=sent.message_id)


async def pending(database: Database, visit_number: int | None = None) -> list[OutboxMessage]:
    async with database.session() as session:
        rows = list(
            await session.exec(
                select(OutboxMessage)
                .where(col(OutboxMessage.status) == OutboxStatus.PENDING)
                .order_by(col(OutboxMessage.due_at))
            )
        )
    return [
        r for r in rows if visit_number is None or r.context.get("visit_number") == visit_number
    ]


async def visits(database: Database) -> list[Visit]:
    async with database.session() as session:
        return list(await session.exec(select(Visit).order_by(col(Visit.number))))


CHECKIN_PROMPTS = ("请回答几个简短的问题", "您还有一份没有完成的问答")


def reminders_in(sandbox: SandboxServer, chat_id: int = P) -> list[SandboxMessage]:
    """The bot's messages in a chat but the check-in questions the cadence also sends."""
    return [
        m
        for m in sandbox.bot_messages(chat_id)
        if not any(prompt in m.text for prompt in CHECKIN_PROMPTS)
    ]


def zh_date(day: date) -> str:
    return format_date(day, "full", locale="zh_CN")


@pytest.mark.parametrize("arm", ["standard", "individualized"])
async def test_two_years_of_reminders(
    arm: str,
    sandbox: SandboxServer,
    services: Services,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    _, code = await enrolled(database, config, clock, arm=arm, randomized_on=date(2026, 3, 2))
    await link(sandbox, code)
    seen = len(reminders_in(sandbox))
    infusion_months = {6, 12, 18, 24} if arm == "standard" else set()
    for visit in (await visits(database))[1:]:
        for days_before in (7, 2, 0):
            (row,) = [
                r
                for r in await pending(database, visit.number)
                if r.context["days_before"] == days_before
            ]
            await advance_to(row.due_at, scheduler, sandbox, clock)
            new = reminders_in(sandbox)[seen:]
            assert len(new) == 1, [m.text for m in new]
            message = new[0]
            seen += 1
            sent_at = datetime.fromtimestamp(message.date, SHANGHAI)
            assert (sent_at.date(), sent_at.hour) == (
                visit.target_date - timedelta(days=days_before),
                9,
            )
            assert message.text.startswith("来自您的研究团队的消息")
            assert zh_date(visit.target_date) in message.text
            assert ("这次随访时还会进行输液" in message.text) == (visit.month in infusion_months)
            if arm == "individualized":
                assert "研究医生会在随访时决定您是否需要输液" in message.text
            if days_before == 7:
                assert message.button_data() == [f"v:{visit.id}:ok", f"v:{visit.id}:rs"]
                await sandbox.press(
                    user_id=P, chat_id=P, message_id=message.message_id, data=f"v:{visit.id}:ok"
                )
                thanks = await sandbox.wait_for_message(
                    P,
                    after_message_id=message.message_id,
                    predicate=lambda m: not any(p in m.text for p in CHECKIN_PROMPTS),
                )
                assert thanks.text.startswith("谢谢！")
                seen += 1
            else:
                assert message.button_data() == []  # already confirmed
        async with database.session() as session:
            attended = await session.get(Visit, visit.id)
            assert attended is not None
            await mark_attended(
                session,
                attended,
                on=visit.target_date,
                actor="test",
                now=clock.now(),
                replanner=services.replanner,
            )
    assert seen == 8 * 4 + 1  # 24 reminders, 8 thanks, the welcome
    # Confirmed and attended: no task or notice about visits; the team got a summary three
    # days before each visit.
    team = [m.text for m in sandbox.bot_messages(ZJU2_ALERTS)]
    for about_visits in ("任务：随访尚未确认", "通知：可能错过随访", "任务：参与者请求改期"):
        assert not any(about_visits in text for text in team)
    assert sum(text.startswith("随访前汇总 · ZJU2-001") for text in team) == 8
    # Far past the end, nothing else arrives.
    await advance_to(datetime(2028, 6, 1, 1, 0, tzinfo=SHANGHAI), scheduler, sandbox, clock)
    assert len(reminders_in(sandbox)) == seen


async def test_a_moved_visit_never_gets_a_stale_reminder(
    sandbox: SandboxServer,
    services: Services,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    _, code = await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    await link(sandbox, code)
    first = (await visits(database))[1]
    week_before = next(r for r in await pending(database, 1) if r.context["days_before"] == 7)
    await advance_to(week_before.due_at, scheduler, sandbox, clock)
    assert zh_date(first.target_date) in reminders_in(sandbox)[-1].text

    moved_to = first.target_date + timedelta(days=3)
    async with database.session() as session:
        moved = await session.get(Visit, first.id)
        assert moved is not None
        await set_appointment(
            session,
            moved,
            day=moved_to,
            at=None,
            actor="test",
            now=clock.now(),
            replanner=services.replanner,
        )
    before = len(reminders_in(sandbox))
    # Through the old visit day and the new one: only reminders naming the new date.
    for row in await pending(database, 1):
        await advance_to(row.due_at, scheduler, sandbox, clock)
    texts = [m.text for m in reminders_in(sandbox)[before:]]
    # The participant is told the new date once, then reminded of it three times.
    assert len(texts) == 4 and "您的研究随访时间已更新为" in texts[0]
    assert all(zh_date(moved_to) in t and zh_date(first.target_date) not in t for t in texts)


async def test_a_participant_who_links_late_gets_only_the_latest_reminder(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    # Enrolled and linked four days before visit 1 (2 June): its 7-day reminder has passed.
    clock.set(datetime(2026, 5, 29, 10, 0, tzinfo=SHANGHAI))
    _, code = await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    await link(sandbox, code)
    await advance_to(clock.now(), scheduler, sandbox, clock)
    messages = reminders_in(sandbox)
    assert len(messages) == 2  # the welcome, then one reminder
    assert "4 天后是您的研究随访" in messages[1].text  # true today, not "in 7 days"
    two_days = next(r for r in await pending(database, 1) if r.context["days_before"] == 2)
    await advance_to(two_days.due_at, scheduler, sandbox, clock)
    assert "2 天后是您的研究随访" in reminders_in(sandbox)[-1].text


async def test_reschedule_request_tasks_the_site_and_only_its_coordinators_can_act(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    from tests.support.study import PUMCH_COORDINATOR, ZJU2_COORDINATOR

    _, code = await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    await link(sandbox, code)
    first = (await visits(database))[1]
    week_before = next(r for r in await pending(database, 1) if r.context["days_before"] == 7)
    await advance_to(week_before.due_at, scheduler, sandbox, clock)
    reminder = reminders_in(sandbox)[-1]
    await sandbox.press(
        user_id=P, chat_id=P, message_id=reminder.message_id, data=f"v:{first.id}:rs"
    )
    thanks = await sandbox.wait_for_message(
        P,
        after_message_id=reminder.message_id,
        predicate=lambda m: "研究团队" in m.text and not any(p in m.text for p in CHECKIN_PROMPTS),
    )
    assert "研究团队会尽快联系您" in thanks.text
    card = await sandbox.wait_for_message(ZJU2_ALERTS)
    assert card.text.startswith("T3 复核 · ZJU2-001")
    assert zh_date(first.target_date) in card.text
    # The rest of this date's reminders are gone.
    assert await pending(database, 1) == []

    # A coordinator of another site is refused; nothing changes.
    [chat] = [c for c in sandbox.chats() if c.chat_id == ZJU2_ALERTS]
    chat.members.add(PUMCH_COORDINATOR)
    ack = card.button_data()[0]
    query = await sandbox.press(
        user_id=PUMCH_COORDINATOR, chat_id=ZJU2_ALERTS, message_id=card.message_id, data=ack
    )
    answer = await sandbox.wait_for_callback_answer(query)
    assert answer.text == "抱歉，您不能执行这个操作。"
    assert sandbox.message(ZJU2_ALERTS, card.message_id).edits == []

    query = await sandbox.press(
        user_id=ZJU2_COORDINATOR, chat_id=ZJU2_ALERTS, message_id=card.message_id, data=ack
    )
    await sandbox.wait_for_edit(ZJU2_ALERTS, card.message_id)
    edited = sandbox.message(ZJU2_ALERTS, card.message_id)
    assert f"已确认：协调员 {ZJU2_COORDINATOR}" in edited.text
    assert edited.button_data() == [card.button_data()[1]]  # only Resolve is left


async def down_until(
    moment: datetime, scheduler: SchedulerService, sandbox: SandboxServer, clock: FakeClock
) -> None:
    """The host is down from now until `moment`; then it starts and catches up."""
    await scheduler.shutdown()
    clock.set(moment)
    sandbox.set_time(clock.now().timestamp())
    await scheduler.start()
    scheduler.wake()
    await scheduler.idle.wait()


async def test_a_three_day_outage_sends_at_most_one_message_per_event(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    bot: object,
) -> None:
    _, code = await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    await link(sandbox, code)
    first = (await visits(database))[1]
    rows = {r.context["days_before"]: r for r in await pending(database, 1)}
    await advance_to(rows[7].due_at, scheduler, sandbox, clock)
    before = len(reminders_in(sandbox))
    # The host goes down before the 2-day reminder and comes back on the visit morning.
    await down_until(rows[0].due_at + timedelta(hours=1), scheduler, sandbox, clock)
    new = reminders_in(sandbox)[before:]
    assert len(new) == 1
    assert "今天是您的研究随访" in new[0].text
    assert zh_date(first.target_date) in new[0].text


async def test_a_reminder_caught_up_on_the_day_of_the_next_one_is_left_to_it(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    bot: object,
) -> None:
    """Down over the 7-day reminder and back the morning the 2-day one falls due: sent on
    coming back, the 7-day one would say "in 2 days" as the 2-day one does hours later."""
    _, code = await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    await link(sandbox, code)
    rows = {r.context["days_before"]: r for r in await pending(database, 1)}
    before = len(reminders_in(sandbox))
    # The host goes down before the 7-day reminder, until just before the 2-day one.
    await down_until(rows[2].due_at - timedelta(minutes=30), scheduler, sandbox, clock)
    assert reminders_in(sandbox)[before:] == []
    await advance_to(rows[2].due_at, scheduler, sandbox, clock)
    new = reminders_in(sandbox)[before:]
    assert len(new) == 1
    assert "2 天后是您的研究随访" in new[0].text


async def test_a_participant_who_blocked_the_bot_is_reported_and_taken_up_again(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    _, code = await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    await link(sandbox, code)
    sandbox.block(P)
    week_before = next(r for r in await pending(database, 1) if r.context["days_before"] == 7)
    await advance_to(week_before.due_at, scheduler, sandbox, clock)
    notice = await sandbox.wait_for_message(ZJU2_ALERTS)
    assert notice.text.startswith("T3 复核 · ZJU2-001")
    assert "通知：无法联系到参与者" in notice.text
    assert await pending(database, 1) == []  # nothing more is tried meanwhile
    sandbox.unblock(P)
    sent = await sandbox.send_text(user_id=P, text="/help")
    await sandbox.wait_for_message(P, after_message_id=sent.message_id)
    # Taken up again at the 7-day reminder's very moment, which is queued again too: read
    # once the dispatcher has sent what is due, not while it may still be claiming it.
    scheduler.wake()
    await scheduler.idle.wait()
    remaining = await pending(database, 1)
    assert {r.context["days_before"] for r in remaining} == {2, 0}


async def test_a_visit_moved_outside_its_window_is_reminded_without_the_window(
    sandbox: SandboxServer,
    services: Services,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    """A reminder never contradicts itself: it offers the window only around a day in it."""
    _, code = await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    await link(sandbox, code)
    first = (await visits(database))[1]
    outside = first.window_end + timedelta(days=3)
    async with database.session() as session:
        visit = await session.get(Visit, first.id)
        assert visit is not None
        await set_appointment(
            session,
            visit,
            day=outside,
            at=None,
            actor="test",
            now=clock.now(),
            replanner=services.replanner,
            force=True,  # confirmed by the coordinator, as outside the window needs
        )
    before = len(reminders_in(sandbox))
    for row in await pending(database, 1):
        await advance_to(row.due_at, scheduler, sandbox, clock)
    texts = [m.text for m in reminders_in(sandbox)[before:] if "研究随访：" in m.text]
    assert len(texts) == 3 and all(zh_date(outside) in t for t in texts)
    assert not any("随访可以安排在" in t for t in texts), texts


async def test_the_new_date_is_told_before_any_reminder_of_it(
    sandbox: SandboxServer,
    services: Services,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    _, code = await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    await link(sandbox, code)
    first = (await visits(database))[1]
    clock.set(
        datetime.combine(
            first.target_date - timedelta(days=10), datetime.min.time(), SHANGHAI
        ).replace(hour=10)
    )
    sandbox.set_time(clock.now().timestamp())
    before = len(reminders_in(sandbox))
    soon = clock.now().astimezone(SHANGHAI).date() + timedelta(days=2)
    async with database.session() as session:
        row = await session.get(Visit, first.id)
        assert row is not None
        await set_appointment(
            session,
            row,
            day=soon,
            at=None,
            actor="test",
            now=clock.now(),
            replanner=services.replanner,
        )
    await advance_to(clock.now(), scheduler, sandbox, clock)
    texts = [m.text for m in reminders_in(sandbox)[before:]]
    assert len(texts) == 2, texts
    assert "您的研究随访时间已更新为" in texts[0] and "2 天后是您的研究随访" in texts[1]


async def test_no_unconfirmed_task_before_the_participant_had_time_to_answer(
    sandbox: SandboxServer,
    services: Services,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    """Linked 47 hours before visit 1 (2 June, 09:00): the first reminder comes with the
    link; the site hears of no confirmation only after a day to answer it."""
    clock.set(datetime(2026, 5, 31, 10, 0, tzinfo=SHANGHAI))
    _, code = await enrolled(database, config, clock, randomized_on=date(2026, 3, 2))
    await link(sandbox, code)
    await advance_to(clock.now(), scheduler, sandbox, clock)
    assert "2 天后是您的研究随访" in reminders_in(sandbox)[-1].text

    def tasks() -> list[str]:
        return [m.text for m in sandbox.bot_messages(ZJU2_ALERTS) if "任务：随访尚未确认" in m.text]

    await advance_to(datetime(2026, 6, 1, 9, 59, tzinfo=SHANGHAI), scheduler, sandbox, clock)
    assert tasks() == []
    await advance_to(datetime(2026, 6, 1, 10, 1, tzinfo=SHANGHAI), scheduler, sandbox, clock)
    assert len(tasks()) == 1
