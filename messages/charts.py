"""A participant's trend chart (PNG) and its caption, for the study team.

The chart has three panels on one time axis (dates as YYYY-MM-DD):
- top: each check-in's tier, T1 (top) to T4 and `-` (nothing reported); `x` on `-` marks a
  check-in that closed unanswered; a star marks an alert not yet resolved (filled: open,
  hollow: acknowledged) at its tier;
- middle: the questions in which a check-in reported something, one row per question code
  (Q2, Q7, PI, C2 ...), only the codes reported at least once;
- bottom: visits (row V: filled attended, hollow planned, x missed, with the visit's number)
  and infusions (row I: filled given, hollow planned); a dotted line marks today.

Every label on the image is a date, a tier or a code, so it reads the same in any language
and needs no CJK font; the words are in the caption (`trend_caption`, zh and en), which a
Telegram photo caption allows up to 1024 characters.

The image is always `WIDTH` x `HEIGHT` pixels, drawn with matplotlib's Agg renderer (no
display), and the same trend gives the same bytes (no timestamp or version in the file).

Drawing takes a fifth to half a second of CPU, so the bot draws in a process of its own
(`photo_of`, one chart at a time), never on the event loop and never inside a database
transaction: a chart on its way holds up no button press and no write. Not in a thread:
matplotlib holds the GIL for up to a fifth of a second at a time, and while it drew in one
the bot's round trips to the database took up to 190 ms instead of 1 (`ChartProcess`).
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from messages.render import plain, render
from study.trends import Trend

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTH, HEIGHT, DPI = 1200, 800, 100
MAX_CAPTION_CHARS = 1024
TIERS = ("-", "T4", "T3", "T2", "T1")  # bottom to top
TIER_COLOURS: dict[str | None, str] = {
    "T1": "#c62828",
    "T2": "#ef6c00",
    "T3": "#f9a825",
    "T4": "#1565c0",
    None: "#9e9e9e",
}
INK, VISIT_COLOUR, INFUSION_COLOUR = "#37474f", "#2e7d32", "#6a1b9a"
MARGIN_BEFORE, MARGIN_AFTER = timedelta(days=7), timedelta(days=14)
EPOCH = date(1970, 1, 1)  # matplotlib's date epoch
MAX_TICKS = 10

log = logging.getLogger(__name__)


PARENT_CHECK_SECONDS = 1.0
IDLE_SECONDS = 120.0


class ChartProcess:
    """The process that draws the charts, one at a time: started on the first chart (a
    second or two), started again when it died, stopped after `idle_seconds` without a
    chart (charts come in bursts: the morning's pre-visit summaries, a `/participant`; the
    process holds about 110 MB), and ending when the bot's does."""

    def __init__(
        self, start: Callable[[], Executor] | None = None, idle_seconds: float = IDLE_SECONDS
    ) -> None:
        self._start = start or _drawing_process
        self._idle_seconds = idle_seconds
        self._executor: Executor | None = None
        self._drawing = 0
        self._idle: asyncio.TimerHandle | None = None

    async def draw(self, trend: Trend) -> bytes:
        try:
            return await self._draw(trend)
        except BrokenProcessPool:  # it died (killed, out of memory): once more, in a new one
            return await self._draw(trend)

    async def _draw(self, trend: Trend) -> bytes:
        if self._idle is not None:
            self._idle.cancel()
        if self._executor is None:
            self._executor = self._start()
        executor = self._executor
        loop = asyncio.get_running_loop()
        self._drawing += 1
        try:
            return await loop.run_in_executor(executor, trend_chart_png, trend)
        except BrokenProcessPool:
            self._stop(executor)
            raise
        finally:
            self._drawing -= 1
            if not self._drawing:
                # Cancelled by the next chart: when it fires, nothing has been drawn since.
                self._idle = loop.call_later(self._idle_seconds, self._stop, executor)

    def _stop(self, executor: Executor) -> None:
        if self._executor is executor:
            self._executor = None
        executor.shutdown(wait=False)


def _drawing_process() -> Executor:
    # Spawned, not forked: a fork of the bot would copy its event loop and threads.
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_exit_with_parent,
        initargs=(os.getpid(),),
    )


def _exit_with_parent(parent: int) -> None:
    """In the drawing process: end it when the bot is gone (killed, it cannot say so)."""

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


DRAWING = ChartProcess()


