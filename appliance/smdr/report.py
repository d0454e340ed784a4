"""After-hours calls: which calls came in while the PBX was not in day service.

Pure functions over the data they are given: calls (the store's dicts, or
:class:`~appliance.smdr.record.CallRecord` objects) and the zone's mode history
(``store.mode_history(zone, start, end)`` → ``[{at, mode}]``). A call is *after-hours*
when the mode in force at its start, according to that history, is not ``day``
(docs/design.md#after-hours-calls-smdr).
It is the history that counts, not the schedule: a manual override, the key switch or a
hold all changed what the PBX did, and the history records what was applied.

The mode in force at instant *t* is that of the last history entry at or before *t*; a
call exactly at a change takes the new mode. A call earlier than the first entry has no
known mode: it is counted as ``no_history``, not as after-hours.

**Nights.** An *after-hours span* is a maximal stretch of history in which the mode is
never ``day`` (night, lunch, holiday... in a row count as one span). A span is labelled
with the local date on which it began, and the *night* of date D is every span that
began on D: Friday's night runs from Friday's closing to Monday's opening when the
weekend has no day service, and a lunch break's span belongs to the night of its date
too. Each entry of :func:`summary`'s ``per_night`` says when its span began and ended,
so a long weekend reads as one night of 62 hours rather than as three mislabelled ones.
Ask the store for history from a while before the report's start (the CLI asks for 31
days) so that a span that began before the start gets its true label.
"""

from __future__ import annotations

import bisect
import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from appliance.timetext import when

DAY = "day"
#: How far before a report's start the mode history is read, so a night that began
#: before the start gets its true label.
HISTORY_LEAD = timedelta(days=31)
#: Columns of :func:`to_csv`, in order.
CSV_COLUMNS = (
    "start_local",
    "night",
    "mode",
    "extension",
    "trunk",
    "direction",
    "duration_s",
    "answered",
    "number",
)


@dataclass(frozen=True)
class Span:
    """One after-hours span: from a change away from ``day`` to the next change back.

    :param datetime began: the first instant (aware, UTC).
    :param ended: the instant day service resumed, or None if it had not by the history's end.
    """

    began: datetime
    ended: datetime | None


class _History:
    """The mode history, sorted, with the after-hours spans worked out once."""

    def __init__(self, history):
        entries = sorted(((_instant(h["at"]), str(h["mode"])) for h in history), key=lambda e: e[0])
        self.times = [at for at, _ in entries]
        self.modes = [mode for _, mode in entries]
        self.spans: list[Span] = []
        began = None
        for at, mode in entries:
            if mode != DAY and began is None:
                began = at
            elif mode == DAY and began is not None:
                self.spans.append(Span(began, at))
                began = None
        if began is not None:
            self.spans.append(Span(began, None))
        self._span_starts = [s.began for s in self.spans]

    def mode_at(self, t: datetime) -> str | None:
        i = bisect.bisect_right(self.times, t)
        return self.modes[i - 1] if i else None

    def span_at(self, t: datetime) -> Span | None:
        i = bisect.bisect_right(self._span_starts, t)
        if not i:
            return None
        span = self.spans[i - 1]
        return span if span.ended is None or t < span.ended else None


def _instant(value) -> datetime:
    if isinstance(value, datetime):
        when = value
    else:
        when = datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone; instants must be aware")
    return when.astimezone(timezone.utc)


def _get(call, name):
    return call.get(name) if isinstance(call, dict) else getattr(call, name, None)


def _zone(tz) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _zone_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or str(tz)


def after_hours_calls(calls, history) -> list:
    """The calls whose start falls in a mode other than ``day``, in the order given.

    :param calls: the store's call dicts or :class:`CallRecord` objects.
    :param history: ``[{at, mode}]`` with ``at`` an ISO-8601 string or aware datetime,
        including the entry in force before the first call.
    """
    hist = _History(history)
    out = []
    for call in calls:
        mode = hist.mode_at(_instant(_get(call, "started_at")))
        if mode is not None and mode != DAY:
            out.append(call)
    return out


def _answer_key(call) -> str:
    answered = _get(call, "answered")
    return "unknown" if answered is None else ("answered" if answered else "unanswered")


def _counts() -> dict:
    return {"calls": 0, "answered": 0, "unanswered": 0, "unknown": 0}


