"""An invitation's deep link as a QR code, for enrolling at the bedside: the participant
scans it with the phone's camera and Telegram opens the bot with the code."""

from __future__ import annotations

import io

import segno

SCALE = 10  # pixels per module: about 4.5 cm wide at 254 dpi, easy to scan from paper
BORDER = 4  # modules of quiet zone, as the QR standard asks


def invitation_qr_png(link: str) -> bytes:
    """The link as a black-on-white PNG QR code (error correction M or better).

    The image is square, `(modules + 2 * BORDER) * SCALE` pixels wide, where `modules` is
    17 + 4 * the QR version the link needs: with trialbot's 32-character codes, 410 px for a
    bot name of up to 10 characters and 450 px for any longer one (Telegram allows 32); at
    most 530 px for any start parameter Telegram allows. The same link gives the same bytes.
    """
    code = segno.make_qr(link, error="m")
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=SCALE, border=BORDER)
    return buffer.getvalue()


__all__ = ["BORDER", "SCALE", "invitation_qr_png"]
