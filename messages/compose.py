"""Turning an outbox row into the text and buttons to send, from the state as it is now.

The dispatcher calls `compose` for each row it is about to send. A row is composed when it
is sent, not when it was queued: the participant's chat and language are read then, and a
message that is no longer true (a reminder of a visit that moved, an escalation of an
alert acknowledged meanwhile; rules in `study.staleness`) raises `study.errors.Stale`, so
the dispatcher expires it instead of sending it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from messages.alerts import compose_card, compose_elsewhere, tier_names
from messages.charts import Chart, Photo, chart_of, photo_of
from messages.checkin import compose_question
from messages.facts import site_facts
from messages.queued import Composer, Queued, Text
from messages.reminders import compose_reminder
from messages.render import Keyboard, local_stamp, render
from messages.versions import version_of
from study.alerts import ALERT_CARD
from study.checkins import QUESTION_TEMPLATE
from study.config import StudyConfig
from study.delivery import ALERT_ELSEWHERE, is_rerouted
from study.message_views import digest_of, previsit_of, recipient_of
from study.models import OutboxMessage
from study.outbox import EDITS, REMINDER_TEMPLATE, is_edit
from study.trends import participant_trend

DIGEST = "digest"
PREVISIT_SUMMARY = "previsit_summary"


@dataclass(frozen=True)
class Composed:
    """What the dispatcher sends for a row: the chat, the text and buttons, and whether
    where it lands is recorded for later edits (`scheduler.dispatcher.after_sent`). With
    `edits` (a Telegram message id in that chat), that message is changed in place instead
    (an alert's card once the alert changed: `study.alert_cards`). A `chart` is drawn
    after the claim's transaction (`drawn`) and goes as a `photo` with its caption, or the
    `text` goes alone when it cannot be drawn."""

    chat_id: int
    text: str
    keyboard: Keyboard | None = None
    remember: bool = False  # where it lands matters later (alert cards, check-in questions)
    chart: Chart | None = None
    edits: int | None = None
    photo: Photo | None = None


async def drawn(message: Composed) -> Composed:
    """`message` with its chart drawn (in the drawing process, a few tenths of a second): a
    photo, or its text alone when the chart cannot be drawn."""
    if message.chart is None:
        return message
    return replace(message, chart=None, photo=await photo_of(message.chart))


async def compose(
    session: AsyncSession, row: OutboxMessage, config: StudyConfig, now: datetime
) -> Composed:
    """The message for `row`, to whom it goes now; `Stale` if it is no longer true."""
    recipient = await recipient_of(session, row)
    composer = COMPOSERS.get(row.template, _plain)
    queued = Queued(session, row, recipient, config, now)
    text, keyboard = await composer(queued)
    # Which approved text goes out: the version of the template in the language it was
    # composed in now (saved with the row's claim; the last one composed is the one sent).
    row.template_version = version_of(row.template, recipient.language)
    if is_rerouted(row) and row.template != ALERT_ELSEWHERE:
        text = f"{text}\n\n{render('sent_elsewhere', recipient.language)}"
    if is_edit(row):
        return Composed(recipient.chat_id, text, keyboard, edits=int(row.context[EDITS]))
    remember = row.alert_id is not None or "checkin_id" in row.context
    chart = await _previsit_chart(queued, text) if row.template == PREVISIT_SUMMARY else None
    return Composed(recipient.chat_id, text, keyboard, remember, chart)


async def _plain(queued: Queued) -> Text:
    """Any other template, from the row's context; a participant's also get their site's
    phone numbers (unless the context names them)."""
    context = dict(queued.row.context)
    participant = queued.recipient.participant
    if participant is not None:
        context = {**site_facts(participant, queued.config), **context}
    return render(queued.row.template, queued.language, **context), None


async def _digest(queued: Queued) -> Text:
    """A site's open alerts of the day, those not resolved since."""
    context, language = queued.row.context, queued.language
    zone = queued.config.site_timezone(context["site_code"])
    items = await digest_of(queued.session, context["alert_ids"])
    text = render(
        DIGEST,
        language,
        site_code=context["site_code"],
        day=context["day"],
        items=[
            {
                "study_id": item.study_id,
                "kind": item.kind,
                "raised_at": local_stamp(item.raised_at, zone, language),
            }
            for item in items
        ],
    )
    return text, None


async def _previsit_summary(queued: Queued) -> Text:
    """What the site should know before a participant's visit."""
    summary = await previsit_of(queued.session, queued.row.context["visit_id"])
    text = render(
        PREVISIT_SUMMARY,
        queued.language,
        study_id=summary.participant.study_id,
        visit_number=summary.visit.number,
        date=summary.visit.visit_date,
        arm=summary.participant.arm,
        tiers=tier_names(summary.tiers, queued.language),
        t4_findings=summary.t4_findings,
        open_alerts=summary.open_alerts,
    )
    return text, None


async def _previsit_chart(queued: Queued, text: str) -> Chart | None:
    """The participant's trend chart, captioned by the summary and the chart's legend
    (None: the summary goes as text alone)."""
    participant = (await previsit_of(queued.session, queued.row.context["visit_id"])).participant
    today = queued.now.astimezone(ZoneInfo(participant.timezone)).date()
    trend = await participant_trend(queued.session, participant, today=today)
    return chart_of(trend, queued.language, above=text)


COMPOSERS: dict[str, Composer] = {
    REMINDER_TEMPLATE: compose_reminder,
    ALERT_CARD: compose_card,
    ALERT_ELSEWHERE: compose_elsewhere,
    QUESTION_TEMPLATE: compose_question,
    DIGEST: _digest,
    PREVISIT_SUMMARY: _previsit_summary,
}
