"""The chaos benchmark's oracle: which visit reminders each participant had to receive, and
whether what their chat received is true. It reads the protocol of CLINICAL.md and the
participant's randomisation date, never the planner's or the dispatcher's code or rows.

Rules (times are the bot's own clock, read from each run; see bench/chaos_process.py):
- Visits at months 0, 3, ..., 24 from randomisation (calendar months, a missing day clamps
  to the month's last day); a day-1 visit on or before the day of enrolment has happened.
- Each visit still ahead is reminded 7 days and 2 days before at the participant's preferred
  local hour, and on the morning of the day (at 08:00, when quiet hours end, for someone who
  prefers the afternoon); nothing goes out in quiet hours (21:00-08:00 local). A visit has no
  set time here: after local noon of its day a reminder is stale.
- Required: a reminder the bot had a fair chance to send: it was up, outside the person's
  quiet hours, for `slack` after the reminder fell due (or after it came back, if it was
  down then), before the visit's noon and the end of the window, and no later reminder of
  the visit fell due by then or falls due later that local day (after downtime only the
  latest due reminder counts, and one caught up on the day of the next is left to it: it
  would say the same "in 2 days" hours earlier).
- Received: a reminder naming its visit's date arrived from its due time on, and was on its
  way (`in_flight`) before the next reminder of the visit fell due (or by noon); one message
  answers for one reminder: of the pairings that match the most reminders, the one with the
  least delay (so a caught-up message is not credited to an earlier reminder).
- Lost: a required reminder not received, unless it was crowded out. Crowded out: during its
  whole chance the bot was sending near Telegram's limit (at least `busy_share` of the
  `capacity` the limit allows; with a month squeezed into minutes, 30 messages a second of
  wall-clock time are a few an hour of simulated time), and what it sent was queued ahead
  of the reminder: no reminder of a visit whose noon comes later (or as late, due later)
  was delivered meanwhile (the dispatcher sends the earliest deadline first, so a 7-day
  reminder caught up after downtime goes after the 2-day and morning-of reminders of
  nearer visits; the sites' alerts and notices go before reminders). A bot that sent
  nothing, or sent reminders of later deadlines first, lost it. Check-in questions and
  nudges take their turn with reminders by deadline too: 72 hours after the asking, which
  their text does not give, but which is at least `question_left` after their arrival
  (no question waits longer than the longest outage and a night). One that arrived when
  less than that was left before a reminder's noon went before it wrongly ("your visit is
  today" behind nudges of check-ins open for days), and the reminder is lost.
- Stale: a reminder naming a date that is not a visit of theirs still to come, or arriving
  after its visit's noon by more than `in_flight` (by the bot's clock, read to within
  `tolerance`). The dispatcher checks a reminder's deadline when it claims a batch and again
  just before each send, so one may still arrive after noon if noon passed during the send
  itself: milliseconds at real speed, minutes at the chaos benchmark's. Those are not
  stale, but counted apart (`after_noon_in_flight`), so that the allowance shows.
- Wrong: a reminder whose countdown ("in 2 days") or kind (visit with infusion, dose decided
  at the visit) does not match its visit and the day it arrived, or that came before its
  visit's first reminder was due.
- Duplicated: arrivals in one chat naming the same visit with the same countdown, more of
  them than the pairing credits (`reminder_copies`); `bench.chaos_deliveries.repeats`
  counts them.

The allowances are wall-clock seconds (the bot works in wall-clock time) turned into
simulated time at the clock's speed; `tolerance` covers the reading of each run's clock.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import product
from zoneinfo import ZoneInfo

from babel.dates import format_date

from bench.chaos_deliveries import Copies, Delivery, Stretch
from bench.chaos_world import SITE_ZONE, Person

VISIT_MONTHS = tuple(range(0, 25, 3))
INFUSION_MONTHS = {"standard": frozenset({0, 6, 12, 18, 24}), "individualized": frozenset({0})}
REMINDER_DAYS = (7, 2, 0)
MORNING_ENDS = 12
QUIET_HOURS_START, QUIET_HOURS_END = 21, 8
LOCALES = {"zh": "zh_CN", "en": "en_GB"}

# How the bundled templates word things (messages/templates/*/reminder.j2, checkin_question.j2).
REMINDER_MARKS = {
    "en": ("you have your study visit:", "you have your infusion appointment:"),
    "zh": ("是您的研究随访：", "是您的输液预约："),
}
KIND_MARKS = {
    "visit_infusion": {"en": "You will also have your infusion", "zh": "这次随访时还会进行输液"},
    "visit_dose_decided_at_visit": {
        "en": "The study doctor will decide at the visit",
        "zh": "研究医生会在随访时决定",
    },
}
COUNTDOWN = {
    "en": re.compile(r"^(?:(?P<today>Today)|(?P<tomorrow>Tomorrow)|In (?P<days>\d+) days)"),
    "zh": re.compile(r"^(?:(?P<today>今天)|(?P<tomorrow>明天)|(?P<days>\d+) 天后)"),
}
CHECKIN_ASK = {"en": "Please answer a few short questions.", "zh": "请回答几个简短的问题。"}
CHECKIN_NUDGE = {"en": "You have a few questions left to answer.", "zh": "您还有一份没有完成的问答"}
BOLD = re.compile(r"<b>(.*?)</b>")


@dataclass(frozen=True)
class Event:
    """A visit still ahead at enrolment: its reminders' due times and when they go stale."""

    day: date
    kind: str
    due: tuple[datetime, ...]  # in the order of REMINDER_DAYS, so ascending
    deadline: datetime


