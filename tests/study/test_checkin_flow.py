"""The check-in flow under any sequence of presses: no alert is lost, none is duplicated."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from migrations import upgrade
from study.checkins import (
    answer,
    back,
    checkin_for_press,
    draft_of,
    open_checkin,
    question_of,
    stop,
    toggle,
)
from study.config import StudyConfig
from study.database import Database
from study.errors import DomainError
from study.models import (
    Alert,
    CheckIn,
    CheckInKind,
    CheckInTrigger,
    Participant,
    PromptStatus,
    Tier,
)
from study.sites import sync_sites
from tests.conftest import START
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import study_config

ACTIONS = ("answer", "answer", "answer", "toggle", "toggle", "done", "back", "stop", "stale")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def test_any_sequence_of_presses_loses_no_alert_and_duplicates_none(
    tmp_path: Path, data: st.DataObject
) -> None:
    scratch = Path(tempfile.mkdtemp(dir=tmp_path))  # a fresh database for every example
    asyncio.run(_run(scratch / "trialbot.db", data))


async def _run(path: Path, data: st.DataObject) -> None:
    config = study_config()
    clock = FakeClock(START)
    database = Database.from_url(f"sqlite:///{path}")
    try:
        await upgrade(database)
        async with database.session() as session:
            await sync_sites(session, config)
        participant, _ = await enrolled(database, config, clock, chat_id=5001)
        async with database.session() as session:
            checkin_id = (
                await open_checkin(
                    session,
                    participant,
                    kind=CheckInKind.SYMPTOMS,
                    trigger=CheckInTrigger.ON_DEMAND,
                    now=clock.now(),
                    config=config,
                )
            ).id
        assert checkin_id is not None
        red_flag_seen = False
        for action in data.draw(st.lists(st.sampled_from(ACTIONS), max_size=40)):
            tier = await _press(database, config, clock, participant, checkin_id, action, data)
            red_flag_seen |= tier == Tier.T1
            if tier in (Tier.T1, Tier.T2):  # acted on at the press, not at the end
                async with database.session() as session:
                    alert = (await session.exec(select(Alert))).one()
                assert alert.tier <= tier, "an urgent report is alerted at once"
        async with database.session() as session:
            checkin = await session.get(CheckIn, checkin_id)
            assert checkin is not None
            if checkin.status == PromptStatus.OPEN:
                await stop(
                    session,
                    checkin,
                    participant,
                    now=clock.now(),
                    config=config,
                    status=PromptStatus.EXPIRED,
                )
        async with database.session() as session:
            checkin = await session.get(CheckIn, checkin_id)
            alerts = list(await session.exec(select(Alert)))
        assert checkin is not None
        assert len(alerts) <= 1, "one check-in, at most one alert"
        if red_flag_seen:
            assert [a.tier for a in alerts] == [Tier.T1], "a red flag is never lost"
        if checkin.tier in (Tier.T1, Tier.T2, Tier.T3):
            assert len(alerts) == 1, f"a {checkin.tier} check-in without an alert"
    finally:
        await database.dispose()


async def _press(
    database: Database,
    config: StudyConfig,
    clock: FakeClock,
    participant: Participant,
    checkin_id: int,
    action: str,
    data: st.DataObject,
) -> Tier | None:
    """One press; the tier of everything reported so far, if the press reported anything."""
    clock.advance(timedelta(minutes=1))
    try:
        async with database.session() as session:
            current = await session.get(CheckIn, checkin_id)
            assert current is not None
            code = current.current_question
            if action == "stale":  # a button of another question, or of a closed check-in
                code = data.draw(st.sampled_from(["Q1", "Q5", "Q13"]))
            checkin = await checkin_for_press(
                session, participant, checkin_id, None if action == "stop" else code
            )
            question = question_of(checkin, checkin.current_question)
            assert question is not None
            if action == "stop":
                await stop(session, checkin, participant, now=clock.now(), config=config)
            elif action == "back":
                back(checkin)
                session.add(checkin)
            elif action == "toggle" and question.multi:
                step = await toggle(
                    session,
                    checkin,
                    participant,
                    question.code,
                    data.draw(st.sampled_from(question.items)),
                    now=clock.now(),
                    config=config,
                )
                return step.result.tier if step.result else None
            elif action in ("answer", "done", "stale"):
                chosen = (
                    draft_of(checkin, question.code)
                    if action == "done"
                    else (data.draw(st.sampled_from(question.answers)),)
                )
                step = await answer(
                    session,
                    checkin,
                    participant,
                    question.code,
                    chosen,
                    now=clock.now(),
                    config=config,
                )
                return step.result.tier if step.result else None
    except DomainError:
        pass
    return None
