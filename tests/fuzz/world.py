"""The world a fuzz run starts from, built through the real bot.

Every participant is enrolled with the real use case and links their chat with `/start`.
Then the victims and their site's coordinator give them something to break: a visit
reminder, an open check-in, a T1 alert with its card in the site's chat, a proposed dose and
a withdrawal question, all with their buttons. The active sites get the same, so that the
fuzzed people have real buttons to press.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select

from sandbox.models import SandboxMessage
from study.config import StudyConfig
from study.database import Database
from study.models import Alert, CheckIn, Infusion, Participant, Visit
from study.questionnaire import question
from tests.fuzz.actions import Facts, Press, Say
from tests.fuzz.cast import (
    ACTIVE,
    ACTORS,
    CHANNEL,
    COORDINATORS,
    INVITED,
    SILENT,
    UNKNOWN_GROUPS,
    VICTIM_CHATS,
    VICTIM_SITE,
    VICTIMS,
    XJTU_ALERTS,
    XJTU_COORDINATOR,
    Enrolment,
    group_members,
)
from tests.fuzz.driver import Driver
from tests.fuzz.rows import Victims
from tests.support.clock import FakeClock
from tests.support.factories import enrolled
from tests.support.study import PUMCH_COORDINATOR, ZJU2_COORDINATOR

RED_FLAG = question("Q1").items[0]


@dataclass(frozen=True)
class World:
    facts: Facts
    victims: Victims


async def build_world(
    driver: Driver, database: Database, config: StudyConfig, clock: FakeClock
) -> World:
    sandbox = driver.sandbox
    for user_id in (*ACTORS, *SILENT):
        sandbox.add_user(user_id, f"User {user_id}")
    groups = group_members(config)
    for chat_id, members in groups.items():
        title = "unknown group" if chat_id in UNKNOWN_GROUPS else f"team {chat_id}"
        sandbox.add_group(chat_id, title, members)
    sandbox.add_channel(CHANNEL, "a channel")
    driver.channel_message_id = _channel_post(driver)

    codes = {
        enrolment.study_id: await enrol(driver, database, config, clock, enrolment)
        for enrolment in (*ACTIVE, *VICTIMS, INVITED)
    }

    # Something to break, for the victims and for the active sites.
    for flagged in (VICTIMS[0], ACTIVE[0], ACTIVE[2]):
        assert flagged.chat_id is not None
        await _red_flag_checkin(driver, flagged.chat_id)
    for enrolment in (*VICTIMS, *ACTIVE):
        assert enrolment.chat_id is not None
        await _expect_reply(driver, Say(enrolment.chat_id, enrolment.chat_id, "/checkin"))
    for coordinator, individualized, other in (
        (XJTU_COORDINATOR, VICTIMS[1], VICTIMS[0]),
        (ZJU2_COORDINATOR, ACTIVE[1], ACTIVE[0]),
        (PUMCH_COORDINATOR, ACTIVE[3], ACTIVE[2]),
    ):
        labs = f"/labs {individualized.study_id} 1 cd19=2.0 dsdna=100+ c3=0.9 lln=0.8"
        await _expect_reply(driver, Say(coordinator, coordinator, labs))
        await _expect_reply(driver, Say(coordinator, coordinator, f"/withdraw {other.study_id}"))
    await driver.sweep()

    everyone = (*ACTIVE, *VICTIMS, INVITED)
    facts = Facts(
        groups=groups,
        study_ids=tuple(e.study_id for e in everyone),
        codes=(codes[INVITED.study_id],),
        row_ids=tuple(sorted(await _row_ids(database))),
        own_ids={
            coordinator: tuple(
                e.study_id for e in everyone if e.site in config.roles_of(coordinator)
            )
            for coordinator in COORDINATORS
        },
        foreign_chats=(XJTU_COORDINATOR, *VICTIM_CHATS),
    )
    return World(facts=facts, victims=await _victims(database, config))


async def enrol(
    driver: Driver, database: Database, config: StudyConfig, clock: FakeClock, who: Enrolment
) -> str:
    """Enrol with the real use case and, if they have a chat, link it with `/start`; the
    invite code."""
    _, code = await enrolled(
        database,
        config,
        clock,
        study_id=who.study_id,
        site=who.site,
        arm=who.arm,
        language=who.language,
        can_become_pregnant=who.can_become_pregnant,
        randomized_on=clock.now().date() + timedelta(days=who.days_ahead),
    )
    if who.chat_id is not None:
        driver.sandbox.add_user(who.chat_id, f"User {who.chat_id}")
        await _expect_reply(driver, Say(who.chat_id, who.chat_id, f"/start {code}"))
    return code


def _channel_post(driver: Driver) -> int:
    """A message of the bot's in the channel, with a button (as if posted long ago)."""
    world = driver.world
    bot = world.resolve_bot()
    markup = {"inline_keyboard": [[{"text": "?", "callback_data": "lang:zh"}]]}
    message = SandboxMessage(
        message_id=world.next_message_id(CHANNEL),
        chat_id=CHANNEL,
        from_bot=True,
        user_id=bot.bot_id,
        date=world.now(),
        text="channel post",
        html="channel post",
        buttons=markup["inline_keyboard"],
        bot_id=bot.bot_id,
        reply_markup=markup,
    )
    world.store(message)
    return message.message_id


async def _expect_reply(driver: Driver, action: Say | Press) -> SandboxMessage:
    replies = await driver.run(action)
    assert replies, f"no answer to {action} while setting up"
    return replies[-1]


async def _red_flag_checkin(driver: Driver, chat_id: int) -> None:
    """A check-in whose first answer is a red flag: a T1 alert and its card."""
    asked = await _expect_reply(driver, Say(chat_id, chat_id, "/checkin"))
    checkin_id = asked.button_data()[0].split(":")[1]
    data = f"c:{checkin_id}:Q1:{RED_FLAG}"  # a red flag acts on the tap
    assert data in driver.sandbox.message(chat_id, asked.message_id).button_data()
    await driver.run(Press(chat_id, chat_id, 0, 0, data))


async def _row_ids(database: Database) -> set[int]:
    """The ids that callback data carry: visits, check-ins, alerts, infusions, people."""
    ids: set[int] = set()
    async with database.session() as session:
        for model in (Visit, CheckIn, Alert, Infusion, Participant):
            ids.update(i for i in await session.exec(select(model.id)) if i is not None)
    return ids


async def _victims(database: Database, config: StudyConfig) -> Victims:
    wanted = [v.study_id for v in VICTIMS]
    async with database.session() as session:
        found = await session.exec(
            select(Participant.id).where(col(Participant.study_id).in_(wanted))
        )
        ids = frozenset(i for i in found if i is not None)
    site = config.sites[VICTIM_SITE]
    chats = {v.chat_id for v in VICTIMS if v.chat_id is not None}
    chats |= {c for c in (site.alert_chat_id, site.escalation_chat_id) if c is not None}
    assert len(ids) == len(VICTIMS) and XJTU_ALERTS in chats
    return Victims(participant_ids=ids, site=VICTIM_SITE, chat_ids=frozenset(chats))
