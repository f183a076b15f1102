"""Telegram's HTML parse mode: what is accepted, what is refused, and how entities come out."""

from __future__ import annotations

import pytest

from sandbox.html import HtmlParseError, command_entities, entities_to_html, parse_html, utf16_len


@pytest.mark.parametrize(
    ("source", "text", "entities"),
    [
        ("plain", "plain", []),
        ("<b>b</b><strong>s</strong>", "bs", [("bold", 0, 1), ("bold", 1, 1)]),
        ("<i>i</i><em>e</em>", "ie", [("italic", 0, 1), ("italic", 1, 1)]),
        ("<u>u</u><ins>n</ins>", "un", [("underline", 0, 1), ("underline", 1, 1)]),
        (
            "<s>s</s><strike>t</strike><del>d</del>",
            "std",
            [("strikethrough", 0, 1), ("strikethrough", 1, 1), ("strikethrough", 2, 1)],
        ),
        (
            '<span class="tg-spoiler">a</span><tg-spoiler>b</tg-spoiler>',
            "ab",
            [("spoiler", 0, 1), ("spoiler", 1, 1)],
        ),
        ("<code>x = 1</code>", "x = 1", [("code", 0, 5)]),
        ("<pre>block</pre>", "block", [("pre", 0, 5)]),
        ("<blockquote>q</blockquote>", "q", [("blockquote", 0, 1)]),
        ("<blockquote expandable>q</blockquote>", "q", [("expandable_blockquote", 0, 1)]),
        ("<b>bold <i>both</i></b>", "bold both", [("bold", 0, 9), ("italic", 5, 4)]),
        ("<B>upper</B>", "upper", [("bold", 0, 5)]),
        ("<b>x</>", "x", [("bold", 0, 1)]),
        ("<b></b>y", "y", []),
        ("&lt;&gt;&amp;&quot;", '<>&"', []),
        ("&#65;&#x42;&#X43;", "ABC", []),
        ("a > b", "a > b", []),
    ],
)
def test_valid_html(source: str, text: str, entities: list[tuple[str, int, int]]) -> None:
    parsed_text, parsed = parse_html(source)
    assert parsed_text == text
    assert [(e["type"], e["offset"], e["length"]) for e in parsed] == entities


def test_link_code_language_and_custom_emoji_carry_their_argument() -> None:
    source = (
        '<a href="https://example.org/?a=1&amp;b=2">link</a> '
        '<pre><code class="language-python">x</code></pre> '
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
    )
    _, entities = parse_html(source)
    assert entities == [
        {"type": "text_link", "offset": 0, "length": 4, "url": "https://example.org/?a=1&b=2"},
        {"type": "pre", "offset": 5, "length": 1, "language": "python"},
        {
            "type": "custom_emoji",
            "offset": 7,
            "length": 2,
            "custom_emoji_id": "5368324170671202286",
        },
    ]


@pytest.mark.parametrize(
    ("source", "detail"),
    [
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("1<2", "Unclosed start tag at byte offset 1"),
        ("AT&T", 'Character "&" must be escaped'),
        ("&nbsp;", 'Character "&" must be escaped'),
        ("&amp", 'Character "&" must be escaped'),
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("<br/>", 'Unsupported start tag "br/" at byte offset 0'),
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("<a href=https://x.org>l</a>", "Unexpected end of name token at byte offset 8"),
        ('<a href="https://x.org>l</a>', "Unclosed end of attribute value"),
        ('<a href="?a=1&b=2">l</a>', 'Character "&" must be escaped'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("<blockquote big>x</blockquote>", "Expected equal sign"),
        ("<tg-emoji>x</tg-emoji>", "Invalid custom emoji identifier specified"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
    ],
)
def test_invalid_html_is_refused_with_a_byte_offset(source: str, detail: str) -> None:
    with pytest.raises(HtmlParseError) as error:
        parse_html(source)
    assert detail in error.value.detail
    assert "at byte offset" in error.value.detail


def test_byte_offsets_count_utf8_bytes() -> None:
    with pytest.raises(HtmlParseError, match="at byte offset 6"):
        parse_html("中文<x>")


def test_entity_offsets_are_utf16_code_units() -> None:
    text, entities = parse_html("😀 <b>中文</b> 👍🏽<i>x</i>")
    assert text == "😀 中文 👍🏽x"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 2},
        {"type": "italic", "offset": 10, "length": 1},
    ]
    assert utf16_len("😀") == 2 and utf16_len("中") == 1


def test_entities_to_html_round_trips() -> None:
    source = '<b>bold <i>😀 both</i></b> &lt;tag&gt; <a href="https://e.org/?a&amp;b">l</a>'
    text, entities = parse_html(source)
    assert parse_html(entities_to_html(text, entities)) == (text, entities)


def test_bot_commands_are_detected_in_user_text() -> None:
    assert command_entities("/start CODE") == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert command_entities("hi /help@trialbot_bot now") == [
        {"type": "bot_command", "offset": 3, "length": 18}
    ]
    assert command_entities("a/b and http://x/y") == []
