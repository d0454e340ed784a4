"""The Home Assistant discovery message, checked field by field against the documented
schema.

Home Assistant itself cannot run here, so :func:`check_device_discovery` restates what
its MQTT integration checks for a device-based discovery message (home-assistant/core,
``homeassistant/components/mqtt/schemas.py``: ``DEVICE_DISCOVERY_SCHEMA``,
``MQTT_ENTITY_DEVICE_INFO_SCHEMA``, ``MQTT_ORIGIN_INFO_SCHEMA``,
``MQTT_AVAILABILITY_LIST_SCHEMA``; ``sensor.py``, ``binary_sensor.py``, ``select.py``
and ``config.py`` for each platform; the integration's documentation, "Device discovery
payload"). It is stricter than Home Assistant in one way on purpose: a component key that
the platform does not know fails here, where Home Assistant would drop it silently
(``REMOVE_EXTRA``), because that is how a typo hides.

Every value template is then rendered with Jinja2 (Home Assistant's template engine)
against real state payloads, and each result must be a value the entity accepts: an
option of the select, ``ON``/``OFF``, an ISO-8601 timestamp or ``None``...
"""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from appliance.outputs.mqtt.discovery import discovery_message
from appliance.outputs.mqtt.state import FAULT_KINDS, zone_state
from appliance.outputs.mqtt.topics import Topics

# -- the documented schema ------------------------------------------------------------------

ABBREVIATIONS = {
    "dev": "device",
    "o": "origin",
    "cmps": "components",
    "p": "platform",
    "avty": "availability",
    "uniq_id": "unique_id",
    "stat_t": "state_topic",
    "cmd_t": "command_topic",
    "val_tpl": "value_template",
}
SUPPORTED_COMPONENTS = {
    "alarm_control_panel",
    "binary_sensor",
    "button",
    "camera",
    "climate",
    "cover",
    "date",
    "datetime",
    "device_automation",
    "device_tracker",
    "event",
    "fan",
    "humidifier",
    "image",
    "lawn_mower",
    "light",
    "lock",
    "notify",
    "number",
    "scene",
    "select",
    "sensor",
    "siren",
    "switch",
    "tag",
    "text",
    "time",
    "update",
    "vacuum",
    "valve",
    "water_heater",
}
DEVICE_KEYS = {
    "identifiers",
    "connections",
    "manufacturer",
    "model",
    "model_id",
    "name",
    "hw_version",
    "serial_number",
    "sw_version",
    "via_device",
    "suggested_area",
    "configuration_url",
}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
AVAILABILITY_ITEM_KEYS = {"topic", "payload_available", "payload_not_available", "value_template"}
DEVICE_LEVEL_KEYS = {
    "device",
    "origin",
    "components",
    "availability",
    "availability_mode",
    "availability_topic",
    "availability_template",
    "payload_available",
    "payload_not_available",
    "state_topic",
    "command_topic",
    "qos",
    "encoding",
}
# MQTT_ENTITY_COMMON_SCHEMA + MQTT_AVAILABILITY_SCHEMA + MQTT_BASE_SCHEMA
COMMON_KEYS = {
    "platform",
    "name",
    "unique_id",
    "object_id",
    "default_entity_id",
    "enabled_by_default",
    "entity_category",
    "entity_picture",
    "icon",
    "json_attributes_topic",
    "json_attributes_template",
    "availability",
    "availability_mode",
    "availability_topic",
    "availability_template",
    "payload_available",
    "payload_not_available",
    "qos",
    "encoding",
    "device",
    "origin",
}
PLATFORM_KEYS = {
    # MQTT_RO_SCHEMA + sensor's _PLATFORM_SCHEMA_BASE
    "sensor": {
        "state_topic",
        "value_template",
        "device_class",
        "expire_after",
        "force_update",
        "last_reset_value_template",
        "options",
        "suggested_display_precision",
        "state_class",
        "unit_of_measurement",
    },
    "binary_sensor": {
        "state_topic",
        "value_template",
        "device_class",
        "expire_after",
        "force_update",
        "off_delay",
        "payload_on",
        "payload_off",
    },
    # MQTT_RW_SCHEMA + select's schema
    "select": {
        "command_topic",
        "command_template",
        "state_topic",
        "value_template",
        "options",
        "optimistic",
        "retain",
    },
}
REQUIRED = {
    "sensor": {"state_topic"},
    "binary_sensor": {"state_topic"},
    "select": {"command_topic", "options"},
}
SENSOR_DEVICE_CLASSES = {"timestamp", "enum", "date", "duration", "power", "energy"}
BINARY_DEVICE_CLASSES = {"problem", "connectivity", "running", "safety"}
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
ENTITY_CATEGORIES = {"config", "diagnostic"}
TOPIC_RE = re.compile(r"^[^\x00+#]+$")


