"""The trend chart: a 1200 x 800 PNG for no data, one check-in and two years of data (built
with the real use cases and rows, on SQLite and PostgreSQL); the same bytes every time; its
caption valid Telegram HTML under 1024 characters in both languages; and both accepted by
the sandbox's sendPhoto through the real PTB client."""

from __future__ import annotations

import io
import struct
from datetime import UTC, date, datetime

import pytest
from PIL import Image

from messages.charts import (
    HEIGHT,
    MAX_CAPTION_CHARS,
    TIER_COLOURS,
    WIDTH,
    trend_caption,
    trend_chart_png,
)
from messages.render import label, question_text
from sandbox import SandboxServer
from sandbox.html import parse_html, utf16_len
from study.config import LANGUAGES, StudyConfig
from study.database import Database
from study.models import Participant
from study.questionnaire import ALL_QUESTIONS
from study.trends import Trend, TrendAlert, TrendCheckIn, participant_trend
from tests.sandbox.conftest import TOKEN, make_bot
from tests.study.test_export import Study, symptoms
from tests.study.test_trends import add_two_years
from tests.support.clock import FakeClock

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DAY1 = date(2024, 4, 1)


def png_size(content: bytes) -> tuple[int, int]:
    """Width and height from the PNG header (the IHDR chunk comes first)."""
    assert content[:8] == PNG_SIGNATURE and content[12:16] == b"IHDR"
    width, height = struct.unpack(">II", content[16:24])
    return width, height


def colours(content: bytes) -> set[str]:
    with Image.open(io.BytesIO(content)) as image:
        found = image.convert("RGB").getcolors(maxcolors=WIDTH * HEIGHT) or []
    return {"#{:02x}{:02x}{:02x}".format(*rgb) for _count, rgb in found}  # type: ignore[misc]


async def trend_of(database: Database, participant: Participant, today: date) -> Trend:
    async with database.session() as session:
        return await participant_trend(session, participant, today=today)


async def test_the_chart_is_1200_by_800_with_no_data_one_check_in_and_two_years(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    study = Study(database, config, clock)
    quiet = await study.enrol("ZJU2-001", "ZJU2", "standard", date(2026, 3, 2))
    one = await study.enrol("ZJU2-002", "ZJU2", "standard", date(2026, 3, 2), chat_id=7100000002)
    await study.checkin(one, datetime(2026, 3, 3, 1, 0, tzinfo=UTC), symptoms(Q2="once"))
    years = await study.enrol("ZJU2-003", "ZJU2", "standard", DAY1, can_become_pregnant=True)
    await add_two_years(database, years, DAY1)

    charts = {
        "none": trend_chart_png(await trend_of(database, quiet, date(2026, 3, 2))),
        "one": trend_chart_png(await trend_of(database, one, date(2026, 3, 3))),
        "years": trend_chart_png(await trend_of(database, years, date(2026, 4, 1))),
    }
    for content in charts.values():
        assert png_size(content) == (WIDTH, HEIGHT) == (1200, 800)
        with Image.open(io.BytesIO(content)) as image:
            assert image.format == "PNG" and image.size == (1200, 800)
    # What was reported is drawn in its tier's colour, and nothing else is.
    assert TIER_COLOURS["T2"] not in colours(charts["none"])
    assert TIER_COLOURS["T2"] in colours(charts["one"])
    assert TIER_COLOURS["T1"] not in colours(charts["one"])
    assert {TIER_COLOURS[t] for t in ("T1", "T3", "T4")} <= colours(charts["years"])
    again = trend_chart_png(await trend_of(database, years, date(2026, 4, 1)))
    assert again == charts["years"]


def test_the_png_carries_no_timestamp_or_software_version() -> None:
    trend = Trend("ZJU2-001", DAY1, date(2026, 4, 1), (), (), (), ())
    content = trend_chart_png(trend)
    with Image.open(io.BytesIO(content)) as image:
        assert image.info.keys() <= {"dpi"}
    assert b"tIME" not in content and b"Matplotlib" not in content


WORST = Trend(
    "PUMCH-0123456789012345678901234",  # 32 characters, the longest study id
    date(2024, 4, 1),
    date(2026, 4, 1),
    tuple(
        TrendCheckIn(date(2025, 1, 1), "symptoms", "T1", (q.code,), missed=False)
        for q in ALL_QUESTIONS
    ),
    (),
    (),
    tuple(TrendAlert(date(2025, 1, 1), "T1", acknowledged=False) for _ in range(120)),
)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_caption_is_valid_telegram_html_within_a_photo_captions_1024_characters(
    language: str,
) -> None:
    html = trend_caption(WORST, language)
    text, entities = parse_html(html)  # raises where Telegram would refuse
    assert utf16_len(text) <= MAX_CAPTION_CHARS == 1024
    assert text.startswith(("趋势 · PUMCH-", "Trend · PUMCH-"))
    assert [e["type"] for e in entities] == ["bold"]
    for question in ALL_QUESTIONS:
        assert f"{question.code} {question_text(question.code, language, 'title')}" in text
    for tier in ("T1", "T2", "T3", "T4"):
        assert label(f"tier_{tier}", language) in text
    assert "120" in text and "2024-04-01" in text and "2026-04-01" in text


def test_the_caption_of_a_quiet_participant_says_nothing_was_reported() -> None:
    quiet = Trend("ZJU2-001", DAY1, date(2024, 4, 2), (), (), (), ())
    assert "按问题列出报告的情况（无）" in parse_html(trend_caption(quiet, "zh"))[0]
    assert "by question (nothing)" in parse_html(trend_caption(quiet, "en"))[0]


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_sandbox_takes_the_chart_and_its_caption_through_ptb(language: str) -> None:
    group = -1001000000001
    async with SandboxServer(seed=3) as sandbox:
        sandbox.add_bot(TOKEN, username="trialbot_test_bot")
        sandbox.add_group(group, "ZJU2 team")
        async with make_bot(sandbox) as bot:
            sent = await bot.send_photo(
                group,
                trend_chart_png(WORST),
                caption=trend_caption(WORST, language),
                parse_mode="HTML",
            )
        stored = sandbox.message(group, sent.message_id)
    assert stored.kind == "photo"
    assert [(p.width, p.height) for p in sent.photo][-1] == (1200, 800)
    assert sent.caption == parse_html(trend_caption(WORST, language))[0]
