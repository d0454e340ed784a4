"""The log page: who changed what, filtered and paged."""

from __future__ import annotations

import math

from flask import (
    g,
    request,
)

from appliance import timetext as timefmt
from appliance.errors import ValidationError
from web import api
from web.auth import require
from web.pages.frame import bp, page_zone, render, site_tz


@bp.route("/log", methods=["GET"])
@require("viewer")
def log():
    zone = page_zone()
    g.zone = zone
    page = api.query_int("page", 1, 1, 10**6)
    who = request.args.get("who", "").strip()
    source = request.args.get("source", "").strip()
    filter_errors = []
    first = last = None
    try:
        first, last = api.query_date("from", None), api.query_date("to", None)
    except ValidationError as exc:
        filter_errors = [str(e) for e in exc.errors]
    rows, total = [], 0
    if not filter_errors:
        try:
            rows, total = api.audit_query(
                zone,
                limit=LOG_PAGE,
                offset=(page - 1) * LOG_PAGE,
                who_filter=who,
                source_filter=source,
                first=first,
                last=last,
            )
        except ValidationError as exc:
            filter_errors = [str(e) for e in exc.errors]
    pages = max(1, math.ceil(total / LOG_PAGE))
    tz = site_tz()
    for row in rows:
        row["when"] = timefmt.stamp(row["at"], tz)
    args = {
        k: v
        for k, v in (
            ("who", who),
            ("source", source),
            ("from", request.args.get("from", "")),
            ("to", request.args.get("to", "")),
        )
        if v
    }
    return render(
        "log.html",
        zone=zone,
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        who=who,
        source=source,
        first=request.args.get("from", ""),
        last=request.args.get("to", ""),
        filter_errors=filter_errors,
        args=args,
        sources=(
            "key",
            "web",
            "api",
            "cli",
            "override",
            "schedule",
            "weekly",
            "default",
            "holiday",
            "exception",
            "season",
            "hold",
            "drift",
            "fault",
            "fallback",
            "test",
        ),
    )


#: Entries on one page of the log.
LOG_PAGE = 50
