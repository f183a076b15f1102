"""A missing token starts the sandbox demo only on a database that is empty or the demo's own;
it never touches a real study, and a real bot never starts on the demo's made-up study."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlmodel import select

from bot.runner import serve
from bot.settings import Settings
from sandbox import SandboxServer
from study.alerts import raise_alert
from study.config import StudyConfig
from study.database import Database
from study.errors import ConfigError
from study.models import AuditEvent, Participant, Tier
from tests.e2e.conftest import TOKEN
from tests.fuzz.rows import snapshot
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.run_process import clean_environment, start_run

P = 5001


async def a_real_study(database: Database, config: StudyConfig, clock: FakeClock) -> None:
    """A linked participant with an urgent alert whose card is still to be sent."""
    participant, _ = await enrolled(database, config, clock, chat_id=P)
    async with database.session() as session:
        await raise_alert(
            session,
            config=config,
            participant=participant,
            kind="checkin",
            tier=Tier.T1,
            evidence=[],
            now=clock.now(),
        )


def no_token(database_url: str, study_file: Path, **more: object) -> Settings:
    """What a forgotten env file leaves: TELEGRAM_BOT_TOKEN blank, the rest as configured."""
    return Settings(
        _env_file=None,
        telegram_bot_token="",
        database_url=database_url,
        trialbot_study_file=study_file,
        trialbot_sandbox_port=0,
        **more,  # type: ignore[arg-type]
    )


def stopped() -> asyncio.Event:
    """A stop signal already given: serve() starts everything, then stops at once."""
    event = asyncio.Event()
    event.set()
    return event


async def test_a_blank_token_refuses_a_real_study_and_changes_nothing(
    database: Database,
    database_url: str,
    config: StudyConfig,
    clock: FakeClock,
    study_file: Path,
) -> None:
    await a_real_study(database, config, clock)
    before = await snapshot(database)

    with pytest.raises(ConfigError) as refused:
        await serve(no_token(database_url, study_file), stop=stopped())

    message = str(refused.value)
    assert "TELEGRAM_BOT_TOKEN" in message and "holds a real study" in message
    assert "set DATABASE_URL to another database" in message
    assert await snapshot(database) == before  # no card sent, nobody unreachable, no DEMO-001


@pytest.mark.parametrize("token", ["", None], ids=["blank", "unset"])
async def test_trialbot_run_without_a_token_on_a_real_study_exits_saying_what_to_set(
    database: Database,
    database_url: str,
    config: StudyConfig,
    clock: FakeClock,
    study_file: Path,
    token: str | None,
) -> None:
    await a_real_study(database, config, clock)
    before = await snapshot(database)
    settings = {"DATABASE_URL": database_url, "TRIALBOT_STUDY_FILE": str(study_file)}
    if token is not None:
        settings["TELEGRAM_BOT_TOKEN"] = token
    run = await start_run(
        study_file.parent, clean_environment(TRIALBOT_SANDBOX_PORT="0", **settings)
    )

    assert await run.ready_or_exited() == 1, run.log
    await run.stop()
    assert "Configuration problem in TELEGRAM_BOT_TOKEN" in run.log
    assert "Set TELEGRAM_BOT_TOKEN" in run.log and "Traceback" not in run.log
    assert await snapshot(database) == before


async def test_the_demo_makes_and_marks_its_own_database_where_a_token_is_refused(
    database_url: str, tmp_path: Path, sandbox: SandboxServer, study_file: Path
) -> None:
    no_study_file = tmp_path / "absent.toml"  # `make run` on a fresh clone: the bundled study
    await serve(no_token(database_url, no_study_file), stop=stopped())
    await serve(no_token(database_url, no_study_file), stop=stopped())  # its own: it runs again

    database = Database.from_url(database_url)
    try:
        async with database.session() as session:
            participants = (await session.exec(select(Participant.study_id))).all()
            marks = (
                await session.exec(
                    select(AuditEvent).where(AuditEvent.action == "demo_database_created")
                )
            ).all()
        assert participants == ["DEMO-001"] and len(marks) == 1
        before = await snapshot(database)

        with_token = Settings(
            _env_file=None,
            telegram_bot_token=TOKEN,
            telegram_api_url=sandbox.url,
            database_url=database_url,
            trialbot_study_file=study_file,
        )
        with pytest.raises(ConfigError) as refused:
            await serve(with_token, stop=stopped())
        assert "was made by the sandbox demo" in str(refused.value)
        assert "Set DATABASE_URL to a fresh database" in str(refused.value)
        assert await snapshot(database) == before
        assert sandbox.calls() == []  # it did not even ask Telegram who it is
    finally:
        await database.dispose()
