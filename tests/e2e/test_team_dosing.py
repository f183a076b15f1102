"""Dosing and enrolment safety through the real bot: re-dose proposals decided one by one,
labs with units and ranges, and the pregnancy question that is never assumed."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import col, select

from bot.services import Services
from sandbox import SandboxServer
from scheduler.service import SchedulerService
from study.config import StudyConfig
from study.database import Database
from study.models import (
    AuditEvent,
    CheckIn,
    CheckInKind,
    Infusion,
    InfusionStatus,
    LabResult,
    Participant,
    PromptStatus,
)
from tests.e2e.conftest import advance_to
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import ZJU2_COORDINATOR

pytestmark = pytest.mark.usefixtures("bot")

P = 5001
TEAM = ZJU2_COORDINATOR


async def say(sandbox: SandboxServer, text: str, user_id: int = TEAM) -> str:
    sent = await sandbox.send_text(user_id=user_id, text=text, chat_id=user_id)
    return (await sandbox.wait_for_message(user_id, after_message_id=sent.message_id)).text


async def linked(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    sandbox: SandboxServer,
    *,
    arm: str = "individualized",
    can_become_pregnant: bool = False,
) -> None:
    sandbox.add_user(P, "P")
    _, code = await enrolled(
        database,
        config,
        clock,
        arm=arm,
        randomized_on=date(2026, 3, 2),
        can_become_pregnant=can_become_pregnant,
    )
    await say(sandbox, f"/start {code}", user_id=P)


async def redoses(database: Database) -> list[Infusion]:
    async with database.session() as session:
        query = select(Infusion).where(Infusion.reason == "redose").order_by(col(Infusion.id))
        return list(await session.exec(query))


async def actions(database: Database) -> list[str]:
    async with database.session() as session:
        return list(await session.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))))


async def press(sandbox: SandboxServer, message_id: int, data: str) -> str:
    """Press a button on the team's message; return the bot's next message's text."""
    await sandbox.press(user_id=TEAM, chat_id=TEAM, message_id=message_id, data=data)
    return (await sandbox.wait_for_message(TEAM, after_message_id=message_id)).text


async def test_labs_of_the_baseline_visit_never_propose_a_dose(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    text = await say(sandbox, "/labs ZJU2-001 0 cd19=8 dsdna=300+ c3=0.3 lln=0.9")
    assert "基线随访（第 0 月，首次输液之前）" in text and "不提出给药建议" in text
    assert "个体化给药规则：符合" not in text
    assert sandbox.bot_messages(TEAM)[-1].button_data() == []
    assert await redoses(database) == []


async def test_re_entered_labs_replace_the_proposal_and_corrected_ones_withdraw_it(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    first = await say(sandbox, "/labs ZJU2-001 1 cd19=2")
    assert "个体化给药规则：符合" in first
    first_card = sandbox.bot_messages(TEAM)[-1]
    again = await say(sandbox, "/labs ZJU2-001 1 cd19=2.5")
    assert "CD19+ B 细胞：2.5 %（占淋巴细胞）" in again
    assert sandbox.bot_messages(TEAM)[-1].button_data() == first_card.button_data()
    [proposal] = await redoses(database)
    assert proposal.status == InfusionStatus.PROPOSED

    corrected = await say(sandbox, "/labs ZJU2-001 1 cd19=0.4")
    assert "本次随访的输液建议已撤回" in corrected
    assert sandbox.bot_messages(TEAM)[-1].button_data() == []
    [withdrawn] = await redoses(database)
    assert (withdrawn.status, withdrawn.cancel_reason) == ("cancelled", "labs_changed")
    assert (await actions(database))[-1] == "withdraw_infusion"

    # The first card's Confirm no longer does anything.
    query = await sandbox.press(
        user_id=TEAM,
        chat_id=TEAM,
        message_id=first_card.message_id,
        data=first_card.button_data()[0],
    )
    assert (await sandbox.wait_for_callback_answer(query)).text == "这个按钮已经失效。"
    [still] = await redoses(database)
    assert still.status == InfusionStatus.CANCELLED


async def test_a_team_member_rejects_a_proposal_with_the_button(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await say(sandbox, "/labs ZJU2-001 1 cd19=2")
    card = sandbox.bot_messages(TEAM)[-1]
    _, reject = card.button_data()
    assert card.button_texts() == ["确认输液（2026-06-02）", "拒绝"]
    done = await press(sandbox, card.message_id, reject)
    assert done.startswith("✓ ZJU2-001 第 1 次随访的输液建议已拒绝")
    [row] = await redoses(database)
    assert (row.status, row.cancel_reason) == ("cancelled", "rejected")
    async with database.session() as session:
        event = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "reject_infusion"))
        ).one()
    assert event.actor == f"tg:{TEAM}" and event.after is not None
    assert event.after["cancel_reason"] == "rejected"
    # Nothing reaches the participant about a dose that was never planned.
    assert not any("输液" in m.text for m in sandbox.bot_messages(P))


