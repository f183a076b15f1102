"""Putting check-ins and contraception questions when due, nudging them, letting them expire.

When each is due is decided by the pure functions of `study.cadence` (the symptom check-in,
the questions after an infusion, contraception C1-C3 for participants who can become
pregnant); these sweeps only query the database and call them. A nudge comes after
`checkin_nudge_hours`; expiry (missed) after `checkin_expire_hours`, with what was answered
still triaged; two missed in a row -> a T3 notice for the site.
Every step is idempotent by dedupe keys, so a sweep may run any number of times.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scheduler.checkin_moments import Due, checkin_moments, checkins_due
from scheduler.isolation import batches, on_its_own, run_steps
from study.alerts import raise_alert
from study.asked import next_symptom_checkin_at
from study.checkin_due import WORKING_OUT, remember, working_out
from study.checkins import QUESTION_TEMPLATE, open_checkin, stop
from study.clock import Clock
from study.config import StudyConfig
from study.database import Database
from study.models import (
    CheckIn,
    CheckInKind,
    CheckInTrigger,
    Participant,
    ParticipantStatus,
    PromptStatus,
    Tier,
    saved_id,
)
from study.outbox import Priority, enqueue

log = logging.getLogger(__name__)

MOMENT_BATCH = 100
"""Participants whose moment, or what is due for them, is read together: without the write
lock, so a batch costs button presses only its short writes, and bigger batches read faster
(a few statements for all of them)."""

WRITE_BATCH = 25
"""Moments marked or stored in one write transaction."""

MISSED_KIND: dict[str, str] = {
    CheckInKind.SYMPTOMS: "missed_checkins",
    CheckInKind.CONTRACEPTION: "missed_contraception",
}
# Kept for branches that still import it from here: `study.asked` has the function.
cadence_due = next_symptom_checkin_at


async def run_checkin_sweeps(database: Database, clock: Clock, config: StudyConfig) -> None:
    await run_steps([expire_checkins, put_due_checkins, nudge_checkins], database, clock, config)


async def put_due_checkins(database: Database, clock: Clock, config: StudyConfig) -> int:
    """Open every check-in that is due now. Returns how many were put.

    Only the participants whose moment (`Participant.checkins_due_at`) has come are read:
    those whose moment is not known have it worked out first, many at a time. What is due
    for those whose moment has come is read `MOMENT_BATCH` at a time too, without the write
    lock; each is then put in a short transaction of their own that forgets the moment.
    Their next moments are worked out after them, many at a time. (When a round of check-ins
    falls due for everyone, reading one at a time was most of the sweep's CPU.)"""
    now = clock.now()
    await _work_out_unknown(database, now, config)
    opened = 0
    async with database.reading() as session:
        due = list(await session.exec(_linked(select(Participant.id)).where(_due_by(now))))
    for batch in batches(due, MOMENT_BATCH):
        read = await _read_due(database, batch, now, config)
        for participant_id in batch:
            try:
                async with database.session() as session:
                    opened += await _put_due(session, participant_id, read, now, config)
            except Exception:
                # One participant's bad data must not stop everyone else's check-ins.
                log.exception("could not put the check-ins due for participant %s", participant_id)
    await _work_out_unknown(database, now, config)
    return opened


_Read = dict[int, tuple[datetime | None, list[Due]]]
"""What was due for each participant, by id, with the moment stored when it was read."""


async def _read_due(
    database: Database, ids: Sequence[int], now: datetime, config: StudyConfig
) -> _Read:
    """What is due for these participants, read for all of them at once; nothing if that
    fails (each is then read again on their own, and a bad record fails alone)."""
    try:
        async with database.reading() as session:
            participants = list(
                await session.exec(_linked(select(Participant)).where(col(Participant.id).in_(ids)))
            )
            due = await checkins_due(session, participants, now, config)
    except Exception:
        log.exception("could not read the check-ins due for %d participants together", len(ids))
        return {}
    return {saved_id(p): (p.checkins_due_at, due[saved_id(p)]) for p in participants}


async def _put_due(
    session: AsyncSession, participant_id: int, read: _Read, now: datetime, config: StudyConfig
) -> int:
    """Put what is due for one participant, locked, and forget their moment.

    What was read for many holds if the moment stored is still the one read then: any change
    that could alter it since has set the moment back to None (`study.checkin_due`).
    Otherwise (or if it was not known) it is read again, under the lock."""
    participant = await session.get(Participant, participant_id, with_for_update=True)
    if participant is None:
        return 0
    moment, due = read.get(participant_id, (None, []))
    if participant.status != ParticipantStatus.ACTIVE or participant.linked_at is None:
        due = []
    elif moment in (None, WORKING_OUT) or participant.checkins_due_at != moment:
        due = (await checkins_due(session, [participant], now, config))[participant_id]
    for checkin in due:
        await _put(session, participant, checkin, now, config)
    participant.checkins_due_at = None
    session.add(participant)
    return len(due)


async def _work_out_unknown(database: Database, now: datetime, config: StudyConfig) -> None:
    """Work out the moment of each participant who has none (new, changed, or everyone after
    a start), `MOMENT_BATCH` at a time: marked as being worked out, worked out in a read-only
    transaction (no write lock held while it reads), then stored where a change meanwhile
    has not forgotten the mark (`study.checkin_due`); each write a short transaction."""
    async with database.reading() as session:
        ids = list(
            await session.exec(
                _linked(select(Participant.id)).where(col(Participant.checkins_due_at).is_(None))
            )
        )
    for batch in batches(ids, MOMENT_BATCH):
        try:
            for part in batches(batch, WRITE_BATCH):
                async with database.session() as session:
                    await session.exec(working_out(part))
            async with database.reading() as session:
                marked = col(Participant.checkins_due_at) == WORKING_OUT
                participants = list(
                    await session.exec(
                        _linked(select(Participant)).where(marked, col(Participant.id).in_(batch))
                    )
                )
                moments = await checkin_moments(session, participants, now, config)
            for part in batches(list(moments.items()), WRITE_BATCH):
                async with database.session() as session:
                    await remember(session, dict(part), if_still=WORKING_OUT)
        except Exception:
            # Those left unknown or marked are each worked out on their own below.
            log.exception("could not work out when check-ins are next due; one by one instead")


def _linked(query: Any) -> Any:
    """Participants who may be asked: active, with a linked chat."""
    return query.where(
        col(Participant.status) == ParticipantStatus.ACTIVE,
        col(Participant.linked_at).is_not(None),
    )


def _due_by(now: datetime) -> Any:
    due = col(Participant.checkins_due_at)
    return or_(due.is_(None), due <= now)


async def _put(
    session: AsyncSession, participant: Participant, due: Due, now: datetime, config: StudyConfig
) -> None:
    checkin = await open_checkin(
        session,
        participant,
        kind=due.kind,
        trigger=due.trigger,
        now=now,
        config=config,
        infusion_id=due.infusion_id,
        dedupe_key=due.key,
    )
    await enqueue(
        session,
        template=QUESTION_TEMPLATE,
        dedupe_key=f"checkin:{checkin.id}:ask",
        participant_id=participant.id,
        context={"checkin_id": checkin.id, "proactive": True},
        due_at=now,
        not_after=checkin.expires_at,
        priority=Priority.ROUTINE,
        now=now,
    )


async def nudge_checkins(database: Database, clock: Clock, config: StudyConfig) -> int:
    """Ask again, once, about a check-in still unanswered after the nudge delay."""
    now = clock.now()
    cutoff = now - timedelta(hours=config.protocol.checkin_nudge_hours)
    nudged = 0
    async with database.reading() as session:
        ids = list(await session.exec(_unnudged(select(CheckIn.id), cutoff)))
    for batch in batches(ids):
        async with database.session() as session:
            waiting = await session.exec(
                _unnudged(select(CheckIn), cutoff).where(col(CheckIn.id).in_(batch))
            )
            for checkin in list(waiting):
                async with on_its_own(session, "nudging check-in", checkin.id):
                    checkin.nudged_at = now
                    session.add(checkin)
                    await enqueue(
                        session,
                        template=QUESTION_TEMPLATE,
                        dedupe_key=f"checkin:{checkin.id}:nudge",
                        participant_id=checkin.participant_id,
                        context={"checkin_id": checkin.id, "proactive": True, "nudge": True},
                        due_at=now,
                        not_after=checkin.expires_at,
                        priority=Priority.ROUTINE,
                        now=now,
                    )
                    nudged += 1
    return nudged


def _unnudged(query: Any, cutoff: datetime) -> Any:
    return query.where(
        col(CheckIn.status) == PromptStatus.OPEN,
        col(CheckIn.nudged_at).is_(None),
        col(CheckIn.asked_at) <= cutoff,
        CheckIn.trigger != CheckInTrigger.ON_DEMAND,
    )


async def expire_checkins(database: Database, clock: Clock, config: StudyConfig) -> int:
    """Close check-ins past their time as missed; two missed in a row -> a T3 notice."""
    now = clock.now()
    expired = 0
    async with database.reading() as session:
        due = list(
            await session.exec(
                select(CheckIn.id, CheckIn.participant_id).where(
                    col(CheckIn.status) == PromptStatus.OPEN,
                    col(CheckIn.expires_at) <= now,
                )
            )
        )
    for checkin_id, participant_id in due:
        try:
            async with database.session() as session:
                checkin = await session.get(CheckIn, checkin_id, with_for_update=True)
                participant = await session.get(Participant, participant_id)
                if checkin is None or participant is None or checkin.status != PromptStatus.OPEN:
                    continue
                await stop(
                    session,
                    checkin,
                    participant,
                    now=now,
                    config=config,
                    status=PromptStatus.EXPIRED,
                )
                await _two_missed(session, checkin, participant, now, config)
            expired += 1
        except Exception:
            # One check-in's bad data must not keep the others open past their time.
            log.exception("could not expire check-in %s; the others go on", checkin_id)
    return expired


async def _two_missed(
    session: AsyncSession,
    checkin: CheckIn,
    participant: Participant,
    now: datetime,
    config: StudyConfig,
) -> None:
    kind = MISSED_KIND.get(checkin.kind)
    if kind is None or checkin.trigger == CheckInTrigger.ON_DEMAND:
        return
    last_two = list(
        await session.exec(
            select(CheckIn)
            .where(
                CheckIn.participant_id == participant.id,
                CheckIn.kind == checkin.kind,
                CheckIn.trigger != CheckInTrigger.ON_DEMAND,
                col(CheckIn.status) != PromptStatus.OPEN,
            )
            .order_by(col(CheckIn.asked_at).desc())
            .limit(2)
        )
    )
    if len(last_two) == 2 and all(c.status == PromptStatus.EXPIRED for c in last_two):
        await raise_alert(
            session,
            config=config,
            participant=participant,
            kind=kind,
            tier=Tier.T3,
            evidence=[{"key": kind, "since": last_two[1].asked_at.isoformat()}],
            now=now,
            dedupe_key=f"{kind}:{checkin.id}",
        )
