"""The site's MQTT client against a real Mosquitto: discovery, state, commands, outages.

Each test runs the real controller (gpiozero's MockFactory pins, a simulated clock, the
store on disk) with the real :class:`MqttBridge` on Debian's Mosquitto, started on a free
port. A :class:`Watcher` (another paho client) plays Home Assistant: it records what the
broker carries and sends what Home Assistant would send.

Timing requirements ("discovery within 2 s", "state within 1 s") are measured by
bench/bench_mqtt.py; these tests wait for each message with a generous timeout.
"""

from __future__ import annotations

import json
import time

import pytest

from appliance.outputs.mqtt.topics import Topics
from tests.appliance_helpers import wait_until
from tests.mqtt_helpers import Mosquitto, Site, Watcher, broker, watcher  # noqa: F401
from tests.unit.test_mqtt_discovery import check_device_discovery

T = Topics("nightswitch", "branch-017")


@pytest.fixture
def site(mock_factory, data_dir, broker):
    s = Site(mock_factory, data_dir, broker)
    yield s
    s.close()


def state_of(watcher, since=0.0, zone="main", **match):
    """The first state of *zone* after *since* whose fields equal *match*."""
    return watcher.wait_for(
        T.state(zone), lambda m: all(m.json().get(k) == v for k, v in match.items()), since=since
    ).json()


def test_discovery_state_and_online_after_connecting(site, watcher):
    disc = watcher.wait_for(T.discovery)
    payload = disc.json()
    check_device_discovery(payload)
    assert payload["device"]["identifiers"] == ["nightswitch-branch-017"]
    assert payload["device"]["name"] == "Test office"
    override = payload["components"]["main.override"]
    assert override["options"] == ["auto", "day", "night"]
    assert override["command_topic"] == T.command("main")
    state = watcher.wait_for(T.state("main")).json()
    assert state["mode"] == "night" and state["override_mode"] == "auto"
    assert state["key"] == "auto"
    assert watcher.wait_for(T.availability).text == "online"
    status = watcher.wait_for(T.status).json()
    assert status["site"] == "branch-017" and status["zones"]["main"]["mode"] == "night"


def test_discovery_again_when_home_assistant_comes_online(site, watcher):
    watcher.wait_for(T.discovery)
    since = time.monotonic()
    watcher.publish("homeassistant/status", "online")
    again = watcher.wait_for(T.discovery, since=since)
    check_device_discovery(again.json())
    # "offline" from Home Assistant asks for nothing
    since = time.monotonic()
    watcher.publish("homeassistant/status", "offline")
    watcher.publish("homeassistant/status", "online")
    watcher.wait_for(T.discovery, since=since)
    assert len(watcher.on(T.discovery, since)) == 1


def test_state_follows_a_key_turn(site, watcher):
    state_of(watcher, mode="night", key="auto")
    since = time.monotonic()
    site.turn_key("day")
    state = state_of(watcher, since, mode="day", key="day")
    assert state["source"] == "key"
    # and the confirmation by the PBX (the sense input) follows
    state_of(watcher, since, mode="day", key="day", verified=True)


def test_override_command_is_carried_out_and_audited_like_the_api(site, watcher):
    state_of(watcher, mode="night")
    since = time.monotonic()
    watcher.publish(T.command("main"), "day")
    result = watcher.wait_for(T.result("main"), since=since).json()
    assert result["ok"] is True and result["mode"] == "day"
    assert result["override"]["by"] == "ns-branch-017"
    state = state_of(watcher, since, mode="day", override_mode="day", verified=True)
    assert state["source"] == "override"
    audit = site.rig.audit(limit=1)[0]
    assert (audit["who"], audit["source"], audit["new_mode"]) == ("ns-branch-017", "mqtt", "day")
    assert audit["reason"].startswith("override to day until ")

    # JSON with an end time; then auto cancels
    since = time.monotonic()
    watcher.publish(T.command("main"), {"mode": "night", "until": None})
    assert watcher.wait_for(T.result("main"), since=since).json()["ok"] is True
    state = state_of(watcher, since, mode="night", override_mode="night")
    assert state["override"]["until"] is None
    since = time.monotonic()
    watcher.publish(T.command("main"), "auto")
    assert watcher.wait_for(T.result("main"), since=since).json()["ok"] is True
    state_of(watcher, since, override_mode="auto", mode="night")
    audit = site.rig.audit(limit=1)[0]
    assert (audit["source"], audit["reason"]) == ("mqtt", "override to night cancelled")


