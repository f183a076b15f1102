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
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scheduler.checkin_moments import checkin_moments
from scheduler.isolation import batches, on_its_own, run_steps
from study.alerts import raise_alert
from study.asked import last_asked, next_symptom_checkin_at
from study.cadence import (
    ContraceptionDue,
    LocalSchedule,
    contraception_due,
    contraception_until,
    infusions_asked_about_since,
    post_infusion_question_at,
    post_infusion_trigger,
)
from study.checkin_due import WORKING_OUT, remember, working_out
from study.checkins import QUESTION_TEMPLATE, open_checkin, open_checkin_of, stop
from study.clock import Clock
from study.config import StudyConfig
from study.database import Database
from study.models import (
    UPCOMING,
    CheckIn,
    CheckInKind,
    CheckInTrigger,
    Infusion,
    InfusionStatus,
    Participant,
    ParticipantStatus,
    PromptStatus,
    Tier,
    Visit,
)
from study.outbox import Priority, enqueue

log = logging.getLogger(__name__)

MOMENT_BATCH = 100
"""Participants whose moment is worked out together: read without the write lock, so a
batch costs button presses only its two short writes (marking, storing), and bigger
batches read faster (a few statements for all of them)."""

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
    """Open every check-in that is due now. Returns how many were opened.

    Only the participants whose moment (`Participant.checkins_due_at`) has come are read:
    those whose moment is not known have it worked out first, many at a time; then each
    whose moment has come, in a short transaction of their own that forgets it; then their
    next moments are worked out, many at a time (when a round of check-ins falls due for
    everyone, one at a time that was a quarter of the sweep's CPU)."""
    now = clock.now()
    await _work_out_unknown(database, now, config)
    opened = 0
    async with database.reading() as session:
        due = list(await session.exec(_linked(select(Participant.id)).where(_due_by(now))))
    for participant_id in due:
        try:
            async with database.session() as session:
                participant = await session.get(Participant, participant_id, with_for_update=True)
                if participant is None:
                    continue
                opened += await _due_for(session, participant, now, config)
                participant.checkins_due_at = None
                session.add(participant)
        except Exception:
            # One participant's bad data must not stop everyone else's check-ins.
            log.exception("could not put the check-ins due for participant %s", participant_id)
    await _work_out_unknown(database, now, config)
    return opened


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


async def _due_for(
    session: AsyncSession, participant: Participant, now: datetime, config: StudyConfig
) -> int:
    opened = 0
    protocol = config.protocol
    local = LocalSchedule.of(participant, protocol)
    due = await next_symptom_checkin_at(session, participant, config)
    if due <= now and await open_checkin_of(session, participant, CheckInKind.SYMPTOMS) is None:
        await _put(
            session,
            participant,
            CheckInKind.SYMPTOMS,
            CheckInTrigger.CADENCE,
            f"cadence:{participant.id}:{local.day_of(due)}",
            now,
            config,
        )
        opened += 1
    for infusion in await _recent_infusions(session, participant, now, config):
        day = infusion.given_on or infusion.planned_date
        for hours in protocol.post_infusion_checkin_hours:
            asked = post_infusion_question_at(day, infusion.planned_time, hours, local)
            expires = asked + timedelta(hours=protocol.checkin_expire_hours)
            if asked <= now < expires:
                await _put(
                    session,
                    participant,
                    CheckInKind.POST_INFUSION,
                    post_infusion_trigger(hours),
                    f"infusion:{infusion.id}:{hours}h",
                    now,
                    config,
                    infusion_id=infusion.id,
                )
                opened += 1
    if participant.can_become_pregnant:
        contraception = await _contraception_due(session, participant, now, config)
        if contraception is not None:
            await _put(
                session,
                participant,
                CheckInKind.CONTRACEPTION,
                contraception.trigger,
                f"contraception:{participant.id}:{contraception.day}",
                now,
                config,
            )
            opened += 1
    return opened


async def _put(
    session: AsyncSession,
    participant: Participant,
    kind: str,
    trigger: str,
    key: str,
    now: datetime,
    config: StudyConfig,
    *,
    infusion_id: int | None = None,
) -> None:
    checkin = await open_checkin(
        session,
        participant,
        kind=kind,
        trigger=trigger,
        now=now,
        config=config,
        infusion_id=infusion_id,
        dedupe_key=key,
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


async def _recent_infusions(
    session: AsyncSession, participant: Participant, now: datetime, config: StudyConfig
) -> list[Infusion]:
    return list(
        await session.exec(
            select(Infusion).where(
                Infusion.participant_id == participant.id,
                col(Infusion.status) == InfusionStatus.GIVEN,
                col(Infusion.given_on) >= infusions_asked_about_since(now, config.protocol),
            )
        )
    )


async def _contraception_due(
    session: AsyncSession, participant: Participant, now: datetime, config: StudyConfig
) -> ContraceptionDue | None:
    """The contraception questions due now, if any (`study.cadence.contraception_due`)."""
    facts = await _contraception_facts(session, participant, config)
    return contraception_due(
        now, LocalSchedule.of(participant, config.protocol), config.protocol, **facts
    )


async def _contraception_facts(
    session: AsyncSession, participant: Participant, config: StudyConfig
) -> dict[str, Any]:
    """What `contraception_due` needs to know of the participant."""
    assert participant.linked_at is not None  # only linked participants are candidates
    infusions = await session.exec(
        select(Infusion).where(
            Infusion.participant_id == participant.id,
            col(Infusion.status).in_([InfusionStatus.GIVEN, InfusionStatus.PLANNED]),
        )
    )
    infusion_days = [infusion.given_on or infusion.planned_date for infusion in infusions]
    visit_days = await session.exec(
        select(Visit).where(Visit.participant_id == participant.id, col(Visit.status).in_(UPCOMING))
    )
    return {
        "until": contraception_until(
            infusion_days, config.protocol.contraception_months_after_last_infusion
        ),
        "last_asked": await last_asked(session, participant, CheckInKind.CONTRACEPTION),
        "linked_at": participant.linked_at,
        "upcoming_visits": [visit.visit_date for visit in visit_days],
    }


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
