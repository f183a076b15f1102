"""Invitation QR codes: a PNG of the expected size that a QR reader turns back into the link."""

from __future__ import annotations

import io

import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from messages.qr import BORDER, SCALE, invitation_qr_png
from study.codes import deep_link, new_code

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
USERNAME_ALPHABET = START_ALPHABET.replace("-", "")


def read_qr(png: bytes) -> tuple[Image.Image, list[str]]:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image, [result.text for result in zxingcpp.read_barcodes(image)]


def test_an_invitation_link_becomes_a_450_px_qr_code_that_reads_back_as_the_link() -> None:
    link = deep_link("trialbot_test_bot", new_code())
    png = invitation_qr_png(link)
    assert png.startswith(PNG_SIGNATURE)
    image, texts = read_qr(png)
    assert image.format == "PNG"
    assert image.size == (450, 450)  # version 5: (37 modules + 2 * 4 of border) * 10 px
    assert texts == [link]
    assert invitation_qr_png(link) == png


@settings(max_examples=25, deadline=None)
@given(
    username=st.text(USERNAME_ALPHABET, min_size=5, max_size=32),
    code=st.text(START_ALPHABET, min_size=1, max_size=64),
)
def test_any_link_telegram_allows_reads_back_from_a_square_code_of_whole_modules(
    username: str, code: str
) -> None:
    link = deep_link(username, code)
    image, texts = read_qr(invitation_qr_png(link))
    assert texts == [link]
    width, height = image.size
    assert width == height <= 530
    modules = width // SCALE - 2 * BORDER
    assert width % SCALE == 0 and (modules - 17) % 4 == 0 and modules >= 21