@dataclass(frozen=True)
class Judgement:
    required: int
    required_by_days_before: dict[int, int]  # 7, 2, 0: which of the series were required
    received: int
    lost: list[str]
    crowded_out: list[str]
    stale: list[str]
    after_noon_in_flight: list[str]  # after noon, within the allowance for a batch in flight
    wrong: list[str]
    checkin_prompts: int
    checkin_nudges: int
    delays: list[timedelta]  # of required reminders: arrival - the first chance to send
    due_while_down: int  # reminders that fell due while the bot was down (or not started)
    caught_up: int  # ... of which the bot had to send after coming back (the latest due)
    reminders: frozenset[tuple[int, int]]  # (chat, message id) of every true reminder
    reminder_copies: list[Copies]  # same visit and countdown, with how many were credited


@dataclass
class _Tally:
    required: int = 0
    by_days_before: dict[int, int] = field(default_factory=lambda: dict.fromkeys(REMINDER_DAYS, 0))
    received: int = 0
    lost: list[str] = field(default_factory=list)
    crowded_out: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    after_noon: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    prompts: int = 0
    nudges: int = 0
    asked: list[datetime] = field(default_factory=list)  # when questions and nudges arrived
    delays: list[timedelta] = field(default_factory=list)
    due_while_down: int = 0
    caught_up: int = 0
    reminders: set[tuple[int, int]] = field(default_factory=set)
    copies: list[Copies] = field(default_factory=list)


def plus_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def local_moment(day: date, hour: int, zone: str) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def events_of(person: Person, enrolled_at: datetime) -> list[Event]:
    """The person's visits still ahead when they were enrolled and linked (`enrolled_at`)."""
    enrolment_day = enrolled_at.astimezone(ZoneInfo(SITE_ZONE)).date()
    linked_day = enrolled_at.astimezone(ZoneInfo(person.timezone)).date()
    events = []
    for month in VISIT_MONTHS:
        day = plus_months(person.randomized_on, month)
        if month == 0 and day <= max(enrolment_day, linked_day):
            continue  # day 1 has happened (or they are at it)
        deadline = local_moment(day, MORNING_ENDS, person.timezone)
        if deadline <= enrolled_at:
            continue
        if month in INFUSION_MONTHS[person.arm]:
            kind = "visit_infusion"
        elif person.arm == "individualized" and month > 0:
            kind = "visit_dose_decided_at_visit"
        else:
            kind = "visit"
        morning = person.preferred_hour if person.preferred_hour < MORNING_ENDS else QUIET_HOURS_END
        due = tuple(
            local_moment(
                day - timedelta(days=days),
                morning if days == 0 else person.preferred_hour,
                person.timezone,
            )
            for days in REMINDER_DAYS
        )
        events.append(Event(day, kind, due, deadline))
    return events


