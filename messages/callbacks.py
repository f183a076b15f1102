"""Callback data of buttons: one frozen dataclass per kind of button, packed and parsed here.

Telegram hands back a pressed button's data as it was sent (1-64 bytes), and anyone can forge
it. Each kind has a short prefix and typed parts; `parse` accepts exactly what `pack`
produces, and returns None for anything else, so a handler never sees a half-valid press.
Handlers register `CallbackQueryHandler(handler, pattern=Kind.matches)` and read the press
with `Kind.parse(query.data)`. (aiogram's `CallbackData` is the model.)

The data of buttons already sent stays valid: a kind's format does not change once
buttons of it are in people's chats (`v:12:ok`, `a:7:ack`, `lang:zh` are what earlier
versions sent).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import Field, dataclass, field, fields
from datetime import date, time
from enum import StrEnum
from typing import Any, ClassVar, Self

from messages.render import MAX_CALLBACK_BYTES
from study.config import LANGUAGES
from study.protocol import Arm

# A table id, below 10**9: ids are 32-bit on PostgreSQL, where a larger one (forged) would
# make the lookup itself fail instead of finding nothing.
ID = r"[1-9][0-9]{0,8}"
CODE = r"[A-Z][A-Z0-9]{0,3}"  # a question code: Q1, PI, C2
ITEM = r"[a-z][a-z0-9_]{0,23}"  # an answer code


def _choice(values: Iterable[str]) -> str:
    """A pattern matching exactly one of `values`."""
    return "|".join(re.escape(value) for value in values)


def part(pattern: str, convert: Callable[[str], Any] = str) -> Any:
    """A typed part of callback data: its text must match `pattern` whole."""
    return field(metadata={"pattern": re.compile(pattern), "convert": convert})


class CallbackData:
    """Base of every kind of button data. Subclasses are frozen dataclasses declared with
    `prefix=...` whose fields are `part(...)`s."""

    prefix: ClassVar[str]
    kinds: ClassVar[dict[str, type[CallbackData]]] = {}

    def __init_subclass__(cls, *, prefix: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not re.fullmatch(r"[a-z]{1,4}", prefix) or prefix in CallbackData.kinds:
            raise ValueError(f"callback prefix {prefix!r} must be 1-4 new lower-case letters")
        cls.prefix = prefix
        CallbackData.kinds[prefix] = cls

    def pack(self) -> str:
        """The data to put on a button; ValueError if a part would not parse back."""
        parts = [str(getattr(self, f.name)) for f in _parts(type(self))]
        for f, text in zip(_parts(type(self)), parts, strict=True):
            if not f.metadata["pattern"].fullmatch(text):
                raise ValueError(f"{type(self).__name__}.{f.name} = {text!r} cannot be packed")
        data = ":".join([self.prefix, *parts])
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {data!r}")
        return data

    @classmethod
    def parse(cls, data: str | None) -> Self | None:
        """The button this data packs, or None if it is not exactly one of this kind."""
        if data is None:
            return None
        prefix, *texts = data.split(":")
        expected = _parts(cls)
        if prefix != cls.prefix or len(texts) != len(expected):
            return None
        values = {}
        for f, text in zip(expected, texts, strict=True):
            if not f.metadata["pattern"].fullmatch(text):
                return None
            values[f.name] = f.metadata["convert"](text)
        return cls(**values)

    @classmethod
    def matches(cls, data: object) -> bool:
        """For PTB's `CallbackQueryHandler(pattern=Kind.matches)`."""
        return isinstance(data, str) and cls.parse(data) is not None


def parse_any(data: str | None) -> CallbackData | None:
    """The button of any kind that this data packs, or None."""
    if not data:
        return None
    kind = CallbackData.kinds.get(data.split(":", 1)[0])
    return None if kind is None else kind.parse(data)


def _parts(cls: type[CallbackData]) -> tuple[Field[Any], ...]:
    return fields(cls)  # type: ignore[arg-type]


