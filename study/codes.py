"""Enrollment codes: 192 random bits in Telegram's start-parameter alphabet, kept as a hash.

A code is long enough that guessing is hopeless, so an unsalted SHA-256 is a safe way to
store it: the database never holds anything that links a chat by itself.
"""

from __future__ import annotations

import hashlib
import re
import secrets

CODE_BYTES = 24  # 192 bits -> 32 characters of [A-Za-z0-9_-]
START_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def new_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def hash_chat(chat_id: int) -> str:
    """A stable key for a chat that is not its Telegram id (for failed-attempt counting)."""
    return hashlib.sha256(f"chat:{chat_id}".encode()).hexdigest()


def looks_like_code(text: str) -> bool:
    return bool(START_PARAMETER.match(text))


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"
