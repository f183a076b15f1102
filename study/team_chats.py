"""Where a site team can be reached: its chats under the ids Telegram uses now (a group that
became a supergroup has a new id), and the coordinators who have started the bot privately
(Telegram lets a bot write first to nobody)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.models import ChatMigration, Coordinator, CoordinatorChat, Site

MAX_HOPS = 5  # a supergroup never migrates again; a few hops guard against a loop


async def record_coordinator_chat(session: AsyncSession, user_id: int, now: datetime) -> bool:
    """Remember that this coordinator wrote to the bot privately. True when it is new."""
    if await session.get(CoordinatorChat, user_id) is not None:
        return False
    try:
        async with session.begin_nested():  # another process may record them at once
            session.add(CoordinatorChat(telegram_user_id=user_id, started_at=now))
    except IntegrityError:
        return False
    return True


async def has_coordinator_chat(session: AsyncSession, user_id: int) -> bool:
    """Whether the bot may write to this coordinator privately (they started it)."""
    return await session.get(CoordinatorChat, user_id) is not None


async def forget_coordinator_chat(session: AsyncSession, user_id: int) -> None:
    """The coordinator blocked the bot: do not count on their private chat any more."""
    await session.exec(
        delete(CoordinatorChat).where(col(CoordinatorChat.telegram_user_id) == user_id)
    )


async def record_migration(
    session: AsyncSession, old_chat_id: int, new_chat_id: int, now: datetime
) -> None:
    """A group became a supergroup: its messages go to `new_chat_id` from now on."""
    row = await session.get(ChatMigration, old_chat_id)
    if row is None:
        row = ChatMigration(old_chat_id=old_chat_id, new_chat_id=new_chat_id, migrated_at=now)
    else:
        row.new_chat_id, row.migrated_at = new_chat_id, now
    session.add(row)


async def current_chat_id(session: AsyncSession, chat_id: int) -> int:
    """The id under which Telegram knows this chat now (itself unless it migrated)."""
    for _ in range(MAX_HOPS):
        moved = await session.get(ChatMigration, chat_id)
        if moved is None or moved.new_chat_id == chat_id:
            break
        chat_id = moved.new_chat_id
    return chat_id


async def sites_of_chat(session: AsyncSession, chat_id: int) -> list[str]:
    """The sites whose alert or escalation chat this is (under its old or new id)."""
    ids = {chat_id}
    ids.update(
        await session.exec(
            select(ChatMigration.old_chat_id).where(ChatMigration.new_chat_id == chat_id)
        )
    )
    rows = await session.exec(
        select(Site.code).where(
            or_(col(Site.alert_chat_id).in_(ids), col(Site.escalation_chat_id).in_(ids))
        )
    )
    return sorted(rows)


async def team_chats(session: AsyncSession, site_code: str) -> list[int]:
    """The site's group chats (alert chat first, then escalation chat), as Telegram knows
    them now."""
    site = await session.get(Site, site_code)
    if site is None:
        return []
    chats = [site.alert_chat_id]
    if site.escalation_chat_id is not None:
        chats.append(site.escalation_chat_id)
    return [await current_chat_id(session, chat) for chat in chats]


async def reachable_coordinators(session: AsyncSession, site_code: str) -> list[int]:
    """The site's coordinators (any role) who have started the bot privately: their user
    ids, which are also their private chats' ids."""
    rows = await session.exec(
        select(Coordinator.telegram_user_id)
        .join(
            CoordinatorChat,
            col(CoordinatorChat.telegram_user_id) == col(Coordinator.telegram_user_id),
        )
        .where(Coordinator.site_code == site_code)
        .order_by(col(Coordinator.telegram_user_id))
    )
    return list(rows)