async def test_confirm_confirms_the_infusion_it_was_shown_for_and_given_is_not_blocked(
    sandbox: SandboxServer,
    services: Services,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox)
    clock.set(clock.now() + timedelta(days=92))
    await say(sandbox, "/labs ZJU2-001 1 cd19=2")  # left undecided
    clock.set(clock.now() + timedelta(days=92))
    await say(sandbox, "/labs ZJU2-001 2 cd19=3")
    card = sandbox.bot_messages(TEAM)[-1]
    stale, shown = await redoses(database)
    assert card.button_data()[0] == f"r:{shown.id}:ok"
    done = await press(sandbox, card.message_id, card.button_data()[0])
    assert done.startswith("✓ ZJU2-001 的输液安排在 2026年9月2日星期三")
    by_id = {row.id: row for row in await redoses(database)}
    assert by_id[shown.id].status == InfusionStatus.PLANNED
    assert by_id[shown.id].confirmed_by == TEAM
    assert by_id[stale.id].status == InfusionStatus.PROPOSED
    told = await sandbox.wait_for_message(P, predicate=lambda m: "您的输液预约时间是" in m.text)
    assert "2026年9月2日星期三" in told.text

    # The undecided, earlier proposal does not stand in the way of recording the dose.
    given = await say(sandbox, "/given ZJU2-001 2026-09-02")
    assert given.startswith("✓ ZJU2-001 的输液已记录（2026年9月2日星期三）")
    by_id = {row.id: row for row in await redoses(database)}
    assert by_id[shown.id].status == InfusionStatus.GIVEN
    assert by_id[stale.id].status == InfusionStatus.PROPOSED


