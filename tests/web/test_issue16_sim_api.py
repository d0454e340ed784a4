"""Issue 16, the installer's part, through the Flask test client: the simulator's key and
clock calls answer with the new state (bug 6), the panel's buttons only for those allowed
(bug 12), the simulated PBX behind the appliance (switched behind its back, faults), the
PBX dialogue test with its transcript, the relay test of a closed relay (bug 5), the
Installer page's live key part (bug 4) and the port really used."""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone

import pytest

from appliance.config import validate_config
from tests.appliance_helpers import REPO
from tests.web.webhelp import bearer, log_in, make_app, make_appliance, settle, site_config

#: A login the PBX simulator checks; it must never reach a page.
PBX_PASSWORD = "s3cret-pw"


def _text(response) -> str:
    page = response.get_data(as_text=True)
    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"</?(strong|small|span|a|code|em)\b[^>]*>", "", page)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).strip())


def serial_site(sense: bool = True):
    """The default wiring (a contact relay with the PBX's night lamp read back) plus a
    maintenance port with a login, as a fallback: both sides of the simulated PBX."""
    raw = dict(site_config(sense=sense).raw)
    raw["profiles"] = {"dir": str(REPO / "tests/fixtures/pbx/site")}
    raw["actuators"] = raw["actuators"] + [
        {
            "name": "maintenance-port",
            "type": "serial",
            "zone": "main",
            "role": "fallback",
            "profile": "mitel-3300-login",
            "port": "/dev/ttyAMA0",
            "password": PBX_PASSWORD,
            "modes": {"day": "day", "night": "night"},
        }
    ]
    return validate_config(raw, "test config")


@pytest.fixture
def serial_appliance(tmp_path, user_db, mock_factory):
    appliance = make_appliance(tmp_path, user_db, mock_factory, config=serial_site())
    yield appliance
    appliance.stop()


# -- bug 6: the key and the clock answer with the new state -------------------------------


def test_a_key_turn_answers_with_the_new_state_and_an_override_right_after_is_refused(
    client, tokens, appliance
):
    op = bearer(tokens["operator"])
    appliance.clock.advance(2)  # past the start-up lamp test
    settle(appliance)
    r = client.post("/api/v1/sim/key", json={"position": "night"}, headers=op)
    assert r.status_code == 200
    panel = r.get_json()
    # the answer is the state after the turn, not before it
    assert (panel["key"], panel["mode"], panel["verified"]) == ("night", "night", True)
    assert panel["relays"] == {"night-service": "closed"}
    assert panel["leds"]["night"] == "slow"  # forced by the key
    # the very next request meets the key in NIGHT: the controller has handled it
    r = client.post("/api/v1/override", json={"mode": "day"}, headers=op)
    assert r.status_code == 409, r.get_json()
    assert "key" in r.get_json()["error"].lower()
    assert client.get("/api/v1/status", headers=op).get_json()["mode"] == "night"
    r = client.post("/api/v1/sim/key", json={"position": "auto"}, headers=op)
    assert (r.get_json()["key"], r.get_json()["mode"]) == ("auto", "day")
    assert client.post("/api/v1/override", json={"mode": "night"}, headers=op).status_code == 200


def test_a_clock_move_answers_with_the_mode_it_brings(client, tokens, appliance):
    op = bearer(tokens["operator"])
    r = client.post("/api/v1/sim/clock", json={"now": "2026-03-02T20:00:00+01:00"}, headers=op)
    assert r.status_code == 200
    panel = r.get_json()
    assert panel["now"] == "2026-03-02T19:00:00+00:00"
    assert (panel["mode"], panel["relays"]) == ("night", {"night-service": "closed"})
    r = client.post("/api/v1/sim/clock", json={"advance_s": 13 * 3600}, headers=op)
    assert (r.get_json()["mode"], r.get_json()["relays"]) == ("day", {"night-service": "open"})


