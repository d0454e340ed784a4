"""Charts drawn on the server as SVG: the schedule timeline and the call charts.

Pure functions that return :class:`markupsafe.Markup`; every text they place is escaped.
Colours come from the stylesheet through CSS classes (``m-day``, ``m-night``, ...), so
the SVG carries no inline style and the Content-Security-Policy stays strict. Each bar
has a ``<title>``, which browsers show on hover and screen readers read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

_FIXED_CLASSES = {"day": "m-day", "night": "m-night"}
_OTHER_CLASSES = ("m-a", "m-b", "m-c", "m-d")


def mode_class(mode: str) -> str:
    """The CSS class of a mode's colour: ``m-day``, ``m-night``, or one of four others
    picked by the name, so a mode keeps its colour on every page."""
    if mode in _FIXED_CLASSES:
        return _FIXED_CLASSES[mode]
    return _OTHER_CLASSES[sum(map(ord, mode or "")) % len(_OTHER_CLASSES)]


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Segment:
    """A stretch of one day's bar: minutes after local midnight, mode and why."""

    start: int
    end: int
    mode: str
    reason: str


@dataclass(frozen=True)
class DayRow:
    day: date
    segments: tuple[Segment, ...]
    special: str | None = None  # "holiday", "exception", "season": worth a mark


def day_rows(schedule, first: date, days: int, *, day_plan) -> list[DayRow]:
    """The timeline's rows: each local date's plan cut into segments.

    :param schedule: a parsed :class:`~appliance.decision.schedule.Schedule`.
    :param date first: the first local date.
    :param int days: how many dates.
    :param day_plan: :func:`appliance.decision.dayplan.day_plan`.
    """
    from datetime import timedelta

    rows = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        plan = day_plan(schedule, day)
        segments: list[Segment] = []
        for piece in plan.pieces:
            if segments and segments[-1].mode == piece.mode and segments[-1].reason == piece.reason:
                last = segments.pop()
                segments.append(Segment(last.start, piece.end, piece.mode, last.reason))
            else:
                segments.append(Segment(piece.start, piece.end, piece.mode, piece.reason))
        sources = {p.source for p in plan.pieces}
        special = next(
            (s for s in ("exception", "calendar", "company", "holiday", "season") if s in sources),
            None,
        )
        rows.append(DayRow(day, tuple(segments), special))
    return rows


def _pct(minutes: int) -> str:
    return f"{100 * minutes / 1440:.3f}%"


def timeline_svg(
    rows: list[DayRow], *, now_day: date | None = None, now_minute: int | None = None
) -> Markup:
    """One bar per day, 00:00 to 24:00, coloured by mode.

    Each bar is its own small SVG whose shapes are placed in percent, so it stretches to
    any width while its text keeps the page's font size: the same markup reads on a
    phone and on a desktop.
    """
    out = [
        '<div class="timeline" role="img" aria-label="The mode for each of the next '
        f'{len(rows)} days">',
        '<div class="tl-row tl-head"><span></span>'
        '<svg class="tl-axis" xmlns="http://www.w3.org/2000/svg">',
    ]
    for hour in range(0, 25, 6):
        anchor = "start" if hour == 0 else "end" if hour == 24 else "middle"
        out.append(
            f'<text x="{_pct(hour * 60)}" y="12" text-anchor="{anchor}">{hour:02d}:00</text>'
        )
    out.append("</svg></div>")
    for row in rows:
        label = f"{row.day:%a} {row.day.day} {row.day:%b}"
        cls = "tl-label special" if row.special else "tl-label"
        title = f' title="{escape(row.special)}"' if row.special else ""
        out.append(
            f'<div class="tl-row"><span class="{cls}"{title}>{escape(label)}</span>'
            '<svg class="tl-bar" xmlns="http://www.w3.org/2000/svg">'
        )
        for seg in row.segments:
            share = (seg.end - seg.start) / 1440
            title_text = f"{label} {hhmm(seg.start)}–{hhmm(seg.end)} {seg.reason}"
            out.append(
                f'<rect class="{mode_class(seg.mode)}" x="{_pct(seg.start)}" y="0" '
                f'width="{100 * share:.3f}%" height="100%">'
                f"<title>{escape(title_text)}</title></rect>"
            )
            if share >= 0.14:
                out.append(
                    f'<text class="seg-label {mode_class(seg.mode)}-text" '
                    f'x="{_pct(seg.start)}" dx="4" y="15">{escape(seg.mode)}</text>'
                )
        for hour in (6, 12, 18):
            out.append(
                f'<line class="grid" x1="{_pct(hour * 60)}" x2="{_pct(hour * 60)}" '
                'y1="0" y2="100%"/>'
            )
        if now_day == row.day and now_minute is not None:
            out.append(
                f'<line class="now" x1="{_pct(now_minute)}" x2="{_pct(now_minute)}" '
                'y1="0" y2="100%"><title>now</title></line>'
            )
        out.append("</svg></div>")
    out.append("</div>")
    return Markup("".join(out))


