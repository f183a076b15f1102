"""The tables. Datetimes are aware UTC (`UTCDateTime`); visit dates are local calendar dates.

Telegram ids are stored only where the bot must reach someone (a linked chat, a site's chat)
or check who acted (a coordinator's user id). A participant is a study id, never a name.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import JSON, BigInteger, Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from study.errors import TrialbotError
from study.types import UTCDateTime


class UnsavedRowError(TrialbotError):
    """A row was used by id before the database gave it one: a bug, never "row 0"."""


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def saved_id(row: _Row) -> int:
    """The id of a row the database has stored (added and flushed); UnsavedRowError if it
    has none yet."""
    if row.id is None:
        raise UnsavedRowError(f"{type(row).__name__} has no id yet: flush it first")
    return row.id


class ParticipantStatus(StrEnum):
    INVITED = "invited"
    ACTIVE = "active"
    PAUSED = "paused"
    UNREACHABLE = "unreachable"
    WITHDRAWN = "withdrawn"
    COMPLETED = "completed"


class VisitStatus(StrEnum):
    PLANNED = "planned"
    CONFIRMED = "confirmed"
    RESCHEDULE_REQUESTED = "reschedule_requested"
    ATTENDED = "attended"
    MISSED = "missed"


CLOSED = (ParticipantStatus.WITHDRAWN, ParticipantStatus.COMPLETED)
"""A participant who left the study (withdrawn or completed): nothing more is changed."""
UPCOMING = (VisitStatus.PLANNED, VisitStatus.CONFIRMED)
"""A visit still to come on its date: it is reminded of, and answered from a reminder."""
STILL_TO_COME = (*UPCOMING, VisitStatus.RESCHEDULE_REQUESTED)
"""A visit not yet held, including one whose new date the site has still to set."""


class InfusionStatus(StrEnum):
    PROPOSED = "proposed"
    PLANNED = "planned"
    GIVEN = "given"
    CANCELLED = "cancelled"


class CancelReason(StrEnum):
    """Why a proposed re-dose was cancelled: a team member rejected it, or the visit's labs
    were corrected and no longer meet the rule (withdrawn by the program)."""

    REJECTED = "rejected"
    LABS_CHANGED = "labs_changed"


class CheckInKind(StrEnum):
    """Which questionnaire was put (CLINICAL.md)."""

    SYMPTOMS = "symptoms"
    POST_INFUSION = "post_infusion"
    CONTRACEPTION = "contraception"


class CheckInTrigger(StrEnum):
    """Why it was put."""

    CADENCE = "cadence"
    ON_DEMAND = "on_demand"
    INFUSION_24H = "infusion_24h"
    INFUSION_7D = "infusion_7d"
    VISIT_REMINDER = "visit_reminder"


class PromptStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    EXPIRED = "expired"
    STOPPED = "stopped"


class Tier(StrEnum):
    T1 = "T1"
    T2 = "T2"
    T3 = "T3"
    T4 = "T4"


URGENT = (Tier.T1, Tier.T2)
"""Acted on at once: an immediate alert, re-sent and escalated until acknowledged."""
ALERTING = (*URGENT, Tier.T3)
"""Reaches the site team as an alert (T4 only waits for the pre-visit summary)."""


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


def _utc(*, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, index=index)


def _utc_required(*, index: bool = False) -> Any:
    return Field(sa_type=UTCDateTime, index=index, nullable=False)


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


def _json_or_none() -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=True))


class Site(SQLModel, table=True):
    """A hospital taking part; mirrored from study.toml at start-up."""

    code: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=200)
    timezone: str = Field(max_length=64)
    phone: str = Field(max_length=40)
    emergency_number: str = Field(default="120", max_length=10)
    alert_chat_id: int = Field(sa_type=BigInteger)
    escalation_chat_id: int | None = Field(default=None, sa_type=BigInteger)


class Coordinator(SQLModel, table=True):
    """A member of a site team allowed to act in the bot; mirrored from study.toml."""

    __table_args__ = (UniqueConstraint("telegram_user_id", "site_code"),)

    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_type=BigInteger, index=True)
    site_code: str = Field(foreign_key="site.code", max_length=16)
    role: str = Field(max_length=16)


class Participant(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    study_id: str = Field(max_length=32, unique=True)
    site_code: str = Field(foreign_key="site.code", max_length=16, index=True)
    arm: str = Field(max_length=16)
    randomized_on: date
    language: str = Field(max_length=2)
    timezone: str = Field(max_length=64)
    preferred_hour: int
    can_become_pregnant: bool = False
    status: str = Field(default=ParticipantStatus.INVITED, max_length=16, index=True)
    telegram_chat_id: int | None = Field(default=None, sa_type=BigInteger, unique=True)
    linked_at: datetime | None = _utc()
    created_at: datetime = _utc_required()
    status_changed_at: datetime | None = _utc()
    # When the check-in sweep next has something to put to them (`study.checkin_due`):
    # None when not known yet (any change that may move it sets it so); the sweep reads only
    # the participants whose moment has come.
    checkins_due_at: datetime | None = _utc(index=True)


class EnrollmentCode(SQLModel, table=True):
    """An invite code, stored only as its SHA-256; single use, expiring, revocable."""

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    code_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _utc_required()
    expires_at: datetime = _utc_required()
    used_at: datetime | None = _utc()
    revoked_at: datetime | None = _utc()


class LinkFailure(SQLModel, table=True):
    """A wrong code tried from a chat (hashed), to slow down guessing."""

    id: int | None = Field(default=None, primary_key=True)
    chat_hash: str = Field(max_length=64, index=True)
    failed_at: datetime = _utc_required(index=True)


class Visit(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("participant_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    number: int
    month: int
    target_date: date = Field(index=True)
    window_start: date
    window_end: date = Field(index=True)
    appointment_date: date | None = Field(default=None, index=True)
    appointment_time: time | None = None
    status: str = Field(default=VisitStatus.PLANNED, max_length=24)
    confirmed_at: datetime | None = _utc()
    attended_on: date | None = None
    updated_at: datetime | None = _utc()

    @property
    def visit_date(self) -> date:
        """The day the participant is expected: the appointment if set, else the target."""
        return self.appointment_date or self.target_date


class Infusion(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id")
    planned_date: date
    planned_time: time | None = None
    dose_mg: int
    reason: str = Field(max_length=24)
    status: str = Field(default=InfusionStatus.PLANNED, max_length=16)
    cancel_reason: str | None = Field(default=None, max_length=16)
    given_on: date | None = None
    criteria: list[str] | None = _json_or_none()
    confirmed_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = _utc_required()
    updated_at: datetime | None = _utc()


class LabResult(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    visit_id: int = Field(foreign_key="visit.id", unique=True)
    collected_on: date | None = None
    cd19_percent: float | None = None
    anti_dsdna_value: float | None = None
    anti_dsdna_positive: bool | None = None
    c3_value: float | None = None
    c3_lower_limit: float | None = None
    criteria_fired: list[str] = _json(list)
    not_evaluable: list[str] = _json(list)
    entered_by: int | None = Field(default=None, sa_type=BigInteger)
    entered_at: datetime = _utc_required()


class CheckIn(SQLModel, table=True):
    """One questionnaire put to a participant (symptoms, after an infusion, or
    contraception C1-C3); progress lives here, not in memory, so a restart resumes it."""

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    kind: str = Field(max_length=16)
    trigger: str = Field(max_length=16)
    questionnaire_version: str = Field(max_length=16)
    infusion_id: int | None = Field(default=None, foreign_key="infusion.id")
    dedupe_key: str | None = Field(default=None, max_length=96, unique=True)
    asked_at: datetime = _utc_required()
    expires_at: datetime | None = _utc(index=True)
    nudged_at: datetime | None = _utc()
    current_question: str | None = Field(default=None, max_length=16)
    answers: dict[str, Any] = _json(dict)
    status: str = Field(default=PromptStatus.OPEN, max_length=16, index=True)
    tier: str | None = Field(default=None, max_length=2)
    evidence: list[Any] = _json(list)
    answered_at: datetime | None = _utc()
    completed_at: datetime | None = _utc()
    message_id: int | None = Field(default=None, sa_type=BigInteger)


class Alert(SQLModel, table=True):
    """Something the site team must see: a row first, then a card in their chat."""

    id: int | None = Field(default=None, primary_key=True)
    site_code: str = Field(foreign_key="site.code", max_length=16, index=True)
    participant_id: int | None = Field(default=None, foreign_key="participant.id", index=True)
    kind: str = Field(max_length=32)
    tier: str = Field(max_length=2)
    evidence: list[Any] = _json(list)
    status: str = Field(default=AlertStatus.OPEN, max_length=16, index=True)
    dedupe_key: str | None = Field(default=None, max_length=96, unique=True)
    raised_at: datetime = _utc_required()
    answered_at: datetime | None = _utc()
    acknowledged_at: datetime | None = _utc()
    # Who acknowledged and resolved, by Telegram user id; None when done on the command line
    # (the audit log names the server's user).
    acknowledged_by: int | None = Field(default=None, sa_type=BigInteger)
    resolved_at: datetime | None = _utc()
    resolved_by: int | None = Field(default=None, sa_type=BigInteger)
    escalation_level: int = 0
    next_escalation_at: datetime | None = _utc(index=True)
    checkin_id: int | None = Field(default=None, foreign_key="checkin.id")
    visit_id: int | None = Field(default=None, foreign_key="visit.id")
    card_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    card_message_id: int | None = Field(default=None, sa_type=BigInteger)


class OutboxMessage(SQLModel, table=True):
    """A proactive message, written in the transaction that caused it, sent by the dispatcher.

    It goes to a participant (`participant_id`: chat and language are read at send time) or
    to a chat (`chat_id`, `language`: a site team). `available_at` is when the dispatcher may
    next try it (the due time, later after a failure); `lease_until` guards a row being
    sent, so a crashed sender's rows return. `event_key` groups the reminders of one event,
    of which only the latest due is sent after an outage.
    """

    __table_args__ = (Index("ix_outbox_claim", "status", "available_at"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int | None = Field(default=None, sa_type=BigInteger)
    participant_id: int | None = Field(default=None, foreign_key="participant.id", index=True)
    # Indexed: an alert's cards are found by it when its state changes (`study.alert_cards`).
    alert_id: int | None = Field(default=None, foreign_key="alert.id", index=True)
    template: str = Field(max_length=64)
    # The template's version when it was last composed, e.g. `zh.3f2a9c0d1b7e`
    # (`messages.versions`); empty until then ("1" on rows older than versions).
    template_version: str = Field(default="", max_length=16)
    language: str = Field(max_length=2)
    context: dict[str, Any] = _json(dict)
    priority: int = 5
    dedupe_key: str = Field(sa_column=Column(String(128), unique=True, nullable=False))
    event_key: str | None = Field(default=None, max_length=64, index=True)
    due_at: datetime = _utc_required()
    not_after: datetime | None = _utc()
    available_at: datetime = _utc_required()
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    lease_until: datetime | None = _utc()
    last_error: str | None = Field(default=None, max_length=200)
    telegram_message_id: int | None = Field(default=None, sa_type=BigInteger)
    sent_at: datetime | None = _utc()
    created_at: datetime = _utc_required()


class AuditEvent(SQLModel, table=True):
    """Who did what, when, with the state before and after."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc_required(index=True)
    actor: str = Field(max_length=64, index=True)
    action: str = Field(max_length=64)
    participant_id: int | None = Field(default=None, foreign_key="participant.id", index=True)
    entity: str = Field(max_length=32)
    entity_id: str | None = Field(default=None, max_length=64)
    before: dict[str, Any] | None = _json_or_none()
    after: dict[str, Any] | None = _json_or_none()