def test_command_refused_while_the_key_is_forced(site, watcher):
    site.turn_key("night")
    state_of(watcher, key="night")
    audit_before = site.rig.store.audit_count()
    since = time.monotonic()
    watcher.publish(T.command("main"), "day")
    result = watcher.wait_for(T.result("main"), since=since).json()
    assert result["ok"] is False and result["refused_by"] == "key"
    assert "key switch at reception is in NIGHT" in result["error"]
    assert site.rig.store.audit_count() == audit_before
    assert site.rig.status()["mode"] == "night" and site.rig.status()["override"] is None


BAD_COMMANDS = [
    (b"holiday", "mode", "'holiday' is not a mode; use one of day, night"),
    (b'{"mode": "day", "until": "someday"}', "until", 'is not allowed; use "next"'),
    (b'{"mode": "day", "colour": "red"}', "colour", "unknown key"),
    (b"{not json", "payload", "is not valid JSON"),
    (b"\xff\xfe night", "payload", "is not UTF-8 text"),
    (b"x" * (1 << 20), "payload", "is 1,048,576 bytes; a command is at most 4,096 bytes"),
    (b'{"mode": "auto", "until": "18:00"}', "until", 'does not go with "auto"'),
]


@pytest.mark.parametrize(
    "payload,field,message",
    BAD_COMMANDS,
    ids=[
        "unknown-mode",
        "bad-until",
        "unknown-key",
        "not-json",
        "not-utf8",
        "one-mebibyte",
        "auto-until",
    ],
)
def test_bad_commands_are_refused_with_the_error_published(site, watcher, payload, field, message):
    state_of(watcher, mode="night")
    audit_before = site.rig.store.audit_count()
    since = time.monotonic()
    watcher.publish(T.command("main"), payload)
    result = watcher.wait_for(T.result("main"), since=since).json()
    assert result["ok"] is False and result["refused_by"] == "validation"
    assert result["errors"][0]["field"] == field
    assert message in result["errors"][0]["message"]
    assert len(result["command"]) <= 200
    assert site.rig.store.audit_count() == audit_before
    assert site.rig.status()["override"] is None
    # the bridge is alive: the next good command is carried out
    since = time.monotonic()
    watcher.publish(T.command("main"), "day")
    assert watcher.wait_for(T.result("main"), since=since).json()["ok"] is True


def test_a_retained_command_is_never_replayed(mock_factory, data_dir, broker, watcher):
    # Left on the broker before the site connects (a select with "retain: true", an
    # operator's mosquitto_pub -r): at connection time it is stale, refused and cleared.
    watcher.publish(T.command("main"), "day", retain=True)
    since = time.monotonic()
    s = Site(mock_factory, data_dir, broker)
    try:
        result = watcher.wait_for(T.result("main"), since=since).json()
        assert result["ok"] is False and result["errors"][0]["field"] == "retain"
        assert s.rig.status()["override"] is None
        assert s.rig.store.audit_count(source="mqtt") == 0
        # sent retained while the site listens, it is carried out once and cleared
        since = time.monotonic()
        watcher.publish(T.command("main"), "night", retain=True)
        assert watcher.wait_for(T.result("main"), since=since).json()["ok"] is True
        assert s.rig.status()["override"]["mode"] == "night"
    finally:
        s.close()
    late = Watcher(broker, [T.command("main")]).start()
    try:
        time.sleep(0.5)
        assert [m for m in late.messages if m.payload] == []  # nothing left to replay
    finally:
        late.stop()


def test_a_command_for_an_unknown_zone_is_refused(site, watcher):
    state_of(watcher, mode="night")
    since = time.monotonic()
    watcher.publish(T.command("cellar"), "day")
    result = watcher.wait_for(T.result("cellar"), since=since).json()
    assert result["ok"] is False and "there is no zone 'cellar'" in result["error"]


def test_broker_restart_the_site_comes_back_by_itself(site, watcher, broker):
    watcher.wait_for(T.availability, lambda m: m.text == "online")
    broker.stop()
    wait_until(lambda: not site.bridge.connected.is_set(), 20, message="no disconnect seen")
    # the appliance switches on while the broker is away
    site.turn_key("day")
    wait_until(lambda: site.rig.status()["mode"] == "day", 10)
    broker.start()
    w2 = Watcher(broker).start()
    try:
        since = time.monotonic() - 30
        w2.wait_for(T.availability, lambda m: m.text == "online", timeout=60)
        state = w2.wait_for(
            T.state("main"), lambda m: m.json()["key"] == "day", since=since, timeout=60
        ).json()
        assert state["mode"] == "day"
        w2.wait_for(T.discovery, timeout=60)
    finally:
        w2.stop()


