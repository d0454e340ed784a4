"""The installer's config: every mistake is named by its key, with what is allowed, and all
of them are reported at once (docs/design.md#storage-and-config, CONTRACTS "Config file")."""

from __future__ import annotations

import copy
import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.config import (
    default_config,
    find_pinmap,
    load_config,
    load_config_text,
    validate_config,
)
from appliance.errors import NightswitchError, ValidationError
from appliance.validation import RESERVED_PINS
from tests.appliance_helpers import SITE, contact_toml, panel_toml


def errors_of(text: str) -> dict[str, str]:
    """``{field: message}`` of the ValidationError that *text* must raise."""
    with pytest.raises(ValidationError) as info:
        load_config_text(text, "site.toml")
    result = {}
    for e in info.value.errors:
        result.setdefault(e.field, e.message)
    # the rendered form names the file and the field on every line
    assert all(line.startswith("site.toml: ") for line in info.value.render().splitlines())
    return result


def assert_error(text: str, field: str, *fragments: str) -> None:
    errors = errors_of(text)
    assert field in errors, f"no error for {field}; got {errors}"
    for fragment in fragments:
        assert fragment in errors[field], f"{field}: {errors[field]!r} lacks {fragment!r}"


GOOD = SITE + panel_toml() + contact_toml()


# -- a good config ------------------------------------------------------------------------------


def test_a_good_config_loads_with_defaults():
    cfg = load_config_text(GOOD, "site.toml")
    assert cfg.site_name == "Test office" and cfg.timezone == "Europe/Berlin"
    assert cfg.zone_names == ["main"]
    assert (cfg.listen_host, cfg.listen_port) == ("0.0.0.0", 8080)
    assert (cfg.check_minutes, cfg.drift, cfg.clock_sync) == (15, "enforce", "timesyncd")
    panel = cfg.panels[0]
    assert (panel.zone, panel.key_switch, panel.debounce_ms, panel.hold_s) == (
        "main",
        "three-position",
        50,
        3.0,
    )
    assert panel.pins == {
        "key_day": 5,
        "key_night": 6,
        "led_day": 13,
        "led_night": 19,
        "led_fault": 26,
    }
    spec = cfg.actuators[0]
    assert (spec["name"], spec["zone"], spec["role"]) == ("night-service", "main", "primary")
    assert spec["_modes"] == {"day", "night"}
    assert cfg.zone_modes("main") == {"day", "night"}
    assert cfg.smdr is None


def test_the_shipped_pin_map_is_a_valid_config():
    cfg = default_config("Europe/Vienna")
    assert cfg.timezone == "Europe/Vienna"
    assert cfg.panels[0].key_switch == "three-position"
    assert [a["name"] for a in cfg.actuators] == ["night-service"]
    assert find_pinmap().name == "pinmap.toml"


def test_zone_modes_is_what_every_primary_can_produce_and_none_without_actuators():
    cfg = load_config_text(
        SITE
        + """
[[actuators]]
name = "a"
type = "contact"
pin = 17
modes = { day = "open", night = "closed", lunch = "open" }
[[actuators]]
name = "b"
type = "contact"
pin = 27
modes = { day = "open", night = "closed" }
[[actuators]]
name = "c"
type = "contact"
role = "fallback"
pin = 22
modes = { day = "open", night = "closed", weekend = "closed" }
"""
    )
    assert cfg.zone_modes("main") == {"day", "night"}
    assert [a["name"] for a in cfg.zone_actuators("main", "fallback")] == ["c"]
    assert load_config_text(SITE).zone_modes("main") is None


