"""The page's view of a bot's photo: the image itself at `/sandbox/photo/<file_id>`, and what
a phone's camera would read from a QR code in it."""

from __future__ import annotations

import io

import httpx
import telegram
from PIL import Image

from messages.qr import invitation_qr_png
from sandbox import SandboxServer
from sandbox.client import SandboxClient

LINK = "https://t.me/trialbot_test_bot?start=abcDEF_123-xyz0123456789abcdefgh"


def blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(buffer, format="PNG")
    return buffer.getvalue()


async def test_a_photo_is_served_to_the_page_and_its_qr_code_read(
    sb: SandboxServer, bot: telegram.Bot, user: int
) -> None:
    qr = invitation_qr_png(LINK)
    sent = await bot.send_photo(user, qr, caption="invitation")
    file_id = sent.photo[-1].file_id
    async with httpx.AsyncClient(base_url=sb.url) as client:
        image = await client.get(f"/sandbox/photo/{file_id}")
        missing = await client.get("/sandbox/photo/sandbox-file-999999")
    assert image.status_code == 200 and image.content == qr
    assert image.headers["content-type"] == "image/png"
    assert missing.status_code == 404
    async with SandboxClient(sb.url) as control:
        assert await control.scan_photo(file_id) == [LINK]
    assert sb.scan_photo(file_id) == [LINK]

    plain = await bot.send_photo(user, blank_png())
    assert sb.scan_photo(plain.photo[-1].file_id) == []
    # A thumbnail's id is not the uploaded image: only the largest size is kept.
    async with httpx.AsyncClient(base_url=sb.url) as client:
        thumbnail = await client.get(f"/sandbox/photo/{sent.photo[0].file_id}")
    assert thumbnail.status_code == 404
