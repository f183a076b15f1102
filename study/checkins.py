"""Check-ins: a questionnaire put one question at a time, its progress kept in the database.

The same flow serves the symptom check-in (Q1-Q13), the question after an infusion and the
contraception questions (C1-C3). What a participant reports is a fact acted on at once, never
held back for want of a Done:
- Every answer and every tick is triaged with everything reported so far (`reported`: the
  answers, plus items ticked and not submitted). A T1 or T2 finding that is new raises the
  alert at once (or makes the open alert louder with a new card) and queues the advice for
  the participant (`Step.advice`, an outbox row the caller sends at once).
- Tapping a Q1 red flag answers Q1 and ends the questionnaire (CLINICAL.md).
- T3 findings are acted on when the check-in ends: completed, stopped, expired, replaced by a
  new `/checkin`, or closed by a pause or withdrawal (`close`).
Everything a participant presses is checked against the open check-in, so a button from an
old or finished check-in changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study import audit
from study.alerts import ALERT_CARD, PRIORITY_OF_TIER, first_escalation_at, raise_alert
from study.config import StudyConfig
from study.errors import DomainError
from study.models import (
    ALERTING,
    URGENT,
    Alert,
    AlertStatus,
    CheckIn,
    CheckInKind,
    CheckInTrigger,
    Infusion,
    OutboxMessage,
    Participant,
    PromptStatus,
    Tier,
)
from study.outbox import Priority, enqueue
from study.questionnaire import (
    CHECKIN,
    CONTRACEPTION,
    POST_INFUSION,
    QUESTIONNAIRE_VERSION,
    Question,
    next_question,
    previous_question,
    validate_answers,
)
from study.triage import (
    RASH_WINDOW_HOURS,
    T4_SYMPTOMS,
    TriageResult,
    triage_checkin,
    triage_contraception,
    triage_post_infusion,
)

QUESTIONS: dict[str, tuple[Question, ...]] = {
    CheckInKind.SYMPTOMS: CHECKIN,
    CheckInKind.POST_INFUSION: (POST_INFUSION,),
    CheckInKind.CONTRACEPTION: CONTRACEPTION,
}
ALERT_KIND: dict[str, str] = {
    CheckInKind.SYMPTOMS: "checkin",
    CheckInKind.POST_INFUSION: "post_infusion",
    CheckInKind.CONTRACEPTION: "contraception",
}
DRAFT = "~"  # answers[f"{code}~"]: the items ticked on a multi-select question, not submitted
INFUSION_HOUR = 12  # when only the day of an infusion is known, assume midday
ADVICE_TEMPLATE = "checkin_advice"
QUESTION_TEMPLATE = "checkin_question"  # a check-in's question queued (first asked, nudge)
# Advice is queued in the outbox (durable) and sent by the handler at once; the dispatcher
# takes it up only after this, should the handler's send fail or the process die.
HANDLER_TURN = timedelta(seconds=20)
_RANK = {tier: rank for rank, tier in enumerate(Tier)}  # T1 first


class End:
    """How a check-in ended, as the advice and the audit log name it."""

    RED_FLAG = "red_flag"  # a Q1 red flag: stopped at once, with an offer to finish later
    COMPLETED = "completed"
    STOPPED = "stopped"  # the participant pressed Stop
    EXPIRED = "expired"
    REPLACED = "replaced"  # a new /checkin closed it
    SILENCED = "silenced"  # a pause or withdrawal closed it


@dataclass(frozen=True)
class Step:
    """What happened after a press: the question to ask now (None once the check-in has
    ended), the triage so far, and the advice queued for the participant, if any."""

    checkin: CheckIn
    question: Question | None
    result: TriageResult | None
    advice: OutboxMessage | None = None

    @property
    def finished(self) -> bool:
        return self.checkin.status != PromptStatus.OPEN


def questions_of(checkin: CheckIn) -> tuple[Question, ...]:
    return QUESTIONS[checkin.kind]


def question_of(checkin: CheckIn, code: str | None) -> Question | None:
    return next((q for q in questions_of(checkin) if q.code == code), None)


def draft_of(checkin: CheckIn, code: str) -> tuple[str, ...]:
    return tuple(checkin.answers.get(code + DRAFT, ()))


def reported(checkin: CheckIn) -> dict[str, tuple[str, ...]]:
    """What the participant has reported on each question: the answer submitted, and the
    items ticked but not submitted (a tick counts, also when "none" was pressed after it)."""
    reports = {}
    for question in questions_of(checkin):
        answered = tuple(checkin.answers.get(question.code, ()))
        ticked = set(draft_of(checkin, question.code))
        items = tuple(item for item in question.items if item in answered or item in ticked)
        if items:
            reports[question.code] = items
        elif answered:
            reports[question.code] = answered
    return reports


async def open_checkin(
    session: AsyncSession,
    participant: Participant,
    *,
    kind: str,
    trigger: str,
    now: datetime,
    config: StudyConfig,
    infusion_id: int | None = None,
    dedupe_key: str | None = None,
) -> CheckIn:
    """A new check-in at its first question (the existing one, if the key was used)."""
    if dedupe_key is not None:
        existing = (
            await session.exec(select(CheckIn).where(CheckIn.dedupe_key == dedupe_key))
        ).first()
        if existing is not None:
            return existing
    first = QUESTIONS[kind][0]
    checkin = CheckIn(
        participant_id=_id_of(participant),
        kind=kind,
        trigger=trigger,
        questionnaire_version=QUESTIONNAIRE_VERSION,
        infusion_id=infusion_id,
        dedupe_key=dedupe_key,
        asked_at=now,
        expires_at=now + timedelta(hours=config.protocol.checkin_expire_hours),
        current_question=first.code,
        answers={},
        status=PromptStatus.OPEN,
    )
    session.add(checkin)
    await session.flush()
    return checkin


async def start_on_demand(
    session: AsyncSession, participant: Participant, *, now: datetime, config: StudyConfig
) -> tuple[CheckIn, Step | None]:
    """A new symptom check-in from Q1 (`/checkin`, "report a symptom"). An open one is
    closed first, and what it holds is triaged and acted on; its Step is returned too."""
    closed = None
    previous = await open_checkin_of(session, participant, CheckInKind.SYMPTOMS)
    if previous is not None:
        closed = await close(
            session, previous, participant, now=now, config=config, end=End.REPLACED
        )
    checkin = await open_checkin(
        session,
        participant,
        kind=CheckInKind.SYMPTOMS,
        trigger=CheckInTrigger.ON_DEMAND,
        now=now,
        config=config,
    )
    return checkin, closed


async def open_checkin_of(
    session: AsyncSession, participant: Participant, kind: str | None = None
) -> CheckIn | None:
    """The participant's most recent open check-in (of a kind, if given)."""
    query = select(CheckIn).where(
        CheckIn.participant_id == participant.id, col(CheckIn.status) == PromptStatus.OPEN
    )
    if kind is not None:
        query = query.where(CheckIn.kind == kind)
    return (await session.exec(query.order_by(col(CheckIn.asked_at).desc()))).first()


