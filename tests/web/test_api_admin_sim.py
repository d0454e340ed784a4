"""Users, tokens, hardware tests, the simulator endpoints and the event stream."""

from __future__ import annotations

import json
import threading

from appliance.config import validate_config
from tests.web.webhelp import bearer, log_in, make_app, make_appliance, settle, site_config


def test_users_crud(client, tokens, appliance):
    admin = bearer(tokens["admin"])
    r = client.get("/api/v1/users", headers=admin)
    assert {u["name"] for u in r.get_json()} == {"admin", "operator", "viewer"}
    r = client.post(
        "/api/v1/users",
        json={"name": "anna", "role": "operator", "password": "a long password"},
        headers=admin,
    )
    assert r.status_code == 201
    assert r.get_json() == {"name": "anna", "role": "operator"}
    assert appliance.store.check_password("anna", "a long password") is not None
    r = client.patch("/api/v1/users/anna", json={"role": "viewer"}, headers=admin)
    assert r.get_json()["role"] == "viewer"
    r = client.patch("/api/v1/users/anna", json={"password": "short"}, headers=admin)
    assert r.status_code == 400
    assert r.get_json()["errors"][0]["field"] == "password"
    assert "short" not in r.get_json()["error"]
    assert client.delete("/api/v1/users/anna", headers=admin).status_code == 200
    assert client.delete("/api/v1/users/anna", headers=admin).status_code == 404
    assert (
        client.patch("/api/v1/users/nobody", json={"role": "viewer"}, headers=admin).status_code
        == 404
    )


def test_user_errors(client, tokens, appliance):
    admin = bearer(tokens["admin"])
    r = client.post(
        "/api/v1/users",
        json={"name": "admin", "role": "admin", "password": "another password"},
        headers=admin,
    )
    assert r.status_code == 400 and "already exists" in r.get_json()["error"]
    r = client.post(
        "/api/v1/users", json={"name": "x y", "role": "boss", "password": 5}, headers=admin
    )
    assert r.status_code == 400
    assert {e["field"] for e in r.get_json()["errors"]} == {"name", "role", "password"}
    # the only admin can be neither deleted nor demoted
    assert client.delete("/api/v1/users/admin", headers=admin).status_code == 400
    r = client.patch("/api/v1/users/admin", json={"role": "viewer"}, headers=admin)
    assert r.status_code == 400 and "only admin" in r.get_json()["error"]
    assert appliance.store.get_user("admin")["role"] == "admin"
    for role in ("viewer", "operator"):
        assert client.get("/api/v1/users", headers=bearer(tokens[role])).status_code == 403


def test_tokens_are_shown_once_and_can_be_revoked(client, tokens, appliance):
    admin = bearer(tokens["admin"])
    r = client.post(
        "/api/v1/tokens", json={"role": "viewer", "label": "wall display"}, headers=admin
    )
    assert r.status_code == 201
    created = r.get_json()
    assert created["token"].startswith("ns_") and created["label"] == "wall display"
    listed = client.get("/api/v1/tokens", headers=admin).get_json()
    assert created["id"] in [t["id"] for t in listed]
    assert all("token" not in t for t in listed)
    assert client.get("/api/v1/status", headers=bearer(created["token"])).status_code == 200
    r = client.delete(f"/api/v1/tokens/{created['id']}", headers=admin)
    assert r.status_code == 200
    assert client.get("/api/v1/status", headers=bearer(created["token"])).status_code == 401
    assert client.delete(f"/api/v1/tokens/{created['id']}", headers=admin).status_code == 400
    assert client.delete("/api/v1/tokens/abc", headers=admin).status_code == 404
    r = client.post("/api/v1/tokens", json={"role": "root"}, headers=admin)
    assert r.status_code == 400 and r.get_json()["errors"][0]["field"] == "role"


def test_hardware_tests(client, tokens, appliance):
    admin = bearer(tokens["admin"])
    r = client.get("/api/v1/test/key", headers=admin)
    assert r.status_code == 200
    key = r.get_json()["zones"]["main"]
    assert key["position"] == "auto" and key["wiring_fault"] is False
    r = client.post(
        "/api/v1/test/relay", json={"name": "night-service", "seconds": 0.05}, headers=admin
    )
    assert r.status_code == 200
    result = r.get_json()
    assert (result["relay"], result["was"], result["shown"]) == ("night-service", "open", "closed")
    assert result["reasserted"] == "day" and result["interrupted"] is False
    r = client.post("/api/v1/test/leds", json={"seconds": 0.05}, headers=admin)
    assert r.get_json() == {
        "tested": ["main:day", "main:night", "main:fault"],
        "interrupted": False,
    }
    r = client.post("/api/v1/test/relay", json={"name": "nope"}, headers=admin)
    assert r.status_code == 400 and "night-service" in r.get_json()["error"]
    r = client.post("/api/v1/test/leds", json={"seconds": 60}, headers=admin)
    assert r.status_code == 400 and r.get_json()["errors"][0]["field"] == "seconds"
    assert (
        client.post(
            "/api/v1/test/relay", json={"name": "night-service"}, headers=bearer(tokens["operator"])
        ).status_code
        == 403
    )
    audit = appliance.store.audit("main", source="test")
    assert any(
        "relay night-service was open: closed for 0.05 s" in a["reason"]
        and a["who"] == "token:test admin"
        for a in audit
    )
    assert "LED test: main:day, main:night, main:fault lit for 0.05 s each" in audit[0]["reason"]