def test_settings_of_every_section_are_read():
    cfg = load_config_text("""
[site]
name = "HQ"
timezone = "America/New_York"
[clock]
sync = "always"
[web]
listen = "[::1]:8443"
public_status = true
[verify]
check_minutes = 5
drift = "adopt"
[profiles]
dir = "/srv/profiles"
[[zones]]
name = "sales"
label = "Sales"
[[zones]]
name = "service-desk"
[smdr]
port = "socket://192.0.2.10:2300"
format = "panasonic-kx-td"
zone = "service-desk"
settings = { baudrate = 9600 }
""")
    assert (cfg.site_name, cfg.timezone, cfg.clock_sync) == ("HQ", "America/New_York", "always")
    assert (cfg.listen_host, cfg.listen_port, cfg.public_status) == ("::1", 8443, True)
    assert (cfg.check_minutes, cfg.drift, cfg.profiles_dir) == (5, "adopt", "/srv/profiles")
    assert [(z.name, z.label) for z in cfg.zones] == [
        ("sales", "Sales"),
        ("service-desk", "Service Desk"),
    ]
    assert cfg.smdr == {
        "port": "socket://192.0.2.10:2300",
        "format": "panasonic-kx-td",
        "zone": "service-desk",
        "settings": {"baudrate": 9600},
        "routes": [],
    }


# -- syntax and files -----------------------------------------------------------------------


def test_toml_syntax_error_names_the_line():
    errors = errors_of('[site]\nname = "x\n')
    assert "not valid TOML" in errors[""] and "line 2" in errors[""]


def test_a_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(NightswitchError, match="no config file here; run install.sh"):
        load_config(tmp_path / "nightswitch.toml")


def test_an_unreadable_file_is_an_error_not_a_traceback(tmp_path):
    path = tmp_path / "nightswitch.toml"
    path.write_bytes(b'[site]\nname = "\xff\xfe"\n')
    with pytest.raises(NightswitchError, match="cannot read the config"):
        load_config(path)
    with pytest.raises(NightswitchError, match="cannot read the config"):
        load_config(tmp_path)  # a directory


def test_load_config_reads_a_file(tmp_path):
    path = tmp_path / "nightswitch.toml"
    path.write_text(GOOD)
    assert load_config(path).source == str(path)
    path.write_text(GOOD.replace("pin = 17", "pin = 99"))
    with pytest.raises(ValidationError) as info:
        load_config(path)
    assert str(path) + ": actuators[0].pin" in info.value.render()


def test_validate_config_refuses_a_non_table():
    with pytest.raises(ValidationError, match="must be a TOML document"):
        validate_config(["site"])


# -- every field named ----------------------------------------------------------------------

BAD = [
    # (toml, field, fragments of the message)
    ("colour = 'red'", "colour", ["unknown key", "allowed keys are", "actuators"]),
    ("site = 3", "site", ["must be a table"]),
    ("[site]\nname = ''", "site.name", ["non-empty string"]),
    ("[site]\ncity = 'Bonn'", "site.city", ["unknown key", "name, timezone"]),
    (
        "[site]\ntimezone = 'Berlin'",
        "site.timezone",
        ["not an IANA time zone", "did you mean Europe/Berlin"],
    ),
    ("[site]\ntimezone = 1", "site.timezone", ["not an IANA time zone"]),
    ("[site]\ntimezone = ''", "site.timezone", ["not an IANA time zone"]),
    ("[clock]\nsync = 'ntp'", "clock.sync", ["'ntp' is not allowed", "timesyncd, rtc, always"]),
    ("[clock]\nrtc = true", "clock.rtc", ["unknown key"]),
    ("[web]\nlisten = '8080'", "web.listen", ["HOST:PORT"]),
    ("[web]\nlisten = '0.0.0.0:http'", "web.listen", ["HOST:PORT"]),
    ("[web]\nlisten = '0.0.0.0:0'", "web.listen", ["HOST:PORT"]),
    ("[web]\nlisten = '0.0.0.0:70000'", "web.listen", ["HOST:PORT"]),
    ("[web]\nlisten = ':8080'", "web.listen", ["HOST:PORT"]),
    ("[web]\nlisten = '\\u0080:8080'", "web.listen", ["not an address", "IPv4", "host name"]),
    ("[web]\nlisten = 'front desk:8080'", "web.listen", ["not an address"]),
    ("[web]\nlisten = '300.1.1.1:8080'", "web.listen", ["not an address"]),
    ("[web]\nlisten = '-pi-:8080'", "web.listen", ["not an address"]),
    ("[web]\nlisten = 8080", "web.listen", ["non-empty string"]),
    ("[web]\npublic_status = 'yes'", "web.public_status", ["true or false"]),
    ("[web]\nport = 80", "web.port", ["unknown key", "listen, public_status"]),
    (
        "[verify]\ncheck_minutes = 0",
        "verify.check_minutes",
        ["is not allowed; use a whole number ", "1 to 1440"],
    ),
    (
        "[verify]\ncheck_minutes = 1441",
        "verify.check_minutes",
        ["is not allowed; use a whole number"],
    ),
    ("[verify]\ncheck_minutes = 2.5", "verify.check_minutes", ["whole number"]),
    ("[verify]\ncheck_minutes = true", "verify.check_minutes", ["whole number"]),
    ("[verify]\ndrift = 'ignore'", "verify.drift", ["enforce, adopt"]),
    ("[profiles]\ndir = 5", "profiles.dir", ["non-empty string"]),
    ("[profiles]\npath = '/x'", "profiles.path", ["unknown key"]),
    # zones
    ("zones = []", "zones", ["at least one zone"]),
    ("zones = 'main'", "zones", ["list of [[zones]]"]),
    ("zones = [1]", "zones[0]", ["must be a table"]),
    ("[[zones]]\nlabel = 'Sales'", "zones[0].name", ["is required"]),
    ("[[zones]]\nname = 'Sales Team'", "zones[0].name", ["lower-case"]),
    ("[[zones]]\nname = 'a'\n[[zones]]\nname = 'a'", "zones[1].name", ["defined twice"]),
    ("[[zones]]\nname = 'a'\ncolour = 1", "zones[0].colour", ["unknown key", "label, name"]),
]