async def checkin_for_press(
    session: AsyncSession, participant: Participant, checkin_id: int, question_code: str | None
) -> CheckIn:
    """The open check-in a button belongs to, at the question the button is for.

    DomainError `checkin_closed` for a finished or someone else's check-in, and
    `checkin_moved_on` for a button of a question already answered.
    """
    return await session.run_sync(checkin_for_press_sync, participant, checkin_id, question_code)


def checkin_for_press_sync(
    session: Session, participant: Participant, checkin_id: int, question_code: str | None
) -> CheckIn:
    """`checkin_for_press` in a synchronous session (`Database.snapshot`)."""
    checkin = session.get(CheckIn, checkin_id, with_for_update=True)
    if (
        checkin is None
        or checkin.participant_id != participant.id
        or checkin.status != PromptStatus.OPEN
    ):
        raise DomainError("checkin_closed")
    if question_code is not None and checkin.current_question != question_code:
        raise DomainError("checkin_moved_on")
    return checkin


async def toggle(
    session: AsyncSession,
    checkin: CheckIn,
    participant: Participant,
    question_code: str,
    item: str,
    *,
    now: datetime,
    config: StudyConfig,
) -> Step:
    """Tick or untick an item of a multi-select question. The tick is a report: it is
    triaged at once. On a question that `stops` (Q1) tapping an item is the answer."""
    question = question_of(checkin, question_code)
    if question is None or not question.multi or item not in question.items:
        raise DomainError("checkin_moved_on")
    if question.stops:
        return await answer(
            session, checkin, participant, question_code, (item,), now=now, config=config
        )
    ticked = set(draft_of(checkin, question_code)) ^ {item}
    chosen = [answer for answer in question.items if answer in ticked]
    checkin.answers = {**checkin.answers, question_code + DRAFT: chosen}
    checkin.answered_at = now
    result = await _triage(session, checkin, participant, now)
    advice = await _act(
        session, checkin, participant, result, now=now, config=config, end=None, advise=True
    )
    session.add(checkin)
    return Step(checkin, question, result, advice)


