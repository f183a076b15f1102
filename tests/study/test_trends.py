"""The trend chart's read model: what a participant's chart shows, from the real use cases
(one check-in) and from rows (two years), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlmodel import col, select

from study.config import StudyConfig
from study.database import Database
from study.models import (
    Alert,
    AlertStatus,
    CheckIn,
    CheckInKind,
    CheckInTrigger,
    Infusion,
    InfusionStatus,
    Participant,
    PromptStatus,
    Visit,
    VisitStatus,
)
from study.trends import Trend, TrendAlert, TrendCheckIn, participant_trend, reported_questions
from tests.study.test_export import Study, symptoms
from tests.support.clock import FakeClock

DAY1 = date(2026, 3, 2)


async def trend_of(database: Database, participant: Participant, today: date) -> Trend:
    async with database.session() as session:
        return await participant_trend(session, participant, today=today)


async def test_a_participant_just_enrolled_has_day_1_and_the_planned_calendar(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    participant = await Study(database, config, clock).enrol("ZJU2-001", "ZJU2", "standard", DAY1)
    trend = await trend_of(database, participant, DAY1)
    assert (trend.study_id, trend.randomized_on, trend.today) == ("ZJU2-001", DAY1, DAY1)
    assert trend.checkins == () and trend.alerts == () and trend.reported == ()
    assert [(v.number, v.status) for v in trend.visits] == [(0, "attended")] + [
        (n, "planned") for n in range(1, 9)
    ]
    assert trend.visits[1].day == date(2026, 6, 2)
    assert [(i.day, i.given) for i in trend.infusions] == [
        (DAY1, True),  # day 1: the randomisation visit and its dose
        (date(2026, 9, 2), False),
        (date(2027, 3, 2), False),
        (date(2027, 9, 2), False),
        (date(2028, 3, 2), False),
    ]


async def test_one_check_in_shows_its_tier_what_it_reported_and_its_open_alert(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    study = Study(database, config, clock)
    participant = await study.enrol("ZJU2-001", "ZJU2", "standard", DAY1, chat_id=7100000001)
    # 23:30 UTC on 9 March is 07:30 on 10 March in Shanghai: the local day counts.
    asked = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    await study.checkin(participant, asked, symptoms(Q2="once", Q7="pain", Q12="same"))
    trend = await trend_of(database, participant, date(2026, 3, 10))
    assert trend.checkins == (
        TrendCheckIn(date(2026, 3, 10), "symptoms", "T2", ("Q2", "Q7"), missed=False),
    )
    assert trend.alerts == (TrendAlert(date(2026, 3, 10), "T2", acknowledged=False),)
    assert trend.reported == ("Q2", "Q7")
    assert (await trend_of(database, participant, date(2026, 3, 9))).checkins == ()


async def test_two_years_of_follow_up_are_all_in_the_trend(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    day1 = date(2024, 4, 1)
    participant = await Study(database, config, clock).enrol(
        "ZJU2-001", "ZJU2", "standard", day1, can_become_pregnant=True
    )
    await add_two_years(database, participant, day1)
    trend = await trend_of(database, participant, date(2026, 4, 1))
    assert len(trend.checkins) == 2 * 26 + 24
    assert sum(c.missed for c in trend.checkins) == 6
    assert {c.tier for c in trend.checkins} == {None, "T1", "T2", "T3", "T4"}
    assert trend.reported == ("Q1", "Q6", "Q11", "C2")
    assert [v.status for v in trend.visits] == ["attended"] * 8 + ["missed"]
    assert [i.given for i in trend.infusions] == [True] * 5
    assert [(a.tier, a.acknowledged) for a in trend.alerts] == [("T1", True), ("T3", False)]


async def add_two_years(database: Database, participant: Participant, day1: date) -> None:
    """Rows (for speed) of two years: a symptom check-in every 14 days (every ninth missed,
    tiers cycling), a contraception check every 4 weeks, every visit attended but the last,
    every infusion given, three alerts of which one resolved."""
    tiers: list[tuple[str | None, dict[str, list[str]]]] = [
        (None, {"Q1": ["none"], "Q6": ["none"]}),
        ("T4", {"Q11": ["some"]}),
        ("T3", {"Q6": ["rash", "hair_loss"]}),
        ("T1", {"Q1": ["chest_breathing"]}),
    ]
    start = datetime(day1.year, day1.month, day1.day, 1, 0, tzinfo=UTC)
    async with database.session() as session:
        for n in range(52):
            missed = n % 9 == 4
            tier, answers = tiers[n % 4]
            session.add(
                CheckIn(
                    participant_id=participant.id or 0,
                    kind=CheckInKind.SYMPTOMS,
                    trigger=CheckInTrigger.CADENCE,
                    questionnaire_version="2026.2",
                    asked_at=start + timedelta(days=14 * n),
                    answers={} if missed else answers,
                    status=PromptStatus.EXPIRED if missed else PromptStatus.COMPLETED,
                    tier=None if missed else tier,
                )
            )
        for n in range(24):
            session.add(
                CheckIn(
                    participant_id=participant.id or 0,
                    kind=CheckInKind.CONTRACEPTION,
                    trigger=CheckInTrigger.CADENCE,
                    questionnaire_version="2026.2",
                    asked_at=start + timedelta(days=28 * n, hours=2),
                    answers={"C1": ["yes"], "C2": ["not_sure" if n == 7 else "no"], "C3": ["no"]},
                    status=PromptStatus.COMPLETED,
                    tier="T2" if n == 7 else None,
                )
            )
        visits = await session.exec(
            select(Visit).where(Visit.participant_id == participant.id).order_by(col(Visit.number))
        )
        for visit in visits:
            if visit.number < 8:
                visit.status, visit.attended_on = VisitStatus.ATTENDED, visit.target_date
            else:
                visit.status = VisitStatus.MISSED
        for infusion in await session.exec(
            select(Infusion).where(Infusion.participant_id == participant.id)
        ):
            infusion.status, infusion.given_on = InfusionStatus.GIVEN, infusion.planned_date
        for days, tier, status in (
            (100, "T2", AlertStatus.RESOLVED),
            (400, "T1", AlertStatus.ACKNOWLEDGED),
            (700, "T3", AlertStatus.OPEN),
        ):
            session.add(
                Alert(
                    site_code=participant.site_code,
                    participant_id=participant.id,
                    kind="checkin",
                    tier=tier,
                    status=status,
                    raised_at=start + timedelta(days=days),
                )
            )


def test_reported_questions_are_the_answers_with_a_tier_and_ticked_items_count() -> None:
    answers = {
        "Q1": ["none"],
        "Q2": ["no"],
        "Q12": ["same"],
        "Q7": ["pain"],
        "Q3~": ["cough"],
        "C2": ["yes"],
        "Q99": ["anything"],
        "Q5": "bruises",  # not a list: not an answer the questionnaire stores
    }
    assert reported_questions(answers) == ("Q3", "Q7", "C2")
