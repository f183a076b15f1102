"""Alerts nobody has acknowledged, the daily digest, and the pre-visit summary.

An open T1 or T2 alert goes round on its escalation clock (`study.escalation`, CLINICAL.md,
configurable): its card is sent again to the site's alert chat each round and, once the
alert is escalated, to the site's escalation chat too (without one, the alert chat's card
says it is escalated), until someone acknowledges or resolves it. Every round is audited.
Open T3 alerts go into a daily digest; each visit gets a summary for the site three days
before it. Each alert, site and visit is handled on its own: one that fails is logged and
the others go on.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import partial
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scheduler.isolation import apart, batches, may_be_due, on_its_own, run_steps
from scheduler.sweeps import on_days
from scheduler.timing import local_date, local_instant
from study import audit
from study.alerts import ALERT_CARD, PRIORITY_OF_TIER
from study.clock import Clock
from study.config import StudyConfig
from study.database import Database
from study.escalation import ESCALATED, RESENT, clock_started, latest_round, round_of
from study.models import (
    UPCOMING,
    Alert,
    AlertStatus,
    OutboxMessage,
    Participant,
    ParticipantStatus,
    Tier,
    Visit,
)
from study.outbox import Priority, enqueue, enqueue_new, message_values

# RESENT and ESCALATED are re-exported for modules that still import them from here.
__all__ = [
    "ESCALATED",
    "RESENT",
    "escalate_alerts",
    "run_alert_sweeps",
    "send_digests",
    "send_previsit_summaries",
]


async def run_alert_sweeps(database: Database, clock: Clock, config: StudyConfig) -> None:
    await run_steps(
        [escalate_alerts, send_digests, send_previsit_summaries], database, clock, config
    )


async def escalate_alerts(database: Database, clock: Clock, config: StudyConfig) -> int:
    """Send the round due of every open alert whose next round has come. Returns how many
    alerts had one."""
    now = clock.now()
    acted = 0
    async with database.reading() as session:
        ids = list(await session.exec(_round_due(select(Alert.id), now)))
    for batch in batches(ids):
        async with database.session() as session:
            # An alert being written (its first card recorded, a button pressed) is waited
            # for, not skipped: skipped, its round would wait for the next escalation, a
            # minute later. PostgreSQL then reads the row again, so an alert acknowledged
            # meanwhile, or whose round was sent meanwhile, is no longer due.
            due = list(
                await session.exec(
                    _round_due(select(Alert), now).where(col(Alert.id).in_(batch)).with_for_update()
                )
            )
            for alert in due:
                async with on_its_own(session, "escalating alert", alert.id):
                    await _next_round(session, alert, now, config)
                    acted += 1
    return acted


def _round_due(query: Any, now: datetime) -> Any:
    return query.where(
        col(Alert.status) == AlertStatus.OPEN,
        col(Alert.next_escalation_at) <= now,
    )


async def _next_round(
    session: AsyncSession, alert: Alert, now: datetime, config: StudyConfig
) -> None:
    clock = config.protocol.escalation
    assert alert.next_escalation_at is not None
    started = clock_started(alert.tier, alert.escalation_level, alert.next_escalation_at, clock)
    done = latest_round(alert.tier, started, now, clock)
    assert done is not None  # its next round is due
    site = config.sites[alert.site_code]
    # (chat, what the copy is): the escalation chat's copy of a round is its escalation; the
    # alert chat's is a re-send, unless there is no escalation chat to escalate to.
    copies = [(site.alert_chat_id, RESENT)]
    if done.escalated:
        if site.escalation_chat_id is None:
            copies = [(site.alert_chat_id, ESCALATED)]
        else:
            copies.append((site.escalation_chat_id, ESCALATED))
    for chat, copy in copies:
        await enqueue(
            session,
            template=ALERT_CARD,
            # The due instant, not the round's number: a tier that rises starts the count again.
            dedupe_key=f"alert:{alert.id}:round:{done.due_at.timestamp():.0f}:{copy}",
            chat_id=chat,
            language=config.site_language(alert.site_code),
            context={
                "alert_id": alert.id,
                "note": done.note,
                "waited_minutes": done.waited // timedelta(minutes=1),
            },
            due_at=now,
            priority=PRIORITY_OF_TIER[Tier(alert.tier)],
            alert_id=alert.id,
            now=now,
        )
    following = round_of(alert.tier, started, done.number + 1, clock)
    alert.escalation_level = done.number
    alert.next_escalation_at = following.due_at if following else None
    session.add(alert)
    audit.record(
        session,
        at=now,
        actor=audit.SYSTEM,
        action=f"alert_{done.note}",
        entity="alert",
        entity_id=alert.id,
        participant_id=alert.participant_id,
        after={
            "escalation_level": alert.escalation_level,
            "chats": [chat for chat, _ in copies],
            "next_round_at": alert.next_escalation_at.isoformat()
            if alert.next_escalation_at
            else None,
        },
    )


async def send_digests(database: Database, clock: Clock, config: StudyConfig) -> int:
    """Once a day at the digest hour, each site with open T3 alerts gets their list."""
    now = clock.now()
    sent = 0
    for code in config.sites:
        async with database.session() as session:
            async with on_its_own(session, "the digest of site", code):
                sent += await _digest_of(session, code, now, config)
    return sent


async def _digest_of(session: AsyncSession, code: str, now: datetime, config: StudyConfig) -> int:
    zone = config.site_timezone(code)
    today = local_date(now, zone)
    if now < local_instant(today, time(config.protocol.escalation.digest_hour), zone):
        return 0
    open_ids = list(
        await session.exec(
            select(Alert.id)
            .where(
                Alert.site_code == code,
                col(Alert.tier) == Tier.T3,
                col(Alert.status) != AlertStatus.RESOLVED,
                col(Alert.raised_at) < now,
            )
            .order_by(col(Alert.raised_at))
        )
    )
    if not open_ids:
        return 0
    await enqueue(
        session,
        template="digest",
        dedupe_key=f"digest:{code}:{today.isoformat()}",
        chat_id=config.sites[code].alert_chat_id,
        language=config.site_language(code),
        context={"site_code": code, "alert_ids": open_ids, "day": today.isoformat()},
        due_at=now,
        not_after=local_instant(today + timedelta(days=1), time(0), zone),
        priority=Priority.ALERT,
        now=now,
    )
    return 1


async def send_previsit_summaries(database: Database, clock: Clock, config: StudyConfig) -> int:
    """A summary of each upcoming visit for the site, `previsit_summary_days` before it."""
    now = clock.now()
    ahead = timedelta(days=config.protocol.previsit_summary_days)
    sent = 0
    async with database.reading() as session:
        rows = await session.exec(_coming(select(Visit, Participant), now, ahead))
        due = {
            _summary_key(visit): visit.id
            for visit, participant in rows
            if may_be_due(partial(_summary_due, visit, participant, now, config))
        }
        # A summary already queued is not looked at again: after the digest hour every
        # sweep would otherwise take the write lock for each visit of the coming days.
        queued = set(
            await session.exec(
                select(OutboxMessage.dedupe_key).where(col(OutboxMessage.dedupe_key).in_(due))
            )
        )
        ids = [visit_id for key, visit_id in due.items() if key not in queued]
    for batch in batches(ids):
        async with database.session() as session:
            rows = await session.exec(
                _coming(select(Visit, Participant), now, ahead).where(col(Visit.id).in_(batch))
            )
            # Worked out row by row, written together: one insert holds the write lock for
            # milliseconds where a savepoint and a query for each visit held it for many.
            summaries = []
            for visit, participant in list(rows):
                with apart("the pre-visit summary of visit", visit.id):
                    if _summary_due(visit, participant, now, config):
                        summaries.append(_previsit_summary(visit, participant, now, config))
            sent += await enqueue_new(session, summaries)
    return sent


def _coming(query: Any, now: datetime, ahead: timedelta) -> Any:
    """Upcoming visits of followed participants whose summary may be due: on a day from
    today (in any zone) to `ahead` days later."""
    return query.join(Participant, col(Participant.id) == Visit.participant_id).where(
        col(Visit.status).in_(UPCOMING),
        col(Participant.status).in_(
            [
                ParticipantStatus.ACTIVE,
                ParticipantStatus.UNREACHABLE,
                ParticipantStatus.PAUSED,
            ]
        ),
        col(Visit.target_date) <= (now + ahead + timedelta(days=60)).date(),
        on_days(now - timedelta(days=1), now + ahead + timedelta(days=1)),
    )


def _previsit_summary(
    visit: Visit, participant: Participant, now: datetime, config: StudyConfig
) -> dict[str, Any]:
    """The outbox row of a visit's summary for its site (`message_values`)."""
    zone = config.site_timezone(participant.site_code)
    return message_values(
        template="previsit_summary",
        dedupe_key=_summary_key(visit),
        chat_id=config.sites[participant.site_code].alert_chat_id,
        language=config.site_language(participant.site_code),
        context={"visit_id": visit.id},
        due_at=now,
        not_after=local_instant(visit.visit_date, time(0), zone),
        priority=Priority.INFO,
        now=now,
    )


def _summary_key(visit: Visit) -> str:
    """One summary per visit and day: a visit moved to another day gets one again."""
    return f"previsit:{visit.id}:{visit.visit_date.isoformat()}"


def _summary_due(
    visit: Visit, participant: Participant, now: datetime, config: StudyConfig
) -> bool:
    """Whether the visit's summary is due: in the days before it, from the digest hour."""
    ahead = timedelta(days=config.protocol.previsit_summary_days)
    zone = config.site_timezone(participant.site_code)
    today = local_date(now, zone)
    if not visit.visit_date - ahead <= today < visit.visit_date:
        return False
    return now >= local_instant(today, time(config.protocol.escalation.digest_hour), zone)
