"""The study team's commands in Telegram: keep the calendar true, pause or withdraw, see.

Every command: authorise (`bot.staff`), parse, call one use case of `study/`, render one
template, reply. Changes are audited by the use cases and re-plan the reminders in the same
transaction; a participant is told when a date of theirs changes.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot.context import edit_pressed, reply
from bot.staff import Staff, authorize, parse_date, parse_number, parse_time, participant_of
from messages import button, label, render
from messages.callbacks import WithdrawAnswer
from study.errors import DomainError
from study.infusions import record_given, schedule_infusion
from study.models import Participant
from study.pregnancy import set_can_become_pregnant
from study.status import pause, resume, withdraw
from study.views import open_alerts, participant_detail, upcoming
from study.visits import mark_attended, mark_missed, set_appointment, visit_by_number

NEW_MESSAGES = filters.UpdateType.MESSAGE


def register(application: Application) -> None:  # type: ignore[type-arg]
    commands = {
        "participant": show_participant,
        "upcoming": show_upcoming,
        "alerts": show_alerts,
        "visit": set_visit,
        "attended": visit_attended,
        "missed": visit_missed,
        "infusion": set_infusion,
        "given": infusion_given,
        "pause": pause_participant,
        "resume": resume_participant,
        "withdraw": ask_withdraw,
        "can_become_pregnant": change_can_become_pregnant,
        "team": team_help,
    }
    # New messages only: editing an old message into a command must not run it.
    for name, handler in commands.items():
        application.add_handler(CommandHandler(name, handler, filters=NEW_MESSAGES))
    application.add_handler(CallbackQueryHandler(withdraw_answered, pattern=WithdrawAnswer.matches))


def done_text(staff: Staff, what: str, study_id: str, **facts: object) -> str:
    """The confirmation of a change (`team_done`), in the coordinator's language."""
    values: dict[str, object] = {"number": None, "date": None, "time": None, **facts}
    return render("team_done", staff.language, what=what, study_id=study_id, **values)


def _args(context: ContextTypes.DEFAULT_TYPE, usage: str, count: int) -> list[str]:
    args = list(context.args or [])
    if len(args) < count:
        raise DomainError("error_usage", usage=usage)
    return args


async def team_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the team's commands."""
    staff = await authorize(update, context)
    if staff is not None:
        await reply(update, render("team_help", staff.language))


