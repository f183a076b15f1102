"""The chart as a photo: its caption never passes Telegram's 1024 characters (counted as
Telegram counts them), and a chart that cannot be drawn gives no photo instead of an error."""

from __future__ import annotations

import asyncio
import html
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from messages.charts import MAX_CAPTION_CHARS, caption_length, chart_photo, trend_caption
from sandbox.html import parse_html, utf16_len
from study.trends import Trend, TrendCheckIn

QUIET = Trend("ZJU2-001", date(2026, 3, 2), date(2026, 3, 30), (), (), (), ())


@settings(max_examples=20, deadline=None)
@given(st.text(max_size=900))
def test_the_caption_is_the_text_above_and_the_legend_or_there_is_no_photo(words: str) -> None:
    above = html.escape(words)
    photo = asyncio.run(chart_photo(QUIET, "en", above=above))
    whole = f"{above}\n\n{trend_caption(QUIET, 'en')}"
    # Telegram's own count: UTF-16 code units of the text without its markup.
    telegram_count = utf16_len(parse_html(whole)[0])
    assert caption_length(whole) == telegram_count
    if telegram_count > MAX_CAPTION_CHARS:
        assert photo is None
    else:
        assert photo is not None and photo.caption == whole
        assert photo.png.startswith(b"\x89PNG")


async def test_a_chart_that_cannot_be_drawn_is_no_photo() -> None:
    broken = Trend(
        "ZJU2-001",
        date(2026, 3, 2),
        date(2026, 3, 30),
        (TrendCheckIn(date(2026, 3, 3), "symptoms", "T9", (), missed=False),),
        (),
        (),
        (),
    )
    assert await chart_photo(broken, "zh") is None
    assert await chart_photo(QUIET, "zh") is not None