@pytest.mark.parametrize("toml,field,fragments", BAD, ids=[b[1] + ":" + b[0][:20] for b in BAD])
def test_each_bad_setting_is_named(toml, field, fragments):
    assert_error(toml, field, *fragments)


# -- the front panel ------------------------------------------------------------------------------

PANEL_BAD = [
    ("front_panel = 3", "front_panel", ["must be a table"]),
    ("front_panels = 3", "front_panels", ["list of [[front_panels]]"]),
    ("front_panels = [3]", "front_panels[0]", ["must be a table"]),
    (
        "[front_panel]\nkey_switch = 'rotary'",
        "front_panel.key_switch",
        ["'rotary' is not allowed", "three-position, two-position, button, none"],
    ),
    ("[front_panel]\nkey_switch = 'none'\nbeeper = 4", "front_panel.beeper", ["unknown key"]),
    (
        "[front_panel]\nkey_switch = 'none'\nzone = 'sales'",
        "front_panel.zone",
        ["unknown zone 'sales'", "zones are main"],
    ),
    (
        "[front_panel]\nkey_switch = 'none'\ndebounce_ms = 4",
        "front_panel.debounce_ms",
        ["is not allowed; use a whole number ", "5 to 1000"],
    ),
    (
        "[front_panel]\nkey_switch = 'none'\ndebounce_ms = 1001",
        "front_panel.debounce_ms",
        ["is not allowed; use a whole number"],
    ),
    (
        "[front_panel]\nkey_switch = 'none'\nhold_s = 0.5",
        "front_panel.hold_s",
        ["is not allowed; use a number 1 to 10"],
    ),
    (
        "[front_panel]\nkey_switch = 'none'\nhold_s = 'long'",
        "front_panel.hold_s",
        ["is not allowed; use a number 1 to 10"],
    ),
    ("[front_panel]\nkey_switch = 'none'\npull_up = 1", "front_panel.pull_up", ["true or false"]),
    ("[front_panel]\nkey_switch = 'none'\npins = 5", "front_panel.pins", ["must be a table"]),
    (
        "[front_panel]\nkey_switch = 'none'\n[front_panel.pins]\nled_red = 13",
        "front_panel.pins.led_red",
        ["unknown key", "led_fault"],
    ),
    (
        "[front_panel]\nkey_switch = 'three-position'\n[front_panel.pins]\nkey_day = 5",
        "front_panel.pins.key_night",
        ["is required for a three-position key switch"],
    ),
    (
        "[front_panel]\nkey_switch = 'two-position'",
        "front_panel.pins.key",
        ["is required for a two-position key switch"],
    ),
    (
        "[front_panel]\nkey_switch = 'button'",
        "front_panel.pins.key",
        ["is required for a button key switch"],
    ),
    (
        "[front_panel]\nkey_switch = 'button'\n[front_panel.pins]\nkey = 5\nkey_day = 6",
        "front_panel.pins.key_day",
        ["only used by a three-position", "uses 'key'"],
    ),
    (
        "[front_panel]\nkey_switch = 'three-position'\n[front_panel.pins]\nkey_day = 5\n"
        "key_night = 6\nkey = 7",
        "front_panel.pins.key",
        ["uses 'key_day' and 'key_night'"],
    ),
    (
        "[front_panel]\nkey_switch = 'none'\n[front_panel.pins]\nkey = 7",
        "front_panel.pins.key",
        ["key_switch is 'none'"],
    ),
    (
        "[front_panel]\nkey_switch = 'button'\n[front_panel.pins]\nkey = 5\nbutton = 7",
        "front_panel.pins.button",
        ["a button key switch is wired to 'key'", "a push button beside a key switch"],
    ),
    (
        "[front_panel]\n[front_panel.pins]\nkey_day = 5\nkey_night = 6\nbutton = 6",
        "pins",
        ["GPIO6 is used twice"],
    ),
    (
        "[front_panel]\nkey_switch = 'none'\n[[front_panels]]\nkey_switch = 'none'",
        "front_panel",
        ["either [front_panel] or [[front_panels]]"],
    ),
    (
        "[[front_panels]]\nkey_switch = 'none'\n[[front_panels]]\nkey_switch = 'none'",
        "front_panels[1].zone",
        ["already has a front panel"],
    ),
]