def _topic(value, where, *, publish=False):
    assert isinstance(value, str) and value, f"{where}: a topic is a non-empty string"
    assert len(value.encode("utf-8")) <= 65535, f"{where}: longer than MQTT allows"
    if publish:
        assert TOPIC_RE.match(value), f"{where}: {value!r} holds a wildcard or NUL"
    else:
        assert "\x00" not in value, where


def _expand(payload: dict) -> dict:
    return {ABBREVIATIONS.get(k, k): v for k, v in payload.items()}


def check_device_discovery(payload: dict) -> None:
    """Fail unless *payload* is a device-based discovery message Home Assistant takes."""
    payload = _expand(payload)
    unknown = set(payload) - DEVICE_LEVEL_KEYS
    assert not unknown, f"keys Home Assistant refuses at device level: {unknown}"
    for key in ("device", "origin", "components"):
        assert key in payload, f"{key} is required"

    device = _expand(payload["device"])
    assert set(device) <= DEVICE_KEYS, set(device) - DEVICE_KEYS
    identifiers = device.get("identifiers", [])
    assert identifiers or device.get("connections"), "a device needs identifiers"
    assert all(isinstance(i, str) for i in identifiers)
    for key in DEVICE_KEYS - {"identifiers", "connections"}:
        if key in device:
            assert isinstance(device[key], str) and device[key], f"device.{key}"

    origin = payload["origin"]
    assert set(origin) <= ORIGIN_KEYS and isinstance(origin.get("name"), str)

    if "availability" in payload:
        assert "availability_topic" not in payload, (
            "availability and availability_topic are exclusive"
        )
        for i, item in enumerate(payload["availability"]):
            assert set(item) <= AVAILABILITY_ITEM_KEYS and "topic" in item
            _topic(item["topic"], f"availability[{i}].topic")
            for key in ("payload_available", "payload_not_available"):
                assert isinstance(item.get(key, ""), str)
    if "qos" in payload:
        assert payload["qos"] in (0, 1, 2)

    components = payload["components"]
    assert isinstance(components, dict) and components
    ids = set()
    for key, comp in components.items():
        comp = _expand(comp)
        where = f"components[{key}]"
        assert isinstance(key, str) and " " not in key, where
        platform = comp.get("platform")
        assert platform in SUPPORTED_COMPONENTS, f"{where}.platform {platform!r}"
        allowed = COMMON_KEYS | PLATFORM_KEYS[platform]
        assert set(comp) <= allowed, f"{where}: unknown keys {set(comp) - allowed}"
        for needed in REQUIRED[platform]:
            assert needed in comp, f"{where}.{needed} is required"
        uid = comp.get("unique_id")
        assert isinstance(uid, str) and uid, f"{where}.unique_id"
        assert uid not in ids, f"{where}: unique_id {uid} is used twice"
        ids.add(uid)
        assert isinstance(comp.get("name"), str) and comp["name"], f"{where}.name"
        for topic_key in ("state_topic", "json_attributes_topic"):
            if topic_key in comp:
                _topic(comp[topic_key], f"{where}.{topic_key}")
        if "command_topic" in comp:
            _topic(comp["command_topic"], f"{where}.command_topic", publish=True)
        if "entity_category" in comp:
            assert comp["entity_category"] in ENTITY_CATEGORIES
        if "icon" in comp:
            assert re.match(r"^mdi:[a-z0-9-]+$", comp["icon"]), f"{where}.icon"
        if "qos" in comp:
            assert comp["qos"] in (0, 1, 2)
        if platform == "sensor":
            _check_sensor(comp, where)
        elif platform == "binary_sensor":
            if "device_class" in comp:
                assert comp["device_class"] in BINARY_DEVICE_CLASSES, where
        elif platform == "select":
            options = comp["options"]
            assert isinstance(options, list) and options
            assert all(isinstance(o, str) for o in options)
            assert len(set(options)) == len(options), f"{where}: options repeat"
            assert isinstance(comp.get("retain", False), bool)