# Check-in questions (messages/checkin.py builds them, bot/checkin.py handles them).


@dataclass(frozen=True)
class Answer(CallbackData, prefix="c"):
    """Choose this answer to the question (a single-choice answer, or "none of these")."""

    checkin_id: int = part(ID, int)
    question: str = part(CODE)
    answer: str = part(ITEM)


@dataclass(frozen=True)
class Tick(CallbackData, prefix="t"):
    """Tick or untick an item of a multi-select question."""

    checkin_id: int = part(ID, int)
    question: str = part(CODE)
    item: str = part(ITEM)


@dataclass(frozen=True)
class Done(CallbackData, prefix="d"):
    """Submit the items ticked on a multi-select question."""

    checkin_id: int = part(ID, int)
    question: str = part(CODE)


@dataclass(frozen=True)
class Back(CallbackData, prefix="b"):
    """Go back to the question before this one."""

    checkin_id: int = part(ID, int)
    question: str = part(CODE)


@dataclass(frozen=True)
class Stop(CallbackData, prefix="x"):
    """Stop the check-in (what was answered is still triaged)."""

    checkin_id: int = part(ID, int)


@dataclass(frozen=True)
class ReportSymptom(CallbackData, prefix="s"):
    """Start a symptom check-in now (the "report a symptom" button of /help)."""


@dataclass(frozen=True)
class NextAppointments(CallbackData, prefix="n"):
    """Show the next visit and infusion (a button of /help, like /next)."""


CHECKIN_PRESSES: tuple[type[CallbackData], ...] = (Answer, Tick, Done, Back, Stop)


# Visit reminders (messages/reminders.py builds them, bot/reminders.py handles them).


class VisitReply(StrEnum):
    COMING = "ok"  # "I will come"
    RESCHEDULE = "rs"  # "I need another date"


VISIT_REPLY = _choice(VisitReply)


@dataclass(frozen=True)
class VisitAnswer(CallbackData, prefix="v"):
    """The participant's answer to a visit reminder."""

    visit_id: int = part(ID, int)
    reply: VisitReply = part(VISIT_REPLY, VisitReply)  # noqa: RUF009 (a dataclasses.field)


# Alert cards and their notices elsewhere (messages/alerts.py, bot/alerts.py).


class AlertStep(StrEnum):
    ACKNOWLEDGE = "ack"
    RESOLVE = "res"


ALERT_STEP = _choice(AlertStep)


@dataclass(frozen=True)
class AlertAction(CallbackData, prefix="a"):
    """A coordinator acknowledges or resolves an alert."""

    alert_id: int = part(ID, int)
    step: AlertStep = part(ALERT_STEP, AlertStep)  # noqa: RUF009 (a dataclasses.field)


# The participant's language (messages/participant.py, bot/participant.py).

LANGUAGE = _choice(LANGUAGES)


@dataclass(frozen=True)
class Language(CallbackData, prefix="lang"):
    """Read the bot in this language from now on."""

    language: str = part(LANGUAGE)


# The study team's buttons (messages/team.py builds them; bot/team.py, bot/team_labs.py and
# bot/team_enroll.py handle them). Their data are those of the buttons sent before they were
# typed, so buttons already in chats keep working.


@dataclass(frozen=True)
class WithdrawAnswer(CallbackData, prefix="w"):
    """Yes or No to "withdraw this participant?"."""

    participant_id: int = part(ID, int)
    answer: str = part("yes|no")

    @property
    def confirmed(self) -> bool:
        return self.answer == "yes"


@dataclass(frozen=True)
class DoseDecision(CallbackData, prefix="r"):
    """Confirm (`ok`) or Reject (`no`) exactly this proposed re-dose."""

    proposal_id: int = part(ID, int)
    answer: str = part("ok|no")

    @property
    def confirmed(self) -> bool:
        return self.answer == "ok"