@pytest.mark.parametrize(
    "toml,field,fragments", PANEL_BAD, ids=[b[1] + ":" + b[0][15:40] for b in PANEL_BAD]
)
def test_each_bad_panel_setting_is_named(toml, field, fragments):
    assert_error(toml, field, *fragments)


@pytest.mark.parametrize(
    "value,fragment",
    [
        (28, "28 is not a GPIO"),
        (-1, "-1 is not a GPIO"),
        ("'GPIO5'", "'GPIO5' is not a GPIO"),
        (5.0, "5.0 is not a GPIO"),
        ("true", "True is not a GPIO"),
    ],
)
def test_a_bad_pin_is_named_with_what_is_allowed(value, fragment):
    text = f"[front_panel]\nkey_switch = 'two-position'\n[front_panel.pins]\nkey = {value}"
    assert_error(text, "front_panel.pins.key", fragment, "BCM GPIO number 4 to 27")


@pytest.mark.parametrize("gpio", sorted(RESERVED_PINS))
def test_reserved_pins_are_refused_with_their_job(gpio):
    text = f"[front_panel]\nkey_switch = 'two-position'\n[front_panel.pins]\nkey = {gpio}"
    assert_error(text, "front_panel.pins.key", f"GPIO{gpio} is reserved for " + RESERVED_PINS[gpio])
    actuator = (
        f"[[actuators]]\ntype = 'contact'\npin = {gpio}\n"
        "modes = { day = 'open', night = 'closed' }"
    )
    assert_error(actuator, "actuators[0].pin", f"GPIO{gpio} is reserved")


def test_a_panel_per_zone_with_front_panels():
    cfg = load_config_text(
        SITE
        + """
[[zones]]
name = "sales"
[[zones]]
name = "desk"
[[front_panels]]
zone = "sales"
key_switch = "button"
hold_s = 2
[front_panels.pins]
key = 5
led_day = 13
[[front_panels]]
zone = "desk"
key_switch = "two-position"
pull_up = false
[front_panels.pins]
key = 6
"""
    )
    assert [(p.zone, p.key_switch, p.hold_s, p.pull_up) for p in cfg.panels] == [
        ("sales", "button", 2.0, True),
        ("desk", "two-position", 3.0, False),
    ]


