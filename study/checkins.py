"""Check-ins: a questionnaire put one question at a time, its progress kept in the database.

The same flow serves the symptom check-in (Q1-Q13), the question after an infusion and the
contraception questions (C1-C3). Each answer is validated against the question, stored, and
the answers so far are triaged (`study.triage`): a red flag raises a T1 alert at once (and
on Q1 ends the questionnaire), the rest is decided when the check-in completes, is stopped or
expires. Everything a participant presses is checked against the open check-in, so a button
from an old or finished check-in changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study import audit
from study.alerts import raise_alert
from study.config import StudyConfig
from study.errors import DomainError
from study.models import (
    Alert,
    CheckIn,
    CheckInKind,
    Infusion,
    Participant,
    PromptStatus,
    Tier,
)
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
DRAFT = "~"  # answers[f"{code}~"]: the items ticked so far on a multi-select question
ALERTING = (Tier.T1, Tier.T2, Tier.T3)
INFUSION_HOUR = 12  # when only the day of an infusion is known, assume midday


@dataclass(frozen=True)
class Step:
    """What happened after a press: the question to ask now, or the outcome."""

    checkin: CheckIn
    question: Question | None
    result: TriageResult | None = None
    alert_raised: Alert | None = None
    new_red_flag: bool = False

    @property
    def finished(self) -> bool:
        return self.checkin.status != PromptStatus.OPEN


def questions_of(checkin: CheckIn) -> tuple[Question, ...]:
    return QUESTIONS[checkin.kind]


def question_of(checkin: CheckIn, code: str | None) -> Question | None:
    return next((q for q in questions_of(checkin) if q.code == code), None)


def draft_of(checkin: CheckIn, code: str) -> tuple[str, ...]:
    return tuple(checkin.answers.get(code + DRAFT, ()))


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
        participant_id=participant.id or 0,
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
    checkin = await session.get(CheckIn, checkin_id, with_for_update=True)
    if (
        checkin is None
        or checkin.participant_id != participant.id
        or checkin.status != PromptStatus.OPEN
    ):
        raise DomainError("checkin_closed")
    if question_code is not None and checkin.current_question != question_code:
        raise DomainError("checkin_moved_on")
    return checkin


async def toggle(checkin: CheckIn, question_code: str, item: str) -> tuple[str, ...]:
    """Tick or untick an item of a multi-select question; returns the items ticked."""
    question = question_of(checkin, question_code)
    if question is None or not question.multi or item not in question.answers[1:]:
        raise DomainError("checkin_moved_on")
    ticked = set(draft_of(checkin, question_code)) ^ {item}
    chosen = tuple(answer for answer in question.answers if answer in ticked)
    checkin.answers = {**checkin.answers, question_code + DRAFT: list(chosen)}
    return chosen


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
    """Record the answer to the current question and move on (or finish)."""
    question = question_of(checkin, question_code)
    if question is None:
        raise DomainError("checkin_moved_on")
    try:
        normalised = validate_answers(question, chosen or (question.answers[0],))
    except ValueError:
        raise DomainError("checkin_moved_on") from None
    answers = {k: v for k, v in checkin.answers.items() if not k.endswith(DRAFT)}
    answers[question_code] = list(normalised)
    checkin.answers = answers
    checkin.answered_at = now
    had_red_flag = checkin.tier == Tier.T1
    result = await _triage(session, checkin, participant, now)
    checkin.tier = result.tier
    checkin.evidence = _findings(result)

    alert = None
    if result.red_flag:
        alert = await _alert(session, checkin, participant, result, now=now, config=config)
        if checkin.kind == CheckInKind.SYMPTOMS and question_code == questions_of(checkin)[0].code:
            _close(checkin, PromptStatus.STOPPED, now)
            _audit_end(session, checkin, participant, now, "stop_checkin_red_flag")
            return Step(checkin, None, result, alert, new_red_flag=True)
    following = next_question(questions_of(checkin), question_code)
    if following is None:
        _close(checkin, PromptStatus.COMPLETED, now)
        if result.tier in ALERTING:
            alert = await _alert(session, checkin, participant, result, now=now, config=config)
        _audit_end(session, checkin, participant, now, "complete_checkin")
        return Step(checkin, None, result, alert, new_red_flag=not had_red_flag and result.red_flag)
    checkin.current_question = following.code
    session.add(checkin)
    return Step(
        checkin, following, result, alert, new_red_flag=not had_red_flag and result.red_flag
    )


def back(checkin: CheckIn) -> Question:
    """Return to the question before the current one (its answer can be changed)."""
    current = checkin.current_question or questions_of(checkin)[0].code
    previous = previous_question(questions_of(checkin), current)
    target = previous or questions_of(checkin)[0]
    checkin.current_question = target.code
    return target


async def stop(
    session: AsyncSession,
    checkin: CheckIn,
    participant: Participant,
    *,
    now: datetime,
    config: StudyConfig,
    status: str = PromptStatus.STOPPED,
) -> Step:
    """End a check-in early (the participant stopped it, or it expired). What was
    answered is still triaged, so nothing reported is lost."""
    result = await _triage(session, checkin, participant, now)
    checkin.tier = result.tier
    checkin.evidence = _findings(result)
    _close(checkin, status, now)
    alert = None
    if result.tier in ALERTING:
        alert = await _alert(session, checkin, participant, result, now=now, config=config)
    return Step(checkin, None, result, alert)


def _audit_end(
    session: AsyncSession, checkin: CheckIn, participant: Participant, now: datetime, action: str
) -> None:
    audit.record(
        session,
        at=now,
        actor=audit.participant_actor(participant.study_id),
        action=action,
        entity="checkin",
        entity_id=checkin.id,
        participant_id=participant.id,
        after={"kind": checkin.kind, "tier": checkin.tier},
    )


def _close(checkin: CheckIn, status: str, now: datetime) -> None:
    checkin.status = status
    checkin.current_question = None
    checkin.completed_at = now
    checkin.answers = {k: v for k, v in checkin.answers.items() if not k.endswith(DRAFT)}


async def _triage(
    session: AsyncSession, checkin: CheckIn, participant: Participant, now: datetime
) -> TriageResult:
    answers: Mapping[str, tuple[str, ...]] = {
        code: tuple(chosen) for code, chosen in checkin.answers.items() if not code.endswith(DRAFT)
    }
    if checkin.kind == CheckInKind.CONTRACEPTION:
        return triage_contraception(answers)
    if checkin.kind == CheckInKind.POST_INFUSION:
        hours = await _hours_since_infusion(session, checkin, participant, now)
        return triage_post_infusion(answers.get(POST_INFUSION.code, ()), hours)
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


async def _hours_since_infusion(
    session: AsyncSession, checkin: CheckIn, participant: Participant, now: datetime
) -> float:
    infusion = await session.get(Infusion, checkin.infusion_id) if checkin.infusion_id else None
    if infusion is None:
        return 0.0  # unknown: treat as within 24 h, the more urgent reading
    day = infusion.given_on or infusion.planned_date
    at = infusion.planned_time or time(INFUSION_HOUR)
    given = datetime.combine(day, at, tzinfo=ZoneInfo(participant.timezone))
    return max(0.0, (now - given).total_seconds() / 3600)


def _findings(result: TriageResult) -> list[dict[str, Any]]:
    return [
        {"question": f.question, "answer": f.answer, "tier": str(f.tier), "rule": f.rule}
        for f in result.findings
    ]


async def _alert(
    session: AsyncSession,
    checkin: CheckIn,
    participant: Participant,
    result: TriageResult,
    *,
    now: datetime,
    config: StudyConfig,
) -> Alert:
    """One alert per check-in (a T1 one at once if needed); later findings update it."""
    assert result.tier is not None
    kind = ALERT_KIND[checkin.kind]
    answered_at = None
    if checkin.kind == CheckInKind.CONTRACEPTION and result.possible_pregnancy:
        kind, answered_at = "possible_pregnancy", checkin.answered_at
    evidence = [{"key": "finding", **finding} for finding in _findings(result)]
    existing = (
        await session.exec(select(Alert).where(Alert.dedupe_key == f"checkin:{checkin.id}"))
    ).first()
    if existing is not None:
        existing.evidence = evidence
        session.add(existing)
        return existing
    return await raise_alert(
        session,
        config=config,
        participant=participant,
        kind=kind,
        tier=Tier(result.tier),
        evidence=evidence,
        now=now,
        dedupe_key=f"checkin:{checkin.id}",
        answered_at=answered_at,
        checkin_id=checkin.id,
    )


def t4_of(checkin: CheckIn) -> frozenset[tuple[str, str]]:
    """The (question, answer) pairs of a check-in whose own tier is T4, whatever tier they
    ended with there (raised or repeated), for the next check-in's repeated-T4 rule."""
    answered = {(f["question"], f["answer"]) for f in checkin.evidence}
    return frozenset(answered & T4_SYMPTOMS)
