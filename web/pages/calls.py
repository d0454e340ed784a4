"""The calls page: after-hours calls from the call records, and their CSV."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import (
    g,
)

from appliance import timetext as timefmt
from appliance.errors import ValidationError
from appliance.smdr import report
from web import api, charts
from web.auth import appliance, require
from web.pages.frame import bp, page_zone, render, site_now, site_tz


@bp.route("/calls", methods=["GET"])
@require("viewer")
def calls():
    zone = page_zone()
    g.zone = zone
    errors = []
    try:
        first, last = api.date_span(14)
    except ValidationError as exc:
        errors = [str(e) for e in exc.errors]
        today = site_now().astimezone(site_tz()).date()
        first, last = today - timedelta(days=13), today
    rows, history, start, end = api.calls_data(zone, first, last)
    summary = report.summary(rows, history, site_tz(), start, end)
    nights = summary["per_night"]
    night_days = [datetime.fromisoformat(n["night"]) for n in nights]
    night_labels = [str(d.day) for d in night_days]
    series_for = (
        ("answered", "c-answered"),
        ("unanswered", "c-unanswered"),
        ("unknown", "c-unknown"),
    )
    night_chart = charts.bar_chart_svg(
        night_labels,
        [charts.Series(name, css, tuple(n[name] for n in nights)) for name, css in series_for],
        title="After-hours calls per night",
        label_every=max(1, len(nights) // 31),
        titles=[f"night of {d:%a} {d.day} {d:%b}" for d in night_days],
    )
    hour_chart = charts.bar_chart_svg(
        [f"{h:02d}" for h in range(24)],
        [
            charts.Series(name, css, tuple(h[name] for h in summary["per_hour"]))
            for name, css in series_for
        ],
        title="After-hours calls per hour of the day",
        label_every=3,
    )
    tz, now = site_tz(), site_now()
    for n in nights:
        began = timefmt.to_local(n["began"], tz)
        n["night_text"] = timefmt.day(began, now, tz)
        n["span_text"] = report.span_text(began, timefmt.to_local(n["ended"], tz))
        n["missed_text"] = missed_text(n)
    return render(
        "calls.html",
        zone=zone,
        first=first,
        last=last,
        summary=summary,
        nights=nights,
        night_chart=night_chart,
        hour_chart=hour_chart,
        errors=errors,
        smdr=appliance().site.smdr,
        now=now,
        span_text=f"{timefmt.day(first, now, tz)} to {timefmt.day(last, now, tz)}",
    )


def missed_text(night: dict) -> str:
    """The calls not answered in a night; "unknown" where the call records do not say
    (a "0" there would claim every call was answered)."""
    if night["unknown"] and not night["answered"] and not night["unanswered"]:
        return "unknown"
    if night["unknown"]:
        return f"{night['unanswered']} (+{night['unknown']} unknown)"
    return str(night["unanswered"])


@bp.route("/calls.csv", methods=["GET"])
@require("viewer")
def calls_csv():
    zone = page_zone()
    first, last = api.date_span(14)
    rows, history, _, _ = api.calls_data(zone, first, last)
    return api.csv_response(report.to_csv(rows, history, site_tz()), zone, first, last)