async def answer(
    session: AsyncSession,
    checkin: CheckIn,
    participant: Participant,
    question_code: str,
    chosen: tuple[str, ...],
    *,
    now: datetime,
    config: StudyConfig,
) -> Step:
    """Record the answer to the current question, act on what it reports, and move on (or
    finish). An empty `chosen` is the question's first ("none") answer."""
    question = question_of(checkin, question_code)
    if question is None:
        raise DomainError("checkin_moved_on")
    try:
        normalised = validate_answers(question, chosen or (question.benign,))
    except ValueError:
        raise DomainError("checkin_moved_on") from None
    answers = dict(checkin.answers)
    answers[question_code] = list(normalised)
    if normalised != (question.benign,):
        answers.pop(question_code + DRAFT, None)  # submitted: the ticks are the answer now
    checkin.answers = answers
    checkin.answered_at = now
    result = await _triage(session, checkin, participant, now)
    following = next_question(questions_of(checkin), question_code)
    end = None
    if question.stops and normalised != (question.benign,):
        end = End.RED_FLAG
        _close(checkin, PromptStatus.STOPPED, now)
    elif following is None:
        end = End.COMPLETED
        _close(checkin, PromptStatus.COMPLETED, now)
    else:
        checkin.current_question = following.code
    _record_triage(checkin, result)
    advice = await _act(
        session, checkin, participant, result, now=now, config=config, end=end, advise=True
    )
    if end is not None:
        _audit_end(session, checkin, participant, now, end)
    session.add(checkin)
    return Step(checkin, None if end else following, result, advice)


def back(checkin: CheckIn) -> Question:
    """Return to the question before the current one (its answer can be changed)."""
    current = checkin.current_question or questions_of(checkin)[0].code
    previous = previous_question(questions_of(checkin), current)
    target = previous or questions_of(checkin)[0]
    checkin.current_question = target.code
    return target


async def close(
    session: AsyncSession,
    checkin: CheckIn,
    participant: Participant,
    *,
    now: datetime,
    config: StudyConfig,
    end: str = End.STOPPED,
) -> Step:
    """End a check-in before its last answer (stopped, expired, replaced, or closed by a
    pause or withdrawal). What was answered and ticked is triaged and acted on like a
    completed check-in; the participant gets new advice unless they are being silenced."""
    result = await _triage(session, checkin, participant, now)
    status = PromptStatus.EXPIRED if end == End.EXPIRED else PromptStatus.STOPPED
    _close(checkin, status, now)
    _record_triage(checkin, result)
    advice = await _act(
        session,
        checkin,
        participant,
        result,
        now=now,
        config=config,
        end=end,
        advise=end != End.SILENCED,
    )
    _audit_end(session, checkin, participant, now, end)
    session.add(checkin)
    return Step(checkin, None, result, advice)