@dataclass(frozen=True)
class Series:
    """One stacked part of every bar: its name (legend), CSS class and values."""

    name: str
    css: str
    values: tuple[int, ...]


def _nice_max(value: int) -> int:
    if value <= 5:
        return 5
    for step in (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if value <= step:
            return step
    return ((value // 5000) + 1) * 5000


def bar_chart_svg(
    labels: list[str],
    series: list[Series],
    *,
    title: str,
    label_every: int = 1,
    titles: list[str] | None = None,
) -> Markup:
    """Stacked vertical bars with a y axis: one bar per label.

    :param list labels: the x-axis labels (nights, hours).
    :param list series: the stacked parts, bottom first.
    :param str title: what the chart shows (for screen readers).
    :param int label_every: print every n-th label (24 hours fit as every 3rd).
    :param list titles: longer names of the bars for their tooltips (default: *labels*).
    """
    n = max(len(labels), 1)
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top_value = _nice_max(max(totals, default=0))
    left, bottom, top, plot_h = 40, 34, 10, 180
    plot_w = max(300, min(900, n * 18))
    width, height = left + plot_w + 10, top + plot_h + bottom
    slot = plot_w / n
    bar = max(2.0, slot * 0.7)
    # Drawn at its natural size (width, height) and only ever shrunk to fit: a chart of
    # three nights must not blow its labels up to headline size on a wide screen.
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for k in range(0, 6):
        value = top_value * k / 5
        y = top + plot_h - plot_h * k / 5
        out.append(
            f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"/>'
        )
        out.append(
            f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>'
        )
    for i, label in enumerate(labels):
        name = titles[i] if titles else label
        x = left + i * slot + (slot - bar) / 2
        base = float(top + plot_h)
        parts = []
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top_value
            base -= h
            out.append(
                f'<rect class="{escape(s.css)}" x="{x:.1f}" y="{base:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}"><title>{escape(name)}: '
                f"{value} {escape(s.name)}</title></rect>"
            )
            parts.append(f"{value} {s.name}")
        if i % label_every == 0:
            out.append(
                f'<text class="axis" x="{x + bar / 2:.1f}" y="{top + plot_h + 14}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    out.append(
        f'<line class="axis-line" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
        f'y2="{top + plot_h}"/>'
    )
    legend_x = left
    for s in series:
        out.append(
            f'<rect class="{escape(s.css)}" x="{legend_x}" y="{height - 12}" width="10" '
            f'height="10"/><text class="axis" x="{legend_x + 14}" y="{height - 3}">'
            f"{escape(s.name)}</text>"
        )
        legend_x += 24 + 7 * len(s.name)
    out.append("</svg>")
    return Markup("".join(out))


__all__ = ["mode_class", "day_rows", "timeline_svg", "bar_chart_svg", "Series", "DayRow", "Segment"]
