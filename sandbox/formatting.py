"""Telegram's checks of what a bot sends: message text, parse modes, entities, keyboards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sandbox.errors import bad_request
from sandbox.html import HtmlParseError, entities_to_html, parse_html, utf16_len

__all__ = ["FormattedText", "check_reply_markup", "format_caption", "format_text"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_BUTTONS = 100
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_URL_SCHEMES = frozenset({"http", "https", "tg"})


@dataclass(frozen=True)
class FormattedText:
    """Text after entity parsing, its entities, and its Telegram-HTML form."""

    text: str
    entities: list[dict[str, Any]]
    html: str


def format_text(
    source: str | None,
    parse_mode: str | None,
    entities: list[dict[str, Any]] | None,
    *,
    limit: int = MAX_TEXT,
    too_long: str = "message is too long",
) -> FormattedText:
    """Apply `parse_mode` (or explicit `entities`) and Telegram's length checks."""
    source = source or ""
    mode = (parse_mode or "").strip().lower()
    if entities is not None:
        _check_entities(source, entities)
        result = FormattedText(source, entities, entities_to_html(source, entities))
    elif mode == "html":
        try:
            text, parsed = parse_html(source)
        except HtmlParseError as exc:
            raise bad_request(f"can't parse entities: {exc.detail}") from None
        result = FormattedText(text, parsed, source)
    elif mode in ("markdown", "markdownv2"):
        raise bad_request(
            f"parse_mode {parse_mode} is not supported by the sandbox: use HTML or plain text"
        )
    elif mode:
        raise bad_request(f"unsupported parse_mode {parse_mode}")
    else:
        result = FormattedText(source, [], entities_to_html(source, []))
    result = _trimmed(result)
    if not result.text.strip():
        raise bad_request("message text is empty")
    if len(result.text) > limit:
        raise bad_request(too_long)
    return result


def format_caption(
    source: str | None, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> FormattedText | None:
    """A media caption: as `format_text`, at most 1024 characters after parsing; None when
    there is none (a caption is optional, and one of only spaces is dropped)."""
    if not source or not source.strip(" \n"):
        return None
    return format_text(
        source, parse_mode, entities, limit=MAX_CAPTION, too_long="message caption is too long"
    )


def _trimmed(formatted: FormattedText) -> FormattedText:
    """Drop leading and trailing spaces and newlines, as Telegram does, moving the entities."""
    text = formatted.text
    kept = text.strip(" \n")
    if kept == text:
        return formatted
    shift = utf16_len(text[: len(text) - len(text.lstrip(" \n"))])
    size = utf16_len(kept)
    entities = []
    for entity in formatted.entities:
        start = max(entity["offset"] - shift, 0)
        stop = min(entity["offset"] + entity["length"] - shift, size)
        if stop > start:
            entities.append({**entity, "offset": start, "length": stop - start})
    return FormattedText(kept, entities, formatted.html)


def _check_entities(text: str, entities: list[dict[str, Any]]) -> None:
    size = utf16_len(text)
    for entity in entities:
        offset, length = entity["offset"], entity["length"]
        if offset < 0 or length <= 0 or offset + length > size:
            raise bad_request("can't parse entities: entity is out of the text bounds")
        if entity["type"] == "text_link" and not entity.get("url"):
            raise bad_request("can't parse entities: text_link entity needs a url")


def check_reply_markup(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """Telegram's checks of a reply_markup that already has the right JSON shape."""
    if markup is None:
        return None
    if "inline_keyboard" in markup:
        _check_inline_keyboard(markup["inline_keyboard"])
    elif "keyboard" in markup:
        if not any(row for row in markup["keyboard"]):
            raise bad_request("keyboard must be non-empty")
        for row in markup["keyboard"]:
            for button in row:
                if not str(button.get("text", "")).strip():
                    raise bad_request("keyboard button text must be non-empty")
    elif "remove_keyboard" in markup and markup["remove_keyboard"] is not True:
        raise bad_request("remove_keyboard must be true")
    elif "force_reply" in markup and markup["force_reply"] is not True:
        raise bad_request("force_reply must be true")
    return markup


def _check_inline_keyboard(rows: list[list[dict[str, Any]]]) -> None:
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise bad_request("BUTTONS_TOO_MUCH")
    for row in rows:
        for button in row:
            _check_button(button)


def _check_button(button: dict[str, Any]) -> None:
    if not str(button.get("text", "")).strip():
        raise bad_request("BUTTON_TEXT_INVALID")
    actions = [key for key in _BUTTON_ACTIONS if key in button]
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if len(actions) > 1:
        raise bad_request(
            f"can't parse inline keyboard button: exactly one of {', '.join(actions)} must be used"
        )
    if "callback_data" in button:
        size = len(str(button["callback_data"]).encode("utf-8"))
        if not 1 <= size <= MAX_CALLBACK_DATA:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button:
        url = str(button["url"])
        parts = urlsplit(url)
        if parts.scheme.lower() not in _URL_SCHEMES or not (parts.netloc or parts.scheme == "tg"):
            raise bad_request("BUTTON_URL_INVALID")