async def stop(
    session: AsyncSession,
    checkin: CheckIn,
    participant: Participant,
    *,
    now: datetime,
    config: StudyConfig,
    status: str = PromptStatus.STOPPED,
) -> Step:
    """The participant stopped the check-in (or, with status `expired`, it ran out of time)."""
    end = End.EXPIRED if status == PromptStatus.EXPIRED else End.STOPPED
    return await close(session, checkin, participant, now=now, config=config, end=end)


def _close(checkin: CheckIn, status: str, now: datetime) -> None:
    checkin.status = status
    checkin.current_question = None
    checkin.completed_at = now


def _record_triage(checkin: CheckIn, result: TriageResult) -> None:
    checkin.tier = result.tier
    checkin.evidence = _findings(checkin, result)


def _audit_end(
    session: AsyncSession, checkin: CheckIn, participant: Participant, now: datetime, end: str
) -> None:
    actor = (
        audit.participant_actor(participant.study_id)
        if end in (End.RED_FLAG, End.COMPLETED, End.STOPPED, End.REPLACED)
        else audit.SYSTEM
    )
    action = {
        End.RED_FLAG: "stop_checkin_red_flag",
        End.COMPLETED: "complete_checkin",
        End.STOPPED: "stop_checkin",
        End.EXPIRED: "expire_checkin",
        End.REPLACED: "replace_checkin",
        End.SILENCED: "close_checkin_silenced",
    }[end]
    audit.record(
        session,
        at=now,
        actor=actor,
        action=action,
        entity="checkin",
        entity_id=checkin.id,
        participant_id=participant.id,
        after={"kind": checkin.kind, "tier": checkin.tier, "status": checkin.status},
    )


async def _triage(
    session: AsyncSession, checkin: CheckIn, participant: Participant, now: datetime
) -> TriageResult:
    answers: Mapping[str, tuple[str, ...]] = reported(checkin)
    if checkin.kind == CheckInKind.CONTRACEPTION:
        return triage_contraception(answers)
    if checkin.kind == CheckInKind.POST_INFUSION:
        first_day = await _about_first_day(session, checkin, participant, now)
        return triage_post_infusion(answers.get(POST_INFUSION.code, ()), first_day=first_day)
    return triage_checkin(answers, await _previous_t4(session, checkin))


async def _previous_t4(session: AsyncSession, checkin: CheckIn) -> frozenset[tuple[str, str]]:
    previous = (
        await session.exec(
            select(CheckIn)
            .where(
                CheckIn.participant_id == checkin.participant_id,
                CheckIn.kind == CheckInKind.SYMPTOMS,
                col(CheckIn.status) == PromptStatus.COMPLETED,
                CheckIn.id != checkin.id,
                col(CheckIn.asked_at) < checkin.asked_at,
            )
            .order_by(col(CheckIn.asked_at).desc())
        )
    ).first()
    return frozenset() if previous is None else t4_of(previous)


async def _about_first_day(
    session: AsyncSession, checkin: CheckIn, participant: Participant, now: datetime
) -> bool:
    """Whether a post-infusion question asks about the first day after the infusion: the
    24-hour question does, the 7-day one does not; any other is judged by the time since
    the recorded infusion (its planned time when known, else midday)."""
    if checkin.trigger in (CheckInTrigger.INFUSION_24H, CheckInTrigger.INFUSION_7D):
        return checkin.trigger == CheckInTrigger.INFUSION_24H
    infusion = await session.get(Infusion, checkin.infusion_id) if checkin.infusion_id else None
    if infusion is None:
        return True  # unknown: the more urgent reading
    day = infusion.given_on or infusion.planned_date
    at = infusion.planned_time or time(INFUSION_HOUR)
    given = datetime.combine(day, at, tzinfo=ZoneInfo(participant.timezone))
    return (now - given).total_seconds() / 3600 <= RASH_WINDOW_HOURS


