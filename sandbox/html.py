"""Telegram's HTML parse mode: parse it into text and entities exactly as strictly as Telegram.

The parser follows the algorithm of TDLib's `parse_html` (the code behind the Bot API), with its
error wording, and is stricter in one place on purpose: a `&` that does not start one of the
entities Telegram knows (`&lt;` `&gt;` `&amp;` `&quot;` `&#NN;` `&#xNN;`, with the `;`) is an
error, because a bot that forgets to escape `&` will sooner or later send a `<` unescaped too.
Entity offsets and lengths are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import html as stdhtml
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "HtmlParseError",
    "command_entities",
    "entities_to_html",
    "parse_html",
    "utf16_len",
]

Entity = dict[str, Any]

_SPACES = frozenset(" \t\r\n\0\v\f")
_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_TAGS = frozenset({*_SIMPLE, "a", "code", "pre", "blockquote", "tg-emoji"})
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:#(\d{1,8})|#[xX]([0-9a-fA-F]{1,8})|([a-zA-Z]+));")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_LINK_SCHEMES = frozenset({"http", "https", "tg", "ton"})
_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![^\s])")


class HtmlParseError(ValueError):
    """Text that Telegram would refuse with "can't parse entities"."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class _Open:
    tag: str
    argument: str
    expandable: bool
    utf16_start: int
    text_start: int
    byte_offset: int


def utf16_len(text: str) -> int:
    """Length of `text` in UTF-16 code units (how Telegram measures entity offsets)."""
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


class _Parser:
    def __init__(self, source: str) -> None:
        self.s = source
        self.i = 0
        self.out: list[str] = []
        self.utf16 = 0
        self.stack: list[_Open] = []
        self.entities: list[Entity] = []

    def at(self, i: int) -> str:
        return self.s[i] if i < len(self.s) else "\0"

    def error(self, detail: str, pos: int) -> HtmlParseError:
        offset = len(self.s[:pos].encode("utf-8", "surrogatepass"))
        return HtmlParseError(f"{detail} at byte offset {offset}")

    def emit(self, text: str) -> None:
        self.out.extend(text)
        self.utf16 += utf16_len(text)

    def skip_spaces(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in _SPACES:
            self.i += 1

    def run(self) -> tuple[str, list[Entity]]:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "&":
                self.emit(self.entity(self.i))
            elif c == "<" and self.at(self.i + 1) == "/":
                self.end_tag()
            elif c == "<":
                self.start_tag()
            else:
                self.emit(c)
                self.i += 1
        if self.stack:
            top = self.stack[-1]
            raise HtmlParseError(
                f'Can\'t find end tag corresponding to start tag "{top.tag}" '
                f"at byte offset {top.byte_offset}"
            )
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def entity(self, pos: int) -> str:
        """Decode the character reference at `pos` and move past it."""
        match = _ENTITY.match(self.s, pos)
        char = _decode_reference(match)
        if match is None or char is None:
            raise self.error(
                'Character "&" must be escaped as "&amp;" (or start a valid entity)', pos
            )
        self.i = match.end()
        return char

    def start_tag(self) -> None:
        begin = self.i
        self.i += 1
        while self.at(self.i) not in _SPACES and self.at(self.i) != ">":
            self.i += 1
        if self.i >= len(self.s):
            raise self.error("Unclosed start tag", begin)
        tag = self.s[begin + 1 : self.i].lower()
        if tag not in _TAGS:
            raise self.error(f'Unsupported start tag "{tag}"', begin)
        argument, expandable = self.attributes(tag, begin)
        if tag == "span" and argument != "spoiler":
            raise self.error('Tag "span" must have class "tg-spoiler"', begin)
        self.i += 1
        byte_offset = len(self.s[:begin].encode("utf-8", "surrogatepass"))
        self.stack.append(_Open(tag, argument, expandable, self.utf16, len(self.out), byte_offset))

    def attributes(self, tag: str, begin: int) -> tuple[str, bool]:
        argument, expandable = "", False
        while True:
            self.skip_spaces()
            if self.i >= len(self.s):
                raise self.error(f'Unclosed start tag "{tag}"', begin)
            if self.s[self.i] == ">":
                return argument, expandable
            name_begin = self.i
            while self.at(self.i) not in _SPACES and self.at(self.i) not in "=>":
                self.i += 1
            name = self.s[name_begin : self.i].lower()
            self.skip_spaces()
            if self.at(self.i) != "=":
                if tag == "blockquote" and name == "expandable":
                    expandable = True
                    continue
                raise self.error(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}"', begin
                )
            self.i += 1
            self.skip_spaces()
            value = self.attribute_value(tag, begin)
            if tag == "a" and name == "href":
                argument = value
            elif tag == "code" and name == "class" and value.startswith("language-"):
                argument = value.removeprefix("language-")
            elif tag == "span" and name == "class" and value.startswith("tg-"):
                argument = value.removeprefix("tg-")
            elif tag == "tg-emoji" and name == "emoji-id":
                argument = value

    def attribute_value(self, tag: str, begin: int) -> str:
        if self.i >= len(self.s):
            raise self.error(f'Unclosed start tag "{tag}"', begin)
        quote = self.s[self.i]
        if quote not in "\"'":
            token_begin = self.i
            while self.at(self.i).isascii() and (
                self.at(self.i).isalnum() or self.at(self.i) in ".-"
            ):
                self.i += 1
            if self.at(self.i) not in _SPACES and self.at(self.i) != ">":
                raise self.error("Unexpected end of name token", token_begin)
            return self.s[token_begin : self.i].lower()
        end = self.s.find(quote, self.i + 1)
        if end < 0:
            raise self.error("Unclosed end of attribute value", self.i)
        value = self.decode_attribute(self.i + 1, end)
        self.i = end + 1
        if self.at(self.i) not in _SPACES and self.at(self.i) != ">":
            raise self.error("Expected whitespace or end of tag after an attribute value", self.i)
        return value

    def decode_attribute(self, start: int, end: int) -> str:
        chars: list[str] = []
        pos = start
        while pos < end:
            if self.s[pos] == "&":
                match = _ENTITY.match(self.s, pos, end)
                char = _decode_reference(match)
                if match is None or char is None:
                    raise self.error('Character "&" must be escaped as "&amp;"', pos)
                chars.append(char)
                pos = match.end()
            else:
                chars.append(self.s[pos])
                pos += 1
        return "".join(chars)

    def end_tag(self) -> None:
        begin = self.i
        if not self.stack:
            raise self.error("Unexpected end tag", begin)
        self.i += 2
        while self.at(self.i) not in _SPACES and self.at(self.i) != ">":
            self.i += 1
        name = self.s[begin + 2 : self.i].lower()
        self.skip_spaces()
        if self.at(self.i) != ">":
            raise self.error("Unclosed end tag", begin)
        self.i += 1
        top = self.stack.pop()
        if name and name != top.tag:
            offset = len(self.s[:begin].encode("utf-8", "surrogatepass"))
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {offset}, expected "</{top.tag}>", '
                f'found "</{name}>"'
            )
        if self.utf16 > top.utf16_start:
            self.close_entity(top, begin)

    def close_entity(self, top: _Open, pos: int) -> None:
        offset, length = top.utf16_start, self.utf16 - top.utf16_start
        entity: Entity = {"type": _SIMPLE.get(top.tag, top.tag), "offset": offset, "length": length}
        if top.tag == "a":
            url = _check_link(top.argument or "".join(self.out[top.text_start :]))
            if url is None:
                return
            entity = {"type": "text_link", "offset": offset, "length": length, "url": url}
        elif top.tag == "code" and top.argument:
            entity["language"] = top.argument
        elif top.tag == "pre":
            last = self.entities[-1] if self.entities else None
            if (
                last
                and last["type"] == "code"
                and (last["offset"], last["length"])
                == (
                    offset,
                    length,
                )
            ):
                self.entities.pop()
                if "language" in last:
                    entity["language"] = last["language"]
        elif top.tag == "blockquote" and top.expandable:
            entity["type"] = "expandable_blockquote"
        elif top.tag == "tg-emoji":
            if not top.argument.isdigit() or int(top.argument) == 0:
                raise self.error("Invalid custom emoji identifier specified", pos)
            entity = {
                "type": "custom_emoji",
                "offset": offset,
                "length": length,
                "custom_emoji_id": top.argument,
            }
        self.entities.append(entity)