def _check_sensor(comp: dict, where: str) -> None:
    # sensor.py: validate_sensor_state_and_device_class_config
    device_class = comp.get("device_class")
    if device_class is not None:
        assert device_class in SENSOR_DEVICE_CLASSES, f"{where}.device_class"
    if "state_class" in comp:
        assert comp["state_class"] in STATE_CLASSES
    if "options" in comp:
        assert comp["options"], f"{where}: an empty options list is not allowed"
        assert "state_class" not in comp and "unit_of_measurement" not in comp
        assert device_class == "enum", f"{where}: options only with device_class enum"
    if device_class == "enum":
        assert "options" in comp, f"{where}: an enum sensor lists its options"
    if device_class == "timestamp":
        assert "unit_of_measurement" not in comp and "state_class" not in comp
    if "last_reset_value_template" in comp:
        assert comp.get("state_class") == "total"


# -- rendering the templates as Home Assistant does --------------------------------------------

ENV = ImmutableSandboxedEnvironment()


def render(template: str, payload: str) -> str:
    """A value template rendered the way Home Assistant renders it for an MQTT message:
    ``value`` is the payload, ``value_json`` the payload decoded as JSON."""
    return ENV.from_string(template).render(value=payload, value_json=json.loads(payload)).strip()


def check_rendered(comp: dict, payload: str) -> str:
    """Render *comp*'s value template on *payload* and check the result fits the entity."""
    out = render(comp["value_template"], payload)
    if comp["platform"] == "binary_sensor":
        assert out in (comp.get("payload_on", "ON"), comp.get("payload_off", "OFF")), out
    elif comp["platform"] == "select":
        assert out in comp["options"], (out, comp["options"])
    elif comp.get("device_class") == "timestamp":
        assert out == "None" or datetime.fromisoformat(out).tzinfo is not None, out
    elif comp.get("device_class") == "enum":
        assert out in comp["options"], out
    elif "unit_of_measurement" in comp:
        assert out == "None" or out.isdigit(), out
    else:
        assert out and len(out) <= 255, out
    if "json_attributes_template" in comp:
        attrs = json.loads(render(comp["json_attributes_template"], payload))
        assert isinstance(attrs, dict)
    return out


# -- the tests ------------------------------------------------------------------------------------

T = Topics("nightswitch", "branch-017")
ZONES = [{"name": "main", "label": "Main", "modes": ["day", "lunch", "night"], "panel": True}]


def snapshot(**kw) -> dict:
    base = {
        "zone": "main",
        "label": "Main",
        "mode": "night",
        "source": "weekly",
        "reason": "night: outside opening hours",
        "key": "auto",
        "override": None,
        "next_change": {"at": "2026-03-02T08:00:00+01:00", "mode": "day"},
        "verified": True,
        "switching": False,
        "faults": [],
        "now": "2026-03-02T07:00:00+01:00",
    }
    base.update(kw)
    return base


STATES = [
    zone_state(snapshot()),
    zone_state(
        snapshot(
            mode="day",
            source="override",
            key="auto",
            override={"mode": "day", "until": None, "by": "anna"},
            next_change=None,
            verified=False,
            switching=True,
        )
    ),
    zone_state(
        snapshot(
            mode="lunch",
            key="night",
            faults=[
                {"kind": "link", "message": "no answer", "since": "x"},
                {"kind": "calendar", "message": "feed down", "since": "y"},
            ],
        ),
        after_hours={
            "night": "2026-03-01",
            "calls": 4,
            "answered": 3,
            "unanswered": 1,
            "unknown": 0,
        },
    ),
]


def message(**kw):
    defaults = dict(site_name="Head office", zones=ZONES, smdr=True, fleet=True)
    defaults.update(kw)
    return discovery_message(T, **defaults)


def test_topic_and_device_block():
    topic, payload = message()
    assert topic == "homeassistant/device/nightswitch-branch-017/config"
    check_device_discovery(payload)
    assert payload["device"]["identifiers"] == ["nightswitch-branch-017"]
    assert payload["origin"]["name"] == "nightswitch"
    assert payload["availability"] == [
        {
            "topic": "nightswitch/branch-017/availability",
            "payload_available": "online",
            "payload_not_available": "offline",
        }
    ]


def test_the_entities_the_issue_asks_for():
    _, payload = message()
    comps = payload["components"]
    assert comps["main.mode"]["platform"] == "sensor"
    assert comps["main.override"]["options"] == ["auto", "day", "lunch", "night"]
    assert comps["main.verified"]["platform"] == "binary_sensor"
    for kind in FAULT_KINDS:
        assert comps[f"main.fault_{kind}"]["device_class"] == "problem"
    assert comps["main.key"]["options"] == ["auto", "day", "night", "none"]
    assert comps["main.next_change"]["device_class"] == "timestamp"
    assert comps["main.after_hours_calls"]["unit_of_measurement"] == "calls"
    assert comps["closures"]["state_topic"] == "nightswitch/branch-017/status"


