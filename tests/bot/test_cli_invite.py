"""Invitations on the command line: `--qr FILE.png`, `unlink`, and, while the no-token demo
runs, where to open the invitation in the sandbox's page."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import socket
import stat
import sys
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from bot.cli import _actor
from sandbox.client import SandboxClient
from scheduler.planner import Planner
from study.database import Database
from study.enrollment import Refusal, link_chat
from tests.bot.test_cli import trialbot as trialbot_process
from tests.bot.test_cli_team import NOW, STANDARD, Trialbot
from tests.support.run_process import clean_environment, start_run
from tests.support.study import STUDY_TOML, study_config

ENROL = [
    "enroll",
    "--study-id",
    "ZJU2-001",
    "--site",
    "ZJU2",
    "--arm",
    "standard",
    "--randomized",
    "2026-09-01",
    "--can-become-pregnant",
    "no",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def read_qr(path: Path) -> list[str]:
    with Image.open(io.BytesIO(path.read_bytes())) as image:
        image.load()
        return [result.text for result in zxingcpp.read_barcodes(image)]


def test_enroll_and_invite_write_the_links_qr_code_owner_only(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(STUDY_TOML, encoding="utf-8")
    port = {"TRIALBOT_SANDBOX_PORT": str(free_port())}  # no demo runs there
    first = tmp_path / "first.png"
    enrolled = trialbot_process(tmp_path, *ENROL, "--json", "--qr", str(first), **port)
    assert enrolled.returncode == 0, enrolled.stderr
    link = json.loads(enrolled.stdout)["link"]
    assert read_qr(first) == [link]
    assert stat.S_IMODE(first.stat().st_mode) == 0o600

    again = tmp_path / "again.png"
    renewed = trialbot_process(tmp_path, "invite", "ZJU2-001", "--qr", str(again), **port)
    assert renewed.returncode == 0, renewed.stderr
    new_link = next(line for line in renewed.stdout.splitlines() if "?start=" in line)
    assert read_qr(again) == [new_link] and new_link != link
    assert f"QR code written to {again}" in renewed.stdout
    assert "not running" in renewed.stdout  # no demo: it says how to start one


def test_unlink_on_the_command_line_needs_a_linked_chat(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(STUDY_TOML, encoding="utf-8")
    port = {"TRIALBOT_SANDBOX_PORT": str(free_port())}
    assert trialbot_process(tmp_path, *ENROL, **port).returncode == 0
    refused = trialbot_process(tmp_path, "unlink", "ZJU2-001", **port)
    assert refused.returncode != 0
    assert "ZJU2-001 is not linked to a chat" in refused.stdout + refused.stderr
    help_text = trialbot_process(tmp_path, "--help").stdout
    assert "unlink" in help_text


async def test_enroll_while_the_demo_runs_says_where_to_open_the_invitation(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = clean_environment(
        TRIALBOT_SANDBOX_PORT=str(port), DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}"
    )
    run = await start_run(tmp_path, env)
    try:
        assert await run.ready_or_exited() is None, run.log
        qr = tmp_path / "invite.png"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *("enroll", "--study-id", "DEMO-002", "--site", "DEMO"),
            *ENROL[5:],
            "--qr",
            str(qr),
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        lines = out.decode().splitlines()
        page = f"http://127.0.0.1:{port}/?as=2001&chat=2001&start="
        assert any(page in line for line in lines), out.decode()
        opened = next(line.strip() for line in lines if page in line)
        code = opened.removeprefix(page)
        assert read_qr(qr) == [f"https://t.me/trialbot_demo_bot?start={code}"]
        # What the page does with that address: a new user, who starts the bot with the code.
        async with SandboxClient(f"http://127.0.0.1:{port}") as sandbox:
            await sandbox.add_user(2001, "Scanner")
            sent = await sandbox.send_text(2001, f"/start {code}")
            welcome = await sandbox.wait_for_message(2001, after_message_id=sent.message_id)
        assert "欢迎" in welcome.text
    finally:
        await run.stop()


@pytest.fixture
def cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Trialbot:
    """`trialbot` in this process, on SQLite and PostgreSQL (as in test_cli_team)."""
    (tmp_path / "study.toml").write_text(STUDY_TOML, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("TELEGRAM_", "TRIALBOT_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TRIALBOT_SANDBOX_PORT", str(free_port()))  # no demo runs there
    return Trialbot(database_url, capsys, monkeypatch)


def test_unlink_on_the_command_line_frees_the_participant_for_a_new_invitation(
    cli: Trialbot,
) -> None:
    trialbot = cli
    enrolled = trialbot.enroll("ZJU2-001", *STANDARD)
    code = re.findall(r"start=(\S+)", enrolled)[0]

    async def link() -> None:
        database = Database.from_url(trialbot.url)
        try:
            async with database.session() as session:
                linked = await link_chat(
                    session,
                    code=code,
                    chat_id=5002,
                    now=NOW,
                    replanner=Planner(study_config()),
                )
            assert not isinstance(linked, Refusal)
        finally:
            await database.dispose()

    asyncio.run(link())
    done = trialbot.ok("unlink", "ZJU2-001")
    assert done.startswith("✓ ZJU2-001 is no longer linked to that chat")
    assert "invite ZJU2-001" in done
    assert "ZJU2-001 is not linked to a chat" in trialbot.refused("unlink", "ZJU2-001")
    unlinked = trialbot.audit()[-1]
    assert (unlinked["action"], unlinked["actor"]) == ("unlink_chat", _actor())
    assert unlinked["after"] == {"linked": False, "status": "invited"}
    listed = json.loads(trialbot.ok("participants", "--json"))
    assert [(row["study_id"], row["linked"]) for row in listed] == [("ZJU2-001", False)]
