"""The simulator (``nightswitch simulate`` only): ``/api/v1/sim/panel``, ``/sim/key``,
``/sim/clock``, ``/sim/pbx``."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, jsonify

from appliance.errors import FieldError, ValidationError
from web.api.common import (
    bp,
    json_body,
    only_keys,
    site_tz,
)
from web.auth import require
from web.errors import ApiError


def sim():
    panel = current_app.extensions.get("nightswitch.virtual_panel")
    if panel is None:
        raise ApiError(404, "the simulator endpoints exist only in 'nightswitch simulate'")
    return panel


@bp.route("/sim/panel", methods=["GET"])
@require("viewer")
def sim_panel():
    return jsonify(sim().snapshot())


@bp.route("/sim/key", methods=["POST"])
@require("operator")
def sim_key():
    panel = sim()
    data = json_body()
    only_keys(data, ("position",))
    position = data.get("position")
    if not isinstance(position, str):
        raise ValidationError([FieldError("position", "is required: auto, day or night")])
    panel.set_key(position)
    return jsonify(panel.snapshot())


def parse_instant(value, field: str) -> datetime:
    if not isinstance(value, str):
        raise ValidationError(
            [
                FieldError(
                    field,
                    "must be an ISO-8601 time with its offset, such as 2026-12-24T17:00:00+01:00",
                )
            ]
        )
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            [
                FieldError(
                    field,
                    f"{value[:40]!r} is not an ISO-8601 time, such as 2026-12-24T17:00:00+01:00",
                )
            ]
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=site_tz())
    if not 1970 <= when.year <= 2199:
        raise ValidationError([FieldError(field, "must be in the years 1970 to 2199")])
    return when


def move_clock(panel, data: dict) -> None:
    only_keys(data, ("advance_s", "now"))
    if ("advance_s" in data) == ("now" in data):
        raise ValidationError(
            [
                FieldError(
                    "",
                    "send either advance_s (seconds) or now "
                    "(an ISO-8601 time), not both or neither",
                )
            ]
        )
    if "advance_s" in data:
        panel.advance(data["advance_s"])
    else:
        panel.set_now(parse_instant(data["now"], "now"))


@bp.route("/sim/clock", methods=["POST"])
@require("operator")
def sim_clock():
    panel = sim()
    move_clock(panel, json_body())
    return jsonify(panel.snapshot())


def sim_pbx():
    """The simulated PBX (:class:`~appliance.sim.pbx_view.PbxView`); 404 without one."""
    pbx = sim().pbx
    if pbx is None:
        raise ApiError(404, "this simulation has no simulated PBX (no actuators)")
    return pbx


def work_pbx(pbx, data: dict) -> dict:
    """Switch the simulated PBX behind the appliance's back (``mode``) or start one of its
    faults (``fault``, on ``actuator``); the page's form and the API share this."""
    only_keys(data, ("mode", "fault", "actuator"))
    if ("mode" in data) == ("fault" in data):
        raise ValidationError(
            [
                FieldError(
                    "",
                    "send either mode (switch the PBX at its own "
                    "console) or fault (with actuator), not both "
                    "or neither",
                )
            ]
        )
    if "mode" in data:
        return pbx.set_mode(data["mode"])
    return pbx.inject(data["fault"], data.get("actuator"))


@bp.route("/sim/pbx", methods=["GET"])
@require("viewer")
def sim_pbx_get():
    return jsonify(sim_pbx().snapshot())


@bp.route("/sim/pbx", methods=["POST"])
@require("admin")
def sim_pbx_post():
    return jsonify(work_pbx(sim_pbx(), json_body()))