# -- actuators ------------------------------------------------------------------------------------

ACT_BAD = [
    ("actuators = 3", "actuators", ["list of [[actuators]]"]),
    ("actuators = [3]", "actuators[0]", ["must be a table"]),
    (
        "[[actuators]]\npin = 17",
        "actuators[0].type",
        ["None is not an actuator type", "contact, pulse, keypad, serial"],
    ),
    ("[[actuators]]\ntype = 'relay'", "actuators[0].type", ["'relay' is not an actuator type"]),
    ("[[actuators]]\ntype = ['contact']", "actuators[0].type", ["is not an actuator type"]),
    (
        "[[actuators]]\ntype = 'contact'\nname = 'Night Service'\npin = 17\n"
        "modes = { day = 'open' }",
        "actuators[0].name",
        ["lower-case letters"],
    ),
    (
        "[[actuators]]\ntype = 'contact'\nname = {}\npin = 17\nmodes = { day = 'open' }",
        "actuators[0].name",
        ["is not allowed"],
    ),
    (
        "[[actuators]]\ntype = 'contact'\nname = 'a'\npin = 17\nmodes = { day = 'open' }\n"
        "[[actuators]]\ntype = 'contact'\nname = 'a'\npin = 27\nmodes = { day = 'open' }",
        "actuators[1].name",
        ["defined twice"],
    ),
    (
        "[[actuators]]\ntype = 'contact'\nzone = 'sales'\npin = 17\nmodes = { day = 'open' }",
        "actuators[0].zone",
        ["unknown zone 'sales'"],
    ),
    (
        "[[actuators]]\ntype = 'contact'\nrole = 'backup'\npin = 17\nmodes = { day = 'open' }",
        "actuators[0].role",
        ["'primary' or 'fallback'"],
    ),
    (
        "[[actuators]]\ntype = 'contact'\nrole = 'fallback'\npin = 17\nmodes = { day = 'open' }",
        "actuators",
        ["only fallback actuators", 'role = "primary"'],
    ),
    (
        "[[actuators]]\ntype = 'contact'\npin = 17\nmodes = { night = 'closed', lunch = 'open' }",
        "actuators[0].modes",
        ["cannot make 'day'", "must make both 'day' and 'night'", "it makes lunch, night"],
    ),
    # contact's own table
    (
        "[[actuators]]\ntype = 'contact'\nmodes = { day = 'open' }",
        "actuators[0].pin",
        ["is required"],
    ),
    ("[[actuators]]\ntype = 'contact'\npin = 17", "actuators[0].modes", ["is required"]),
    (
        "[[actuators]]\ntype = 'contact'\npin = 17\nmodes = { day = 'shut' }",
        "actuators[0].modes.day",
        ["'shut' is not allowed", '"open" or "closed"'],
    ),
    (
        "[[actuators]]\ntype = 'contact'\npin = 17\nmodes = { Day = 'open' }",
        "actuators[0].modes",
        ["'Day' is not a mode name"],
    ),
    (
        "[[actuators]]\ntype = 'contact'\npin = 17\nmodes = { day = 'open' }\nactive_high = 1",
        "actuators[0].active_high",
        ["true or false"],
    ),
    (
        "[[actuators]]\ntype = 'contact'\npin = 17\nmodes = { day = 'open' }\nsettle_ms = -1",
        "actuators[0].settle_ms",
        ["whole number 0 to 60000"],
    ),
    (
        "[[actuators]]\ntype = 'contact'\npin = 17\nmodes = { day = 'open' }\ninvert = true",
        "actuators[0].invert",
        ["unknown key"],
    ),
    (
        "[[actuators]]\ntype = 'contact'\npin = 17\nmodes = { day = 'open' }\nsense = 24",
        "actuators[0].sense",
        ["must be a table"],
    ),
    (
        "[[actuators]]\ntype = 'contact'\npin = 17\nmodes = { day = 'open' }\n"
        "sense = { active_in = ['day'] }",
        "actuators[0].sense.pin",
        ["is required"],
    ),
    (
        "[[actuators]]\ntype = 'contact'\npin = 17\nmodes = { day = 'open' }\nsense = { pin = 24 }",
        "actuators[0].sense.active_in",
        ["is required"],
    ),
    (
        "[[actuators]]\ntype = 'contact'\npin = 17\nmodes = { day = 'open' }\n"
        "sense = { pin = 24, active_in = ['night'] }",
        "actuators[0].sense.active_in",
        ["'night' is not one of this actuator's modes"],
    ),
    (
        "[[actuators]]\ntype = 'contact'\npin = 17\nmodes = { day = 'open' }\n"
        "sense = { pin = 24, active_in = ['day'], invert = true }",
        "actuators[0].sense.invert",
        ["unknown key"],
    ),
    (
        "[[actuators]]\ntype = 'contact'\npin = 17\nmodes = { day = 'open' }\n"
        "sense = { pin = 24, active_in = ['day'], pull_up = 'yes' }",
        "actuators[0].sense.pull_up",
        ["true or false"],
    ),
]


