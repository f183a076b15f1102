"""A study that is running, for the 10,000-participant figures: participants randomised over
the last 24 months, each with the history such a study has by now.

Each participant is enrolled and linked on their randomisation day through the real use
cases (so the planner plans their whole calendar, as it did then: `enrol_on_randomisation`),
then lives through the months since, in order (`live_through`):
- what fell due was sent: their outbox rows due by then are marked sent, as the dispatcher
  would have done;
- each visit that is past was attended (`mark_attended`), every twelfth one missed
  (`mark_missed`); each planned infusion that is past was given (`record_given`);
- a symptom check-in every 14 days, a contraception check every 28 days for those who can
  become pregnant and the questions 24 h and 7 days after each infusion: answered (rows as
  `study.checkins.answer` leaves them, benign answers triaged by `study.triage`, an audit
  event each), one in nine expired unanswered, and for every other participant those of the
  last three days still open (nudged after a day); their prompts in the outbox, sent;
- every tenth participant has alerts: one open (T3), one acknowledged (T2), one resolved
  (T1), through `raise_alert`, `acknowledge_alert` and `resolve_alert`, their cards sent.
Then `settle` runs the real periodic checks once at the build's moment and marks what they
queued as sent: the state a running study is in between two sweeps (check-ins open, visits
coming, reminders pending), so that the next sweep, the dispatcher and the bot's memory
have a running study's rows to work through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlmodel import col, select, update

from bench.support import ARMS, SITES, Linked
from scheduler.dispatcher import Dispatcher
from scheduler.planner import Planner
from scheduler.service import SchedulerService
from scheduler.timing import local_instant
from study import audit
from study.alerts import acknowledge_alert, raise_alert, resolve_alert
from study.checkins import QUESTIONS
from study.config import StudyConfig
from study.database import Database
from study.enrollment import EnrollmentRequest, enroll, link_chat
from study.infusions import record_given
from study.models import (
    UPCOMING,
    AuditEvent,
    CheckIn,
    CheckInKind,
    CheckInTrigger,
    Infusion,
    InfusionStatus,
    OutboxMessage,
    OutboxStatus,
    Participant,
    PromptStatus,
    Tier,
    Visit,
)
from study.outbox import Priority, new_message
from study.slots import Rank
from study.triage import triage_checkin, triage_contraception, triage_post_infusion
from study.visits import mark_attended, mark_missed
from tests.support.clock import FakeClock

__all__ = ["SPAN_DAYS", "enrol_on_randomisation", "live_through", "settle"]

SPAN_DAYS = 730  # randomisation dates spread over the 24 months before the build
ZONE = "Asia/Shanghai"
HOUR = 9
ANSWER_AFTER = timedelta(hours=2)
NUDGE_AFTER, EXPIRE_AFTER = timedelta(hours=24), timedelta(hours=72)
EXPIRED_EVERY = 9  # check-ins never answered
SYMPTOM_DAYS, CONTRACEPTION_DAYS = 14, 28
MISSED_EVERY = 12  # of past visits
ALERTS_EVERY = 10  # of participants
SENT_ID = 10**9  # telegram message ids of the history's messages
TEAM_USER = 111111  # a coordinator of every bench site (study.toml of tests.support.study)


def randomised_days_ago(index: int) -> int:
    """0-729, spread evenly over the span and shuffled by index (7919 is prime)."""
    return (index * 7919) % SPAN_DAYS


def moment(day: date, hour: int = HOUR) -> datetime:
    return local_instant(day, time(hour), ZONE)


async def enrol_on_randomisation(
    database: Database,
    config: StudyConfig,
    *,
    today: date,
    indices: Iterable[int],
    chat_base: int,
    prefix: str,
) -> list[tuple[Linked, date]]:
    """Enrol and link each participant at 09:00 on their randomisation day (each its own
    transaction, with the real planner); with their randomisation date."""
    planner = Planner(config)
    linked = []
    for index in indices:
        randomised = today - timedelta(days=randomised_days_ago(index))
        at = moment(randomised)
        request = EnrollmentRequest(
            study_id=f"{prefix}-{index:05d}",
            site_code=SITES[index % len(SITES)],
            arm=ARMS[index % len(ARMS)],
            randomized_on=randomised,
            language=("zh", "en")[index % 2],
            can_become_pregnant=index % 3 == 0,
            timezone=ZONE,
            preferred_hour=HOUR,
        )
        async with database.session() as session:
            invitation = await enroll(session, request, config=config, now=at, actor="bench")
        async with database.session() as session:
            participant = await link_chat(
                session, code=invitation.code, chat_id=chat_base + index, now=at, replanner=planner
            )
        assert isinstance(participant, Participant) and participant.id is not None
        linked.append((Linked(participant.id, chat_base + index), randomised))
    return linked


async def live_through(
    database: Database, config: StudyConfig, people: Sequence[tuple[Linked, date]], now: datetime
) -> None:
    """Each participant's months from randomisation to `now` (see the module)."""
    for number, (person, randomised) in enumerate(people):
        await _visits_and_infusions(database, config, person.participant_id, now)
        await _answered_checkins(database, person.participant_id, randomised, now)
        if number % ALERTS_EVERY == 0:
            await _alerts(database, config, person.participant_id, now)
        await _sent_until(database, now, person.participant_id)


