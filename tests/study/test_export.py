"""The statistician's export: golden files on a seeded study, no identifier or free text in
them, the same bytes every time and on both databases, and the summary's definitions.

Regenerate the golden files after an intended change with
`TRIALBOT_UPDATE_GOLDEN=1 pytest tests/study/test_export.py` (written from the SQLite run;
the PostgreSQL run still compares), then review the diff.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from migrations import current_revision
from scheduler.planner import Planner
from scheduler.sweeps import check_visit_windows
from study import audit
from study.alerts import acknowledge_alert, raise_alert, resolve_alert
from study.checkins import answer, open_checkin, stop
from study.config import StudyConfig
from study.database import Database
from study.export import ExportFile, export_study
from study.export_columns import FILES
from study.models import (
    Alert,
    CheckIn,
    CheckInKind,
    CheckInTrigger,
    Infusion,
    InfusionStatus,
    LabResult,
    OutboxMessage,
    OutboxStatus,
    Participant,
    ParticipantStatus,
    PromptStatus,
    SentReply,
    Tier,
    Visit,
    VisitStatus,
)
from study.participants import forward_free_text, mark_unreachable
from study.questionnaire import CHECKIN, CONTRACEPTION, Question
from study.visits import confirm_visit, mark_attended, request_reschedule, set_appointment
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import (
    ADMIN,
    PUMCH_ALERTS,
    PUMCH_COORDINATOR,
    ZJU2_ALERTS,
    ZJU2_COORDINATOR,
    ZJU2_ESCALATION,
    ZJU2_INVESTIGATOR,
)

GOLDEN = Path(__file__).parent.parent / "golden" / "export"
UPDATE_GOLDEN = os.environ.get("TRIALBOT_UPDATE_GOLDEN") == "1"
AS_OF = date(2026, 4, 30)
CHATS = (7100000001, 7100000002, 7100000003, 7100000004)
TELEGRAM_IDS = (
    *CHATS,
    ZJU2_COORDINATOR,
    ZJU2_INVESTIGATOR,
    PUMCH_COORDINATOR,
    ADMIN,
    ZJU2_ALERTS,
    ZJU2_ESCALATION,
    PUMCH_ALERTS,
)
FREE_TEXT = "FREE-TEXT 我的日记 please call me"
UNREACHABLE_REASON = "Forbidden: bot was blocked by the user"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class Study:
    """Use cases at chosen times on one database (a thin layer over the real ones)."""

    def __init__(self, database: Database, config: StudyConfig, clock: FakeClock) -> None:
        self.database, self.config, self.clock = database, config, clock
        self.planner = Planner(config)

    async def enrol(self, study_id: str, site: str, arm: str, day1: date, **extra: Any):
        participant, _ = await enrolled(
            self.database,
            self.config,
            self.clock,
            study_id=study_id,
            site=site,
            arm=arm,
            randomized_on=day1,
            **extra,
        )
        self.clock.advance(timedelta(minutes=1))
        return participant

    async def visit(self, participant: Participant, number: int) -> Visit:
        async with self.database.session() as session:
            found = (
                await session.exec(
                    select(Visit).where(
                        Visit.participant_id == participant.id, Visit.number == number
                    )
                )
            ).one()
        return found

    async def attended(self, participant: Participant, number: int, on: date, at: datetime):
        visit = await self.visit(participant, number)
        async with self.database.session() as session:
            row = await session.get(Visit, visit.id)
            assert row is not None
            await mark_attended(
                session,
                row,
                on=on,
                actor=audit.telegram_actor(ZJU2_COORDINATOR),
                now=at,
                replanner=self.planner,
            )

    async def set_visit_status(self, participant: Participant, number: int, status: str):
        # No use case marks a visit missed yet: the coordinator's command is on its way.
        visit = await self.visit(participant, number)
        async with self.database.session() as session:
            row = await session.get(Visit, visit.id)
            assert row is not None
            row.status = status

    async def checkin(
        self,
        participant: Participant,
        at: datetime,
        answers: Iterable[tuple[str, tuple[str, ...]]],
        *,
        kind: str = CheckInKind.SYMPTOMS,
        trigger: str = CheckInTrigger.CADENCE,
        infusion_id: int | None = None,
        end: str | None = None,
    ) -> CheckIn:
        """Open a check-in at `at`, answer a question a minute, then expire or stop it if
        `end` says so."""
        async with self.database.session() as session:
            checkin = await open_checkin(
                session,
                participant,
                kind=kind,
                trigger=trigger,
                now=at,
                config=self.config,
                infusion_id=infusion_id,
            )
        moment = at
        for code, chosen in answers:
            moment += timedelta(minutes=1)
            async with self.database.session() as session:
                row = await session.get(CheckIn, checkin.id)
                assert row is not None
                await answer(
                    session, row, participant, code, chosen, now=moment, config=self.config
                )
        if end is not None:
            async with self.database.session() as session:
                row = await session.get(CheckIn, checkin.id)
                assert row is not None
                await stop(
                    session,
                    row,
                    participant,
                    now=at + timedelta(hours=72),
                    config=self.config,
                    status=end,
                )
        async with self.database.session() as session:
            done = await session.get(CheckIn, checkin.id)
        assert done is not None
        return done

    async def alert_of(self, checkin: CheckIn) -> Alert:
        async with self.database.session() as session:
            return (await session.exec(select(Alert).where(Alert.checkin_id == checkin.id))).one()

    async def acknowledge(self, alert: Alert, user_id: int, at: datetime) -> None:
        async with self.database.session() as session:
            row = await session.get(Alert, alert.id)
            assert row is not None
            await acknowledge_alert(session, row, actor=audit.telegram_actor(user_id), now=at)

    async def resolve(self, alert: Alert, user_id: int, at: datetime) -> None:
        async with self.database.session() as session:
            row = await session.get(Alert, alert.id)
            assert row is not None
            await resolve_alert(session, row, actor=audit.telegram_actor(user_id), now=at)

    async def withdraw(self, participant: Participant, at: datetime) -> None:
        # Set directly: the withdrawal use case is being written alongside.
        async with self.database.session() as session:
            row = await session.get(Participant, participant.id)
            assert row is not None
            row.status = ParticipantStatus.WITHDRAWN
            row.status_changed_at = at


def symptoms(**chosen: str | tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    """Every answer of Q1-Q13: the benign one unless given (`Q2="once"`)."""
    return _answers(CHECKIN, chosen)


def contraception(**chosen: str | tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    return _answers(CONTRACEPTION, chosen)


def _answers(
    questions: tuple[Question, ...], chosen: dict[str, str | tuple[str, ...]]
) -> list[tuple[str, tuple[str, ...]]]:
    picked = {code: (value,) if isinstance(value, str) else value for code, value in chosen.items()}
    return [(q.code, picked.get(q.code, (q.benign,))) for q in questions]


async def seed(database: Database, config: StudyConfig, clock: FakeClock) -> None:
    """Two sites, both arms: visits attended, missed, moved and overdue; labs; check-ins
    completed, expired and stopped with T1-T4 answers; contraception with a possible
    pregnancy; alerts acknowledged and resolved at known times; a withdrawn participant."""
    study = Study(database, config, clock)
    a = await study.enrol(
        "ZJU2-001", "ZJU2", "standard", date(2025, 6, 2), chat_id=CHATS[0], can_become_pregnant=True
    )
    b = await study.enrol("ZJU2-002", "ZJU2", "individualized", date(2025, 9, 15), chat_id=CHATS[1])
    c = await study.enrol("PUMCH-001", "PUMCH", "standard", date(2026, 2, 24), chat_id=CHATS[2])
    d = await study.enrol(
        "PUMCH-002", "PUMCH", "individualized", date(2025, 10, 20), chat_id=CHATS[3]
    )
    await study.enrol("PUMCH-003", "PUMCH", "individualized", date(2026, 3, 2))

    # Visits: A attended month 3, missed month 6, came to a moved month-9 appointment.
    await study.attended(a, 1, date(2025, 9, 3), utc(2026, 3, 2, 2, 0))
    await study.set_visit_status(a, 2, VisitStatus.MISSED)
    month9 = await study.visit(a, 3)
    async with database.session() as session:
        visit = await session.get(Visit, month9.id)
        assert visit is not None
        await set_appointment(
            session,
            visit,
            day=date(2026, 3, 5),
            at=time(10, 30),
            actor=audit.cli_actor("alice"),
            now=utc(2026, 3, 2, 3, 0),
            replanner=study.planner,
        )
    async with database.session() as session:
        visit = await session.get(Visit, month9.id)
        assert visit is not None
        await confirm_visit(session, a, visit, now=utc(2026, 3, 2, 4, 0))
    await study.attended(a, 3, date(2026, 3, 5), utc(2026, 3, 5, 6, 0))
    # B attended month 3, asked for another date for month 6, then did not come.
    await study.attended(b, 1, date(2025, 12, 16), utc(2026, 3, 2, 2, 30))
    b_month6 = await study.visit(b, 2)
    async with database.session() as session:
        visit = await session.get(Visit, b_month6.id)
        assert visit is not None
        await request_reschedule(
            session,
            b,
            visit,
            now=utc(2026, 3, 8, 2, 0),
            config=config,
            replanner=study.planner,
        )
    async with database.session() as session:
        visit = await session.get(Visit, b_month6.id)
        assert visit is not None
        await set_appointment(
            session,
            visit,
            day=date(2026, 3, 20),
            at=None,
            actor=audit.telegram_actor(ZJU2_COORDINATOR),
            now=utc(2026, 3, 9, 1, 0),
            replanner=study.planner,
        )

    # Labs (entered directly: the labs use case is being written alongside) and a re-dose.
    b_month3 = await study.visit(b, 1)
    async with database.session() as session:
        session.add(
            LabResult(
                participant_id=b.id or 0,
                visit_id=b_month3.id or 0,
                collected_on=date(2025, 12, 16),
                cd19_percent=0.4,
                anti_dsdna_value=35.5,
                anti_dsdna_positive=True,
                c3_value=0.92,
                c3_lower_limit=0.9,
                criteria_fired=[],
                not_evaluable=["anti_dsdna", "c3"],
                entered_by=ZJU2_INVESTIGATOR,
                entered_at=utc(2026, 3, 2, 5, 0),
            )
        )
        session.add(
            LabResult(
                participant_id=b.id or 0,
                visit_id=b_month6.id or 0,
                collected_on=date(2026, 3, 9),
                cd19_percent=1.2,
                anti_dsdna_value=80.0,
                anti_dsdna_positive=True,
                c3_value=0.4,
                c3_lower_limit=0.9,
                criteria_fired=["cd19", "anti_dsdna", "c3"],
                not_evaluable=[],
                entered_by=ZJU2_COORDINATOR,
                entered_at=utc(2026, 3, 9, 2, 0),
            )
        )
        session.add(
            Infusion(
                participant_id=b.id or 0,
                visit_id=b_month6.id,
                planned_date=date(2026, 3, 20),
                planned_time=time(9, 0),
                dose_mg=500,
                reason="redose",
                status=InfusionStatus.PLANNED,
                criteria=["cd19", "anti_dsdna", "c3"],
                confirmed_by=ZJU2_COORDINATOR,
                created_at=utc(2026, 3, 9, 2, 0),
                updated_at=utc(2026, 3, 9, 2, 5),
            )
        )

    # A: a quiet check-in, a T2 one, an expired one; contraception with a possible pregnancy.
    await study.checkin(a, utc(2026, 3, 3, 1, 0), symptoms())
    t2 = await study.checkin(
        a, utc(2026, 3, 17, 1, 0), symptoms(Q2="once", Q7="pain", Q12="bit_worse")
    )
    t2_alert = await study.alert_of(t2)
    await study.acknowledge(t2_alert, ZJU2_COORDINATOR, t2_alert.raised_at + timedelta(minutes=12))
    await study.resolve(t2_alert, ZJU2_INVESTIGATOR, t2_alert.raised_at + timedelta(hours=2))
    await study.checkin(a, utc(2026, 3, 31, 1, 0), symptoms()[:2], end=PromptStatus.EXPIRED)
    pregnancy = await study.checkin(
        a,
        utc(2026, 3, 10, 1, 0),
        contraception(C2="not_sure"),
        kind=CheckInKind.CONTRACEPTION,
    )
    pregnancy_alert = await study.alert_of(pregnancy)
    await study.acknowledge(
        pregnancy_alert, ZJU2_COORDINATOR, pregnancy_alert.raised_at + timedelta(minutes=30)
    )
    await study.checkin(
        a,
        utc(2026, 4, 7, 1, 0),
        [],
        kind=CheckInKind.CONTRACEPTION,
        trigger=CheckInTrigger.VISIT_REMINDER,
        end=PromptStatus.EXPIRED,
    )
    async with database.session() as session:
        await forward_free_text(
            session, a, FREE_TEXT, update_id=1, now=utc(2026, 3, 11, 1, 0), config=config
        )

    # B: a red flag at Q1 stops the check-in; resolved without an acknowledgement first.
    red = await study.checkin(
        b, utc(2026, 3, 4, 1, 0), [("Q1", ("chest_breathing", "faint_seizure"))]
    )
    red_alert = await study.alert_of(red)
    await study.resolve(red_alert, ZJU2_COORDINATOR, red_alert.raised_at + timedelta(minutes=45))

    # C: a fever after an infusion (T2, urgent, not a flare), a rash on demand (T3, open).
    async with database.session() as session:
        day1 = (await session.exec(select(Infusion).where(Infusion.participant_id == c.id))).first()
    assert day1 is not None
    await study.checkin(
        c,
        utc(2026, 3, 3, 1, 0),
        [("PI", ("fever_chills",))],
        kind=CheckInKind.POST_INFUSION,
        trigger=CheckInTrigger.INFUSION_7D,
        infusion_id=day1.id,
    )
    await study.checkin(
        c,
        utc(2026, 3, 6, 1, 0),
        symptoms(Q6=("rash", "hair_loss")),
        trigger=CheckInTrigger.ON_DEMAND,
    )
    await study.checkin(c, utc(2026, 3, 10, 1, 0), symptoms())
    async with database.session() as session:
        row = await session.get(Participant, c.id)
        assert row is not None
        await mark_unreachable(
            session,
            row,
            reason=UNREACHABLE_REASON,
            now=utc(2026, 4, 15, 1, 0),
            config=config,
            replanner=study.planner,
        )

    # D: a T4 check-in, one stopped at withdrawal on 10 April.
    await study.checkin(d, utc(2026, 3, 5, 1, 0), symptoms(Q7="pain"))
    await study.checkin(d, utc(2026, 4, 7, 1, 0), symptoms()[:3], end=PromptStatus.STOPPED)
    await study.withdraw(d, utc(2026, 4, 10, 2, 0))

    # The sweep notices B's month-6 visit (window closed on 29 March) as missed.
    clock.set(utc(2026, 4, 20, 1, 0))
    assert await check_visit_windows(database, clock, config) == 1
    await sent_messages(database, a, t2_alert)


async def sent_messages(database: Database, a: Participant, alert: Alert) -> None:
    """Messages sent, with the template versions recorded then (fixed strings, so that the
    golden files do not change with every change of wording): the T2 alert's card to the
    site's chat and A's reminder through the outbox, one from before versions were
    recorded, and direct replies to A, to the site's chat and to someone not linked."""
    async with database.session() as session:
        for n, (template, to_a, version, sent_at) in enumerate(
            [
                ("alert_card", False, "zh.0a1b2c3d4e5f", utc(2026, 3, 17, 1, 2)),
                ("reminder", True, "en.5f4e3d2c1b0a", utc(2026, 2, 27, 1, 0)),
                ("welcome", True, "1", utc(2025, 6, 2, 3, 0)),
            ]
        ):
            session.add(
                OutboxMessage(
                    chat_id=None if to_a else ZJU2_ALERTS,
                    participant_id=a.id if to_a else None,
                    alert_id=None if to_a else alert.id,
                    template=template,
                    template_version=version,
                    language="zh",
                    dedupe_key=f"export-test:{n}",
                    due_at=sent_at,
                    available_at=sent_at,
                    status=OutboxStatus.SENT,
                    sent_at=sent_at,
                    telegram_message_id=900 + n,
                    created_at=sent_at,
                )
            )
        stranger = 7100000099
        for chat_id, participant_id, template, version, edited, at in [
            (CHATS[0], a.id, "help", "zh.00112233aabb", False, utc(2026, 3, 3, 2, 0)),
            (CHATS[0], a.id, "checkin_answered", "zh.44556677ccdd", True, utc(2026, 3, 3, 1, 1)),
            (ZJU2_ALERTS, None, "team_participant", "zh.8899aabbeeff", False, utc(2026, 3, 4, 2)),
            (stranger, None, "start_unknown", "zh.0f0f0f0f0f0f", False, utc(2026, 3, 5, 2, 0)),
            (stranger, None, "start_unknown", "en.f0f0f0f0f0f0", False, utc(2026, 3, 5, 2, 0)),
        ]:
            session.add(
                SentReply(
                    sent_at=at,
                    chat_id=chat_id,
                    participant_id=participant_id,
                    template=template,
                    language=version[:2],
                    template_version=version,
                    telegram_message_id=1000,
                    edited=edited,
                )
            )


