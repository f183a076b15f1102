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
        values = {
            "name": site.name,
            "timezone": config.site_timezone(code),
            "phone": site.phone,
            "emergency_number": site.emergency_number,
            "alert_chat_id": site.alert_chat_id,
            "escalation_chat_id": site.escalation_chat_id,
        }
        row = existing.get(code)
        if row is None:
            row = Site.model_validate({"code": code, **values})
        else:
            row.sqlmodel_update(values)
        session.add(row)
    await session.flush()

    wanted = {
        (coordinator.telegram_user_id, code): coordinator.role
        for code, site in config.sites.items()
        for coordinator in site.coordinators
    }
    for coordinator_row in await session.exec(select(Coordinator)):
        key = (coordinator_row.telegram_user_id, coordinator_row.site_code)
        if key not in wanted:
            await session.delete(coordinator_row)
        else:
            coordinator_row.role = wanted.pop(key)
            session.add(coordinator_row)
    for (user_id, code), role in wanted.items():
        session.add(Coordinator(telegram_user_id=user_id, site_code=code, role=role))
