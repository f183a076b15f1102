"""sendPhoto as PTB sees it: an uploaded PNG becomes Telegram's photo sizes, a caption is
checked like Telegram's (HTML, 1024 characters), and what Telegram refuses is refused."""

from __future__ import annotations

import io

import httpx
import pytest
import telegram
from PIL import Image

from sandbox import SandboxServer
from sandbox.spec import load_spec
from tests.sandbox.conftest import TOKEN


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return buffer.getvalue()


async def test_an_uploaded_photo_arrives_with_telegrams_sizes_and_its_html_caption(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    sent = await bot.send_photo(
        user, png(1600, 900), caption="<b>ZJU2-001</b> 趋势 &amp; T1", parse_mode="HTML"
    )
    assert [(p.width, p.height) for p in sent.photo] == [
        (90, 51),
        (320, 180),
        (800, 450),
        (1280, 720),
    ]
    assert sent.photo[-1].file_size is not None and sent.photo[-1].file_size > 0
    assert len({p.file_id for p in sent.photo}) == 4
    assert sent.caption == "ZJU2-001 趋势 & T1"
    assert [(e.type, e.offset, e.length) for e in sent.caption_entities] == [("bold", 0, 8)]
    stored = sb.message(user, sent.message_id)
    assert stored.kind == "photo"
    assert stored.html == "<b>ZJU2-001</b> 趋势 &amp; T1"

    small = await bot.send_photo(user, png(200, 100))
    assert [(p.width, p.height) for p in small.photo] == [(90, 45), (200, 100)]
    assert small.caption is None
    again = await bot.send_photo(user, sent.photo[-1].file_id, caption="again")
    assert [p.file_id for p in again.photo] == [p.file_id for p in sent.photo]


async def test_the_result_of_send_photo_is_a_valid_message_of_the_bot_api(
    sb: SandboxServer, user: int
) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{sb.url}/bot{TOKEN}/sendPhoto",
            data={"chat_id": str(user), "caption": "chart"},
            files={"photo": ("chart.png", png(640, 480), "image/png")},
        )
    assert answer.json()["ok"] is True
    assert load_spec().problems(answer.json()["result"], "Message") == []


async def test_a_caption_is_at_most_1024_characters_after_parsing(
    bot: telegram.Bot, user: int
) -> None:
    longest = "<b>" + "字" * 1024 + "</b>"  # the tags do not count
    assert (await bot.send_photo(user, png(10, 10), caption=longest, parse_mode="HTML")).caption
    with pytest.raises(telegram.error.BadRequest, match="Message caption is too long"):
        await bot.send_photo(user, png(10, 10), caption="x" * 1025)
    with pytest.raises(telegram.error.BadRequest, match="Can't parse entities"):
        await bot.send_photo(user, png(10, 10), caption="<b>open", parse_mode="HTML")


@pytest.mark.parametrize(
    ("photo", "error"),
    [
        (b"not an image at all", "Image_process_failed"),
        (png(2100, 100), "Photo_invalid_dimensions"),  # wider than 20:1
        (png(6000, 4100), "Photo_invalid_dimensions"),  # width + height over 10,000
        ("sandbox-file-999", "Wrong file identifier/http url specified"),
    ],
)
async def test_what_telegram_refuses_as_a_photo_is_refused(
    bot: telegram.Bot, user: int, photo: bytes | str, error: str
) -> None:
    with pytest.raises(telegram.error.BadRequest, match=error):
        await bot.send_photo(user, photo)


async def test_a_photo_to_a_user_who_blocked_the_bot_is_forbidden(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    sb.block(user)
    with pytest.raises(telegram.error.Forbidden, match="bot was blocked by the user"):
        await bot.send_photo(user, png(10, 10))