@pytest.mark.parametrize(
    "toml,field,fragments", ACT_BAD, ids=[b[1] + ":" + b[0][14:40] for b in ACT_BAD]
)
def test_each_bad_actuator_setting_is_named(toml, field, fragments):
    assert_error(toml, field, *fragments)


# -- pins used twice -------------------------------------------------------------------------------


def test_a_pin_used_twice_names_both_users():
    text = panel_toml() + contact_toml(pin=13, sense_pin=None)
    assert_error(
        text,
        "pins",
        "GPIO13 is used twice",
        "front panel main led_day",
        "actuator night-service relay",
    )


def test_a_sense_input_on_a_relay_pin_is_used_twice():
    text = contact_toml(name="a", pin=17, sense_pin=24) + contact_toml(
        name="b", pin=24, sense_pin=None
    )
    assert_error(text, "pins", "GPIO24 is used twice", "actuator a sense", "actuator b relay")


def test_key_inputs_on_one_pin_are_used_twice():
    text = "[front_panel]\n[front_panel.pins]\nkey_day = 5\nkey_night = 5"
    assert_error(text, "pins", "GPIO5 is used twice", "key_day", "key_night")


# -- SMDR -----------------------------------------------------------------------------------------

SMDR_BAD = [
    ("smdr = 1", "smdr", ["must be a table"]),
    ("[smdr]\nformat = 'panasonic-kx-td'", "smdr.port", ["is required", "/dev/ttyUSB0"]),
    ("[smdr]\nport = '/dev/ttyUSB0'", "smdr.format", ["is required"]),
    (
        "[smdr]\nport = '/dev/ttyUSB0'\nformat = 'nope'",
        "smdr.format",
        ["unknown SMDR format 'nope'", "panasonic-kx-td"],
    ),
    (
        "[smdr]\nport = '/dev/ttyUSB0'\nformat = 'panasonic-kx-td'\nzone = 'x'",
        "smdr.zone",
        ["unknown zone 'x'"],
    ),
    (
        "[smdr]\nport = '/dev/ttyUSB0'\nformat = 'panasonic-kx-td'\nbaud = 1",
        "smdr.baud",
        ["unknown key", "allow, format, login, password, port, routes, settings, username, zone"],
    ),
    (
        "[smdr]\nport = '/dev/ttyUSB0'\nformat = 'panasonic-kx-td'\nsettings = 9600",
        "smdr.settings",
        ["must be a table"],
    ),
    ("[smdr]\nport = ''\nformat = 'panasonic-kx-td'", "smdr.port", ["non-empty string"]),
]


@pytest.mark.parametrize("toml,field,fragments", SMDR_BAD, ids=[b[1] for b in SMDR_BAD])
def test_each_bad_smdr_setting_is_named(toml, field, fragments):
    assert_error(toml, field, *fragments)


# -- all at once ----------------------------------------------------------------------------------


