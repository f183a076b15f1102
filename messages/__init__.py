"""Every word a person reads: Jinja2 templates per language, rendered for Telegram HTML."""

from messages.render import (
    Button,
    Keyboard,
    Rendered,
    button,
    label,
    plain,
    render,
    render_bilingual,
)

__all__ = [
    "Button",
    "Keyboard",
    "Rendered",
    "button",
    "label",
    "plain",
    "render",
    "render_bilingual",
]