@dataclass(frozen=True)
class Photo:
    """A PNG image to send with its caption (Telegram HTML of at most `MAX_CAPTION_CHARS`)."""

    png: bytes
    caption: str


@dataclass(frozen=True)
class Chart:
    """A chart still to be drawn (`photo_of`), with its caption ready."""

    trend: Trend
    caption: str


def chart_of(trend: Trend, language: str, *, above: str | None = None) -> Chart | None:
    """The chart of `trend` with its legend as the caption, after the text `above` when
    given; None (logged) when the caption cannot be made or would be too long, so that the
    caller sends its text alone. Nothing is drawn yet."""
    try:
        caption = trend_caption(trend, language)
    except Exception:
        log.exception("a participant's trend chart could not be captioned; sending text alone")
        return None
    if above is not None:
        caption = f"{above}\n\n{caption}"
    if caption_length(caption) > MAX_CAPTION_CHARS:
        log.info("a trend chart's caption would be too long; sending text alone")
        return None
    return Chart(trend, caption)


async def photo_of(chart: Chart) -> Photo | None:
    """The chart drawn (in the drawing process); None (logged) when it cannot be drawn, so
    that the caller sends its text alone: one bad chart never stops a message."""
    try:
        png = await DRAWING.draw(chart.trend)
    except Exception:
        log.exception("a participant's trend chart could not be drawn; sending text alone")
        return None
    return Photo(png, chart.caption)


async def chart_photo(trend: Trend, language: str, *, above: str | None = None) -> Photo | None:
    """`chart_of` drawn at once: the photo, or None when the text goes alone."""
    chart = chart_of(trend, language, above=above)
    return None if chart is None else await photo_of(chart)


def caption_length(text: str) -> int:
    """A caption's length as Telegram counts it: UTF-16 code units of the text, not of its
    markup."""
    return len(plain(text).encode("utf-16-le")) // 2


def trend_chart_png(trend: Trend) -> bytes:
    """The chart of `trend` as PNG bytes (see the module's docstring)."""
    # Imported on first use: matplotlib takes a third of a second to import, which every
    # `trialbot` command would otherwise pay.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    tiers, domains, events = figure.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": (3, 3, 1.4), "hspace": 0.08}
    )
    first, last = _period(trend)
    start, end = first - MARGIN_BEFORE, last + MARGIN_AFTER
    _tiers(tiers, trend)
    _domains(domains, trend)
    _events(events, trend, start, end)
    for axes in (tiers, domains, events):
        axes.axvline(_x([trend.today])[0], color=INK, linestyle=":", linewidth=1.2)
        axes.grid(axis="x", color="#e0e0e0", linewidth=0.8)
        axes.set_axisbelow(True)
    events.set_xlim(*_x([start, end]))
    ticks = _ticks(start, end)
    events.set_xticks(_x(ticks), [f"{day:%Y-%m-%d}" for day in ticks])
    for tick in events.get_xticklabels():
        tick.set_rotation(30)
        tick.set_horizontalalignment("right")
    tiers.set_title(f"{trend.study_id}   {first:%Y-%m-%d} .. {trend.today:%Y-%m-%d}")
    figure.subplots_adjust(left=0.07, right=0.98, top=0.95, bottom=0.12)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def trend_caption(trend: Trend, language: str) -> str:
    """The chart's legend in words, as Telegram HTML (at most 1024 characters)."""
    first, _ = _period(trend)
    return render(
        "trend_caption",
        language,
        study_id=trend.study_id,
        since=first.isoformat(),
        today=trend.today.isoformat(),
        codes=list(trend.reported),
        open_alerts=len(trend.alerts),
    )


def _period(trend: Trend) -> tuple[date, date]:
    """From day 1 (or the first thing shown) to the latest of today, the last thing shown
    and the next visit or infusion after today."""
    planned = [v.day for v in trend.visits] + [i.day for i in trend.infusions]
    seen = [trend.randomized_on, trend.today, *(d for d in planned if d <= trend.today)]
    seen += [c.day for c in trend.checkins] + [a.day for a in trend.alerts]
    coming = [d for d in planned if d > trend.today]
    return min(seen), max([*seen, *([min(coming)] if coming else [])])


def _x(days: Iterable[date]) -> list[float]:
    """Days as matplotlib's date numbers (days since its epoch, 1970-01-01)."""
    return [float((day - EPOCH).days) for day in days]


