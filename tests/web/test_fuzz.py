"""Random bodies and queries on every endpoint: never a 5xx, and a refused request
changes nothing that was stored (schedule, history, override, users, tokens)."""

from __future__ import annotations

import json

import pytest
from gpiozero.pins.mock import MockFactory
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.web.webhelp import Browser, bearer, make_app, make_appliance

JSON_ENDPOINTS = [
    ("GET", "/api/v1/status"),
    ("POST", "/api/v1/override"),
    ("DELETE", "/api/v1/override"),
    ("GET", "/api/v1/schedule"),
    ("PUT", "/api/v1/schedule"),
    ("GET", "/api/v1/schedule/history"),
    ("POST", "/api/v1/schedule/rollback"),
    ("GET", "/api/v1/preview"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/calls"),
    ("GET", "/api/v1/calls/summary"),
    ("GET", "/api/v1/calls.csv"),
    ("GET", "/api/v1/zones"),
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("PATCH", "/api/v1/users/viewer"),
    ("DELETE", "/api/v1/users/nobody"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/999"),
    ("POST", "/api/v1/test/relay"),
    ("GET", "/api/v1/test/key"),
    ("GET", "/api/v1/sim/panel"),
    ("POST", "/api/v1/sim/key"),
    ("POST", "/api/v1/sim/clock"),
    ("GET", "/api/v1/zones/main/status"),
    ("POST", "/api/v1/zones/main/override"),
    ("PUT", "/api/v1/zones/x/schedule"),
    ("GET", "/api/v1/zones/main/preview"),
]
FORM_ENDPOINTS = [
    "/override",
    "/override/cancel",
    "/schedule",
    "/schedule/preview",
    "/schedule/rollback",
    "/users/add",
    "/users/role",
    "/users/password",
    "/users/delete",
    "/tokens/create",
    "/tokens/revoke",
    "/installer/test",
    "/sim/key",
    "/sim/clock",
    "/login",
    "/account",
]
PAGES = [
    "/",
    "/status/live",
    "/schedule",
    "/log",
    "/calls",
    "/calls.csv",
    "/installer",
    "/users",
    "/panel",
    "/panel/fragment",
    "/schedule/subdivisions",
    "/schedule/export",
    "/health",
]
KEYS = [
    "mode",
    "until",
    "name",
    "role",
    "password",
    "label",
    "version",
    "position",
    "advance_s",
    "now",
    "seconds",
    "timezone",
    "weekly",
    "holidays",
    "default_mode",
]
QUERY_KEYS = ["from", "to", "days", "limit", "offset", "who", "source", "zone", "page", "country"]
FORM_KEYS = [
    "mode",
    "until",
    "at",
    "confirm",
    "zone",
    "action",
    "version",
    "name",
    "role",
    "password",
    "password2",
    "current",
    "id",
    "kind",
    "position",
    "advance_s",
    "now",
    "next",
    "timezone",
    "weekly.mon[0].start",
    "weekly.mon[0].end",
    "weekly.mon[0].mode",
    "holidays.country",
    "holidays.subdivision",
    "holidays.ignore",
    "holidays.custom[0].date",
    "exceptions[0].from",
    "seasons[0].weekly.tue[1].end",
    "label",
]

text = st.text(max_size=30)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
    | st.sampled_from(
        [
            "next",
            "day",
            "night",
            "auto",
            "12:30",
            "2026-03-02T12:00:00+01:00",
            "admin",
            "viewer",
            "night-service",
            "Europe/Berlin",
            "24:00",
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4).map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=60),
    st.just(""),
)
queries = st.dictionaries(
    st.sampled_from(QUERY_KEYS),
    text
    | st.sampled_from(
        ["2026-03-02", "7", "0", "-1", "99999999999", "0001-01-01", "9999-12-31", "main", "DE"]
    ),
    max_size=3,
)


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    users = tmp_path_factory.mktemp("fuzz-users")
    from tests.web.webhelp import make_user_db

    make_user_db(users)
    appliance = make_appliance(tmp, users, MockFactory())
    app = make_app(appliance)
    token = appliance.store.create_token("admin", label="fuzz", by="test", at=appliance.clock.now())
    yield appliance, app, token
    appliance.stop()


def stored_state(store) -> tuple:
    return (
        json.dumps(store.get_schedule("main"), sort_keys=True),
        len(store.schedule_history("main", 200)),
        store.get_override("main"),
        store.list_users(),
        [(t["id"], t["role"], t["label"]) for t in store.list_tokens()],
    )


def check(response, before, store, *, record=True):
    if record:
        event(f"HTTP {response.status_code}")
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if response.status_code >= 400:
        assert stored_state(store) == before
    if response.mimetype == "application/json" and response.status_code >= 400:
        assert isinstance(response.get_json()["error"], str)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    endpoint=st.sampled_from(JSON_ENDPOINTS),
    body=bodies,
    query=queries,
    content_type=st.sampled_from(
        ["application/json", "text/plain", None, "application/x-www-form-urlencoded"]
    ),
    role=st.sampled_from(["admin", "operator", "viewer", None]),
)
def test_api_never_fails_and_refusals_change_nothing(
    rig, endpoint, body, query, content_type, role
):
    appliance, app, admin_token = rig
    method, path = endpoint
    client = app.test_client()
    headers = {}
    if role == "admin":
        headers = bearer(admin_token)
    elif role is not None:
        Browser(client, role)  # a session, with the CSRF header sent below
        headers = {"X-CSRF-Token": "test-csrf-token"}
    before = stored_state(appliance.store)
    response = client.open(
        path,
        method=method,
        query_string=query,
        data=body,
        content_type=content_type,
        headers=headers,
    )
    check(response, before, appliance.store)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(FORM_ENDPOINTS),
    fields=st.lists(
        st.tuples(
            st.sampled_from(FORM_KEYS),
            text
            | st.sampled_from(
                [
                    "1",
                    "next",
                    "1h",
                    "at",
                    "save",
                    "add:weekly.mon",
                    "remove:weekly.mon[0]",
                    "25:00",
                    "night",
                    "DE",
                ]
            ),
        ),
        max_size=6,
    ),
    csrf=st.booleans(),
    role=st.sampled_from(["admin", "operator", "viewer"]),
)
def test_forms_never_fail_and_refusals_change_nothing(rig, path, fields, csrf, role):
    appliance, app, _ = rig
    client = app.test_client()
    browser = Browser(client, role)
    data = [(k, v) for k, v in fields if k != "csrf_token"]
    if csrf:
        data.append(("csrf_token", browser.csrf))
    from werkzeug.datastructures import MultiDict

    before = stored_state(appliance.store)
    response = client.post(path, data=MultiDict(data))
    check(response, before, appliance.store)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(PAGES), query=queries)
def test_pages_never_fail(rig, path, query):
    appliance, app, _ = rig
    client = app.test_client()
    Browser(client, "admin")
    before = stored_state(appliance.store)
    response = client.get(path, query_string=query)
    check(response, before, appliance.store)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/audit",
        "/api/v1/calls",
        "/api/v1/calls/summary",
        "/api/v1/calls.csv",
        "/api/v1/preview",
        "/log",
        "/calls",
        "/calls.csv",
    ],
)
@pytest.mark.parametrize(
    "query",
    [
        "from=0001-01-01",
        "to=9999-12-31",
        "from=0001-01-01&to=0001-01-02",
        "from=9999-12-31&days=5",
        "from=2199-12-31&to=2199-12-31",
        "from=1970-01-01",
    ],
)
def test_dates_at_the_edges_of_the_calendar(rig, path, query):
    appliance, app, token = rig
    client = app.test_client()
    Browser(client, "admin")
    before = stored_state(appliance.store)
    response = client.get(f"{path}?{query}", headers=bearer(token) if "api" in path else {})
    check(response, before, appliance.store, record=False)