async def show_participant(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A participant's arm, status, calendar, infusions, recent check-ins and open alerts."""
    staff = await authorize(update, context)
    if staff is None:
        return
    (study_id, *_) = _args(context, "/participant STUDY_ID", 1)
    async with staff.services.database.session() as session:
        participant = await participant_of(session, staff, study_id)
        detail = await participant_detail(session, participant)
    await reply(update, render("team_participant", staff.language, detail=detail))


async def show_upcoming(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The next 14 days of visits and infusions at the coordinator's sites."""
    staff = await authorize(update, context)
    if staff is None:
        return
    zone = staff.services.config.site_timezone(sorted(staff.sites)[0])
    today = staff.services.clock.now().astimezone(ZoneInfo(zone)).date()
    async with staff.services.database.session() as session:
        rows = await upcoming(session, staff.sites, today=today)
    await reply(update, render("team_upcoming", staff.language, rows=rows, today=today))


async def show_alerts(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Unresolved alerts of the coordinator's sites."""
    staff = await authorize(update, context)
    if staff is None:
        return
    async with staff.services.database.session() as session:
        rows = await open_alerts(session, staff.sites)
    items = [{"alert": alert, "study_id": study_id} for alert, study_id in rows]
    await reply(update, render("team_alerts", staff.language, items=items))


async def set_visit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Give a visit its appointment date (and time); the participant is told."""
    staff = await authorize(update, context)
    if staff is None:
        return
    study_id, number, day, *rest = _args(
        context, "/visit STUDY_ID VISIT_NUMBER YYYY-MM-DD [HH:MM]", 3
    )
    at = parse_time(rest[0]) if rest else None
    services, now = staff.services, staff.services.clock.now()
    async with services.database.session() as session:
        participant = await participant_of(session, staff, study_id)
        visit = await visit_by_number(session, participant.id or 0, parse_number(number))
        moved = await set_appointment(
            session,
            visit.id or 0,
            day=parse_date(day),
            at=at,
            actor=staff.actor,
            now=now,
            replanner=services.replanner,
        )
    await reply(
        update,
        done_text(
            staff, "visit_set", study_id, number=moved.number, date=moved.visit_date, time=at
        ),
    )


async def visit_attended(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record that the participant came to a visit."""
    staff = await authorize(update, context)
    if staff is None:
        return
    study_id, number, *rest = _args(context, "/attended STUDY_ID VISIT_NUMBER [YYYY-MM-DD]", 2)
    services, now = staff.services, staff.services.clock.now()
    async with services.database.session() as session:
        participant = await participant_of(session, staff, study_id)
        visit = await visit_by_number(session, participant.id or 0, parse_number(number))
        on = parse_date(rest[0]) if rest else visit.visit_date
        await mark_attended(
            session, visit.id or 0, on=on, actor=staff.actor, now=now, replanner=services.replanner
        )
    await reply(update, done_text(staff, "attended", study_id, number=visit.number, date=on))


async def visit_missed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record that a visit did not take place."""
    staff = await authorize(update, context)
    if staff is None:
        return
    study_id, number, *_ = _args(context, "/missed STUDY_ID VISIT_NUMBER", 2)
    services, now = staff.services, staff.services.clock.now()
    async with services.database.session() as session:
        participant = await participant_of(session, staff, study_id)
        visit = await visit_by_number(session, participant.id or 0, parse_number(number))
        await mark_missed(
            session, visit.id or 0, actor=staff.actor, now=now, replanner=services.replanner
        )
    await reply(
        update, done_text(staff, "missed", study_id, number=visit.number, date=visit.visit_date)
    )


async def set_infusion(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Plan or move the next infusion (confirming a proposed one); the participant is told."""
    staff = await authorize(update, context)
    if staff is None:
        return
    study_id, day, *rest = _args(context, "/infusion STUDY_ID YYYY-MM-DD [HH:MM]", 2)
    at = parse_time(rest[0]) if rest else None
    services, now = staff.services, staff.services.clock.now()
    async with services.database.session() as session:
        participant = await participant_of(session, staff, study_id)
        infusion = await schedule_infusion(
            session,
            participant,
            day=parse_date(day),
            at=at,
            actor=staff.actor,
            now=now,
            config=services.config,
            replanner=services.replanner,
        )
    await reply(
        update, done_text(staff, "infusion_set", study_id, date=infusion.planned_date, time=at)
    )


async def infusion_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Record that the next planned infusion was given (its follow-up questions start)."""
    staff = await authorize(update, context)
    if staff is None:
        return
    study_id, *rest = _args(context, "/given STUDY_ID [YYYY-MM-DD]", 1)
    services, now = staff.services, staff.services.clock.now()
    async with services.database.session() as session:
        participant = await participant_of(session, staff, study_id)
        on = parse_date(rest[0]) if rest else now.astimezone(ZoneInfo(participant.timezone)).date()
        infusion = await record_given(
            session, participant, on=on, actor=staff.actor, now=now, replanner=services.replanner
        )
    await reply(update, done_text(staff, "infusion_given", study_id, date=infusion.given_on))


async def change_can_become_pregnant(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Change whether the contraception and pregnancy questions are put to a participant."""
    staff = await authorize(update, context)
    if staff is None:
        return
    usage = "/can_become_pregnant STUDY_ID yes|no"
    study_id, answer, *_ = _args(context, usage, 2)
    if answer.lower() not in ("yes", "no"):
        raise DomainError("error_usage", usage=usage)
    services = staff.services
    async with services.database.session() as session:
        participant = await participant_of(session, staff, study_id)
        await set_can_become_pregnant(
            session,
            participant,
            answer.lower() == "yes",
            actor=staff.actor,
            now=services.clock.now(),
            config=services.config,
        )
    await reply(update, done_text(staff, f"pregnancy_{answer.lower()}", study_id))


async def pause_participant(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop all messages to a participant until resumed."""
    await _status_change(update, context, "pause")


async def resume_participant(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Resume messages to a paused participant."""
    await _status_change(update, context, "resume")


async def _status_change(update: Update, context: ContextTypes.DEFAULT_TYPE, what: str) -> None:
    staff = await authorize(update, context)
    if staff is None:
        return
    (study_id, *_) = _args(context, f"/{what} STUDY_ID", 1)
    services, now = staff.services, staff.services.clock.now()
    async with services.database.session() as session:
        participant = await participant_of(session, staff, study_id)
        if what == "pause":
            await pause(
                session,
                participant,
                actor=staff.actor,
                now=now,
                config=services.config,
                replanner=services.replanner,
            )
        else:
            await resume(
                session, participant, actor=staff.actor, now=now, replanner=services.replanner
            )
    await reply(update, done_text(staff, what, study_id))


async def ask_withdraw(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ask for confirmation before withdrawing a participant (it stops all contact)."""
    staff = await authorize(update, context)
    if staff is None:
        return
    (study_id, *_) = _args(context, "/withdraw STUDY_ID", 1)
    async with staff.services.database.session() as session:
        participant = await participant_of(session, staff, study_id)
    participant_id = participant.id
    assert participant_id is not None  # a stored row
    keyboard = [
        [
            button(
                "withdraw_yes",
                staff.language,
                WithdrawAnswer(participant_id, "yes").pack(),
                study_id=study_id,
            ),
            button("withdraw_no", staff.language, WithdrawAnswer(participant_id, "no").pack()),
        ]
    ]
    await reply(
        update, render("team_withdraw_confirm", staff.language, study_id=study_id), keyboard
    )


async def withdraw_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Withdraw (or not) after the confirmation button."""
    query = update.callback_query
    staff = await authorize(update, context)
    if staff is None:
        return  # refused: `authorize` answered the press
    press = WithdrawAnswer.parse(query.data if query else None)
    if query is None or press is None:
        return
    services, now = staff.services, staff.services.clock.now()
    async with services.database.session() as session:
        participant = await session.get(Participant, press.participant_id)
        if participant is None or participant.site_code not in staff.sites:
            await query.answer(label("not_allowed", staff.language), show_alert=True)
            return
        if press.confirmed:
            await withdraw(
                session,
                participant,
                actor=staff.actor,
                now=now,
                config=services.config,
                replanner=services.replanner,
            )
    await query.answer()
    what = "withdraw" if press.confirmed else "withdraw_cancelled"
    await edit_pressed(query, done_text(staff, what, participant.study_id))