def test_optional_entities_only_where_they_mean_something():
    _, payload = message(zones=[dict(ZONES[0], panel=False)], smdr=False, fleet=False)
    check_device_discovery(payload)
    comps = payload["components"]
    assert "main.key" not in comps and "main.after_hours_calls" not in comps
    assert "closures" not in comps


def test_unique_ids_are_stable_and_never_collide_across_sites_and_zones():
    _, a = discovery_message(
        Topics("nightswitch", "a"),
        site_name="A",
        smdr=True,
        fleet=True,
        zones=[dict(ZONES[0], name="b_c", label="BC")],
    )
    _, b = discovery_message(
        Topics("nightswitch", "a_b"),
        site_name="AB",
        smdr=True,
        fleet=True,
        zones=[dict(ZONES[0], name="c", label="C")],
    )
    ids_a = {c["unique_id"] for c in a["components"].values()}
    ids_b = {c["unique_id"] for c in b["components"].values()}
    assert not ids_a & ids_b
    assert "nightswitch.a.b_c.mode" in ids_a
    # the same site and zone give the same ids whatever the labels and the software
    _, again = discovery_message(
        Topics("nightswitch", "a"),
        site_name="Renamed",
        smdr=True,
        fleet=True,
        zones=[dict(ZONES[0], name="b_c", label="X")],
    )
    assert ids_a == {c["unique_id"] for c in again["components"].values()}


def test_several_zones_name_their_entities_after_the_zone():
    zones = [
        dict(ZONES[0], name="sales", label="Sales"),
        dict(ZONES[0], name="service", label="Service desk", panel=False),
    ]
    _, payload = message(zones=zones)
    check_device_discovery(payload)
    comps = payload["components"]
    assert comps["sales.mode"]["name"] == "Sales mode"
    assert comps["service.verified"]["name"] == "Service desk confirmed by the PBX"
    assert (
        comps["service.override"]["command_topic"]
        == "nightswitch/branch-017/zones/service/override/set"
    )


@pytest.mark.parametrize("state", STATES, ids=["night", "override-switching", "faults"])
def test_every_template_renders_a_value_the_entity_takes(state):
    _, payload = message()
    text = json.dumps(state)
    out = {
        key: check_rendered(comp, text)
        for key, comp in payload["components"].items()
        if comp["state_topic"].endswith("/state")
    }
    assert out["main.mode"] == state["mode"]
    assert out["main.override"] == state["override_mode"]
    assert out["main.verified"] == ("ON" if state["verified"] else "OFF")
    assert out["main.fault"] == ("ON" if state["fault_kinds"] else "OFF")
    assert out["main.fault_link"] == ("ON" if "link" in state["fault_kinds"] else "OFF")
    assert out["main.key"] == state["key"]
    assert out["main.next_change"] == (state["next_change_at"] or "None")
    calls = state["after_hours_last_night"]
    assert out["main.after_hours_calls"] == (str(calls["calls"]) if calls else "None")


def test_closure_sensor_renders_from_the_site_status():
    _, payload = message()
    comp = payload["components"]["closures"]
    status = {
        "closures": {"version": 7, "applied_at": "2026-03-02T07:00:00+01:00", "refused": None}
    }
    assert render(comp["value_template"], json.dumps(status)) == "v7"
    none = {"closures": {"version": None, "applied_at": None, "refused": None}}
    assert render(comp["value_template"], json.dumps(none)) == "none"


def test_the_checker_catches_what_home_assistant_refuses():
    """The checker is only worth something if it fails where Home Assistant would."""
    _, good = message()
    bad_cases = [
        lambda p: p.pop("origin"),
        lambda p: p["device"].pop("identifiers"),
        lambda p: p.update(colour="red"),
        lambda p: p["components"]["main.mode"].update(platform="gauge"),
        lambda p: p["components"]["main.override"].pop("options"),
        lambda p: p["components"]["main.key"].update(state_class="measurement"),
        lambda p: p["components"]["main.mode"].update(stat_topic="typo"),
        lambda p: p["components"]["main.override"].update(command_topic="a/+/set"),
        lambda p: p["components"]["main.verified"].update(
            unique_id="nightswitch.branch-017.main.mode"
        ),
    ]
    for spoil in bad_cases:
        payload = json.loads(json.dumps(good))
        spoil(payload)
        with pytest.raises(AssertionError):
            check_device_discovery(payload)