async def settle(database: Database, config: StudyConfig, now: datetime) -> None:
    """The real periodic checks at `now`, and what they queued marked as sent."""
    clock = FakeClock(now)
    planner = Planner(config)
    dispatcher = Dispatcher(database, _Unused(), clock, config, planner)
    service = SchedulerService(database=database, dispatcher=dispatcher, clock=clock, config=config)
    await service.sweep()
    await service.escalate()
    await _sent_until(database, now)


class _Unused:
    async def wait_turn(self, chat_id: int) -> None:
        return None

    async def wait_overall_turn(self, chat_id: int, rank: Callable[[], Rank]) -> None:
        return None

    async def send(self, chat_id: int, text: str, keyboard: object) -> int:
        raise AssertionError("settling sends nothing: it marks what is due as sent")

    async def send_photo(self, chat_id: int, photo: bytes, caption: str, keyboard: object) -> int:
        raise AssertionError("settling sends nothing: it marks what is due as sent")

    async def edit(self, chat_id: int, message_id: int, text: str, keyboard: object) -> None:
        raise AssertionError("settling edits nothing")


async def _visits_and_infusions(
    database: Database, config: StudyConfig, participant_id: int, now: datetime
) -> None:
    """In date order: past visits attended (or missed), past infusions given."""
    planner = Planner(config)
    async with database.session() as session:
        visits = list(
            await session.exec(
                select(Visit)
                .where(Visit.participant_id == participant_id)
                .order_by(col(Visit.number))
            )
        )
        infusions = list(
            await session.exec(
                select(Infusion)
                .where(
                    Infusion.participant_id == participant_id,
                    col(Infusion.status) == InfusionStatus.PLANNED,
                )
                .order_by(col(Infusion.planned_date))
            )
        )
    steps: list[tuple[date, int, Visit | Infusion]] = [
        (v.visit_date, 1, v)
        for v in visits
        if v.status in UPCOMING and moment(v.visit_date, 17) < now
    ]
    steps += [(i.planned_date, 0, i) for i in infusions if moment(i.planned_date, 17) < now]
    for day, _, step in sorted(steps, key=lambda s: (s[0], s[1])):
        at = moment(day, 17)
        await _sent_until(database, at, participant_id)
        async with database.session() as session:
            if isinstance(step, Infusion):
                participant = await session.get(Participant, participant_id)
                assert participant is not None
                await record_given(
                    session, participant, on=day, actor="bench", now=at, replanner=planner
                )
            else:
                # The use cases lock the visit's row in their own transaction: this session's.
                visit = await session.get(Visit, step.id)
                assert visit is not None
                if (participant_id + visit.number) % MISSED_EVERY == 0:
                    await mark_missed(session, visit, actor="bench", now=at, replanner=planner)
                else:
                    await mark_attended(
                        session, visit, on=day, actor="bench", now=at, replanner=planner
                    )


