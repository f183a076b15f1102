"""Enrolling a participant, issuing invite codes, and linking a Telegram chat with a code."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import insert
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study import audit
from study.codes import hash_chat, hash_code, new_code
from study.config import LANGUAGES, StudyConfig
from study.errors import DomainError
from study.models import (
    CLOSED,
    EnrollmentCode,
    Infusion,
    InfusionStatus,
    LinkFailure,
    Participant,
    ParticipantStatus,
    Visit,
    VisitStatus,
    saved_id,
)
from study.ports import Replanner
from study.protocol import Arm, arm_named, protocol_infusions, visit_calendar

STUDY_ID = re.compile(r"^[A-Za-z0-9-]{1,32}$")
LINK_FAILURE_WINDOW = timedelta(minutes=15)
LINK_FAILURES_ALLOWED = 5
MAX_DAYS_AHEAD = 90


@dataclass(frozen=True, kw_only=True)
class EnrollmentRequest:
    """What enrolment needs. `can_become_pregnant` has no default on purpose: a forgotten
    answer must not silently switch off the contraception and pregnancy questions."""

    study_id: str
    site_code: str
    arm: str
    randomized_on: date
    can_become_pregnant: bool
    language: str | None = None
    timezone: str | None = None
    preferred_hour: int | None = None

    def __post_init__(self) -> None:
        # `individualised` is the same arm as `individualized`: stored one way only.
        object.__setattr__(self, "arm", arm_named(self.arm))


@dataclass(frozen=True)
class Refusal:
    """Why a chat was not linked: `key` names the message that tells the person."""

    key: str
    site_code: str | None = None
    minutes: int | None = None


@dataclass(frozen=True)
class Invitation:
    participant: Participant
    code: str
    expires_at: datetime


async def enroll(
    session: AsyncSession,
    request: EnrollmentRequest,
    *,
    config: StudyConfig,
    now: datetime,
    actor: str,
) -> Invitation:
    """Create the participant, their whole calendar and a first invite code, atomically."""
    _validate(request, config, now)
    existing = await session.exec(
        select(Participant.id).where(Participant.study_id == request.study_id)
    )
    if existing.first() is not None:
        raise DomainError("error_duplicate_study_id", study_id=request.study_id)

    participant = new_participant(request, config, now)
    session.add(participant)
    await session.flush()
    assert participant.id is not None
    await insert_calendars(session, [(request, participant)], config, now)
    audit.record(
        session,
        at=now,
        actor=actor,
        action="enroll",
        entity="participant",
        entity_id=participant.study_id,
        participant_id=participant.id,
        after=_participant_facts(participant),
    )
    return await _issue(session, participant, config=config, now=now, actor=actor)


async def insert_calendars(
    session: AsyncSession,
    enrolled: Sequence[tuple[EnrollmentRequest, Participant]],
    config: StudyConfig,
    now: datetime,
) -> None:
    """The visit calendars and infusions of participants just inserted: one insert a table
    for them all (ORM objects one by one cost tens of milliseconds a participant, too slow
    for a site enrolling thousands). A None is written as NULL (`render_nulls`), not left
    out: the ORM otherwise splits the rows into one statement for each pattern of Nones (a
    participant's first visit attended, the rest planned: two statements a participant)."""
    owners = [(request, saved_id(participant)) for request, participant in enrolled]
    visits = await session.exec(
        insert(Visit)
        .returning(col(Visit.participant_id), col(Visit.number), col(Visit.id))
        .execution_options(render_nulls=True),
        params=[
            row for request, owner in owners for row in visit_rows(request, owner, config, now)
        ],
    )
    visit_ids: dict[int, dict[int, int]] = {}
    for owner, number, visit_id in visits:
        visit_ids.setdefault(owner, {})[number] = visit_id
    infusion_rows = [
        row
        for request, owner in owners
        for row in infusion_rows_of(request, owner, visit_ids[owner], config, now)
    ]
    if infusion_rows:
        await session.exec(
            insert(Infusion).execution_options(render_nulls=True), params=infusion_rows
        )


def new_participant(request: EnrollmentRequest, config: StudyConfig, now: datetime) -> Participant:
    """The participant `request` describes, invited, with the study's and site's defaults."""
    protocol = config.protocol
    return Participant(
        study_id=request.study_id,
        site_code=request.site_code,
        arm=request.arm,
        randomized_on=request.randomized_on,
        language=request.language or config.study.language,
        timezone=request.timezone or config.site_timezone(request.site_code),
        preferred_hour=(
            protocol.preferred_hour if request.preferred_hour is None else request.preferred_hour
        ),
        can_become_pregnant=request.can_become_pregnant,
        status=ParticipantStatus.INVITED,
        created_at=now,
        status_changed_at=now,
    )


def _day_one_done(request: EnrollmentRequest, config: StudyConfig, now: datetime) -> bool:
    # Enrolled on or after day 1: the randomisation visit and its infusion have happened
    # (coordinators correct this if not); enrolled ahead of day 1, they are still planned.
    return request.randomized_on <= _site_today(config, request.site_code, now)


def visit_rows(
    request: EnrollmentRequest, participant_id: int, config: StudyConfig, now: datetime
) -> list[dict[str, Any]]:
    """The rows of the participant's visit calendar, for one bulk insert."""
    done = _day_one_done(request, config, now)
    rows = []
    for planned in visit_calendar(request.randomized_on, config.protocol):
        first = planned.month == 0 and done
        rows.append(
            {
                "participant_id": participant_id,
                "number": planned.number,
                "month": planned.month,
                "target_date": planned.target_date,
                "window_start": planned.window_start,
                "window_end": planned.window_end,
                "appointment_date": None,
                "appointment_time": None,
                "status": VisitStatus.ATTENDED if first else VisitStatus.PLANNED,
                "confirmed_at": None,
                "attended_on": planned.target_date if first else None,
                "updated_at": now,
            }
        )
    return rows


def infusion_rows_of(
    request: EnrollmentRequest,
    participant_id: int,
    visit_ids: Mapping[int, int],
    config: StudyConfig,
    now: datetime,
) -> list[dict[str, Any]]:
    """The rows of the participant's protocol infusions (`visit_ids`: visit number to id)."""
    done = _day_one_done(request, config, now)
    rows = []
    for infusion in protocol_infusions(Arm(request.arm), request.randomized_on, config.protocol):
        given = infusion.month == 0 and done
        rows.append(
            {
                "participant_id": participant_id,
                "visit_id": visit_ids[infusion.visit_number],
                "planned_date": infusion.planned_date,
                "planned_time": None,
                "dose_mg": infusion.dose_mg,
                "reason": "protocol",
                "status": InfusionStatus.GIVEN if given else InfusionStatus.PLANNED,
                "cancel_reason": None,
                "given_on": infusion.planned_date if given else None,
                "criteria": None,
                "confirmed_by": None,
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


async def issue_code(
    session: AsyncSession,
    participant: Participant,
    *,
    config: StudyConfig,
    now: datetime,
    actor: str,
) -> Invitation:
    """A fresh invite code for a participant; every earlier unused code stops working."""
    if participant.status in CLOSED:
        raise DomainError("error_participant_closed", study_id=participant.study_id)
    return await _issue(session, participant, config=config, now=now, actor=actor)


async def _issue(
    session: AsyncSession,
    participant: Participant,
    *,
    config: StudyConfig,
    now: datetime,
    actor: str,
) -> Invitation:
    earlier = await session.exec(
        select(EnrollmentCode).where(
            EnrollmentCode.participant_id == participant.id,
            col(EnrollmentCode.used_at).is_(None),
            col(EnrollmentCode.revoked_at).is_(None),
        )
    )
    for old in earlier:
        old.revoked_at = now
    code = new_code()
    expires_at = now + timedelta(days=config.protocol.enrollment_code_days)
    assert participant.id is not None
    session.add(
        EnrollmentCode(
            participant_id=participant.id,
            code_hash=hash_code(code),
            created_at=now,
            expires_at=expires_at,
        )
    )
    audit.record(
        session,
        at=now,
        actor=actor,
        action="issue_code",
        entity="participant",
        entity_id=participant.study_id,
        participant_id=participant.id,
        after={"expires_at": expires_at.isoformat()},
    )
    return Invitation(participant, code, expires_at)


async def link_chat(
    session: AsyncSession, *, code: str, chat_id: int, now: datetime, replanner: Replanner
) -> Participant | Refusal:
    """Link the chat to the participant whose valid code this is, or say why not.

    A refusal is returned, not raised, so that the failed attempt it records is committed:
    `link_wait` (too many wrong codes from this chat lately), `link_invalid` (unknown, used,
    revoked or expired: the reply reveals nothing), `link_already_linked` (the participant
    uses another chat) or `chat_in_use` (this chat belongs to another participant).
    """
    chat_key = hash_chat(chat_id)
    failures = await _recent_failures(session, chat_key, now)
    if len(failures) >= LINK_FAILURES_ALLOWED:
        retry_at = failures[-LINK_FAILURES_ALLOWED] + LINK_FAILURE_WINDOW
        minutes = max(1, math.ceil((retry_at - now).total_seconds() / 60))
        return Refusal("link_wait", minutes=minutes)

    row = (
        await session.exec(
            select(EnrollmentCode)
            .where(EnrollmentCode.code_hash == hash_code(code))
            .with_for_update()
        )
    ).first()
    participant = await session.get(Participant, row.participant_id) if row else None
    if row is None or participant is None:
        return await _failed(session, chat_key, now)
    if row.used_at is not None and participant.telegram_chat_id == chat_id:
        return participant  # the same person tapping their link again
    if (
        row.used_at is not None
        or row.revoked_at is not None
        or row.expires_at <= now
        or participant.status in CLOSED
    ):
        return await _failed(session, chat_key, now)
    if participant.telegram_chat_id is not None and participant.telegram_chat_id != chat_id:
        return Refusal("link_already_linked", site_code=participant.site_code)
    other = await find_by_chat(session, chat_id)
    if other is not None and other.id != participant.id:
        return Refusal("chat_in_use", site_code=other.site_code)

    before = _participant_facts(participant)
    participant.telegram_chat_id = chat_id
    participant.linked_at = now
    if participant.status == ParticipantStatus.INVITED:
        participant.status = ParticipantStatus.ACTIVE
        participant.status_changed_at = now
    row.used_at = now
    audit.record(
        session,
        at=now,
        actor=audit.participant_actor(participant.study_id),
        action="link_chat",
        entity="participant",
        entity_id=participant.study_id,
        participant_id=participant.id,
        before=before,
        after=_participant_facts(participant),
    )
    await replanner.replan(session, participant, now)
    return participant


async def set_language(
    session: AsyncSession, participant: Participant, language: str, *, now: datetime
) -> None:
    if language not in LANGUAGES:
        raise DomainError("error_bad_language", language=language)
    if participant.language == language:
        return
    before = {"language": participant.language}
    participant.language = language
    session.add(participant)
    audit.record(
        session,
        at=now,
        actor=audit.participant_actor(participant.study_id),
        action="set_language",
        entity="participant",
        entity_id=participant.study_id,
        participant_id=participant.id,
        before=before,
        after={"language": language},
    )


async def get_participant(session: AsyncSession, study_id: str) -> Participant:
    found = (
        await session.exec(select(Participant).where(Participant.study_id == study_id))
    ).first()
    if found is None:
        raise DomainError("error_unknown_participant", study_id=study_id)
    return found


async def find_by_chat(session: AsyncSession, chat_id: int) -> Participant | None:
    return await session.run_sync(find_by_chat_sync, chat_id)


def find_by_chat_sync(session: Session, chat_id: int) -> Participant | None:
    """`find_by_chat` in a synchronous session (`Database.snapshot`)."""
    return session.scalars(
        select(Participant).where(Participant.telegram_chat_id == chat_id)
    ).first()


async def _recent_failures(session: AsyncSession, chat_key: str, now: datetime) -> list[datetime]:
    result = await session.exec(
        select(LinkFailure.failed_at)
        .where(
            LinkFailure.chat_hash == chat_key,
            LinkFailure.failed_at > now - LINK_FAILURE_WINDOW,
        )
        .order_by(col(LinkFailure.failed_at))
    )
    return list(result)


async def _failed(session: AsyncSession, chat_key: str, now: datetime) -> Refusal:
    session.add(LinkFailure(chat_hash=chat_key, failed_at=now))
    # Forget attempts older than the window, so the table stays small.
    old = await session.exec(
        select(LinkFailure).where(LinkFailure.failed_at <= now - LINK_FAILURE_WINDOW)
    )
    for stale in old:
        await session.delete(stale)
    return Refusal("link_invalid")


def _validate(request: EnrollmentRequest, config: StudyConfig, now: datetime) -> None:
    if not STUDY_ID.match(request.study_id):
        raise DomainError("error_bad_study_id", study_id=request.study_id)
    if request.site_code not in config.sites:
        raise DomainError(
            "error_unknown_site", site=request.site_code, known=", ".join(sorted(config.sites))
        )
    if request.arm not in {arm.value for arm in Arm}:
        raise DomainError("error_bad_arm", arm=request.arm)
    if request.language is not None and request.language not in LANGUAGES:
        raise DomainError("error_bad_language", language=request.language)
    if request.timezone is not None:
        try:
            ZoneInfo(request.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise DomainError("error_bad_timezone", timezone=request.timezone) from None
    if request.preferred_hour is not None and not 0 <= request.preferred_hour <= 23:
        raise DomainError("error_bad_hour", hour=request.preferred_hour)
    today = _site_today(config, request.site_code, now)
    if request.randomized_on > today + timedelta(days=MAX_DAYS_AHEAD):
        raise DomainError(
            "error_randomized_future", date=request.randomized_on.isoformat(), days=MAX_DAYS_AHEAD
        )
    last_visit = visit_calendar(request.randomized_on, config.protocol)[-1]
    if last_visit.window_end < today:
        raise DomainError("error_randomized_past", date=request.randomized_on.isoformat())


def _site_today(config: StudyConfig, site_code: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(config.site_timezone(site_code))).date()


def _participant_facts(participant: Participant) -> dict[str, object]:
    """What the audit log keeps of a participant: no Telegram ids, no names."""
    return {
        "study_id": participant.study_id,
        "site": participant.site_code,
        "arm": participant.arm,
        "randomized_on": participant.randomized_on.isoformat(),
        "language": participant.language,
        "can_become_pregnant": participant.can_become_pregnant,
        "status": participant.status,
        "linked": participant.telegram_chat_id is not None,
    }
