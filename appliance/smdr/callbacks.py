"""The morning callback list and the weekly summary: pure functions over the calls and
the zone's mode history, as :mod:`appliance.smdr.report` counts them.

"A voicemail box is only worth something if someone checks it and follows up." The
list gives, for one *night* (an after-hours span, labelled with the local date it began;
see :mod:`appliance.smdr.report`), the calls that came in, grouped by caller number:
when each rang, how long, and whether it was answered where the format says. Outgoing
and internal calls are not on it; a call whose direction the format does not give is
(better one call back too many than a customer forgotten).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from appliance.smdr import report

WITHHELD = ""


def _tz(tz) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _get(call, name):
    return call.get(name) if isinstance(call, dict) else getattr(call, name, None)


def is_incoming(call) -> bool:
    return _get(call, "direction") not in ("out", "internal")


def nights(history, tz) -> list[report.Span]:
    """The after-hours spans of *history*, oldest first."""
    return list(report._History(history).spans)  # noqa: SLF001 - one package, one rule


def night_span(history, tz, night: date) -> tuple[datetime, datetime | None] | None:
    """``(began, ended)`` of the night labelled *night* (its spans merged), or None."""
    tz = _tz(tz)
    found = [s for s in nights(history, tz) if s.began.astimezone(tz).date() == night]
    if not found:
        return None
    ends = [s.ended for s in found if s.ended is not None]
    return min(s.began for s in found), (max(ends) if len(ends) == len(found) else None)


def latest_night(history, tz, now: datetime, *, ended: bool = False) -> date | None:
    """The label of the newest night that began before *now* (with *ended*: that also
    ended by then)."""
    tz = _tz(tz)
    labels = [
        s.began.astimezone(tz).date()
        for s in nights(history, tz)
        if s.began <= now and (not ended or (s.ended is not None and s.ended <= now))
    ]
    return max(labels) if labels else None


def night_calls(calls, history, tz, night: date) -> list:
    """The incoming after-hours calls of *night*, oldest first."""
    tz = _tz(tz)
    hist = report._History(history)  # noqa: SLF001
    out = []
    for call in report.after_hours_calls(calls, history):
        at = report._instant(_get(call, "started_at"))  # noqa: SLF001
        span = hist.span_at(at)
        if span is not None and span.began.astimezone(tz).date() == night and is_incoming(call):
            out.append(call)
    out.sort(key=lambda c: (report._instant(_get(c, "started_at")), _get(c, "id") or 0))  # noqa: SLF001
    return out


def callback_list(calls, history, tz, night: date, ticks: dict | None = None) -> dict:
    """The callback list of *night*::

        {"night": "2026-03-02", "began", "ended", "calls": 7, "unanswered": 5,
         "numbers": [{"number", "calls": [{"id", "started_at", "ring_s", "answered",
                                           "duration_s", "extension", "trunk"}],
                      "count", "answered", "ring_s_total", "first", "last",
                      "called_back": None | {"by", "at"}}, ...]}

    Numbers are in the order of their first call; calls without a number (withheld) are
    grouped under ``""`` at the end, with nobody to call back. ``answered`` of a group is
    True if any of its calls was answered, False if none was and the format said so for
    each, None otherwise.

    :param ticks: ``{number: {by, at}}`` of the numbers already called back.
    """
    tz = _tz(tz)
    ticks = ticks or {}
    span = night_span(history, tz, night)
    groups: dict[str, dict] = {}
    picked = night_calls(calls, history, tz, night)
    for call in picked:
        number = (_get(call, "number") or "").strip() or WITHHELD
        at = report._instant(_get(call, "started_at")).astimezone(tz)  # noqa: SLF001
        group = groups.setdefault(number, {"number": number, "calls": []})
        group["calls"].append(
            {
                "id": _get(call, "id"),
                "started_at": at.isoformat(),
                "ring_s": _get(call, "ring_s"),
                "answered": _get(call, "answered"),
                "duration_s": _get(call, "duration_s"),
                "extension": _get(call, "extension"),
                "trunk": _get(call, "trunk"),
            }
        )
    numbers = []
    for number, group in groups.items():
        answers = [c["answered"] for c in group["calls"]]
        rings = [c["ring_s"] for c in group["calls"] if c["ring_s"] is not None]
        group.update(
            count=len(group["calls"]),
            answered=True if True in answers else (None if None in answers else False),
            ring_s_total=sum(rings) if rings else None,
            first=group["calls"][0]["started_at"],
            last=group["calls"][-1]["started_at"],
            called_back=ticks.get(number) if number != WITHHELD else None,
        )
        numbers.append(group)
    numbers.sort(key=lambda g: (g["number"] == WITHHELD, g["first"]))
    return {
        "night": night.isoformat(),
        "began": span[0].astimezone(tz).isoformat() if span else None,
        "ended": span[1].astimezone(tz).isoformat() if span and span[1] else None,
        "calls": len(picked),
        "unanswered": sum(1 for c in picked if _get(c, "answered") is False),
        "numbers": numbers,
    }


def callback_text(data: dict, tz) -> str:
    """The list as plain text, for the morning mail."""
    tz = _tz(tz)
    lines = [
        f"Night of {data['night']}: {data['calls']} calls came in after hours, "
        f"{data['unanswered']} not answered.",
        "",
    ]
    for group in data["numbers"]:
        who = group["number"] or "number withheld"
        state = {True: "answered", False: "NOT answered", None: "answer not known"}[
            group["answered"]
        ]
        lines.append(f"{who}: {group['count']} call{'s' if group['count'] > 1 else ''}, {state}")
        for call in group["calls"]:
            at = datetime.fromisoformat(call["started_at"]).astimezone(tz)
            ring = f", rang {call['ring_s']} s" if call["ring_s"] is not None else ""
            answered = {True: ", answered", False: ", not answered", None: ""}[call["answered"]]
            lines.append(f"    {at:%a %H:%M}{ring}{answered}")
    if not data["numbers"]:
        lines.append("No calls to call back.")
    return "\n".join(lines) + "\n"


def weekly_summary(calls, history, tz, start: datetime, end: datetime) -> dict:
    """Calls per night, the answer rate and the busiest hours of ``[start, end)``::

    {"from", "to", "first_day", "last_day",
     "nights": [{"night", "calls", "answered", "unanswered"}],
     "calls": N, "answered": N, "unanswered": N, "answer_rate": 0.0-1.0 | None,
     "busiest_hours": [{"hour": 18, "calls": 5}, ...]}   # up to three, busiest first
    """
    tz = _tz(tz)
    summary = report.summary(calls, history, tz, start, end)
    totals = summary["totals"]
    known = totals["answered"] + totals["unanswered"]
    hours = Counter({h["hour"]: h["calls"] for h in summary["per_hour"] if h["calls"]})
    return {
        "from": summary["from"],
        "to": summary["to"],
        "first_day": start.astimezone(tz).date().isoformat(),
        "last_day": (end.astimezone(tz) - timedelta(microseconds=1)).date().isoformat(),
        "nights": [
            {k: n[k] for k in ("night", "calls", "answered", "unanswered")}
            for n in summary["per_night"]
        ],
        "calls": totals["after_hours"],
        "answered": totals["answered"],
        "unanswered": totals["unanswered"],
        "answer_rate": (totals["answered"] / known) if known else None,
        "busiest_hours": [
            {"hour": h, "calls": n}
            for h, n in sorted(hours.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        ],
    }


def summary_text(data: dict) -> str:
    rate = "not known" if data["answer_rate"] is None else f"{data['answer_rate']:.0%}"
    lines = [
        f"After-hours calls from {data['first_day']} to {data['last_day']}: "
        f"{data['calls']}, answer rate {rate}.",
        "",
        "Per night:",
    ]
    lines += [
        f"    {n['night']}: {n['calls']} calls, {n['unanswered']} not answered"
        for n in data["nights"]
    ] or ["    no after-hours periods"]
    if data["busiest_hours"]:
        lines += [
            "",
            "Busiest hours: "
            + ", ".join(
                f"{h['hour']:02d}:00-{(h['hour'] + 1) % 24:02d}:00 ({h['calls']})"
                for h in data["busiest_hours"]
            ),
        ]
    return "\n".join(lines) + "\n"


def week_window(today: date, tz) -> tuple[datetime, datetime]:
    """The seven days before *today* as local midnights."""
    tz = _tz(tz)
    from datetime import time

    end = datetime.combine(today, time(0), tz)
    return datetime.combine(today - timedelta(days=7), time(0), tz), end
