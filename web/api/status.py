"""Status, overrides and retry: ``/api/v1/status``, ``/override``, ``/retry``."""

from __future__ import annotations

from flask import jsonify

from appliance.decision import until as until_rules
from appliance.errors import FieldError, ValidationError
from web.api.common import (
    json_body,
    now,
    only_keys,
    resolve_zone,
    site_tz,
    source,
    who,
    zone_route,
)
from web.auth import appliance, require


@zone_route("/status", methods=["GET"])
@require("viewer", public=True)
def status(zone):
    from web.followup import stale_view

    name = resolve_zone(zone)
    # issue 15: the stale-schedule warnings beside the controller's snapshot
    return jsonify(dict(appliance().status(name), warnings=stale_view(name)))


def checked_until(value):
    """An override's end as the controller takes it, from the request's ``until``."""
    return until_rules.checked_until(value, site_tz(), now())


@zone_route("/override", methods=["POST"])
@require("operator")
def override_set(zone):
    name = resolve_zone(zone)
    data = json_body()
    only_keys(data, ("mode", "until"))
    if "mode" not in data:
        raise ValidationError(
            [FieldError("mode", 'is required: the mode to force, such as "day" or "night"')]
        )
    until = checked_until(data.get("until", "next"))
    return jsonify(appliance().set_override(name, data["mode"], until, by=who(), source=source()))


@zone_route("/override", methods=["DELETE"])
@require("operator")
def override_cancel(zone):
    name = resolve_zone(zone)
    json_body(required=False)
    return jsonify(appliance().cancel_override(name, by=who(), source=source()))


@zone_route("/retry", methods=["POST"])
@require("operator")
def retry(zone):
    """Try the zone's actuators again now (after a fault; a refused PBX login included,
    which is otherwise tried again only after a day). Answers at once with the status;
    the outcome follows in it."""
    name = resolve_zone(zone)
    only_keys(json_body(required=False), ())
    return jsonify(appliance().retry(name, by=who(), source=source()))