def summary(calls, history, tz, start, end) -> dict:
    """After-hours call counts for the web page's chart and the CLI's table.

    Only calls that started in ``[start, end)`` count. The result is JSON-serializable::

        {"from", "to", "timezone",
         "totals": {"calls", "after_hours", "answered", "unanswered", "unknown",
                    "no_history"},
         "per_night": [{"night": "2026-03-06", "began", "ended", "calls", "answered",
                        "unanswered", "unknown"}, ...],      # oldest first
         "per_hour": [{"hour": 0, "calls", "answered", "unanswered", "unknown"}, ...],  # 0-23 local
         "by_mode": {"night": 12, ...},
         "by_direction": {"in", "out", "internal", "unknown"}}

    ``per_night`` lists every night whose span began in ``[start, end)``, with zero calls
    too (a quiet night is an answer), plus any earlier night that holds a counted call.
    ``from``/``to`` (the instants asked for), ``began`` and ``ended`` are local ISO-8601
    with offset; ``ended`` is null while the span runs on past the history's end.

    :param calls: the store's call dicts or :class:`CallRecord` objects.
    :param history: the zone's mode history (see :func:`after_hours_calls`).
    :param tz: the site's time zone (a :class:`zoneinfo.ZoneInfo` or its name).
    :param start: the first instant (aware datetime or ISO-8601).
    :param end: the instant after the last.
    """
    tz = _zone(tz)
    start, end = _instant(start), _instant(end)
    hist = _History(history)
    totals = {
        "calls": 0,
        "after_hours": 0,
        "answered": 0,
        "unanswered": 0,
        "unknown": 0,
        "no_history": 0,
    }
    nights: dict[date, dict] = {}
    hours = [dict(hour=h, **_counts()) for h in range(24)]
    by_mode: dict[str, int] = {}
    by_direction = {"in": 0, "out": 0, "internal": 0, "unknown": 0}

    def night_entry(span: Span) -> dict:
        label = span.began.astimezone(tz).date()
        entry = nights.get(label)
        if entry is None:
            entry = nights[label] = dict(
                night=label.isoformat(), began=span.began, ended=span.ended, **_counts()
            )
        else:
            entry["began"] = min(entry["began"], span.began)
            if entry["ended"] is not None:
                entry["ended"] = None if span.ended is None else max(entry["ended"], span.ended)
        return entry

    for span in hist.spans:
        if start <= span.began < end:
            night_entry(span)

    for call in calls:
        at = _instant(_get(call, "started_at"))
        if not start <= at < end:
            continue
        totals["calls"] += 1
        mode = hist.mode_at(at)
        if mode is None:
            totals["no_history"] += 1
            continue
        if mode == DAY:
            continue
        key = _answer_key(call)
        totals["after_hours"] += 1
        totals[key] += 1
        by_mode[mode] = by_mode.get(mode, 0) + 1
        by_direction[_get(call, "direction") or "unknown"] += 1
        hour = hours[at.astimezone(tz).hour]
        hour["calls"] += 1
        hour[key] += 1
        night = hist.span_at(at)
        if night is not None:
            entry = night_entry(night)
            entry["calls"] += 1
            entry[key] += 1

    per_night = []
    for label in sorted(nights):
        entry = dict(nights[label])
        entry["began"] = entry["began"].astimezone(tz).isoformat()
        entry["ended"] = (
            None if entry["ended"] is None else entry["ended"].astimezone(tz).isoformat()
        )
        per_night.append(entry)
    return {
        "from": start.astimezone(tz).isoformat(),
        "to": end.astimezone(tz).isoformat(),
        "timezone": _zone_name(tz),
        "totals": totals,
        "per_night": per_night,
        "per_hour": hours,
        "by_mode": dict(sorted(by_mode.items())),
        "by_direction": by_direction,
    }


def span_text(began: datetime, ended: datetime | None) -> str:
    """A night's after-hours span for people, with the date it ended: ``"18:00 to Tue
    3 Mar 08:00"`` (a bare "05:37-09:30" leaves open which morning it was), or ``"18:00
    to now"`` while it runs. Both are local datetimes."""
    if ended is None:
        return f"{began:%H:%M} to now"
    return f"{began:%H:%M} to {when(ended, began, ended.tzinfo)}"


def _cell(value) -> str:
    """A CSV cell that a spreadsheet will not run as a formula.

    Panasonic prints ``=`` (host-PBX code) and ``-`` (transferred) inside dialled numbers;
    opened in a spreadsheet, a cell starting with ``=``, ``+``, ``-`` or ``@`` is a
    formula, so such text is prefixed with an apostrophe (the OWASP advice).
    """
    if value is None:
        return ""
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def to_csv(calls, history, tz) -> str:
    """One row per after-hours call, oldest first, with a header row.

    Columns: :data:`CSV_COLUMNS` — local start (ISO-8601 with offset), night (the label
    date, see the module notes), mode, extension, trunk, direction, duration in seconds,
    answered (``yes``/``no``/empty when unknown), number.

    :param calls: the store's call dicts or :class:`CallRecord` objects.
    :param history: the zone's mode history.
    :param tz: the site's time zone (a :class:`zoneinfo.ZoneInfo` or its name).
    """
    tz = _zone(tz)
    hist = _History(history)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    rows = []
    for call in calls:
        at = _instant(_get(call, "started_at"))
        mode = hist.mode_at(at)
        if mode is None or mode == DAY:
            continue
        span = hist.span_at(at)
        answered = _get(call, "answered")
        rows.append(
            (
                at,
                [
                    at.astimezone(tz).isoformat(),
                    span.began.astimezone(tz).date().isoformat() if span else "",
                    mode,
                    _cell(_get(call, "extension")),
                    _cell(_get(call, "trunk")),
                    _get(call, "direction") or "",
                    "" if _get(call, "duration_s") is None else str(_get(call, "duration_s")),
                    "" if answered is None else ("yes" if answered else "no"),
                    _cell(_get(call, "number")),
                ],
            )
        )
    rows.sort(key=lambda r: r[0])
    writer.writerows(row for _, row in rows)
    return buf.getvalue()
