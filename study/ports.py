"""What the domain needs from the outside, as protocols the outer layers implement."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from study.models import Participant


class Replanner(Protocol):
    """Brings a participant's planned messages in line with their calendar and status.

    Called in the transaction of every change to a date, an arm or a status, so that
    reminders no longer true are cancelled and new ones added with the change itself.
    """

    async def replan(
        self, session: AsyncSession, participant: Participant, now: datetime
    ) -> None: ...
