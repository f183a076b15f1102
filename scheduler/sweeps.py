"""Periodic checks of the calendar against the clock; each is idempotent by dedupe keys.

- A visit not confirmed 48 h before it: a T3 task for the site, once the participant was
  asked (a reminder with the buttons reached them) and had `confirmation_answer_hours` to
  answer; a participant whose first reminder came late (a late link, quiet hours, an
  outage) is not reported for not having answered yet.
- A visit whose window closed without being recorded: a T3 notice for the site and a kind
  message to the participant.
Each visit is handled on its own: one that fails is logged and the others go on.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from functools import partial
from typing import Any

from sqlalchemy import String, and_, cast, exists, literal, or_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scheduler.isolation import batches, may_be_due, on_its_own, run_steps
from scheduler.planner import REMINDER_PREFIX
from scheduler.timing import local_date, local_instant
from study.alerts import raise_alert
from study.clock import Clock
from study.config import StudyConfig
from study.database import Database
from study.models import (
    STILL_TO_COME,
    Alert,
    OutboxMessage,
    OutboxStatus,
    Participant,
    ParticipantStatus,
    Tier,
    Visit,
    VisitStatus,
)
from study.outbox import Priority, enqueue

log = logging.getLogger(__name__)

FOLLOWED = (
    ParticipantStatus.INVITED,
    ParticipantStatus.ACTIVE,
    ParticipantStatus.PAUSED,
    ParticipantStatus.UNREACHABLE,
)
KIND_MESSAGE_LIFETIME = timedelta(days=3)
NO_CONFIRMATION = "noconfirm:"  # the key prefixes of the visits' alerts (`_visit_key`)
MISSED = "missed:"


async def check_unconfirmed_visits(database: Database, clock: Clock, config: StudyConfig) -> int:
    """Raise a T3 task for each visit still unconfirmed 48 h before it. Returns how many."""
    now = clock.now()
    deadline = timedelta(hours=config.protocol.confirmation_deadline_hours)
    raised = 0
    near = on_days(now - timedelta(days=1), now + deadline + timedelta(days=2))
    async with database.reading() as session:
        rows = await session.exec(_visits_near(select(Visit, Participant), near))
        ids = [
            visit.id
            for visit, participant in rows
            if may_be_due(partial(_in_deadline, visit, participant, now, config))
        ]
    for batch in batches(ids):
        async with database.session() as session:
            rows = await session.exec(
                select(Visit, Participant)
                .join(Participant, col(Participant.id) == Visit.participant_id)
                .where(
                    col(Visit.id).in_(batch),
                    col(Visit.status) == VisitStatus.PLANNED,
                    col(Participant.status) == ParticipantStatus.ACTIVE,
                )
            )
            for visit, participant in list(rows):
                async with on_its_own(session, "the confirmation check of visit", visit.id):
                    raised += await _unconfirmed(session, visit, participant, now, config)
    return raised


def on_days(first: datetime, last: datetime) -> Any:
    """Visits on a day (appointment, else target) from the date of `first` to that of
    `last`, in a form the date indexes serve."""
    days = (first.date(), last.date())
    return or_(
        col(Visit.appointment_date).between(*days),
        and_(col(Visit.appointment_date).is_(None), col(Visit.target_date).between(*days)),
    )


def _visits_near(query: Any, near: Any) -> Any:
    # A visit whose task was raised already is not read again (`raise_alert` would find
    # it by its key and do nothing).
    return query.join(Participant, col(Participant.id) == Visit.participant_id).where(
        col(Visit.status) == VisitStatus.PLANNED,
        col(Participant.status) == ParticipantStatus.ACTIVE,
        near,
        ~_alert_raised(NO_CONFIRMATION),
    )


def _visit_key(prefix: str, visit: Visit) -> str:
    """The key of a visit's alert or message of one kind, for the visit's present day."""
    return f"{prefix}{visit.id}:{visit.visit_date.isoformat()}"


def _alert_raised(prefix: str) -> Any:
    """Whether the visit's alert of this kind was raised for its present day: its key
    (`_visit_key`), in SQL."""
    day = func.coalesce(Visit.appointment_date, Visit.target_date)
    key = literal(prefix) + cast(Visit.id, String) + ":" + cast(day, String)
    return exists().where(col(Alert.dedupe_key) == key)


async def _unconfirmed(
    session: AsyncSession,
    visit: Visit,
    participant: Participant,
    now: datetime,
    config: StudyConfig,
) -> int:
    answer_time = timedelta(hours=config.protocol.confirmation_answer_hours)
    if not _in_deadline(visit, participant, now, config):
        return 0
    asked = await _first_asked(session, visit)
    if asked is None or now < asked + answer_time:
        return 0
    await raise_alert(
        session,
        config=config,
        participant=participant,
        kind="no_confirmation",
        tier=Tier.T3,
        evidence=[
            {
                "key": "no_confirmation",
                "visit_number": visit.number,
                "date": visit.visit_date.isoformat(),
            }
        ],
        now=now,
        dedupe_key=_visit_key(NO_CONFIRMATION, visit),
        visit_id=visit.id,
    )
    return 1


def _in_deadline(
    visit: Visit, participant: Participant, now: datetime, config: StudyConfig
) -> bool:
    """Whether the visit starts within the confirmation deadline from now."""
    deadline = timedelta(hours=config.protocol.confirmation_deadline_hours)
    starts = local_instant(
        visit.visit_date,
        visit.appointment_time or time(participant.preferred_hour),
        participant.timezone,
    )
    return starts - deadline <= now < starts


async def _first_asked(session: AsyncSession, visit: Visit) -> datetime | None:
    """When the participant first received a reminder of this visit (its buttons ask)."""
    first: datetime | None = (
        await session.exec(
            select(func.min(OutboxMessage.sent_at)).where(
                # The participant's rows first (indexed): a prefix match alone reads the
                # whole outbox, once for every visit near its date.
                OutboxMessage.participant_id == visit.participant_id,
                col(OutboxMessage.dedupe_key).startswith(f"{REMINDER_PREFIX}visit:{visit.id}:"),
                col(OutboxMessage.status) == OutboxStatus.SENT,
            )
        )
    ).one()
    return first


async def check_visit_windows(database: Database, clock: Clock, config: StudyConfig) -> int:
    """Notice each visit whose window has closed unrecorded. Returns how many were found."""
    now = clock.now()
    found = 0
    async with database.reading() as session:
        rows = await session.exec(_windows_closed(select(Visit, Participant), now))
        ids = [
            visit.id
            for visit, participant in rows
            if may_be_due(partial(_closed, visit, participant, now))
        ]
    for batch in batches(ids):
        async with database.session() as session:
            rows = await session.exec(
                _windows_closed(select(Visit, Participant), now).where(col(Visit.id).in_(batch))
            )
            for visit, participant in list(rows):
                async with on_its_own(session, "the window check of visit", visit.id):
                    found += await _window_closed(session, visit, participant, now, config)
    return found


def _windows_closed(query: Any, now: datetime) -> Any:
    # A visit noticed already is not read again: left unrecorded, it would otherwise be
    # taken up in a write transaction at every sweep for the rest of the study, only for
    # `raise_alert` to find its notice by its key.
    return query.join(Participant, col(Participant.id) == Visit.participant_id).where(
        col(Visit.status).in_(STILL_TO_COME),
        col(Participant.status).in_(FOLLOWED),
        col(Visit.window_end) < now.date() + timedelta(days=1),
        ~_alert_raised(MISSED),
    )


async def _window_closed(
    session: AsyncSession,
    visit: Visit,
    participant: Participant,
    now: datetime,
    config: StudyConfig,
) -> int:
    """Notice one visit if its window has closed unrecorded; 1 if it had."""
    if not _closed(visit, participant, now):
        return 0
    last_day = max(visit.window_end, visit.visit_date)
    await raise_alert(
        session,
        config=config,
        participant=participant,
        kind="missed_visit",
        tier=Tier.T3,
        evidence=[
            {
                "key": "missed_visit",
                "visit_number": visit.number,
                "date": visit.visit_date.isoformat(),
                "window_end": last_day.isoformat(),
            }
        ],
        now=now,
        dedupe_key=_visit_key(MISSED, visit),
        visit_id=visit.id,
    )
    if participant.status == ParticipantStatus.ACTIVE:
        await enqueue(
            session,
            template="visit_missed_participant",
            dedupe_key=_visit_key("missedmsg:", visit),
            participant_id=participant.id,
            context={"date": visit.visit_date.isoformat()},
            due_at=now,
            not_after=now + KIND_MESSAGE_LIFETIME,
            priority=Priority.ROUTINE,
            now=now,
        )
    return 1


def _closed(visit: Visit, participant: Participant, now: datetime) -> bool:
    """Whether the visit's window (or its day, if later) is over where the participant is."""
    return local_date(now, participant.timezone) > max(visit.window_end, visit.visit_date)


async def run_all_sweeps(database: Database, clock: Clock, config: StudyConfig) -> None:
    await run_steps([check_unconfirmed_visits, check_visit_windows], database, clock, config)