def _findings(checkin: CheckIn, result: TriageResult) -> list[dict[str, Any]]:
    """The findings as stored (check-in and alert evidence); `ticked` marks an item that was
    ticked but never submitted."""
    findings = []
    for f in result.findings:
        finding: dict[str, Any] = {
            "question": f.question,
            "answer": f.answer,
            "tier": str(f.tier),
            "rule": f.rule,
        }
        if f.answer not in checkin.answers.get(f.question, ()):
            finding["ticked"] = True
        findings.append(finding)
    return findings


async def _act(
    session: AsyncSession,
    checkin: CheckIn,
    participant: Participant,
    result: TriageResult,
    *,
    now: datetime,
    config: StudyConfig,
    end: str | None,
    advise: bool,
) -> OutboxMessage | None:
    """Raise or update the check-in's alert for what is new in `result`, and queue advice.

    New means a finding the latest alert of this check-in does not hold at that tier or a
    more urgent one. A new T1/T2 finding is acted on at once: a new alert (or, while the
    alert is open, the same alert at its new tier with a new card) and advice for the
    participant. New T3 findings wait for the end of the check-in (`end` given). Returns the
    advice row, if one was queued.
    """
    evidence = [{"key": "finding", **finding} for finding in _findings(checkin, result)]
    alert = await _latest_alert(session, checkin)
    known = {_finding_key(item): item["tier"] for item in (alert.evidence if alert else [])}
    new = [
        item
        for item in evidence
        # Urgent findings are acted on at the answer; T3 ones when the check-in ends.
        if item["tier"] in ALERTING and _more_urgent(item["tier"], known.get(_finding_key(item)))
    ]
    urgent = any(item["tier"] in URGENT for item in new)
    if not new or not (urgent or end is not None):
        if alert is not None and alert.status == AlertStatus.OPEN and not new:
            alert.evidence = _merged(alert.evidence, evidence)  # e.g. a T4 symptom added
            session.add(alert)
        return None
    top = min((Tier(item["tier"]) for item in new), key=_RANK.__getitem__)
    pregnancy = checkin.kind == CheckInKind.CONTRACEPTION and result.possible_pregnancy
    if alert is None or alert.status != AlertStatus.OPEN:
        await raise_alert(
            session,
            config=config,
            participant=participant,
            kind="possible_pregnancy" if pregnancy else ALERT_KIND[checkin.kind],
            tier=top,
            evidence=evidence,
            now=now,
            dedupe_key=await _alert_key(session, checkin),
            answered_at=now if pregnancy else None,
            checkin_id=checkin.id,
        )
    else:
        await _louder(session, alert, evidence, top, pregnancy, now=now, config=config)
    if not (urgent and advise):
        return None
    return await _queue_advice(session, checkin, participant, result, now=now, end=end)


async def _latest_alert(session: AsyncSession, checkin: CheckIn) -> Alert | None:
    return (
        await session.exec(
            select(Alert)
            .where(Alert.checkin_id == checkin.id)
            .order_by(col(Alert.id).desc())
            .with_for_update()
        )
    ).first()


async def _alert_key(session: AsyncSession, checkin: CheckIn) -> str:
    """The first alert of a check-in is `checkin:<id>`; later ones (after the first was
    acknowledged or resolved) `checkin:<id>:<n>`."""
    count = (await session.exec(select(func.count()).where(Alert.checkin_id == checkin.id))).one()
    return f"checkin:{checkin.id}" if count == 0 else f"checkin:{checkin.id}:{count + 1}"