async def export(database: Database, as_of: date = AS_OF) -> list[ExportFile]:
    revision = await current_revision(database)
    async with database.session() as session:
        return await export_study(session, as_of=as_of, schema_revision=revision)


async def test_the_export_of_a_seeded_study_matches_the_golden_files_on_both_databases(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await seed(database, config, clock)
    files = await export(database)
    assert [file.name for file in files] == list(FILES)
    if UPDATE_GOLDEN and database.is_sqlite:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for file in files:
            (GOLDEN / file.name).write_bytes(file.content)
    assert sorted(path.name for path in GOLDEN.iterdir()) == sorted(FILES)
    for file in files:
        assert file.content == (GOLDEN / file.name).read_bytes(), (
            f"{file.name} differs from tests/golden/export/{file.name}; if the change is "
            "intended, regenerate with TRIALBOT_UPDATE_GOLDEN=1 and review the diff"
        )


async def test_no_telegram_id_or_free_text_reaches_any_exported_file(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await seed(database, config, clock)
    for file in await export(database):
        text = file.content.decode("utf-8")
        for telegram_id in TELEGRAM_IDS:
            assert str(telegram_id) not in text, f"{telegram_id} in {file.name}"
            assert str(abs(telegram_id)) not in text, f"{telegram_id} in {file.name}"
        for words in (FREE_TEXT, "FREE-TEXT", "我的日记", UNREACHABLE_REASON, "blocked"):
            assert words not in text, f"{words!r} in {file.name}"
        assert "tg:" not in text


async def test_exporting_twice_gives_the_same_bytes_and_every_row_fits_its_header(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await seed(database, config, clock)
    first, second = await export(database), await export(database)
    assert [f.content for f in first] == [f.content for f in second]
    for file in first:
        assert b"\r" not in file.content
        rows = list(csv.reader(io.StringIO(file.content.decode("utf-8"))))
        assert rows[0] == [column.name for column in FILES[file.name]]
        assert len(rows) == file.rows + 1
        assert all(len(row) == len(rows[0]) for row in rows)


async def test_the_data_dictionary_describes_every_column_of_every_file(
    database: Database,
) -> None:
    files = {file.name: file for file in await export(database)}
    dictionary = list(csv.DictReader(io.StringIO(files["data_dictionary.csv"].content.decode())))
    described = [(row["file"], row["column"]) for row in dictionary]
    for name, file in files.items():
        header = file.content.decode().split("\n", 1)[0].split(",")
        assert [column for file_name, column in described if file_name == name] == header
    assert all(row["type"] and row["meaning"] for row in dictionary)


async def test_the_as_of_date_is_written_and_changes_only_what_depends_on_it(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    await seed(database, config, clock)
    later = {f.name: f.content for f in await export(database, date(2026, 5, 31))}
    now = {f.name: f.content for f in await export(database)}
    assert b"2026-05-31" in later["export_info.csv"]
    changed = {name for name in now if now[name] != later[name]}
    assert changed <= {
        "export_info.csv",
        "participants.csv",
        "visits.csv",
        "alerts.csv",
        "summary_by_arm.csv",
    }
    for name in ("infusions.csv", "labs.csv", "checkins.csv", "contraception.csv"):
        assert now[name] == later[name]


def rows_of(files: list[ExportFile], name: str) -> list[dict[str, str]]:
    content = next(file.content for file in files if file.name == name)
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


async def test_the_summary_follows_its_definitions_on_a_tiny_study(
    database: Database, config: StudyConfig, clock: FakeClock
) -> None:
    study = Study(database, config, clock)
    s1 = await study.enrol(
        "ZJU2-101",
        "ZJU2",
        "standard",
        date(2025, 12, 2),
        chat_id=7200000001,
        can_become_pregnant=True,
    )
    s2 = await study.enrol(
        "PUMCH-101", "PUMCH", "individualized", date(2025, 9, 2), chat_id=7200000002
    )
    # S1: followed 2 Dec -> 3 Apr = 122 days; month 3 attended (1 of 1 due); cadence
    # check-ins 2 completed of 3 (the on-demand one does not count); a T2 flare on 10 March
    # (day 98) acknowledged after 30 min; a possible pregnancy (urgent, no flare) after 90.
    await study.attended(s1, 1, date(2026, 3, 2), utc(2026, 3, 2, 2, 0))
    await study.checkin(s1, utc(2026, 3, 3, 1, 0), symptoms())
    flare = await study.alert_of(
        await study.checkin(s1, utc(2026, 3, 10, 1, 0), symptoms(Q2="once"))
    )
    await study.acknowledge(flare, ZJU2_COORDINATOR, flare.raised_at + timedelta(minutes=30))
    await study.checkin(s1, utc(2026, 3, 24, 1, 0), [], end=PromptStatus.EXPIRED)
    await study.checkin(s1, utc(2026, 3, 25, 1, 0), symptoms(), trigger=CheckInTrigger.ON_DEMAND)
    pregnancy = await study.alert_of(
        await study.checkin(
            s1, utc(2026, 3, 12, 1, 0), contraception(C2="yes"), kind=CheckInKind.CONTRACEPTION
        )
    )
    await study.acknowledge(
        pregnancy, ZJU2_COORDINATOR, pregnancy.raised_at + timedelta(minutes=90)
    )
    # S2: withdrawn on 20 March: followed 2 Sep -> 20 Mar = 199 days; month 3 overdue, month 6
    # missed, month 9 after withdrawal not due; a T1 red flag on 5 March (day 184) resolved
    # after 10 min; the check-in it stopped is closed, not completed; an urgent alert after
    # the withdrawal is outside follow-up.
    await study.set_visit_status(s2, 2, VisitStatus.MISSED)
    red = await study.alert_of(
        await study.checkin(s2, utc(2026, 3, 5, 1, 0), [("Q1", ("chest_breathing",))])
    )
    await study.resolve(red, PUMCH_COORDINATOR, red.raised_at + timedelta(minutes=10))
    await study.withdraw(s2, utc(2026, 3, 20, 4, 0))
    async with database.session() as session:
        await raise_alert(
            session,
            config=config,
            participant=s2,
            kind="checkin",
            tier=Tier.T2,
            evidence=[],
            now=utc(2026, 3, 25, 1, 0),
        )

    files = await export(database, date(2026, 4, 3))

    participants = {row["study_id"]: row for row in rows_of(files, "participants.csv")}
    assert {k: participants["ZJU2-101"][k] for k in EXPECTED_S1} == EXPECTED_S1
    assert {k: participants["PUMCH-101"][k] for k in EXPECTED_S2} == EXPECTED_S2
    attendance = [
        (row["study_id"], row["visit_number"], row["attendance"])
        for row in rows_of(files, "visits.csv")
        if row["visit_number"] in ("0", "1", "2", "3")
    ]
    assert attendance == [
        ("PUMCH-101", "0", "baseline"),
        ("PUMCH-101", "1", "overdue"),
        ("PUMCH-101", "2", "missed"),
        ("PUMCH-101", "3", "not_due"),
        ("ZJU2-101", "0", "baseline"),
        ("ZJU2-101", "1", "attended"),
        ("ZJU2-101", "2", "not_due"),
        ("ZJU2-101", "3", "not_due"),
    ]
    alerts = [
        (
            row["study_id"],
            row["kind"],
            row["tier"],
            row["minutes_to_acknowledge"],
            row["flare"],
            row["urgent"],
            row["during_follow_up"],
        )
        for row in rows_of(files, "alerts.csv")
    ]
    assert alerts == [
        ("PUMCH-101", "checkin", "T1", "10.0", "true", "true", "true"),
        ("PUMCH-101", "checkin", "T2", "", "true", "true", "false"),
        ("ZJU2-101", "checkin", "T2", "30.0", "true", "true", "true"),
        ("ZJU2-101", "possible_pregnancy", "T2", "90.0", "false", "true", "true"),
    ]
    assert rows_of(files, "summary_by_arm.csv") == EXPECTED_SUMMARY


EXPECTED_S1 = {
    "followed_until": "2026-04-03",
    "followed_days": "122",
    "participant_years": "0.3340",
    "flare_alerts": "1",
    "urgent_alerts": "2",
    "days_to_first_flare_alert": "98",
    "visits_attended": "1",
    "visits_due": "1",
    "checkins_completed": "2",
    "checkins_closed": "3",
}
EXPECTED_S2 = {
    "followed_until": "2026-03-20",
    "followed_days": "199",
    "participant_years": "0.5448",
    "flare_alerts": "1",
    "urgent_alerts": "1",
    "days_to_first_flare_alert": "184",
    "visits_attended": "0",
    "visits_due": "2",
    "checkins_completed": "0",
    "checkins_closed": "1",
}
EXPECTED_SUMMARY = [
    {
        "arm": "standard",
        "participants": "1",
        "participant_years": "0.3340",  # 122 / 365.25
        "flare_alerts": "1",
        "flare_alerts_per_participant_year": "2.9939",  # 1 / (122 / 365.25)
        "urgent_alerts": "2",
        "urgent_alerts_per_participant_year": "5.9877",
        "participants_with_flare_alert": "1",
        "median_days_to_first_flare_alert": "98.0",
        "visits_attended": "1",
        "visits_due": "1",
        "visit_attendance": "1.0000",
        "checkins_completed": "2",
        "checkins_closed": "3",
        "checkin_completion": "0.6667",
        "alerts_acknowledged": "2",
        "median_minutes_to_acknowledge": "60.0",  # median of 30 and 90
    },
    {
        "arm": "individualized",
        "participants": "1",
        "participant_years": "0.5448",  # 199 / 365.25
        "flare_alerts": "1",
        "flare_alerts_per_participant_year": "1.8354",
        "urgent_alerts": "1",
        "urgent_alerts_per_participant_year": "1.8354",
        "participants_with_flare_alert": "1",
        "median_days_to_first_flare_alert": "184.0",
        "visits_attended": "0",
        "visits_due": "2",
        "visit_attendance": "0.0000",
        "checkins_completed": "0",
        "checkins_closed": "1",
        "checkin_completion": "0.0000",
        "alerts_acknowledged": "1",
        "median_minutes_to_acknowledge": "10.0",
    },
    {
        "arm": "all",
        "participants": "2",
        "participant_years": "0.8789",  # 321 / 365.25
        "flare_alerts": "2",
        "flare_alerts_per_participant_year": "2.2757",
        "urgent_alerts": "3",
        "urgent_alerts_per_participant_year": "3.4136",
        "participants_with_flare_alert": "2",
        "median_days_to_first_flare_alert": "141.0",  # median of 98 and 184
        "visits_attended": "1",
        "visits_due": "3",
        "visit_attendance": "0.3333",
        "checkins_completed": "2",
        "checkins_closed": "4",
        "checkin_completion": "0.5000",
        "alerts_acknowledged": "3",
        "median_minutes_to_acknowledge": "30.0",  # median of 10, 30 and 90
    },
]
