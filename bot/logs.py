"""Logging: one line per event, optionally JSON; never message text, answers or names.

An exception's message can quote what a person typed (a parse error, a domain error's
details) or a database row, so tracebacks are logged with each exception's type and frames
(file, line, function) but never its message.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from types import TracebackType

from bot.settings import Settings

QUIET_LIBRARIES = ("httpx", "httpcore", "apscheduler", "telegram", "aiohttp.access")
# DEBUG is for our own lines (a message's way through the dispatcher): a library's debug
# lines can quote what a person wrote (aiosqlite logs each statement with its parameters).
OWN_PACKAGES = ("bot", "scheduler", "study", "messages", "migrations", "sandbox", "bench")
HIDDEN = "(message not logged: it may hold personal data)"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


def private_traceback(error: BaseException) -> str:
    """`error`'s traceback as Python prints it, with the exceptions it was raised from or
    during, except that no exception's message is shown: only its type and where it was."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and not any(current is seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts: list[str] = []
    for earlier, later in zip(chain[:0:-1], chain[-2::-1], strict=True):
        parts.append(_one(earlier))
        parts.append(
            "\nThe above exception was the direct cause of the following exception:\n\n"
            if later.__cause__ is earlier
            else "\nDuring handling of the above exception, another exception occurred:\n\n"
        )
    parts.append(_one(error))
    return "".join(parts).rstrip("\n")


def _one(error: BaseException) -> str:
    lines = []
    if error.__traceback__ is not None:
        lines.append("Traceback (most recent call last):\n")
        lines += traceback.format_list(traceback.extract_tb(error.__traceback__))
    kind = type(error)
    module = "" if kind.__module__ == "builtins" else kind.__module__ + "."
    lines.append(f"{module}{kind.__qualname__}: {HIDDEN}\n")
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            lines.append("  " + private_traceback(inner).replace("\n", "\n  ") + "\n")
    return "".join(lines)


class PrivateFormatter(logging.Formatter):
    """The plain log line; a traceback without exception messages."""

    def format(self, record: logging.LogRecord) -> str:
        # logging caches a record's formatted traceback for every handler; never reuse one
        # that another formatter made with the messages.
        cached, record.exc_text = record.exc_text, None
        try:
            return super().format(record)
        finally:
            record.exc_text = cached

    def formatException(self, ei: ExcInfo) -> str:
        return private_traceback(ei[1]) if ei[1] is not None else ""


class JsonFormatter(PrivateFormatter):
    """One JSON object a line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    if settings.trialbot_log_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(PrivateFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    level = logging.getLevelNamesMapping()[settings.trialbot_log_level]
    root.setLevel(max(logging.INFO, level))
    for name in OWN_PACKAGES:
        logging.getLogger(name).setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
