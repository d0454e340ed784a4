"""Home Assistant's MQTT discovery message for one site: a pure function.

The current, device-based form (Home Assistant 2024.11 and later): one retained message on
``homeassistant/device/nightswitch-SITE/config`` holds the ``device``, the ``origin``,
the ``availability`` and every entity as a ``components`` entry with its ``platform``.
Full key names are used, not the abbreviations (``dev``, ``o``, ``cmps``, ``p``): Home
Assistant takes both, and a person reading the broker can read these.

Per zone (names as Home Assistant shows them after the device's name):

===============================  ==============  =========================================
entity                           platform        from the zone's state
===============================  ==============  =========================================
Mode                             sensor          ``mode`` (reason and source as attributes)
Override                         select          ``override_mode``: auto or a mode;
                                                 selecting one sends a command
Confirmed by the PBX             binary_sensor   ``verified``
Fault                            binary_sensor   any fault (device class problem)
Fault: PBX link, ...             binary_sensor   one per fault kind (problem, diagnostic)
Key switch                       sensor (enum)   ``key``, only where a front panel is
Next change                      sensor          ``next_change_at`` (timestamp)
After-hours calls last night     sensor          only where call records (SMDR) come in
===============================  ==============  =========================================

and once per site, when the fleet is on: Company closures (the version in force).
Every ``unique_id`` is ``nightswitch.SITE.ZONE.WHAT`` (``nightswitch.SITE.closures``):
stable across restarts, renames of the site or zone labels, and software updates.
"""

from __future__ import annotations

from appliance import __version__
from appliance.outputs.mqtt.state import AUTO, FAULT_KINDS
from appliance.outputs.mqtt.topics import Topics

#: The payloads of the availability topic (Home Assistant's defaults, stated anyway).
ONLINE, OFFLINE = "online", "offline"
KEY_POSITIONS = ["auto", "day", "night", "none"]


def _uid(topics: Topics, *parts: str) -> str:
    # '.' joins the parts: ids may hold '-' and '_', never '.', so site "a" with zone
    # "b_c" and site "a_b" with zone "c" cannot meet in one unique_id.
    return ".".join(["nightswitch", topics.site, *parts])


def _binary(template_true: str) -> str:
    return "{{ 'ON' if " + template_true + " else 'OFF' }}"