async def _louder(
    session: AsyncSession,
    alert: Alert,
    evidence: list[dict[str, Any]],
    top: Tier,
    pregnancy: bool,
    *,
    now: datetime,
    config: StudyConfig,
) -> None:
    """New findings for an open alert: the evidence grows, the tier rises (its escalation
    clock starting again), and the card goes to the site chat again as a new message."""
    before = {"tier": alert.tier, "findings": len(alert.evidence)}
    alert.evidence = _merged(alert.evidence, evidence)
    if _RANK[top] < _RANK[Tier(alert.tier)]:
        alert.tier = top
        alert.escalation_level = 0
        alert.next_escalation_at = first_escalation_at(top, now, config)
    if pregnancy and alert.kind != "possible_pregnancy":
        alert.kind = "possible_pregnancy"
        alert.answered_at = alert.answered_at or now
    session.add(alert)
    updates = (
        await session.exec(
            select(func.count()).where(
                OutboxMessage.alert_id == alert.id,
                col(OutboxMessage.dedupe_key).startswith(f"alert:{alert.id}:update:"),
            )
        )
    ).one()
    await enqueue(
        session,
        template=ALERT_CARD,
        dedupe_key=f"alert:{alert.id}:update:{updates + 1}",
        chat_id=config.sites[alert.site_code].alert_chat_id,
        language=config.site_language(alert.site_code),
        context={"alert_id": alert.id, "note": "updated"},
        due_at=now,
        priority=PRIORITY_OF_TIER[top],
        alert_id=alert.id,
        now=now,
    )
    audit.record(
        session,
        at=now,
        actor=audit.SYSTEM,
        action="update_alert",
        entity="alert",
        entity_id=alert.id,
        participant_id=alert.participant_id,
        before=before,
        after={"tier": alert.tier, "findings": len(alert.evidence)},
    )


async def _queue_advice(
    session: AsyncSession,
    checkin: CheckIn,
    participant: Participant,
    result: TriageResult,
    *,
    now: datetime,
    end: str | None,
) -> OutboxMessage:
    """The T1/T2 advice as an outbox row: durable, and sent by the handler at once."""
    count = (
        await session.exec(
            select(func.count()).where(
                col(OutboxMessage.dedupe_key).startswith(f"advice:{checkin.id}:")
            )
        )
    ).one()
    row = await enqueue(
        session,
        template=ADVICE_TEMPLATE,
        dedupe_key=f"advice:{checkin.id}:{count + 1}",
        participant_id=participant.id,
        context={
            "tier": str(result.tier),
            "end": end,
            "pregnancy": checkin.kind == CheckInKind.CONTRACEPTION and result.possible_pregnancy,
            "self_harm": result.self_harm,
        },
        due_at=now,
        priority=Priority.URGENT,
        now=now,
    )
    row.available_at = now + HANDLER_TURN
    await session.flush()
    return row


def _finding_key(item: dict[str, Any]) -> tuple[str, str]:
    return item.get("question", ""), item.get("answer", "")


def _more_urgent(tier: str, than: str | None) -> bool:
    return than is None or _RANK[Tier(tier)] < _RANK[Tier(than)]


def _merged(old: list[Any], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An alert's evidence never loses what the team was shown: the findings now, then any
    earlier one no longer reported (an item unticked after it was acted on)."""
    now = {_finding_key(item) for item in new}
    return [*new, *(item for item in old if _finding_key(item) not in now)]


def t4_of(checkin: CheckIn) -> frozenset[tuple[str, str]]:
    """The (question, answer) pairs of a check-in whose own tier is T4, whatever tier they
    ended with there (raised or repeated), for the next check-in's repeated-T4 rule."""
    answered = {(f["question"], f["answer"]) for f in checkin.evidence}
    return frozenset(answered & T4_SYMPTOMS)


def _id_of(participant: Participant) -> int:
    if participant.id is None:
        raise ValueError("the participant has not been saved")
    return participant.id