class SentReply(SQLModel, table=True):
    """A message the bot sent or edited in direct answer to someone, not through the outbox
    (a command's answer, a check-in question answered, an error): which template made its
    text, in which language and version (`messages.versions`), and when. The outbox's rows
    record the same of proactive messages; the export lists both."""

    id: int | None = Field(default=None, primary_key=True)
    sent_at: datetime = _utc_required(index=True)
    chat_id: int = Field(sa_type=BigInteger)
    participant_id: int | None = Field(default=None, foreign_key="participant.id", index=True)
    template: str = Field(max_length=64)
    language: str = Field(max_length=2)
    template_version: str = Field(max_length=16)
    telegram_message_id: int | None = Field(default=None, sa_type=BigInteger)
    edited: bool = False  # an earlier message's text replaced (e.g. a question answered)


class CoordinatorChat(SQLModel, table=True):
    """A coordinator who has written to the bot in a private chat, so that the bot may write
    to them there (Telegram refuses a bot's first message to a user): an alert that the
    site's chat refuses reaches them directly."""

    telegram_user_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    started_at: datetime = _utc_required()


class ChatMigration(SQLModel, table=True):
    """A group that Telegram turned into a supergroup under a new id: messages for the old
    id go to the new one until study.toml names it."""

    old_chat_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    new_chat_id: int = Field(sa_type=BigInteger)
    migrated_at: datetime = _utc_required()


class EnrollDraft(SQLModel, table=True):
    """A coordinator's guided `/enroll` in one chat, between their answers: stored here, not
    in one process's memory, so that any process behind a load balancer takes the next one.
    `answers` holds what was chosen so far (site, study id, arm, day, language); no
    Telegram ids but the coordinator's own and the chat's."""

    __tablename__ = "enroll_draft"

    telegram_user_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    chat_id: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    step: str = Field(max_length=16)
    answers: dict[str, Any] = _json(dict)
    updated_at: datetime = _utc_required()