def zone_components(topics: Topics, zone: dict, *, multi_zone: bool, smdr: bool) -> dict:
    """The components of one zone.

    :param dict zone: ``{"name", "label", "modes", "panel"}``: the zone's name and label,
        the modes it can be forced to (``day`` and ``night`` at least), and whether a
        front panel (key switch) belongs to it.
    :param bool multi_zone: name entities after the zone too (``Sales mode``).
    :param bool smdr: the site receives call records.
    """
    name = zone["name"]
    state = topics.state(name)

    def title(what: str) -> str:
        return f"{zone['label']} {what[0].lower()}{what[1:]}" if multi_zone else what

    def key(what: str) -> str:
        return f"{name}.{what}"

    components = {
        key("mode"): {
            "platform": "sensor",
            "name": title("Mode"),
            "unique_id": _uid(topics, name, "mode"),
            "state_topic": state,
            "value_template": "{{ value_json.mode }}",
            "json_attributes_topic": state,
            "json_attributes_template": "{{ {'reason': value_json.reason, "
            "'source': value_json.source} | tojson }}",
            "icon": "mdi:phone-classic",
        },
        key("override"): {
            "platform": "select",
            "name": title("Override"),
            "unique_id": _uid(topics, name, "override"),
            "state_topic": state,
            "value_template": "{{ value_json.override_mode }}",
            "command_topic": topics.command(name),
            "options": [AUTO] + [m for m in zone["modes"] if m != AUTO],
            "qos": 1,
            "retain": False,
            "icon": "mdi:phone-settings",
        },
        key("verified"): {
            "platform": "binary_sensor",
            "name": title("Confirmed by the PBX"),
            "unique_id": _uid(topics, name, "verified"),
            "state_topic": state,
            "value_template": _binary("value_json.verified"),
            "payload_on": "ON",
            "payload_off": "OFF",
            "icon": "mdi:check-network",
        },
        key("fault"): {
            "platform": "binary_sensor",
            "name": title("Fault"),
            "unique_id": _uid(topics, name, "fault"),
            "device_class": "problem",
            "state_topic": state,
            "value_template": _binary("value_json.fault_kinds"),
            "payload_on": "ON",
            "payload_off": "OFF",
            "json_attributes_topic": state,
            "json_attributes_template": "{{ {'faults': value_json.faults} | tojson }}",
        },
    }
    for kind, label in FAULT_KINDS.items():
        components[key(f"fault_{kind}")] = {
            "platform": "binary_sensor",
            "name": title(f"Fault: {label}"),
            "unique_id": _uid(topics, name, f"fault_{kind}"),
            "device_class": "problem",
            "entity_category": "diagnostic",
            "state_topic": state,
            "value_template": _binary(f"'{kind}' in value_json.fault_kinds"),
            "payload_on": "ON",
            "payload_off": "OFF",
        }
    if zone.get("panel"):
        components[key("key")] = {
            "platform": "sensor",
            "name": title("Key switch"),
            "unique_id": _uid(topics, name, "key"),
            "device_class": "enum",
            "options": KEY_POSITIONS,
            "state_topic": state,
            "value_template": "{{ value_json.key }}",
            "icon": "mdi:key-variant",
        }
    components[key("next_change")] = {
        "platform": "sensor",
        "name": title("Next change"),
        "unique_id": _uid(topics, name, "next_change"),
        "device_class": "timestamp",
        "state_topic": state,
        # Home Assistant's MQTT sensor reads the text "None" as "no value".
        "value_template": "{{ value_json.next_change_at or 'None' }}",
        "json_attributes_topic": state,
        "json_attributes_template": "{{ {'mode': value_json.next_mode} | tojson }}",
    }
    if smdr:
        components[key("after_hours_calls")] = {
            "platform": "sensor",
            "name": title("After-hours calls last night"),
            "unique_id": _uid(topics, name, "after_hours_calls"),
            "state_topic": state,
            "value_template": "{{ value_json.after_hours_last_night.calls "
            "if value_json.after_hours_last_night else 'None' }}",
            "unit_of_measurement": "calls",
            "state_class": "measurement",
            "json_attributes_topic": state,
            "json_attributes_template": "{{ (value_json.after_hours_last_night or {}) | tojson }}",
            "icon": "mdi:phone-missed",
        }
    return components


def discovery_message(
    topics: Topics, *, site_name: str, zones: list[dict], smdr: bool, fleet: bool
) -> tuple[str, dict]:
    """``(topic, payload)`` of the site's discovery message.

    :param str site_name: ``[site] name``: the device's name in Home Assistant.
    :param list zones: one dict per zone, as :func:`zone_components` takes.
    :param bool smdr: add the after-hours calls sensor.
    :param bool fleet: add the company closures sensor.
    """
    components = {}
    for zone in zones:
        components.update(zone_components(topics, zone, multi_zone=len(zones) > 1, smdr=smdr))
    if fleet:
        components["closures"] = {
            "platform": "sensor",
            "name": "Company closures",
            "unique_id": _uid(topics, "closures"),
            "entity_category": "diagnostic",
            "state_topic": topics.status,
            "value_template": "{{ ('v' ~ value_json.closures.version) "
            "if value_json.closures.version else 'none' }}",
            "json_attributes_topic": topics.status,
            "json_attributes_template": "{{ value_json.closures | tojson }}",
            "icon": "mdi:calendar-remove",
        }
    payload = {
        "device": {
            "identifiers": [topics.device_id],
            "name": site_name,
            "manufacturer": "Nightswitch",
            "model": "PBX day/night switch",
            "sw_version": __version__,
        },
        "origin": {"name": "nightswitch", "sw_version": __version__},
        "availability": [
            {
                "topic": topics.availability,
                "payload_available": ONLINE,
                "payload_not_available": OFFLINE,
            }
        ],
        "qos": 1,
        "components": components,
    }
    return topics.discovery, payload


__all__ = ["KEY_POSITIONS", "OFFLINE", "ONLINE", "discovery_message", "zone_components"]
