"""Bot API methods that send media: sendPhoto, with Telegram's checks of the photo and its
caption. The sandbox keeps the photo's sizes, and the uploaded image for the page (which
shows it, and "scans" a QR code in it: `Sandbox.scan_photo`)."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, UnidentifiedImageError

from sandbox.botapi_chat import writable_chat
from sandbox.context import CallContext, Handler
from sandbox.errors import bad_request
from sandbox.formatting import check_reply_markup, format_caption
from sandbox.models import SandboxMessage, buttons_of
from sandbox.spec import FileUpload

__all__ = ["HANDLERS", "MAX_PHOTO_BYTES", "photo_sizes"]

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTO_SIDES = 10_000  # width + height
MAX_PHOTO_RATIO = 20
THUMBNAIL_SIDES = (90, 320, 800, 1280)  # Telegram's s, m, x and y sizes


def _dimensions(upload: FileUpload) -> tuple[int, int]:
    """The uploaded image's width and height, or the error Telegram answers."""
    if upload.size == 0:
        raise bad_request("file must be non-empty")
    if upload.size > MAX_PHOTO_BYTES:
        raise bad_request("PHOTO_SAVE_FILE_INVALID")
    try:
        with Image.open(io.BytesIO(upload.content)) as image:
            image.verify()
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise bad_request("IMAGE_PROCESS_FAILED") from None
    if width < 1 or height < 1 or width + height > MAX_PHOTO_SIDES:
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    if max(width, height) > MAX_PHOTO_RATIO * min(width, height):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    return width, height


def photo_sizes(ctx: CallContext, width: int, height: int, size: int) -> list[dict[str, Any]]:
    """The PhotoSize objects Telegram makes of an upload: thumbnails with a longest side of
    90, 320 and 800 px where the photo is larger, and the photo itself up to 1280 px."""
    sizes: list[dict[str, Any]] = []
    longest = max(width, height)
    for side in THUMBNAIL_SIDES:
        scale = min(1.0, side / longest)
        dims = (max(1, round(width * scale)), max(1, round(height * scale)))
        if sizes and (sizes[-1]["width"], sizes[-1]["height"]) == dims:
            break
        sizes.append({**ctx.world.new_file(), "width": dims[0], "height": dims[1]})
        if scale == 1.0:
            break
    sizes[-1]["file_size"] = size
    return sizes


def _known_photo(ctx: CallContext, file_id: str) -> list[dict[str, Any]]:
    """The sizes of a photo already in the sandbox, sent again by its file_id."""
    for transcript in ctx.world.transcripts.values():
        for message in transcript:
            photo = message.extra.get("photo") if message.kind == "photo" else None
            if photo and any(size.get("file_id") == file_id for size in photo):
                return [dict(size) for size in photo]
    raise bad_request("wrong file identifier/HTTP URL specified")


async def send_photo(ctx: CallContext) -> dict[str, Any]:
    """sendPhoto: an uploaded image (or a photo's file_id) with an optional caption."""
    params, world, bot = ctx.params, ctx.world, ctx.bot
    chat = writable_chat(ctx, params["chat_id"])
    photo = params["photo"]
    if isinstance(photo, FileUpload):
        sizes = photo_sizes(ctx, *_dimensions(photo), photo.size)
        world.photos[sizes[-1]["file_id"]] = photo.content
    else:
        sizes = _known_photo(ctx, str(photo))
    caption = format_caption(
        params.get("caption"), params.get("parse_mode"), params.get("caption_entities")
    )
    markup = check_reply_markup(params.get("reply_markup"))
    message = SandboxMessage(
        message_id=world.next_message_id(chat.chat_id),
        chat_id=chat.chat_id,
        from_bot=True,
        user_id=bot.bot_id,
        date=world.now(),
        text=caption.text if caption else "",
        html=caption.html if caption else "",
        entities=caption.entities if caption else [],
        buttons=buttons_of(markup),
        bot_id=bot.bot_id,
        kind="photo",
        reply_markup=markup,
        extra={"photo": sizes},
    )
    world.store(message)
    return world.message_api(message)


HANDLERS: dict[str, Handler] = {"sendphoto": send_photo}