def test_the_page_forms_say_the_new_state(as_user, appliance):
    operator = as_user("operator")
    r = operator.post("/sim/key", {"position": "night", "next": "/panel"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/panel")
    text = _text(operator.get("/panel"))
    assert "Key turned to NIGHT: the phones are in NIGHT." in text


# -- bug 12: the panel's buttons only for those allowed ------------------------------------


def test_a_viewer_sees_the_panel_without_its_buttons_and_is_told_why(as_user):
    page = as_user("viewer").get("/panel").get_data(as_text=True)
    assert 'name="position"' not in page and 'name="advance_s"' not in page
    assert "Jump" not in page
    text = _text(as_user("viewer").get("/panel"))
    assert (
        "You are logged in as a viewer: turning the simulated key and moving its clock "
        "take an operator or an admin"
    ) in text
    assert "Position: AUTO" in text  # what the panel shows, it still shows
    operator = as_user("operator").get("/panel").get_data(as_text=True)
    assert 'name="position" value="night"' in operator and 'name="advance_s"' in operator
    assert "logged in as" not in operator


def test_the_status_page_panel_follows_the_role_too(as_user):
    assert 'name="position"' not in as_user("viewer").get("/").get_data(as_text=True)
    assert 'name="position"' in as_user("operator").get("/").get_data(as_text=True)


# -- the simulated PBX behind the appliance ------------------------------------------------


def test_the_simulated_pbx_is_shown_and_switched_behind_the_appliances_back(
    serial_appliance, tmp_path
):
    appliance = serial_appliance
    client = make_app(appliance).test_client()
    tokens = {
        role: appliance.store.create_token(role, label=role, by="t", at=appliance.clock.now())
        for role in ("viewer", "operator", "admin")
    }
    pbx = client.get("/api/v1/sim/pbx", headers=bearer(tokens["viewer"])).get_json()
    assert pbx["mode"] == "day" and pbx["powered"] is True
    (lamp,) = pbx["inputs"]
    assert lamp == {
        "actuator": "night-service",
        "type": "contact",
        "lamp": "dark",
        "lamp_modes": ["night"],
        "sense_pin": "GPIO24",
        "cable": "plugged",
    }
    (port,) = pbx["ports"]
    assert port["configured"] == "/dev/ttyAMA0" and port["path"].endswith("/maintenance")
    assert port["device"].startswith("/dev/pts/")
    assert pbx["faults"] == {
        "maintenance-port": ["silence", "garbage", "slow", "wrong_password", "drop", "cut"],
        "night-service": ["unplug"],
        "pbx": ["power_cut", "clear"],
    }
    admin = bearer(tokens["admin"])
    assert (
        client.post(
            "/api/v1/sim/pbx", json={"mode": "night"}, headers=bearer(tokens["operator"])
        ).status_code
        == 403
    )
    r = client.post("/api/v1/sim/pbx", json={"mode": "night"}, headers=admin)
    assert r.status_code == 200
    assert (r.get_json()["mode"], r.get_json()["inputs"][0]["lamp"]) == ("night", "lit")
    assert appliance.pbx_model.history[-1].by == "console"
    r = client.post(
        "/api/v1/sim/pbx", json={"fault": "unplug", "actuator": "night-service"}, headers=admin
    )
    assert r.get_json()["inputs"][0] == dict(lamp, lamp="dark", cable="unplugged")
    r = client.post(
        "/api/v1/sim/pbx", json={"fault": "silence", "actuator": "maintenance-port"}, headers=admin
    )
    assert r.get_json()["ports"][0]["faults"] == ["silence"]
    r = client.post("/api/v1/sim/pbx", json={"fault": "clear"}, headers=admin)
    snap = r.get_json()
    assert snap["ports"][0]["faults"] == [] and snap["inputs"][0]["cable"] == "plugged"
    for body, field in (
        ({"mode": "lunch"}, "mode"),
        ({"fault": "fire"}, "fault"),
        ({"fault": "silence", "actuator": "nobody"}, "actuator"),
        ({"fault": "unplug", "actuator": "maintenance-port"}, "fault"),
        ({}, ""),
        ({"mode": "day", "fault": "clear"}, ""),
        ({"colour": "red"}, "colour"),
    ):
        r = client.post("/api/v1/sim/pbx", json=body, headers=admin)
        assert r.status_code == 400, body
        assert r.get_json()["errors"][0]["field"] == field, (body, r.get_json())
        assert "use" in r.get_json()["errors"][0]["message"] or field in ("", "colour")


def test_the_pbx_box_on_the_page_with_its_forms(serial_appliance):
    appliance = serial_appliance
    client = make_app(appliance).test_client()
    log_in(client, "admin", csrf="t")
    text = _text(client.get("/installer"))
    assert "PBX (simulated, behind the appliance) In DAY" in text
    assert "read-back GPIO24: dark (lit in night)" in text
    assert "instead of /dev/ttyAMA0 in the config; terminal at its login prompt" in text
    r = client.post("/sim/pbx", data={"csrf_token": "t", "mode": "night", "next": "/installer"})
    assert r.headers["Location"].endswith("/installer")
    text = _text(client.get("/installer"))
    assert "The simulated PBX was switched to NIGHT at its own console." in text
    assert "PBX (simulated, behind the appliance) In NIGHT" in text
    client.post("/sim/pbx", data={"csrf_token": "t", "fault": "maintenance-port:drop"})
    text = _text(client.get("/installer"))
    assert "Fault started on maintenance-port: the port vanishes" in text
    assert "gone" in text and "fault: drop" in text
    client.post(
        "/sim/pbx", data={"csrf_token": "t", "fault": "maintenance-port:silence", "clear": "1"}
    )
    text = _text(client.get("/installer"))
    assert "Every fault of the simulated PBX is cleared." in text
    r = client.post("/sim/pbx", data={"csrf_token": "t", "fault": "pbx:meteor"})
    assert "'meteor' is not a fault of pbx; use power_cut, clear" in _text(
        client.get(r.headers["Location"])
    )
    operator = make_app(appliance).test_client()
    log_in(operator, "operator", csrf="t")
    page = operator.get("/panel").get_data(as_text=True)
    assert "Switching the simulated PBX and its faults are for an admin" in page
    assert 'name="fault"' not in page
    assert operator.post("/sim/pbx", data={"csrf_token": "t", "mode": "day"}).status_code == 403


# -- the PBX dialogue test, with its transcript -------------------------------------------


def test_the_pbx_dialogue_test_shows_its_steps_and_the_wire_with_the_password_hidden(
    serial_appliance,
):
    appliance = serial_appliance
    client = make_app(appliance).test_client()
    log_in(client, "admin", csrf="t")
    page = client.get("/installer").get_data(as_text=True)
    assert 'name="kind" value="pbx"' in page and ">Test the PBX dialogue<" in page
    r = client.post(
        "/installer/test", data={"csrf_token": "t", "kind": "pbx", "name": "maintenance-port"}
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("#pbx-test")
    page = client.get("/installer")
    body, text = page.get_data(as_text=True), _text(page)
    assert PBX_PASSWORD not in body
    assert "PBX dialogue test of maintenance-port: every step worked." in text
    assert "logged in (3 steps" in text and "put the PBX back in day" in text
    transcript = re.search(
        r'<pre class="transcript" data-transcript>(.*?)</pre>', body, re.S
    ).group(1)
    lines = html.unescape(transcript).splitlines()
    assert "us  > system" in lines and "us  > ***" in lines
    assert "us  > CP SERVICE NIGHT1" in lines and "us  > LOGOUT" in lines
    assert any(line.startswith("PBX < ") and "NIGHT1" in line for line in lines)
    settle(appliance)  # the worker's report reaches the log
    audit = appliance.store.audit("main", source="test")
    assert audit[0]["reason"] == "PBX dialogue test of maintenance-port: every step worked"
    r = client.post(
        "/installer/test", data={"csrf_token": "t", "kind": "pbx", "name": "night-service"}
    )
    assert "no serial actuator named 'night-service'; they are maintenance-port" in _text(
        client.get(r.headers["Location"])
    )


def test_a_failing_pbx_dialogue_says_so(serial_appliance):
    appliance = serial_appliance
    appliance.virtual_panel.pbx.inject("wrong_password", "maintenance-port")
    client = make_app(appliance).test_client()
    log_in(client, "admin", csrf="t")
    client.post(
        "/installer/test", data={"csrf_token": "t", "kind": "pbx", "name": "maintenance-port"}
    )
    page = client.get("/installer")
    text = _text(page)
    assert "PBX dialogue test of maintenance-port: it FAILED; see the steps below." in text
    assert "FAILED" in text and "LOGIN INCORRECT" in text
    assert PBX_PASSWORD not in page.get_data(as_text=True)


# -- bug 5: a relay that is closed is opened for the test ----------------------------------


def test_the_relay_test_of_a_closed_relay_opens_it_and_says_so(as_user, appliance):
    admin = as_user("admin")
    appliance.clock.set(datetime(2026, 3, 2, 19, 0, tzinfo=timezone.utc))  # 20:00: night
    settle(appliance, 3)
    assert appliance.controller.relay_states() == {"night-service": "closed"}
    page = admin.get("/installer").get_data(as_text=True)
    assert "Open relay night-service for 1 s" in page
    assert html.escape("Relay night-service is closed now. Open it for one second") in page
    admin.post("/installer/test", {"kind": "relay", "name": "night-service"})
    text = _text(admin.get("/installer"))
    assert (
        "Relay night-service was closed: opened for 0.05 s, then closed again; then the "
        "mode in force (night) was applied again."
    ) in text
    assert appliance.controller.relay_states() == {"night-service": "closed"}


# -- bug 4: the live key part is a fragment of its own -------------------------------------


def test_the_installer_key_part_reads_the_key_now(as_user, appliance):
    admin = as_user("admin")
    page = admin.get("/installer").get_data(as_text=True)
    assert 'data-fragment="/installer/key"' in page
    before = _text(admin.get("/installer/key"))
    assert before.startswith("Now: AUTO") and "day: open, night: open" in before
    appliance.virtual_panel.set_key("night")
    after = _text(admin.get("/installer/key"))
    assert after.startswith("Now: NIGHT") and "day: open, night: closed" in after
    assert as_user("operator").get("/installer/key").status_code == 403


def test_the_transcript_hides_a_password_sent_one_character_at_a_time():
    from appliance.pbx.transcript import Transcript

    class Port:
        def __init__(self):
            self.answers = [b"Password: ", b"", b"MAINT> "]

        def write(self, data):
            return len(data)

        def read(self, size=1):
            return self.answers.pop(0) if self.answers else b""

    transcript = Transcript(secrets=[PBX_PASSWORD], open_port=lambda url, **kw: Port())
    port = transcript.open_port("/dev/pts/9", timeout=0.05)
    assert port.read() == b"Password: "
    for ch in PBX_PASSWORD + "\r":  # paced: one byte per write
        port.write(ch.encode())
    port.read()
    port.read()
    assert transcript.lines() == [
        ("received", "Password:"),
        ("sent", "***"),
        ("received", "MAINT>"),
    ]
