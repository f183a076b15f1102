"""Mirroring the sites and coordinators of study.toml into the database."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.config import StudyConfig
from study.models import Coordinator, Site


async def sync_sites(session: AsyncSession, config: StudyConfig) -> None:
    """Make the Site and Coordinator tables say what study.toml says.

    Sites are never deleted (participants refer to them); coordinators are replaced.
    """
    existing = {site.code: site for site in await session.exec(select(Site))}
    for code, site in config.sites.items():
        row = existing.get(code) or Site(code=code, alert_chat_id=site.alert_chat_id)
        row.name = site.name
        row.timezone = config.site_timezone(code)
        row.phone = site.phone
        row.emergency_number = site.emergency_number
        row.alert_chat_id = site.alert_chat_id
        row.escalation_chat_id = site.escalation_chat_id
        session.add(row)
    await session.flush()

    wanted = {
        (coordinator.telegram_user_id, code): coordinator.role
        for code, site in config.sites.items()
        for coordinator in site.coordinators
    }
    for row in await session.exec(select(Coordinator)):
        key = (row.telegram_user_id, row.site_code)
        if key not in wanted:
            await session.delete(row)
        else:
            row.role = wanted.pop(key)
            session.add(row)
    for (user_id, code), role in wanted.items():
        session.add(Coordinator(telegram_user_id=user_id, site_code=code, role=role))