@dataclass(frozen=True)
class Allowances:
    """Wall-clock allowances turned into simulated time (see the module's rules)."""

    slack: timedelta
    in_flight: timedelta
    tolerance: timedelta
    capacity: float  # sends per simulated second that Telegram's limit allows
    busy_share: float = 0.5  # sending at least this share of `capacity` is near the limit
    # The least time a check-in question or nudge has left when it arrives: 72 hours from
    # its asking (CLINICAL.md), less the longest it can wait in the benchmark (an outage
    # of two days, a night's quiet hours of eleven, an hour more).
    question_left: timedelta = timedelta(hours=72 - 48 - 11 - 1)

    def busy(self, sends: int, first: datetime, last: datetime) -> bool:
        """Whether `sends` from `first` to `last` are near the limit."""
        allowed = self.capacity * (last - first).total_seconds()
        return sends >= self.busy_share * allowed


@dataclass(frozen=True)
class Required:
    due: datetime
    stretch: Stretch
    attempt: datetime  # the first moment the bot could send it: up, not in quiet hours
    until: datetime  # the end of that chance: quiet hours, the next reminder, noon, the end
    deadline: datetime  # its visit's noon


def allowed(moment: datetime, zone: str) -> datetime:
    """`moment`, or the end of quiet hours if it falls in them."""
    local = moment.astimezone(ZoneInfo(zone))
    if QUIET_HOURS_END <= local.hour < QUIET_HOURS_START:
        return moment
    day = local.date() if local.hour < QUIET_HOURS_END else local.date() + timedelta(days=1)
    return local_moment(day, QUIET_HOURS_END, zone)


def open_periods(
    stretch: Stretch, since: datetime, zone: str
) -> Iterator[tuple[datetime, datetime]]:
    """The parts of `stretch` from `since` on that are outside the person's quiet hours."""
    moment = allowed(max(stretch.began, since), zone)
    while moment < stretch.ended:
        local_day = moment.astimezone(ZoneInfo(zone)).date()
        closes = local_moment(local_day, QUIET_HOURS_START, zone)
        yield moment, min(closes, stretch.ended)
        moment = allowed(closes, zone)


def required_reminders(
    event: Event, zone: str, stretches: Sequence[Stretch], end: datetime, slack: timedelta
) -> list[Required]:
    """The reminders of `event` that had to arrive (see the module's rules)."""
    required = []
    for index, due in enumerate(event.due):
        later = event.due[index + 1 :]
        required += _first_chance(due, later, event, zone, stretches, end, slack)
    return required


def _first_chance(
    due: datetime,
    later: Sequence[datetime],
    event: Event,
    zone: str,
    stretches: Sequence[Stretch],
    end: datetime,
    slack: timedelta,
) -> list[Required]:
    last = min(event.deadline, end)
    for stretch in stretches:
        for attempt, closes in open_periods(stretch, due, zone):
            if attempt >= last or any(
                other <= attempt + slack or _same_day(other, attempt, zone) for other in later
            ):
                return []  # too late, or superseded by the time it could go or that day
            until = min([closes, *later[:1], last])
            if attempt + slack <= until:
                return [Required(due, stretch, attempt, until, event.deadline)]
    return []


def _same_day(one: datetime, other: datetime, zone: str) -> bool:
    return one.astimezone(ZoneInfo(zone)).date() == other.astimezone(ZoneInfo(zone)).date()


def date_names(first: date, last: date) -> dict[str, dict[str, date]]:
    """Each language's full date text (as reminders print it) -> the date."""
    names: dict[str, dict[str, date]] = {language: {} for language in LOCALES}
    day = first
    while day <= last:
        for language, locale in LOCALES.items():
            names[language][format_date(day, "full", locale=locale)] = day
        day += timedelta(days=1)
    return names


def countdown(delivery: Delivery, language: str) -> int | None:
    """The days ahead a reminder says ("today" 0, "tomorrow" 1, "in 7 days" 7)."""
    lines = delivery.text.splitlines()
    match = COUNTDOWN[language].match(lines[1]) if len(lines) > 1 else None
    if match is None:
        return None
    return 0 if match["today"] else 1 if match["tomorrow"] else int(match["days"])