def test_sim_panel_key_and_clock(client, tokens, appliance):
    op = bearer(tokens["operator"])
    appliance.clock.advance(2)  # past the start-up lamp test
    settle(appliance)
    panel = client.get("/api/v1/sim/panel", headers=op).get_json()
    assert panel["key"] == "auto"
    assert panel["leds"] == {"day": "on", "night": "off", "fault": "off"}
    assert panel["relays"] == {"night-service": "open"}
    r = client.post("/api/v1/sim/key", json={"position": "night"}, headers=op)
    assert r.status_code == 200
    r = client.post("/api/v1/sim/clock", json={"advance_s": 0.2}, headers=op)
    assert r.status_code == 200
    settle(appliance, 3)
    panel = client.get("/api/v1/sim/panel", headers=op).get_json()
    assert panel["key"] == "night"
    assert panel["relays"] == {"night-service": "closed"}
    # forced by key: slow blink (docs/design.md#the-front-panel)
    assert panel["leds"]["night"] == "slow"
    r = client.post("/api/v1/sim/clock", json={"now": "2026-03-02T20:00:00+01:00"}, headers=op)
    assert r.get_json()["now"] == "2026-03-02T19:00:00+00:00"
    for body, field in (({"position": "sideways"}, "position"), ({"position": 3}, "position")):
        r = client.post("/api/v1/sim/key", json=body, headers=op)
        assert r.status_code == 400 and r.get_json()["errors"][0]["field"] == field
    for body in (
        {"advance_s": -5},
        {"advance_s": "1h"},
        {"now": "soon"},
        {},
        {"advance_s": 1, "now": "2026-03-02T20:00:00+01:00"},
        {"now": "0001-01-01"},
    ):
        assert client.post("/api/v1/sim/clock", json=body, headers=op).status_code == 400, body
    assert (
        client.post(
            "/api/v1/sim/key", json={"position": "day"}, headers=bearer(tokens["viewer"])
        ).status_code
        == 403
    )


def test_the_virtual_panel_presses_the_push_button_beside_the_key(tmp_path, user_db, mock_factory):
    raw = dict(site_config().raw)
    raw["front_panel"] = dict(raw["front_panel"], pins=dict(raw["front_panel"]["pins"], button=22))
    appliance = make_appliance(
        tmp_path, user_db, mock_factory, config=validate_config(raw, "test config")
    )
    try:
        client = make_app(appliance).test_client()
        op = bearer(
            appliance.store.create_token("operator", label="t", by="t", at=appliance.clock.now())
        )
        r = client.post("/api/v1/sim/key", json={"position": "sideways"}, headers=op)
        assert "use day, auto, night, press, release" in r.get_json()["error"]
        for position in ("press", "release"):
            assert (
                client.post("/api/v1/sim/key", json={"position": position}, headers=op).status_code
                == 200
            )
            client.post("/api/v1/sim/clock", json={"advance_s": 0.2}, headers=op)
            settle(appliance, 3)
        status = client.get("/api/v1/status", headers=op).get_json()
        assert (status["mode"], status["override"]["by"]) == ("night", "reception button")
        assert status["key"] == "auto"
        log_in(client, "operator")
        page = client.get("/panel").get_data(as_text=True)
        assert 'value="press"' in page and 'value="auto"' in page
    finally:
        appliance.stop()


def test_sim_endpoints_are_404_outside_simulate(tmp_path, user_db, mock_factory):
    appliance = make_appliance(tmp_path, user_db, mock_factory, simulate=False)
    try:
        client = make_app(appliance).test_client()
        token = appliance.store.create_token("admin", label="t", by="t", at=appliance.clock.now())
        r = client.get("/api/v1/sim/panel", headers=bearer(token))
        assert r.status_code == 404 and "simulate" in r.get_json()["error"]
        assert (
            client.post(
                "/api/v1/sim/key", json={"position": "day"}, headers=bearer(token)
            ).status_code
            == 404
        )
        log_in(client, "admin")
        assert client.get("/panel").status_code == 404
        assert b"vpanel" not in client.get("/").data
    finally:
        appliance.stop()


def _read_events(response, count: int, timeout: float = 5.0) -> list[dict]:
    """Read *count* status events from a streaming response."""
    events, buffer = [], ""
    done = threading.Event()
    timer = threading.Timer(timeout, done.set)
    timer.start()
    try:
        for chunk in response.response:
            buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                if block.startswith("event: status"):
                    events.append(json.loads(block.split("data: ", 1)[1]))
            if len(events) >= count or done.is_set():
                break
    finally:
        timer.cancel()
        response.close()
    return events


def test_event_stream_sends_current_status_then_changes(client, tokens, appliance):
    viewer = bearer(tokens["viewer"])
    response = client.get("/api/v1/events", headers=viewer, buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    threading.Timer(
        0.3, lambda: appliance.controller.set_override("main", "night", None, by="anna")
    ).start()
    events = _read_events(response, 2)
    assert events[0]["mode"] == "day"
    assert events[1]["mode"] == "night" and events[1]["override"]["by"] == "anna"


def test_event_streams_are_bounded(appliance, tokens):
    app = make_app(appliance, NIGHTSWITCH_MAX_STREAMS=1)
    client = app.test_client()
    first = client.get("/api/v1/events", headers=bearer(tokens["viewer"]), buffered=False)
    assert first.status_code == 200
    second = client.get("/api/v1/events", headers=bearer(tokens["viewer"]))
    assert second.status_code == 503
    assert "too many" in second.get_json()["error"]
    assert second.headers["Retry-After"] == "10"
    first.close()
    third = client.get("/api/v1/events", headers=bearer(tokens["viewer"]), buffered=False)
    assert third.status_code == 200
    third.close()
    assert client.get("/api/v1/events").status_code == 401
