"""The escalation clock of an unacknowledged alert, as pure functions.

CLINICAL.md (Tiers; Refinements, "Escalation does not stop at one step"), every interval
configurable in `[protocol.escalation]` of study.toml:
- T1: a round every `t1_resend_minutes` re-sends the card to the site's alert chat; from
  `t1_escalate_minutes` on (the first such round at exactly that minute), every round goes
  to the escalation chat too. By default: 30 min re-sent; 60 min escalated; 90, 120, ...
  to both.
- T2: likewise with `t2_resend_minutes` and `t2_escalate_minutes`. By default both are 4 hours:
  escalated after 4 hours, then to both chats every 4 hours.
- T3 and T4: no rounds (open T3 alerts are in the daily digest).
Rounds go on until someone acknowledges or resolves the alert. The clock starts when the
alert is raised, and again when its tier rises. An alert row keeps only the time of its
next round (`next_escalation_at`) and the number of rounds done (`escalation_level`); the
start of its clock follows from them (`clock_started`), so nothing else is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from study.config import EscalationClock
from study.models import Tier

RESENT = "resent"  # a round to the alert chat only
ESCALATED = "escalated"  # a round to the escalation chat too


@dataclass(frozen=True)
class TierClock:
    """How often a tier's rounds come, and from when on they are escalated."""

    every: timedelta
    escalate_after: timedelta

    @property
    def rounds_before_escalation(self) -> int:
        """The rounds that only re-send, strictly before `escalate_after`."""
        return -(-self.escalate_after // self.every) - 1

    def offset(self, number: int) -> timedelta:
        """How long after the clock started round `number` (1, 2, ...) is due."""
        if number < 1:
            raise ValueError("rounds are numbered from 1")
        before = self.rounds_before_escalation
        if number <= before:
            return number * self.every
        return self.escalate_after + (number - before - 1) * self.every

    def rounds_by(self, elapsed: timedelta) -> int:
        """How many rounds are due when `elapsed` has passed since the clock started."""
        if elapsed < self.escalate_after:
            return max(0, elapsed // self.every)
        return self.rounds_before_escalation + 1 + (elapsed - self.escalate_after) // self.every


def tier_clock(tier: str, clock: EscalationClock) -> TierClock | None:
    """The rounds of an unacknowledged alert of `tier`; None for a tier without rounds."""
    if tier == Tier.T1:
        return TierClock(
            timedelta(minutes=clock.t1_resend_minutes),
            timedelta(minutes=clock.t1_escalate_minutes),
        )
    if tier == Tier.T2:
        return TierClock(
            timedelta(minutes=clock.t2_resend_minutes),
            timedelta(minutes=clock.t2_escalate_minutes),
        )
    return None


@dataclass(frozen=True)
class Round:
    """One round of an unacknowledged alert: its card is sent again, and with `escalated`
    to the escalation chat too."""

    number: int
    due_at: datetime
    waited: timedelta  # since the clock started: how long nobody has acknowledged it
    escalated: bool

    @property
    def note(self) -> str:
        """What the card says about it: RESENT or ESCALATED."""
        return ESCALATED if self.escalated else RESENT


def round_of(tier: str, started_at: datetime, number: int, clock: EscalationClock) -> Round | None:
    """Round `number` (from 1) of an alert of `tier` whose clock started at `started_at`."""
    rounds = tier_clock(tier, clock)
    if rounds is None:
        return None
    waited = rounds.offset(number)
    return Round(number, started_at + waited, waited, waited >= rounds.escalate_after)


def latest_round(
    tier: str, started_at: datetime, now: datetime, clock: EscalationClock
) -> Round | None:
    """The latest round due at `now` (None before the first). After an outage only this
    one is sent: it is at least as escalated as every round it stands for."""
    rounds = tier_clock(tier, clock)
    if rounds is None:
        return None
    number = rounds.rounds_by(now - started_at)
    return round_of(tier, started_at, number, clock) if number else None


def first_round_at(tier: str, started_at: datetime, clock: EscalationClock) -> datetime | None:
    """When an alert of `tier` whose clock started at `started_at` is first re-sent or
    escalated if nobody acknowledges it; None for a tier without rounds."""
    first = round_of(tier, started_at, 1, clock)
    return None if first is None else first.due_at


def clock_started(
    tier: str, rounds_done: int, next_due_at: datetime, clock: EscalationClock
) -> datetime:
    """The start of an alert's clock, from the number of rounds done and when the next is
    due (the inverse of `round_of`)."""
    rounds = tier_clock(tier, clock)
    if rounds is None:
        raise ValueError(f"a {tier} alert has no escalation clock")
    return next_due_at - rounds.offset(rounds_done + 1)


def resend_every(tier: str, clock: EscalationClock) -> timedelta | None:
    """How often an unacknowledged alert of `tier` comes again (what its card says)."""
    rounds = tier_clock(tier, clock)
    return None if rounds is None else rounds.every