ENROLL_CHOICES = {
    "site": r"[A-Za-z0-9_-]{1,16}",  # a site code of study.toml (ASCII)
    "arm": "|".join(arm.value for arm in Arm),
    "day": "today",
    "lang": "|".join(LANGUAGES),
    "preg": "yes|no",
}


@dataclass(frozen=True)
class EnrollChoice(CallbackData, prefix="e"):
    """A choice of the guided enrolment: its `step` and the `value` chosen, which must be
    one that step offers (ValueError on building, None on parsing otherwise)."""

    step: str = part("|".join(ENROLL_CHOICES))
    value: str = part(r"[A-Za-z0-9_-]{1,16}")

    def __post_init__(self) -> None:
        if not re.fullmatch(ENROLL_CHOICES[self.step], self.value):
            raise ValueError(f"{self.value!r} is not a choice of the enrolment step {self.step}")

    @classmethod
    def parse(cls, data: str | None) -> Self | None:
        try:
            return super().parse(data)
        except ValueError:
            return None

    @classmethod
    def of_step(cls, step: str) -> Callable[[object], bool]:
        """For PTB's `CallbackQueryHandler(pattern=...)`: a choice of this step only."""

        def matches(data: object) -> bool:
            choice = cls.parse(data) if isinstance(data, str) else None
            return choice is not None and choice.step == step

        return matches


__all__ = [
    "CHECKIN_PRESSES",
    "AlertAction",
    "AlertStep",
    "Answer",
    "Back",
    "CallbackData",
    "Done",
    "DoseDecision",
    "EnrollChoice",
    "Language",
    "NextAppointments",
    "ReportSymptom",
    "Stop",
    "Tick",
    "VisitAnswer",
    "VisitReply",
    "WithdrawAnswer",
    "parse_any",
]


# The roster's pages (messages/team.py builds them, bot/team_roster.py handles them). The page
# alone: the sites are those of the chat the button is pressed in, checked at the press.


@dataclass(frozen=True)
class RosterPage(CallbackData, prefix="ro"):
    """Show this page (from 1) of the roster."""

    page: int = part(r"[1-9][0-9]{0,3}", int)


# The confirmation under a visit day refused for being outside its protocol window
# (messages/team.py builds it, bot/team_visit.py handles it).


@dataclass(frozen=True)
class VisitAnyway(CallbackData, prefix="va"):
    """Set visit `number` of the participant of this row id to this day (YYYYMMDD) and time
    (HHMM, or `-` for none), outside its window: the coordinator confirmed it."""

    participant_id: int = part(ID, int)
    number: int = part(r"[0-9]{1,3}", int)
    day: str = part(r"[0-9]{8}")
    at: str = part(r"[0-9]{4}|-")

    def __post_init__(self) -> None:
        self.date_and_time()  # ValueError for a day or time that does not exist

    def date_and_time(self) -> tuple[date, time | None]:
        day = date(int(self.day[:4]), int(self.day[4:6]), int(self.day[6:]))
        at = None if self.at == "-" else time(int(self.at[:2]), int(self.at[2:]))
        return day, at

    @classmethod
    def parse(cls, data: str | None) -> Self | None:
        try:
            return super().parse(data)
        except ValueError:
            return None


@dataclass(frozen=True)
class AttendedAnyway(CallbackData, prefix="aa"):
    """Record visit `number` of the participant of this row id as attended on this day
    (YYYYMMDD), outside its window: the coordinator confirmed it."""

    participant_id: int = part(ID, int)
    number: int = part(r"[0-9]{1,3}", int)
    day: str = part(r"[0-9]{8}")

    def __post_init__(self) -> None:
        self.attended_on()  # ValueError for a day that does not exist

    def attended_on(self) -> date:
        return date(int(self.day[:4]), int(self.day[4:6]), int(self.day[6:]))

    @classmethod
    def parse(cls, data: str | None) -> Self | None:
        try:
            return super().parse(data)
        except ValueError:
            return None
