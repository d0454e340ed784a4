"""The audit log and the after-hours calls: ``/api/v1/audit``, ``/calls``, ``/calls/summary``
and ``/calls.csv``."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import Response, jsonify, request

from appliance.smdr import report
from web.api.common import (
    check_order,
    date_span,
    local_iso,
    local_midnight,
    now,
    query_date,
    query_int,
    resolve_zone,
    site_tz,
    zone_route,
)
from web.auth import require, store


def audit_query(
    zone_name: str | None,
    *,
    limit: int,
    offset: int,
    who_filter,
    source_filter,
    first: date | None,
    last: date | None,
) -> tuple[list[dict], int]:
    check_order(first, last)
    tz = site_tz()
    since = local_midnight(first, tz) if first else None
    until = local_midnight(last + timedelta(days=1), tz) if last else None
    db = store()
    filters = dict(who=who_filter or None, source=source_filter or None, since=since, until=until)
    rows = db.audit(zone_name, limit=limit, offset=offset, **filters)
    total = db.audit_count(zone_name, **filters)
    return [dict(row, at=local_iso(row["at"])) for row in rows], total


@zone_route("/audit", methods=["GET"])
@require("viewer")
def audit(zone):
    name = resolve_zone(zone)
    limit = query_int("limit", 50, 1, 1000)
    offset = query_int("offset", 0, 0, 10**9)
    first, last = query_date("from", None), query_date("to", None)
    rows, total = audit_query(
        name,
        limit=limit,
        offset=offset,
        who_filter=request.args.get("who"),
        source_filter=request.args.get("source"),
        first=first,
        last=last,
    )
    return jsonify({"total": total, "limit": limit, "offset": offset, "entries": rows})


def calls_data(
    zone_name: str, first: date, last: date
) -> tuple[list[dict], list[dict], datetime, datetime]:
    """The calls of ``[first, last]`` (local dates) and the mode history around them: from
    a while before (a night that began earlier gets its true label) up to now (a night
    that ended after ``last`` says when it did, rather than seeming to run on)."""
    tz = site_tz()
    start, end = local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)
    db = store()
    calls = db.calls(zone_name, start, end)
    history = db.mode_history(zone_name, start - report.HISTORY_LEAD, max(end, now()))
    return calls, history, start, end


@zone_route("/calls", methods=["GET"])
@require("viewer")
def calls(zone):
    name = resolve_zone(zone)
    first, last = date_span(7)
    rows, history, _, _ = calls_data(name, first, last)
    after = {c["id"] for c in report.after_hours_calls(rows, history)}
    out = []
    for call in rows:
        item = {k: v for k, v in call.items() if k != "zone"}
        item["started_at"] = local_iso(call["started_at"])
        item["after_hours"] = call["id"] in after
        out.append(item)
    return jsonify({"from": first.isoformat(), "to": last.isoformat(), "calls": out})


@zone_route("/calls/summary", methods=["GET"])
@require("viewer")
def calls_summary(zone):
    name = resolve_zone(zone)
    first, last = date_span(7)
    rows, history, start, end = calls_data(name, first, last)
    # The local dates asked for, as GET /calls answers them.
    return jsonify(
        dict(
            report.summary(rows, history, site_tz(), start, end),
            **{"from": first.isoformat(), "to": last.isoformat()},
        )
    )


@zone_route("/calls.csv", methods=["GET"])
@require("viewer")
def calls_csv(zone):
    name = resolve_zone(zone)
    first, last = date_span(7)
    rows, history, _, _ = calls_data(name, first, last)
    return csv_response(report.to_csv(rows, history, site_tz()), name, first, last)


def csv_response(text: str, zone_name: str, first: date, last: date) -> Response:
    filename = f"after-hours-{zone_name}-{first}-{last}.csv"
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
