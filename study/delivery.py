"""What follows the delivery, or the failure, of a message for a site team.

- A message that a site's chat refuses for good (the bot was removed, the chat is gone), or
  that could not even be composed, goes at once to the site's other chat (the escalation
  chat, or the alert chat when the escalation chat refused) and to each of the site's
  coordinators who have started the bot privately: rows of the outbox, urgent, written in
  the transaction that records the failure. Those copies are never rerouted again.
- Once the card of an urgent alert that a participant raised themselves reached any team
  chat, the participant is told that the team has their report (and not before).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from study.alerts import ALERT_CARD
from study.models import URGENT, Alert, OutboxMessage, OutboxStatus
from study.outbox import Priority, enqueue
from study.team_chats import reachable_coordinators, sites_of_chat, team_chats
from study.triage import SELF_HARM

ALERT_ELSEWHERE = "alert_elsewhere"
ALERT_DELIVERED = "alert_delivered"
REROUTED_FROM = "rerouted_from"
# Why a team message is rerouted: its chat refused it, or it could not be composed.
CHAT_REFUSED = "chat"
NOT_COMPOSED = "error"
DELIVERED_NOTICE_LIFETIME = timedelta(days=1)


def is_rerouted(row: OutboxMessage) -> bool:
    """A copy sent elsewhere because its first chat refused the original."""
    return REROUTED_FROM in row.context


async def reroute(
    session: AsyncSession, row: OutboxMessage, *, cause: str, now: datetime
) -> list[int]:
    """Queue the team message `row` (just failed) for the site's other chats and its
    coordinators' private chats; return those chats (empty: nowhere else to go).

    An alert goes as a notice of its own (`alert_elsewhere`), which needs no more than the
    alert's row; any other team message goes as itself when its chat refused it, and
    nowhere when it could not be composed or Telegram refused its content."""
    if row.participant_id is not None or row.chat_id is None or is_rerouted(row):
        return []
    alert = await session.get(Alert, row.alert_id) if row.alert_id is not None else None
    if alert is None and cause != CHAT_REFUSED:
        return []  # the same message would fail again anywhere
    if alert is not None:
        sites = [alert.site_code]
    elif isinstance(row.context.get("site_code"), str):
        sites = [row.context["site_code"]]
    else:
        sites = await sites_of_chat(session, row.chat_id)
    # A chat that refused is not tried again; one that was never reached (the message
    # could not be made) gets the notice too.
    refused = {row.chat_id} if cause == CHAT_REFUSED else set()
    targets: list[int] = []
    for site in sites:
        for chat in [
            *await team_chats(session, site),
            *await reachable_coordinators(session, site),
        ]:
            if chat not in refused and chat not in targets:
                targets.append(chat)
    for chat in targets:
        if alert is not None:
            template = ALERT_ELSEWHERE
            context = {
                "alert_id": alert.id,
                "site_code": alert.site_code,
                "cause": cause,
                "note": row.context.get("note"),
            }
        else:
            template, context = row.template, dict(row.context)
        await enqueue(
            session,
            template=template,
            dedupe_key=f"{row.dedupe_key}>{chat}"[:128],
            chat_id=chat,
            language=row.language,
            context={**context, REROUTED_FROM: row.id},
            due_at=now,
            not_after=row.not_after,
            priority=Priority.URGENT,
            alert_id=row.alert_id,
            now=now,
        )
    return targets


async def reached_nobody(session: AsyncSession, row: OutboxMessage) -> bool:
    """For a rerouted copy that just failed: whether no copy of its original arrived and
    none is still on its way."""
    origin = await session.get(OutboxMessage, row.context.get(REROUTED_FROM))
    if origin is None:
        return True
    copies = await session.exec(
        select(OutboxMessage.status).where(
            col(OutboxMessage.dedupe_key).startswith(f"{origin.dedupe_key}>", autoescape=True),
            col(OutboxMessage.id) != row.id,
        )
    )
    live = (OutboxStatus.SENT, OutboxStatus.PENDING, OutboxStatus.SENDING)
    return not any(status in live for status in copies)


async def card_delivered(session: AsyncSession, row: OutboxMessage, now: datetime) -> None:
    """A message about an alert reached a team chat: the first one is where the card is;
    a participant who reported a T1/T2 finding is then told the team has it."""
    if row.alert_id is None or row.telegram_message_id is None:
        return
    alert = await session.get(Alert, row.alert_id)
    if alert is None or alert.card_message_id is not None:
        return
    if row.template in (ALERT_CARD, ALERT_ELSEWHERE):
        alert.card_chat_id = row.chat_id
        alert.card_message_id = row.telegram_message_id
        session.add(alert)
    if alert.checkin_id is None or alert.participant_id is None:
        return
    if alert.tier not in URGENT:
        return
    await enqueue(
        session,
        template=ALERT_DELIVERED,
        dedupe_key=f"alert:{alert.id}:delivered",
        participant_id=alert.participant_id,
        context={
            "tier": alert.tier,
            "pregnancy": alert.kind == "possible_pregnancy",
            "self_harm": any(
                (item.get("question"), item.get("answer")) == SELF_HARM for item in alert.evidence
            ),
        },
        due_at=now,
        not_after=now + DELIVERED_NOTICE_LIFETIME,
        priority=Priority.URGENT,
        now=now,
    )