def pair_up(
    windows: Sequence[tuple[datetime, datetime, datetime]], arrivals: Sequence[datetime]
) -> list[datetime | None]:
    """For each reminder (`from`, `until`, first chance to send), the arrival that answers
    it, or None: each arrival answers one reminder at most; the most reminders answered, then
    the least delay. An event has three reminders and a few messages: all pairings are tried."""
    choices = [
        [None, *(i for i, at in enumerate(arrivals) if start <= at < until)]
        for start, until, _ in windows
    ]
    best: tuple[tuple[int, timedelta], tuple[int | None, ...]] | None = None
    for pairing in product(*choices):
        taken = [i for i in pairing if i is not None]
        if len(set(taken)) < len(taken):
            continue
        delay = sum(
            (
                arrivals[i] - window[2]
                for i, window in zip(pairing, windows, strict=True)
                if i is not None
            ),
            timedelta(),
        )
        score = (-len(taken), delay)
        if best is None or score < best[0]:
            best = (score, pairing)
    return [None if i is None else arrivals[i] for i in (best[1] if best else ())]


class Oracle:
    """Judges each participant's chat; see the module's rules."""

    def __init__(
        self,
        stretches: Sequence[Stretch],
        *,
        enrolled_at: datetime,
        end: datetime,
        allowances: Allowances,
    ) -> None:
        self.stretches = stretches
        self.enrolled_at = enrolled_at
        self.end = end
        self.allowances = allowances
        self.names = date_names(
            enrolled_at.date() - timedelta(days=60), end.date() + timedelta(days=400)
        )
        self._tally = _Tally()
        # Every reminder delivered to anyone: (arrival, (its visit's noon, the latest due of
        # its visit by then)), what the dispatcher sends in the order of.
        self._sent: list[tuple[datetime, tuple[datetime, datetime]]] = []

    def judge(self, people: Sequence[Person], received: dict[int, list[Delivery]]) -> Judgement:
        self._tally = tally = _Tally()
        read = {
            person.chat_id: self._arrivals(person, received.get(person.chat_id, []))
            for person in people
        }
        # A question's deadline is not in its text: the earliest it can be stands for it.
        left = self.allowances.question_left
        self._sent = sorted(
            [
                *(
                    (delivery.at, (event.deadline, self._latest_due(event, delivery.at)))
                    for arrivals in read.values()
                    for event, delivery in arrivals
                ),
                *((asked, (asked + left, asked)) for asked in tally.asked),
            ]
        )
        for person in people:
            self._judge(person, read[person.chat_id])
        return Judgement(
            required=tally.required,
            required_by_days_before=tally.by_days_before,
            received=tally.received,
            lost=tally.lost,
            crowded_out=tally.crowded_out,
            stale=tally.stale,
            after_noon_in_flight=tally.after_noon,
            wrong=tally.wrong,
            checkin_prompts=tally.prompts,
            checkin_nudges=tally.nudges,
            delays=tally.delays,
            due_while_down=tally.due_while_down,
            caught_up=tally.caught_up,
            reminders=frozenset(tally.reminders),
            reminder_copies=tally.copies,
        )

    def _arrivals(self, person: Person, deliveries: list[Delivery]) -> list[tuple[Event, Delivery]]:
        """The person's true reminders, each with the visit it reminds of."""
        events = {event.day: event for event in events_of(person, self.enrolled_at)}
        arrivals = []
        for delivery in deliveries:
            event = self._read(person, delivery, events)
            if event is not None:
                arrivals.append((event, delivery))
                self._tally.reminders.add((delivery.chat_id, delivery.message_id))
        return arrivals

    def _latest_due(self, event: Event, at: datetime) -> datetime:
        tolerance = self.allowances.tolerance
        return max((due for due in event.due if due <= at + tolerance), default=event.due[0])

    def _judge(self, person: Person, read: list[tuple[Event, Delivery]]) -> None:
        tally, tolerance = self._tally, self.allowances.tolerance
        arrivals: dict[date, list[Delivery]] = defaultdict(list)
        for event, delivery in read:
            arrivals[event.day].append(delivery)
        for event in events_of(person, self.enrolled_at):
            tally.due_while_down += sum(
                due <= self.end and not any(s.began <= due <= s.ended for s in self.stretches)
                for due in event.due
            )
            needs = required_reminders(
                event, person.timezone, self.stretches, self.end, self.allowances.slack
            )
            windows = []
            for needed in needs:
                later = [other for other in event.due if other > needed.due]
                until = (later[0] if later else event.deadline) + self.allowances.in_flight
                windows.append((needed.due - tolerance, until + tolerance, needed.attempt))
            matches = pair_up(windows, sorted(d.at for d in arrivals[event.day]))
            self._copies(person, arrivals[event.day], set(matches))
            for needed, match in zip(needs, matches, strict=True):
                tally.required += 1
                tally.by_days_before[REMINDER_DAYS[event.due.index(needed.due)]] += 1
                tally.caught_up += needed.stretch.began > needed.due
                if match is not None:
                    tally.delays.append(max(timedelta(), match - needed.attempt))
                    continue
                what = (
                    f"{person.study_id}: the reminder due {needed.due:%Y-%m-%d %H:%M}Z for the "
                    f"visit of {event.day} never arrived"
                )
                if self._crowded_out(needed):
                    tally.crowded_out.append(what)
                else:
                    tally.lost.append(what)

    def _copies(
        self, person: Person, deliveries: list[Delivery], credited: set[datetime | None]
    ) -> None:
        """Group a visit's reminders by countdown; a group holds as many rightful copies as
        the pairing credited (at least one)."""
        by_countdown: dict[int | None, list[Delivery]] = defaultdict(list)
        for delivery in sorted(deliveries, key=lambda d: d.at):
            by_countdown[countdown(delivery, person.language)].append(delivery)
        for group in by_countdown.values():
            if len(group) > 1:
                wanted = sum(delivery.at in credited for delivery in group)
                self._tally.copies.append(Copies(tuple(group), wanted))

    def _crowded_out(self, needed: Required) -> bool:
        """Near the limit all along its chance, and nothing of a later deadline (a reminder,
        or of the same, due later; a question) went before it."""
        first, last = needed.attempt, needed.until
        sends = needed.stretch.sends_between(first, last)
        if not self.allowances.busy(sends, first, last):
            return False
        arrivals = [at for at, _ in self._sent]
        meanwhile = self._sent[bisect_left(arrivals, first) : bisect_right(arrivals, last)]
        return not any(order > (needed.deadline, needed.due) for _, order in meanwhile)

    def _named(self, delivery: Delivery, language: str) -> date | None:
        bold = BOLD.search(delivery.html)
        return self.names[language].get(bold.group(1)) if bold else None

    def _read(self, person: Person, delivery: Delivery, events: dict[date, Event]) -> Event | None:
        """Count what a message is; for a true reminder, the visit it reminds of."""
        tally, language, text = self._tally, person.language, delivery.text
        if CHECKIN_ASK[language] in text:
            tally.prompts += 1
            tally.asked.append(delivery.at)
        elif CHECKIN_NUDGE[language] in text:
            tally.nudges += 1
            tally.asked.append(delivery.at)
        if not is_reminder(delivery, language):
            return None
        tally.received += 1
        named = self._named(delivery, language)
        event = events.get(named) if named else None
        seen = f"{person.study_id}: reminder at {delivery.at:%Y-%m-%d %H:%M}Z (run {delivery.run})"
        if event is None:
            tally.stale.append(f"{seen} names {named or text[:60]!r}, not a visit to come")
            return None
        after_noon = delivery.at - (event.deadline + self.allowances.tolerance)
        if after_noon > self.allowances.in_flight:
            tally.stale.append(f"{seen} for the visit of {event.day}, after its noon")
            return None
        if after_noon > timedelta():
            tally.after_noon.append(f"{seen} for the visit of {event.day}, {after_noon} late")
        problem = _wrong(event, delivery, person, self.allowances.tolerance)
        if problem:
            tally.wrong.append(f"{seen} for the visit of {event.day}: {problem}")
        return event


def is_reminder(delivery: Delivery, language: str) -> bool:
    return any(mark in delivery.text for mark in REMINDER_MARKS[language])


def _wrong(event: Event, delivery: Delivery, person: Person, tolerance: timedelta) -> str | None:
    if delivery.at < event.due[0] - tolerance:
        return "before its first reminder was due"
    days = countdown(delivery, person.language)
    if days is None:
        return "no countdown"
    today = delivery.at.astimezone(ZoneInfo(person.timezone)).date()
    if days != (event.day - today).days:
        return f"says {days} days ahead on {today}"
    for kind, words in KIND_MARKS.items():
        if (words[person.language] in delivery.text) != (kind == event.kind):
            return f"worded as a different kind of visit (expected {event.kind})"
    return None