def _decode_reference(match: re.Match[str] | None) -> str | None:
    if match is None:
        return None
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        return _NAMED.get(name)
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def _check_link(url: str) -> str | None:
    url = url.strip()
    if not url:
        return None
    scheme = _SCHEME.match(url)
    if scheme is None:
        return f"http://{url}"
    return url if scheme.group(1).lower() in _LINK_SCHEMES else None


def parse_html(source: str) -> tuple[str, list[Entity]]:
    """Parse Telegram HTML into (text, entities); raise `HtmlParseError` where Telegram would."""
    return _Parser(source).run()


def command_entities(text: str) -> list[Entity]:
    """The `bot_command` entities Telegram attaches to a user's text."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: m.start()]),
            "length": utf16_len(m.group()),
        }
        for m in _COMMAND.finditer(text)
    ]


_TAG_OF = {
    "bold": "b",
    "italic": "i",
    "underline": "u",
    "strikethrough": "s",
    "spoiler": "tg-spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "expandable_blockquote": "blockquote",
    "text_link": "a",
    "custom_emoji": "tg-emoji",
}


def _open_tag(entity: Entity) -> tuple[str, str]:
    kind = str(entity["type"])
    tag = _TAG_OF[kind]
    if kind == "text_link":
        return f'<a href="{stdhtml.escape(str(entity.get("url", "")))}">', "</a>"
    if kind == "custom_emoji":
        emoji_id = stdhtml.escape(str(entity.get("custom_emoji_id", "")))
        return f'<tg-emoji emoji-id="{emoji_id}">', "</tg-emoji>"
    if kind == "expandable_blockquote":
        return "<blockquote expandable>", "</blockquote>"
    if kind == "pre" and entity.get("language"):
        language = stdhtml.escape(str(entity["language"]))
        return f'<pre><code class="language-{language}">', "</code></pre>"
    return f"<{tag}>", f"</{tag}>"


def entities_to_html(text: str, entities: list[Entity]) -> str:
    """Telegram HTML for `text` with `entities` (the inverse of `parse_html` for nested ones)."""
    spans = sorted(
        (
            (int(e["offset"]), int(e["offset"]) + int(e["length"]), e)
            for e in entities
            if e.get("type") in _TAG_OF
        ),
        key=lambda s: (s[0], -s[1]),
    )
    parts: list[str] = []
    open_spans: list[tuple[int, str]] = []
    position = 0
    pending = 0
    for char in [*text, ""]:
        while open_spans and open_spans[-1][0] <= position:
            parts.append(open_spans.pop()[1])
        while pending < len(spans) and spans[pending][0] <= position:
            _, end, entity = spans[pending]
            opening, closing = _open_tag(entity)
            parts.append(opening)
            open_spans.append((end, closing))
            pending += 1
        parts.append(stdhtml.escape(char, quote=False))
        position += utf16_len(char)
    while open_spans:
        parts.append(open_spans.pop()[1])
    return "".join(parts)