def _ticks(start: date, end: date) -> list[date]:
    """First days of months from `start` to `end`, every 1, 2, 3, 6 or 12 months: at most
    `MAX_TICKS` (or, within a month or two, every week's Monday)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if months < 2:
        monday = start + timedelta(days=-start.weekday() % 7)
        return [monday + timedelta(weeks=n) for n in range((end - monday).days // 7 + 1)]
    step = next(s for s in (1, 2, 3, 6, 12, 24) if months // s < MAX_TICKS)
    first = start.year * 12 + start.month  # the month after start's
    ticks = []
    for index in range(first, end.year * 12 + end.month):
        if index % step == 0:
            ticks.append(date(index // 12, index % 12 + 1, 1))
    return ticks


def _tiers(axes: Axes, trend: Trend) -> None:
    answered = [c for c in trend.checkins if not c.missed]
    axes.plot(
        _x(c.day for c in answered),
        [TIERS.index(c.tier or "-") for c in answered],
        color="#b0bec5",
        linewidth=1,
        zorder=1,
    )
    for tier in (None, "T4", "T3", "T2", "T1"):
        shown = [c for c in answered if c.tier == tier]
        axes.scatter(
            _x(c.day for c in shown),
            [TIERS.index(tier or "-")] * len(shown),
            s=46,
            color=TIER_COLOURS[tier],
            zorder=2,
        )
    missed = _x(c.day for c in trend.checkins if c.missed)
    axes.scatter(missed, [0] * len(missed), s=46, marker="x", color=TIER_COLOURS[None])
    for alert in trend.alerts:  # a star in the alert's tier colour, above its tier's row
        colour = TIER_COLOURS.get(alert.tier, INK)
        axes.scatter(
            _x([alert.day]),
            [TIERS.index(alert.tier) + 0.3 if alert.tier in TIERS else len(TIERS) - 0.7],
            s=170,
            marker="*",
            facecolors="white" if alert.acknowledged else colour,
            edgecolors=colour if alert.acknowledged else INK,
            linewidths=1.2 if alert.acknowledged else 0.6,
            zorder=3,
        )
    _rows(axes, TIERS)
    axes.set_ylim(-0.6, len(TIERS) - 0.3)


def _domains(axes: Axes, trend: Trend) -> None:
    codes = trend.reported
    rows = list(reversed(codes)) or ["-"]
    for checkin in trend.checkins:
        for code in checkin.reported:
            axes.scatter(
                _x([checkin.day]),
                [rows.index(code)],
                s=40,
                marker="s",
                color=TIER_COLOURS[checkin.tier],
                zorder=2,
            )
    _rows(axes, rows)
    axes.set_ylim(-0.6, len(rows) - 0.4)


def _events(axes: Axes, trend: Trend, start: date, end: date) -> None:
    visits = [v for v in trend.visits if start <= v.day <= end]
    for status, marker, filled in (("attended", "o", True), ("planned", "o", False)):
        shown = [v for v in visits if v.status == status]
        axes.scatter(
            _x(v.day for v in shown),
            [1] * len(shown),
            s=60,
            marker=marker,
            facecolors=VISIT_COLOUR if filled else "white",
            edgecolors=VISIT_COLOUR,
            zorder=2,
        )
    missed = _x(v.day for v in visits if v.status == "missed")
    axes.scatter(missed, [1] * len(missed), s=60, marker="x", color=INK)
    for visit in visits:
        axes.annotate(
            str(visit.number),
            (_x([visit.day])[0], 1),
            textcoords="offset points",
            xytext=(0, 7),
            ha="center",
            fontsize=8,
            color=INK,
        )
    infusions = [i for i in trend.infusions if start <= i.day <= end]
    for given in (True, False):
        days = _x(i.day for i in infusions if i.given == given)
        axes.scatter(
            days,
            [0] * len(days),
            s=60,
            marker="D",
            facecolors=INFUSION_COLOUR if given else "white",
            edgecolors=INFUSION_COLOUR,
            zorder=2,
        )
    _rows(axes, ("I", "V"))
    axes.set_ylim(-0.6, 1.9)


def _rows(axes: Axes, labels: Iterable[str]) -> None:
    names = list(labels)
    axes.set_yticks(range(len(names)), names)
    axes.grid(axis="y", color="#eeeeee", linewidth=0.8)


__all__ = [
    "HEIGHT",
    "MAX_CAPTION_CHARS",
    "WIDTH",
    "Photo",
    "caption_length",
    "chart_photo",
    "trend_caption",
    "trend_chart_png",
]