async def _answered_checkins(
    database: Database, participant_id: int, randomised: date, now: datetime
) -> None:
    """The check-ins asked and answered since randomisation, with their prompts, sent."""
    async with database.session() as session:
        participant = await session.get(Participant, participant_id)
        assert participant is not None
        given = await session.exec(
            select(Infusion).where(
                Infusion.participant_id == participant_id,
                col(Infusion.status) == InfusionStatus.GIVEN,
            )
        )
        asked: list[tuple[str, str, datetime, str, int | None]] = []
        for days in range(SYMPTOM_DAYS, (now.date() - randomised).days, SYMPTOM_DAYS):
            day = randomised + timedelta(days=days)
            key = f"cadence:{participant_id}:{day}"
            asked.append((CheckInKind.SYMPTOMS, CheckInTrigger.CADENCE, moment(day), key, None))
        if participant.can_become_pregnant:
            for days in range(
                CONTRACEPTION_DAYS, (now.date() - randomised).days, CONTRACEPTION_DAYS
            ):
                day = randomised + timedelta(days=days)
                key = f"contraception:{participant_id}:{day}"
                cadence = CheckInTrigger.CADENCE
                asked.append((CheckInKind.CONTRACEPTION, cadence, moment(day), key, None))
        for infusion in given:
            assert infusion.given_on is not None and infusion.id is not None
            for hours, after in (
                (24, CheckInTrigger.INFUSION_24H),
                (168, CheckInTrigger.INFUSION_7D),
            ):
                day = infusion.given_on + timedelta(days=hours // 24)
                key = f"infusion:{infusion.id}:{hours}h"
                asked.append((CheckInKind.POST_INFUSION, after, moment(day), key, infusion.id))
        for number, (kind, trigger, at, key, infusion_id) in enumerate(asked):
            if at >= now:
                continue
            checkin = _answered(participant, kind, trigger, at, key, infusion_id)
            if at + EXPIRE_AFTER > now and participant_id % 2:
                _still_open(checkin, kind, now)  # asked lately, not answered yet
            elif at + ANSWER_AFTER >= now or (participant_id + number) % EXPIRED_EVERY == 0:
                _expired(checkin)
            session.add(checkin)
            await session.flush()
            session.add(_prompt(checkin, participant_id))
            if checkin.status != PromptStatus.COMPLETED:
                continue
            session.add(
                AuditEvent(
                    at=checkin.completed_at or at,
                    actor=f"participant:{participant.study_id}",
                    action="complete_checkin",
                    participant_id=participant_id,
                    entity="checkin",
                    entity_id=str(checkin.id),
                    after={"kind": kind, "tier": checkin.tier},
                )
            )


def _answered(
    participant: Participant,
    kind: str,
    trigger: str,
    at: datetime,
    key: str,
    infusion_id: int | None,
) -> CheckIn:
    answers = {question.code: [question.benign] for question in QUESTIONS[kind]}
    if kind == CheckInKind.SYMPTOMS:
        tier = triage_checkin(answers).tier
    elif kind == CheckInKind.CONTRACEPTION:
        tier = triage_contraception(answers).tier
    else:
        tier = triage_post_infusion(next(iter(answers.values())), first_day=True).tier
    return CheckIn(
        participant_id=participant.id or 0,
        kind=kind,
        trigger=trigger,
        questionnaire_version="1",
        infusion_id=infusion_id,
        dedupe_key=key,
        asked_at=at,
        expires_at=at + EXPIRE_AFTER,
        current_question=None,
        answers=answers,
        status=PromptStatus.COMPLETED,
        tier=tier,
        evidence=[],
        answered_at=at + ANSWER_AFTER,
        completed_at=at + ANSWER_AFTER,
    )


def _still_open(checkin: CheckIn, kind: str, now: datetime) -> None:
    checkin.status, checkin.answers, checkin.tier = PromptStatus.OPEN, {}, None
    checkin.current_question = QUESTIONS[kind][0].code
    checkin.answered_at = checkin.completed_at = None
    if checkin.asked_at + NUDGE_AFTER <= now:
        checkin.nudged_at = checkin.asked_at + NUDGE_AFTER


def _expired(checkin: CheckIn) -> None:
    checkin.status, checkin.answers, checkin.tier = PromptStatus.EXPIRED, {}, None
    checkin.answered_at, checkin.completed_at = None, checkin.asked_at + EXPIRE_AFTER


def _prompt(checkin: CheckIn, participant_id: int) -> OutboxMessage:
    row = new_message(
        template="checkin_question",
        dedupe_key=f"checkin:{checkin.id}:ask",
        participant_id=participant_id,
        context={"checkin_id": checkin.id, "proactive": True},
        due_at=checkin.asked_at,
        not_after=checkin.expires_at,
        priority=Priority.ROUTINE,
        now=checkin.asked_at,
    )
    row.status, row.sent_at, row.telegram_message_id = OutboxStatus.SENT, checkin.asked_at, SENT_ID
    return row


async def _alerts(
    database: Database, config: StudyConfig, participant_id: int, now: datetime
) -> None:
    """An open T3 alert, an acknowledged T2 one and a resolved T1 one, days old."""
    for tier, days_ago, then in (
        (Tier.T3, 2, None),
        (Tier.T2, 9, acknowledge_alert),
        (Tier.T1, 40, resolve_alert),
    ):
        raised = now - timedelta(days=days_ago)
        async with database.session() as session:
            participant = await session.get(Participant, participant_id)
            assert participant is not None
            alert = await raise_alert(
                session,
                config=config,
                participant=participant,
                kind="checkin",
                tier=tier,
                evidence=[],
                now=raised,
            )
            if then is not None:
                assert alert.id is not None
                answered = raised + timedelta(minutes=20)
                await then(session, alert, actor=audit.telegram_actor(TEAM_USER), now=answered)
        await _sent_until(database, raised + timedelta(minutes=1), alert_id=alert.id)


async def _sent_until(
    database: Database,
    moment: datetime,
    participant_id: int | None = None,
    *,
    alert_id: int | None = None,
) -> None:
    """Outbox rows due by `moment` and still pending were sent then, as the dispatcher would
    have done: the participant's, an alert's, or (neither given) everyone's."""
    due = [
        col(OutboxMessage.status) == OutboxStatus.PENDING,
        col(OutboxMessage.due_at) <= moment,
    ]
    if participant_id is not None:
        due.append(col(OutboxMessage.participant_id) == participant_id)
    if alert_id is not None:
        due.append(col(OutboxMessage.alert_id) == alert_id)
    values: dict[str, Any] = {
        "status": OutboxStatus.SENT,
        "sent_at": col(OutboxMessage.due_at),
        "telegram_message_id": SENT_ID,
        "attempts": 1,
    }
    async with database.session() as session:
        await session.exec(update(OutboxMessage).where(*due).values(**values))