def test_broker_down_at_boot(mock_factory, data_dir, tmp_path):
    broker = Mosquitto(tmp_path / "late-broker")  # configured, not started
    s = Site(mock_factory, data_dir, broker)
    try:
        # the appliance runs and switches without its broker
        s.turn_key("day")
        wait_until(lambda: s.rig.status()["mode"] == "day" and s.rig.status()["verified"], 10)
        assert not s.bridge.connected.is_set()
        broker.start()
        w = Watcher(broker).start()
        try:
            w.wait_for(T.availability, lambda m: m.text == "online", timeout=60)
            state = w.wait_for(T.state("main"), timeout=60).json()
            assert (state["mode"], state["key"], state["verified"]) == ("day", "day", True)
            check_device_discovery(w.wait_for(T.discovery, timeout=60).json())
        finally:
            w.stop()
    finally:
        s.close()
        broker.kill()


def test_clean_stop_says_offline(mock_factory, data_dir, broker, watcher):
    s = Site(mock_factory, data_dir, broker)
    watcher.wait_for(T.availability, lambda m: m.text == "online")
    since = time.monotonic()
    s.close()
    assert watcher.wait_for(T.availability, since=since).text == "offline"


def test_state_payload_is_json_with_every_field(site, watcher):
    state = state_of(watcher, mode="night")
    assert set(state) == {
        "zone",
        "label",
        "mode",
        "source",
        "reason",
        "key",
        "override",
        "override_mode",
        "next_change",
        "next_change_at",
        "next_mode",
        "verified",
        "switching",
        "faults",
        "fault_kinds",
        "after_hours_last_night",
        "updated",
    }
    assert state["next_change_at"] == "2026-03-02T08:00:00+01:00"
    assert state["next_mode"] == "day"
    message = watcher.last(T.state("main"))
    json.loads(message.payload.decode("utf-8"))


def test_after_hours_calls_of_last_night(mock_factory, data_dir, broker, watcher):
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from appliance.smdr.record import CallRecord
    from appliance.store import Store

    berlin = ZoneInfo("Europe/Berlin")

    def call(day, hour, answered):
        return CallRecord(
            started_at=datetime(2026, 2, day, hour, 5, tzinfo=berlin).astimezone(timezone.utc),
            duration_s=60,
            extension="201",
            trunk="01",
            direction="in",
            answered=answered,
            ring_s=None,
            number=None,
            fmt="panasonic-kx-ta",
            raw="-",
        )

    # What the SMDR intake and the controller stored before: Friday's day service, then
    # the weekend's night (one night, Friday's: docs/design.md#after-hours-calls-smdr), three
    # calls in it, one by day.
    with Store(data_dir) as store:
        store.set_applied("main", "day", at=datetime(2026, 2, 27, 8, 0, tzinfo=berlin))
        store.set_applied("main", "night", at=datetime(2026, 2, 27, 18, 0, tzinfo=berlin))
        for day, hour, answered in (
            (27, 10, True),
            (27, 20, True),
            (28, 11, False),
            (28, 23, None),
        ):
            store.add_call("main", call(day, hour, answered))
    s = Site(
        mock_factory, data_dir, broker, '[smdr]\nport = "/dev/null"\nformat = "panasonic-kx-ta"\n'
    )
    try:
        comps = watcher.wait_for(T.discovery).json()["components"]
        assert comps["main.after_hours_calls"]["unit_of_measurement"] == "calls"
        state = watcher.wait_for(
            T.state("main"), lambda m: m.json()["after_hours_last_night"]
        ).json()
        assert state["after_hours_last_night"] == {
            "night": "2026-02-27",
            "began": "2026-02-27T18:00:00+01:00",
            "ended": None,
            "calls": 3,
            "answered": 1,
            "unanswered": 1,
            "unknown": 1,
        }
    finally:
        s.close()


def test_several_zones_each_with_its_state_and_commands(mock_factory, data_dir, broker, watcher):
    from tests.appliance_helpers import contact_toml

    zones = (
        '[[zones]]\nname = "sales"\nlabel = "Sales"\n[[zones]]\nname = "service"\n'
        'label = "Service desk"\n'
    )
    s = Site(
        mock_factory,
        data_dir,
        broker,
        zones,
        base=(
            contact_toml(zone="sales"),
            contact_toml(name="desk", pin=22, sense_pin=23, zone="service"),
        ),
        wires={17: 24, 22: 23},
    )
    try:
        disc = watcher.wait_for(T.discovery).json()
        assert disc["components"]["service.mode"]["name"] == "Service desk mode"
        watcher.wait_for(T.state("sales"))
        since = time.monotonic()
        watcher.publish(T.command("service"), "day")
        assert watcher.wait_for(T.result("service"), since=since).json()["ok"] is True
        state_of(watcher, since, zone="service", override_mode="day", mode="day")
        assert s.rig.status("sales")["override"] is None
        status = watcher.wait_for(
            T.status, lambda m: m.json()["zones"]["service"]["override"], since=since
        ).json()
        assert status["zones"]["sales"]["mode"] == "night"
    finally:
        s.close()
