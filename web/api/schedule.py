"""The schedule: ``/api/v1/schedule``, its history, rollback and preview."""

from __future__ import annotations

from flask import jsonify

from appliance.errors import FieldError, ValidationError
from web.api.common import (
    json_body,
    local_iso,
    now,
    only_keys,
    query_date,
    query_int,
    resolve_zone,
    site_tz,
    who,
    zone_route,
)
from web.auth import appliance, require, store


@zone_route("/schedule", methods=["GET"])
@require("viewer")
def schedule_get(zone):
    return jsonify(appliance().get_schedule(resolve_zone(zone)))


@zone_route("/schedule", methods=["PUT"])
@require("admin")
def schedule_put(zone):
    name = resolve_zone(zone)
    data = json_body()
    return jsonify(appliance().put_schedule(name, data, by=who()))


@zone_route("/schedule/history", methods=["GET"])
@require("viewer")
def schedule_history(zone):
    name = resolve_zone(zone)
    limit = query_int("limit", 20, 1, 200)
    rows = store().schedule_history(name, limit)
    return jsonify([dict(row, saved_at=local_iso(row.get("saved_at"))) for row in rows])


def rollback(zone_name: str, version, by: str) -> dict:
    """Make an old *version* the schedule in force again, through the controller, so
    the decision and the audit follow at once. The history keeps every version."""
    # SQLite integers are 64-bit: a larger number is no version (and must not overflow).
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**63:
        raise ValidationError(
            [
                FieldError(
                    "version", f"{version!r} is not a version number; see the schedule's history"
                )
            ]
        )
    return appliance().rollback_schedule(zone_name, version, by=by)


@zone_route("/schedule/rollback", methods=["POST"])
@require("admin")
def schedule_rollback(zone):
    name = resolve_zone(zone)
    data = json_body()
    only_keys(data, ("version",))
    return jsonify(rollback(name, data.get("version"), who()))


@zone_route("/preview", methods=["GET"])
@require("viewer")
def preview(zone):
    name = resolve_zone(zone)
    start = query_date("from", now().astimezone(site_tz()).date())
    days = query_int("days", 14, 1, 3660)
    return jsonify(appliance().preview(name, start, days))
