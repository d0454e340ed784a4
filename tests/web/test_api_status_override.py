"""GET /status, overrides, zones and health through the JSON API (docs/API.md)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from tests.web.webhelp import bearer, make_app, make_appliance, settle, site_config, turn_key


def test_status_has_the_spec_shape(client, tokens):
    r = client.get("/api/v1/status", headers=bearer(tokens["viewer"]))
    assert r.status_code == 200
    body = r.get_json()
    for key in ("mode", "source", "reason", "key", "override", "next_change", "verified", "faults"):
        assert key in body
    assert body["mode"] == "day"
    assert body["source"] == "weekly"
    assert body["key"] == "auto"
    assert body["override"] is None
    assert body["next_change"] == {"at": "2026-03-02T18:00:00+01:00", "mode": "night"}
    assert body["verified"] is True
    assert body["faults"] == []


def test_status_needs_a_login(client):
    r = client.get("/api/v1/status")
    assert r.status_code == 401
    assert "Bearer" in r.get_json()["error"]


def test_a_wrong_token_is_refused_by_name(client):
    r = client.get("/api/v1/status", headers=bearer("ns_not-a-real-token"))
    assert r.status_code == 401
    assert "not valid" in r.get_json()["error"]
    r = client.get("/api/v1/status", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
    assert "Bearer TOKEN" in r.get_json()["error"]


def test_public_status_is_readable_without_login(tmp_path, user_db, mock_factory):
    appliance = make_appliance(
        tmp_path, user_db, mock_factory, config=site_config(public_status=True)
    )
    try:
        client = make_app(appliance).test_client()
        assert client.get("/api/v1/status").status_code == 200
        assert client.get("/api/v1/zones").status_code == 200
        # Only the status: everything else still needs a login.
        assert client.get("/api/v1/schedule").status_code == 401
        assert client.get("/api/v1/audit").status_code == 401
        page = client.get("/")
        assert page.status_code == 200
        assert b"DAY" in page.data and b"Log in</a> to change the mode" in page.data
    finally:
        appliance.stop()


def test_override_until_next_ends_at_the_next_change(client, tokens, appliance):
    r = client.post(
        "/api/v1/override",
        json={"mode": "night", "until": "next"},
        headers=bearer(tokens["operator"]),
    )
    assert r.status_code == 200
    body = r.get_json()
    assert body["mode"] == "night"
    assert body["source"] == "override"
    assert body["override"]["until"] == "2026-03-02T18:00:00+01:00"
    assert body["override"]["by"] == "token:test operator"
    assert appliance.store.get_override("main")["mode"] == "night"


def test_override_until_hh_mm_and_iso_and_null(client, tokens):
    headers = bearer(tokens["operator"])
    r = client.post("/api/v1/override", json={"mode": "night", "until": "12:30"}, headers=headers)
    assert r.get_json()["override"]["until"] == "2026-03-02T12:30:00+01:00"
    r = client.post(
        "/api/v1/override",
        json={"mode": "night", "until": "2026-03-03T07:15:00+01:00"},
        headers=headers,
    )
    assert r.get_json()["override"]["until"] == "2026-03-03T07:15:00+01:00"
    r = client.post("/api/v1/override", json={"mode": "night", "until": None}, headers=headers)
    assert r.get_json()["override"]["until"] is None
    # until left out means "next", as on the CLI
    r = client.post("/api/v1/override", json={"mode": "night"}, headers=headers)
    assert r.get_json()["override"]["until"] == "2026-03-02T18:00:00+01:00"


def test_override_errors_name_the_field(client, tokens, appliance):
    headers = bearer(tokens["operator"])
    cases = [
        ({"mode": "disco"}, "mode"),
        ({"until": "next"}, "mode"),
        ({"mode": "night", "until": "25:00"}, "until"),
        ({"mode": "night", "until": "tomorrow"}, "until"),
        ({"mode": "night", "until": "2020-01-01T00:00:00+00:00"}, "until"),
        ({"mode": "night", "until": "9999-12-31T23:00:00-05:00"}, "until"),
        ({"mode": "night", "until": 5}, "until"),
        ({"mode": "night", "colour": "blue"}, "colour"),
    ]
    for body, field in cases:
        r = client.post("/api/v1/override", json=body, headers=headers)
        assert r.status_code == 400, body
        answer = r.get_json()
        assert answer["errors"][0]["field"] == field, (body, answer)
        assert answer["error"]
    assert appliance.store.get_override("main") is None


def test_override_body_must_be_json(client, tokens):
    headers = bearer(tokens["operator"])
    r = client.post(
        "/api/v1/override",
        data="mode=night",
        headers=headers,
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 415
    assert "application/json" in r.get_json()["error"]
    r = client.post(
        "/api/v1/override", data="{not json", headers=headers, content_type="application/json"
    )
    assert r.status_code == 400
    assert "not valid JSON" in r.get_json()["error"]
    r = client.post(
        "/api/v1/override", data="[1, 2]", headers=headers, content_type="application/json"
    )
    assert r.status_code == 400
    assert "JSON object" in r.get_json()["error"]
    r = client.post(
        "/api/v1/override", data=b"\xff\xfe", headers=headers, content_type="application/json"
    )
    assert r.status_code == 400
    r = client.post("/api/v1/override", headers=headers)
    assert r.status_code == 400
    r = client.post(
        "/api/v1/override",
        data="[" * 100000 + "]" * 100000,
        headers=headers,
        content_type="application/json",
    )
    assert r.status_code == 400


def test_an_oversized_body_gets_413(client, tokens):
    body = json.dumps({"mode": "night", "pad": "x" * 300_000})
    r = client.post(
        "/api/v1/override",
        data=body,
        headers=bearer(tokens["operator"]),
        content_type="application/json",
    )
    assert r.status_code == 413
    assert "256 KB" in r.get_json()["error"]


def test_a_viewer_cannot_override(client, tokens, appliance):
    r = client.post("/api/v1/override", json={"mode": "night"}, headers=bearer(tokens["viewer"]))
    assert r.status_code == 403
    assert "operator" in r.get_json()["error"]
    assert appliance.store.get_override("main") is None


def test_cancel_override(client, tokens, appliance):
    headers = bearer(tokens["operator"])
    client.post("/api/v1/override", json={"mode": "night"}, headers=headers)
    r = client.delete("/api/v1/override", headers=headers)
    assert r.status_code == 200
    assert r.get_json()["mode"] == "day"
    assert r.get_json()["override"] is None
    assert appliance.store.get_override("main") is None


def test_key_in_a_forced_position_refuses_with_409(client, tokens, appliance):
    turn_key(appliance, "night")
    headers = bearer(tokens["operator"])
    status = client.get("/api/v1/status", headers=headers).get_json()
    assert status["key"] == "night" and status["mode"] == "night"
    r = client.post("/api/v1/override", json={"mode": "day"}, headers=headers)
    assert r.status_code == 409
    assert "AUTO" in r.get_json()["error"]
    assert client.delete("/api/v1/override", headers=headers).status_code == 409
    assert appliance.store.get_override("main") is None


def test_zone_paths_and_unknown_zones(client, tokens):
    headers = bearer(tokens["operator"])
    assert client.get("/api/v1/zones/main/status", headers=headers).status_code == 200
    r = client.post("/api/v1/zones/main/override", json={"mode": "night"}, headers=headers)
    assert r.status_code == 200
    r = client.get("/api/v1/zones/nowhere/status", headers=headers)
    assert r.status_code == 404
    assert "main" in r.get_json()["error"]
    zones = client.get("/api/v1/zones", headers=headers).get_json()["zones"]
    assert [z["name"] for z in zones] == ["main"]
    assert zones[0]["status"]["mode"] == "night"


def test_multi_zone_site(tmp_path, user_db, mock_factory):
    appliance = make_appliance(
        tmp_path, user_db, mock_factory, config=site_config(zones=["main", "sales"])
    )
    try:
        client = make_app(appliance).test_client()
        token = appliance.store.create_token(
            "operator", label="t", by="t", at=datetime.now(timezone.utc)
        )
        r = client.post(
            "/api/v1/zones/sales/override", json={"mode": "night"}, headers=bearer(token)
        )
        assert r.status_code == 200
        zones = client.get("/api/v1/zones", headers=bearer(token)).get_json()["zones"]
        modes = {z["name"]: z["status"]["mode"] for z in zones}
        assert modes == {"main": "day", "sales": "night"}
        # The plain path is the first zone.
        assert client.get("/api/v1/status", headers=bearer(token)).get_json()["zone"] == "main"
    finally:
        appliance.stop()


def test_health_is_public_and_503_with_faults(client, appliance):
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    assert r.get_json()["ok"] is True
    assert client.get("/health").status_code == 200
    appliance.clock.set_synchronized(False)
    settle(appliance)
    r = client.get("/health")
    assert r.status_code == 503
    faults = r.get_json()["faults"]
    assert faults[0]["kind"] == "clock"
    assert "not synchronized" in faults[0]["message"]


def test_unknown_endpoint_and_method(client, tokens):
    r = client.get("/api/v1/nothing", headers=bearer(tokens["viewer"]))
    assert r.status_code == 404
    assert "no endpoint" in r.get_json()["error"]
    r = client.put("/api/v1/status", headers=bearer(tokens["viewer"]))
    assert r.status_code == 405
    assert "GET" in r.get_json()["error"]


def test_security_headers_on_api_and_pages(client, tokens):
    for url in ("/api/v1/status", "/login"):
        r = client.get(url, headers=bearer(tokens["viewer"]) if "api" in url else {})
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["Cache-Control"] == "no-store"


def test_override_longer_than_a_year_is_refused(client, tokens, appliance):
    end = (appliance.clock.now() + timedelta(days=500)).isoformat()
    r = client.post(
        "/api/v1/override", json={"mode": "night", "until": end}, headers=bearer(tokens["operator"])
    )
    assert r.status_code == 400
    assert "400 days" in r.get_json()["error"]


def test_retry_tries_a_failed_switch_again_from_the_page_api_and_cli(
    tmp_path, user_db, mock_factory
):
    """A switching fault offers "try the PBX again now": on the page (operators), as
    POST /api/v1/retry, and as `nightswitch retry`; each is audited with who asked."""
    from tests.web.webhelp import Browser, bearer, make_app, make_appliance, settle, site_config

    # no PBX behind the contact: its status input never follows night
    appliance = make_appliance(
        tmp_path, user_db, mock_factory, config=site_config(sense=True), simulate=False
    )
    try:
        appliance.controller.set_override(None, "night", None, by="anna")
        settle(appliance)
        assert [f["kind"] for f in appliance.controller.status()["faults"]] == ["actuator"]
        client = make_app(appliance).test_client()
        page = Browser(client, "operator").get("/")
        assert "Try the PBX again now" in page.get_data(as_text=True)
        assert "Try the PBX again now" not in Browser(client, "viewer").get("/").get_data(
            as_text=True
        )
        token = appliance.store.create_token(
            "operator", label="ops", by="test", at=appliance.clock.now()
        )
        r = client.post("/api/v1/retry", json={}, headers=bearer(token))
        assert (
            r.status_code == 200 and r.get_json()["mode"] == appliance.controller.status()["mode"]
        )
        viewer = appliance.store.create_token(
            "viewer", label="v", by="test", at=appliance.clock.now()
        )
        assert client.post("/api/v1/retry", json={}, headers=bearer(viewer)).status_code == 403
        assert client.post("/api/v1/retry", json={"x": 1}, headers=bearer(token)).status_code == 400
        r = Browser(client, "operator").post("/retry", {})
        assert r.status_code == 302
        asked = [
            a["who"]
            for a in appliance.store.audit(limit=20)
            if a["reason"].startswith("retry requested")
        ]
        assert asked == ["operator", "token:ops"]
    finally:
        appliance.stop()
