"""The hardware tests (admin): ``/api/v1/test/leds``, ``/test/relay``, ``/test/key``."""

from __future__ import annotations

from flask import jsonify, request

from appliance.errors import FieldError, ValidationError
from web.api.common import (
    bp,
    json_body,
    only_keys,
    who,
)
from web.auth import appliance, require
from web.serving import waiting


def test_seconds(data: dict) -> float:
    """How long each LED or relay is held in a test: 0.05 to 10 s, 1 s by default."""
    seconds = data.get("seconds", 1.0)
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not 0.05 <= seconds <= 10
    ):
        raise ValidationError(
            [FieldError("seconds", "must be a number of seconds from 0.05 to 10")]
        )
    return float(seconds)


@bp.route("/test/leds", methods=["POST"])
@require("admin")
def test_leds():
    data = json_body(required=False)
    only_keys(data, ("seconds",))
    return jsonify(waiting(appliance().test_leds, test_seconds(data), by=who()))


@bp.route("/test/relay", methods=["POST"])
@require("admin")
def test_relay():
    data = json_body()
    only_keys(data, ("name", "seconds"))
    name = data.get("name")
    if not isinstance(name, str):
        raise ValidationError(
            [
                FieldError(
                    "name",
                    "is required: the relay's name; relays are "
                    + ", ".join(appliance().relay_names()),
                )
            ]
        )
    return jsonify(waiting(appliance().test_relay, name, test_seconds(data), by=who()))


@bp.route("/test/key", methods=["GET", "POST"])
@require("admin")
def test_key():
    if request.method == "POST":
        only_keys(json_body(required=False), ())
    return jsonify(appliance().read_key())
