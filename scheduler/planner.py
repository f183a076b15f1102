"""The reminder planner: a participant's calendar -> the reminders that should exist.

`Planner.replan` runs in the transaction of every change to a date, an arm or a status. It
adds the reminders that are now true, cancels unsent ones that no longer are, and leaves
sent ones alone. The dedupe key of a reminder names its event, the event's date and time,
and the offset, so a moved visit yields new keys and its old reminders are cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scheduler.timing import event_deadline, local_date, reminder_instant
from study.config import StudyConfig
from study.models import (
    UPCOMING,
    Infusion,
    InfusionStatus,
    OutboxMessage,
    OutboxStatus,
    Participant,
    ParticipantStatus,
    Visit,
)
from study.outbox import OUTBOX_TOUCHED, REMINDER_TEMPLATE, Priority, message_values
from study.protocol import Arm

REMINDER_PREFIX = "remind:"


@dataclass(frozen=True)
class PlannedReminder:
    dedupe_key: str
    event_key: str
    due_at: datetime
    not_after: datetime
    context: dict[str, Any]


class Planner:
    """Implements `study.ports.Replanner` for visit and infusion reminders."""

    def __init__(self, config: StudyConfig) -> None:
        self.config = config

    async def replan(self, session: AsyncSession, participant: Participant, now: datetime) -> None:
        assert participant.id is not None
        wanted = (
            await self.reminders_for(session, participant, now)
            if participant.status == ParticipantStatus.ACTIVE
            else []
        )
        keys = {reminder.dedupe_key for reminder in wanted}
        existing = {
            row.dedupe_key: row
            for row in await session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.participant_id == participant.id,
                    col(OutboxMessage.dedupe_key).startswith(REMINDER_PREFIX),
                )
            )
        }
        for key, row in existing.items():
            # A row being sent is cancelled too: the dispatcher looks again before the send.
            if key not in keys and row.status in (OutboxStatus.PENDING, OutboxStatus.SENDING):
                row.status = OutboxStatus.CANCELLED
                session.add(row)
            elif key in keys and row.status == OutboxStatus.CANCELLED:
                # True again (a resumed participant, a date moved back): send it after all.
                row.status = OutboxStatus.PENDING
                row.available_at = row.due_at
                row.attempts = 0
                session.add(row)
                session.info[OUTBOX_TOUCHED] = True
        # One bulk insert: a calendar's reminders are a few dozen rows.
        new = [
            message_values(
                template=REMINDER_TEMPLATE,
                dedupe_key=reminder.dedupe_key,
                event_key=reminder.event_key,
                due_at=reminder.due_at,
                not_after=reminder.not_after,
                participant_id=participant.id,
                context=reminder.context,
                priority=Priority.ROUTINE,
                now=now,
            )
            for reminder in wanted
            if reminder.dedupe_key not in existing
        ]
        if new:
            await session.exec(insert(OutboxMessage), params=new)
            session.info[OUTBOX_TOUCHED] = True

    async def reminders_for(
        self, session: AsyncSession, participant: Participant, now: datetime
    ) -> list[PlannedReminder]:
        """Every reminder of the participant's calendar whose event is still ahead."""
        visits = list(
            await session.exec(
                select(Visit)
                .where(Visit.participant_id == participant.id)
                .order_by(col(Visit.number))
            )
        )
        infusions = list(
            await session.exec(
                select(Infusion).where(
                    Infusion.participant_id == participant.id,
                    col(Infusion.status) == InfusionStatus.PLANNED,
                )
            )
        )
        infusion_days = {infusion.planned_date: infusion for infusion in infusions}
        # An infusion on a visit's day is part of that visit, whatever the visit's status.
        on_visit_days = {
            day: infusion_days.pop(day, None) for day in {v.visit_date for v in visits}
        }
        linked_on = (
            local_date(participant.linked_at, participant.timezone)
            if participant.linked_at
            else None
        )
        reminders: list[PlannedReminder] = []
        for visit in visits:
            if visit.status not in UPCOMING:
                continue
            if visit.month == 0 and linked_on is not None and visit.visit_date <= linked_on:
                continue  # linked at (or after) the day-1 visit itself: they are there
            infusion = on_visit_days[visit.visit_date]
            if infusion is not None:
                kind = "visit_infusion"
            elif participant.arm == Arm.INDIVIDUALIZED and visit.month > 0:
                kind = "visit_dose_decided_at_visit"
            else:
                kind = "visit"
            # The window is offered only around a day inside it: an appointment set outside
            # its window must not be contradicted by the reminder of it.
            in_window = visit.window_start <= visit.visit_date <= visit.window_end
            context = {
                "kind": kind,
                "visit_id": visit.id,
                "visit_number": visit.number,
                "month": visit.month,
                "infusion_id": infusion.id if infusion else None,
                "window_start": visit.window_start.isoformat() if in_window else None,
                "window_end": visit.window_end.isoformat() if in_window else None,
            }
            reminders += self._series(
                participant,
                f"visit:{visit.id}",
                visit.visit_date,
                visit.appointment_time,
                context,
                now,
            )
        for infusion in infusion_days.values():  # infusions on a day without a visit
            context = {"kind": "infusion", "infusion_id": infusion.id, "visit_id": None}
            reminders += self._series(
                participant,
                f"infusion:{infusion.id}",
                infusion.planned_date,
                infusion.planned_time,
                context,
                now,
            )
        return reminders

    def _series(
        self,
        participant: Participant,
        event: str,
        day: date,
        at: time | None,
        context: dict[str, Any],
        now: datetime,
    ) -> list[PlannedReminder]:
        protocol = self.config.protocol
        deadline = event_deadline(day, participant.timezone, at)
        if deadline <= now:
            return []
        when = f"{day.isoformat()}" + (f"T{at.isoformat('minutes')}" if at else "")
        event_key = f"{event}:{when}"
        series = []
        for days_before in protocol.visit_reminder_days:
            due = reminder_instant(
                day,
                days_before,
                preferred_hour=participant.preferred_hour,
                quiet_hours=protocol.quiet_hours,
                zone=participant.timezone,
                appointment=at,
            )
            series.append(
                PlannedReminder(
                    dedupe_key=f"{REMINDER_PREFIX}{event_key}:{context['kind']}:d{days_before}",
                    event_key=event_key,
                    due_at=due,
                    not_after=deadline,
                    context={
                        **context,
                        "date": day.isoformat(),
                        "time": at.isoformat("minutes") if at else None,
                        "days_before": days_before,
                    },
                )
            )
        return series