def test_every_problem_is_reported_at_once():
    text = """
colour = "red"
[site]
timezone = "Mars/Olympus"
[web]
listen = "nowhere"
[front_panel]
key_switch = "rotary"
[front_panel.pins]
led_day = 3
[[actuators]]
type = "contact"
pin = 40
modes = { day = "ajar" }
[smdr]
format = "nope"
"""
    errors = errors_of(text)
    assert set(errors) >= {
        "colour",
        "site.timezone",
        "web.listen",
        "front_panel.key_switch",
        "front_panel.pins.led_day",
        "actuators[0].pin",
        "actuators[0].modes.day",
        "smdr.port",
        "smdr.format",
    }


# -- never a traceback ------------------------------------------------------------------------


def _good_document() -> dict:
    doc = tomllib.loads(find_pinmap().read_text())
    doc["site"] = {"name": "x", "timezone": "Europe/Berlin"}
    doc["actuators"].append(
        {
            "name": "console",
            "type": "pulse",
            "pin": 27,
            "modes": {"day": "dark", "night": "lit"},
            "sense": {"pin": 25, "pull_up": True},
        }
    )
    doc["actuators"].append(
        {
            "name": "phone",
            "type": "keypad",
            "hook_pin": 20,
            "keys": {"7": 21, "1": 12},
            "password": "1",
            "sequences": {"night": "71", "day": "7 {password}"},
        }
    )
    doc["smdr"] = {"port": "/dev/ttyUSB0", "format": "panasonic-kx-td"}
    return doc


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield prefix + (i,)
            yield from _paths(value, prefix + (i,))


GOOD_DOC = _good_document()
PATHS = list(_paths(GOOD_DOC))
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 100),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.just([]),
    st.just({}),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["pin", "a", "day"]), st.integers(), max_size=2),
    st.sampled_from(["contact", "night", "lit", "open", "Europe/Berlin", "{password}"]),
)


def test_the_document_the_property_mutates_is_valid():
    assert [a["name"] for a in validate_config(copy.deepcopy(GOOD_DOC)).actuators] == [
        "night-service",
        "console",
        "phone",
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(st.tuples(st.sampled_from(PATHS), JUNK), min_size=1, max_size=3))
def test_any_junk_anywhere_is_a_field_error_never_a_crash(mutations):
    doc = copy.deepcopy(GOOD_DOC)
    for path, junk in mutations:
        target = doc
        try:
            for key in path[:-1]:
                target = target[key]
            if junk is None and isinstance(target, dict):
                del target[path[-1]]
            else:
                target[path[-1]] = copy.deepcopy(junk)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    try:
        cfg = validate_config(doc, "site.toml")
    except ValidationError as exc:
        assert exc.errors and all(isinstance(e.message, str) and e.message for e in exc.errors)
    else:
        assert cfg.zone_names


@pytest.mark.parametrize(
    "host",
    [
        "0.0.0.0",
        "127.0.0.1",
        "::",
        "::1",
        "fe80::1",
        "nightswitch",
        "pi.office.lan",
        "pi.office.lan.",
        "switch-01",
    ],
)
def test_listen_accepts_addresses_and_host_names(host):
    from appliance.config import listen_host_problem

    assert listen_host_problem(host) is None
    bracketed = f"[{host}]" if ":" in host else host
    cfg = load_config_text(GOOD + f"\n[web]\nlisten = '{bracketed}:8081'\n", "site.toml")
    assert (cfg.listen_host, cfg.listen_port) == (host, 8081)


@pytest.mark.parametrize(
    "host",
    [
        "",
        " ",
        "\x80",
        "\udc80",
        "a b",
        "300.1.1.1",
        "1.2.3",
        "a..b",
        "-x",
        "x-",
        "caf\u00e9",
        "a" * 64,
        "x:y",
    ],
)
def test_listen_host_problem_names_what_is_allowed(host):
    from appliance.config import listen_host_problem

    problem = listen_host_problem(host)
    assert problem and ("IPv4" in problem or "0.0.0.0" in problem)
