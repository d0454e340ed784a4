"""Which zone a call belongs to (appliance/smdr/routing.py) and the config that says so."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from appliance.smdr.record import CallRecord
from appliance.smdr.routing import CallRouter, Route, check_routes

ZONES = ["main", "sales", "service"]


def call(extension=None, trunk=None) -> CallRecord:
    return CallRecord(
        datetime(2026, 3, 2, 19, tzinfo=timezone.utc),
        duration_s=10,
        extension=extension,
        trunk=trunk,
        direction="in",
        answered=None,
        ring_s=None,
        number=None,
        fmt="test",
        raw="",
    )


def test_first_matching_route_wins_and_the_rest_is_the_default():
    router = CallRouter(
        "main",
        [
            Route("sales", extensions=("2*", "400")),
            Route("service", extensions=("3??",), trunks=("0[5-6]",)),
        ],
    )
    assert router.zone_of(call("201")) == "sales"
    assert router.zone_of(call("400")) == "sales"
    assert router.zone_of(call("4000")) == "main"  # the whole field must match
    assert router.zone_of(call("301")) == "service"
    assert router.zone_of(call("3011")) == "main"
    assert router.zone_of(call(None, "05")) == "service"
    assert router.zone_of(call("210", "05")) == "sales"  # the first route first
    assert router.zone_of(call(" 201 ")) == "sales"  # fixed-width padding
    assert router.zone_of(call()) == "main"
    assert router.zones == ["main", "sales", "service"]


def test_routes_are_read_from_the_config_tables():
    routes, errors = check_routes(
        [{"zone": "sales", "extensions": ["2*"]}, {"zone": "service", "trunks": ["05"]}], ZONES
    )
    assert errors == []
    assert routes == [Route("sales", ("2*",), ()), Route("service", (), ("05",))]
    assert check_routes(None, ZONES) == ([], [])


@pytest.mark.parametrize(
    "raw, field, says",
    [
        ({"zone": "sales"}, "smdr.routes", "must be a list"),
        ([{"zone": "sales"}], "smdr.routes[0]", "needs extensions or trunks"),
        (
            [{"zone": "hr", "extensions": ["2*"]}],
            "smdr.routes[0].zone",
            "'hr' is not a zone; zones are main, sales, service",
        ),
        (
            [{"zone": "sales", "extensions": "2*"}],
            "smdr.routes[0].extensions",
            "must be a list of up to 200 patterns",
        ),
        ([{"zone": "sales", "trunks": ["0 5"]}], "smdr.routes[0].trunks", "digits, letters"),
        ([{"zone": "sales", "extensions": [5]}], "smdr.routes[0].extensions", "patterns such as"),
        (
            [{"zone": "sales", "extensions": ["2*"], "lines": ["1"]}],
            "smdr.routes[0].lines",
            "use zone, extensions, trunks",
        ),
        (["sales"], "smdr.routes[0]", "must be a table"),
    ],
)
def test_each_bad_route_is_named(raw, field, says):
    _, errors = check_routes(raw, ZONES)
    assert [e.field for e in errors][:1] == [field], errors
    assert says in errors[0].message