async def test_given_records_the_planned_infusion_past_an_older_undecided_proposal(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await say(sandbox, "/labs ZJU2-001 1 cd19=2")  # proposed for 2 June, never decided
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
        planned = Infusion(  # planned by the team for later, as a coordinator's own dose
            participant_id=participant.id or 0,
            planned_date=date(2026, 6, 20),
            dose_mg=500,
            reason="coordinator",
            status=InfusionStatus.PLANNED,
            created_at=clock.now(),
        )
        session.add(planned)
    given = await say(sandbox, "/given ZJU2-001 2026-06-20")
    assert given.startswith("✓ ZJU2-001 的输液已记录（2026年6月20日星期六）")
    async with database.session() as session:
        rows = {i.reason: i for i in await session.exec(select(Infusion))}
    assert (rows["coordinator"].status, rows["coordinator"].given_on) == (
        InfusionStatus.GIVEN,
        date(2026, 6, 20),
    )
    assert rows["redose"].status == InfusionStatus.PROPOSED


async def test_confirm_and_reject_commands_name_the_visit(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox)
    await say(sandbox, "/labs ZJU2-001 1 cd19=2")
    await say(sandbox, "/labs ZJU2-001 2 cd19=2")
    assert (await say(sandbox, "/reject ZJU2-001 1")).startswith(
        "✓ ZJU2-001 第 1 次随访的输液建议已拒绝"
    )
    assert "没有待决定的输液建议" in await say(sandbox, "/reject ZJU2-001 1")
    confirmed = await say(sandbox, "/confirm ZJU2-001 2 2026-09-10 10:00")
    assert confirmed.startswith("✓ ZJU2-001 的输液安排在 2026年9月10日星期四 10:00")
    first, second = await redoses(database)
    assert (first.status, first.cancel_reason) == ("cancelled", "rejected")
    assert (second.status, second.planned_date) == ("planned", date(2026, 9, 10))


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("cd19=150", "CD19+ B 细胞 150 不合理：应在 0 到 100 %（占淋巴细胞） 之间"),
        ("c3=45 lln=0.9", "C3 45 不合理：应在 0 到 5 g/L 之间"),
        ("dsdna=25000+", "抗 dsDNA 25000 不合理：应在 0 到 10000 IU/mL 之间"),
        ("c3=0.5 lln=9", "C3 正常下限 9 不合理：应在 0.1 到 3 g/L 之间"),
    ],
)
async def test_implausible_lab_values_are_refused_with_the_expected_range(
    entry: str,
    expected: str,
    sandbox: SandboxServer,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    await linked(database, config, clock, sandbox)
    answer = await say(sandbox, f"/labs ZJU2-001 1 {entry}")
    assert expected in answer and "没有保存任何结果" in answer
    async with database.session() as session:
        assert list(await session.exec(select(LabResult))) == []


async def test_entering_some_values_keeps_the_others_and_the_reply_shows_all_with_units(
    sandbox: SandboxServer, database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await linked(database, config, clock, sandbox, arm="standard")
    await say(sandbox, "/labs ZJU2-001 1 c3=0.4 lln=0.9 dsdna=80-")
    text = await say(sandbox, "/labs ZJU2-001 1 cd19=0.5")
    assert "CD19+ B 细胞：0.5 %（占淋巴细胞）" in text
    assert "抗 dsDNA：80 IU/mL，阴性" in text
    assert "C3：0.4 g/L（正常下限：0.9 g/L）" in text
    async with database.session() as session:
        result = (await session.exec(select(LabResult))).one()
    assert (result.cd19_percent, result.anti_dsdna_value, result.c3_value) == (0.5, 80.0, 0.4)
    assert (result.anti_dsdna_positive, result.c3_lower_limit) == (False, 0.9)


async def test_one_line_enrol_without_the_pregnancy_answer_is_refused(
    sandbox: SandboxServer, database: Database
) -> None:
    for command in (
        "/enroll ZJU2-061 ZJU2 standard 2026-03-02",
        "/enroll ZJU2-061 ZJU2 standard 2026-03-02 en",
    ):
        refused = await say(sandbox, command)
        assert "请说明参与者是否有可能怀孕" in refused and "yes 或 no" in refused
    async with database.session() as session:
        assert list(await session.exec(select(Participant))) == []
    text = await say(sandbox, "/enroll ZJU2-061 ZJU2 standard 2026-03-02 en yes")
    assert text.startswith("✓ 已入组 ZJU2-061")
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
    assert (participant.language, participant.can_become_pregnant) == ("en", True)


async def test_guided_enrolment_asks_the_pregnancy_question_with_yes_and_no(
    sandbox: SandboxServer, database: Database
) -> None:
    await say(sandbox, "/enroll")
    await say(sandbox, "ZJU2-062")
    for data in ("e:arm:standard", "e:day:today"):
        last = sandbox.bot_messages(TEAM)[-1]
        await press(sandbox, last.message_id, data)
    language = sandbox.bot_messages(TEAM)[-1]
    question = await press(sandbox, language.message_id, "e:lang:zh")
    assert "是否有可能怀孕" in question
    asked = sandbox.bot_messages(TEAM)[-1]
    assert asked.button_data() == ["e:preg:yes", "e:preg:no"]
    async with database.session() as session:
        assert list(await session.exec(select(Participant))) == []  # nothing until answered
    assert (await press(sandbox, asked.message_id, "e:preg:no")).startswith("✓ 已入组 ZJU2-062")
    async with database.session() as session:
        participant = (await session.exec(select(Participant))).one()
    assert participant.can_become_pregnant is False


async def test_changing_can_become_pregnant_starts_and_stops_the_contraception_questions(
    sandbox: SandboxServer,
    scheduler: SchedulerService,
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
) -> None:
    def prompts() -> int:
        return sum("（1/3）" in m.text for m in sandbox.bot_messages(P))

    await linked(database, config, clock, sandbox, arm="standard")
    await advance_to(clock.now() + timedelta(days=28), scheduler, sandbox, clock)
    assert prompts() == 0

    on = await say(sandbox, "/can_become_pregnant ZJU2-001 yes")
    assert on.startswith("✓ ZJU2-001 有可能怀孕")
    assert "有可能怀孕：是" in await say(sandbox, "/participant ZJU2-001")
    await sandbox.wait_for_message(TEAM, predicate=lambda m: m.kind == "photo")  # its chart
    await advance_to(clock.now() + timedelta(minutes=5), scheduler, sandbox, clock)
    assert prompts() == 1

    off = await say(sandbox, "/can_become_pregnant ZJU2-001 no")
    assert off.startswith("✓ ZJU2-001 不可能怀孕")
    async with database.session() as session:
        [check] = list(
            await session.exec(select(CheckIn).where(CheckIn.kind == CheckInKind.CONTRACEPTION))
        )
        events = list(
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.action == "set_can_become_pregnant")
                .order_by(col(AuditEvent.id))
            )
        )
    assert check.status == PromptStatus.STOPPED
    assert [(e.actor, e.after) for e in events] == [
        (f"tg:{TEAM}", {"can_become_pregnant": True}),
        (f"tg:{TEAM}", {"can_become_pregnant": False}),
    ]
    # No nudge for the closed prompt, and no new prompt weeks later.
    for days in (1, 30, 60):
        await advance_to(clock.now() + timedelta(days=days), scheduler, sandbox, clock)
    assert prompts() == 1
    assert "用法：/can_become_pregnant STUDY_ID yes|no" in await say(
        sandbox, "/can_become_pregnant ZJU2-001 maybe"
    )
