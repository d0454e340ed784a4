"""The ``serial`` actuator's config table: checked against the profile it names."""

from __future__ import annotations

import pytest

from appliance.actuators import serial_port
from appliance.config import load_config_text
from appliance.errors import ActuatorError, ValidationError
from tests.fixtures.pbx.simhelp import PASSWORD, SITE_DIR


def spec(**extra):
    table = {
        "name": "maintenance-port",
        "type": "serial",
        "zone": "main",
        "role": "primary",
        "profile": "mitel-3300",
        "port": "/dev/ttyAMA0",
    }
    table.update(extra)
    return {k: v for k, v in table.items() if v is not None}


def errors_of(table, **kwargs):
    return {e.field: e.message for e in serial_port.check(table, "actuators[0]", **kwargs)}


def test_a_good_table_passes():
    assert errors_of(spec()) == {}
    assert errors_of(spec(port="rfc2217://192.0.2.10:2002")) == {}
    assert errors_of(spec(port="spy:///dev/ttyUSB0?file=/dev/stderr")) == {}
    assert (
        errors_of(
            spec(
                port="socket://192.0.2.10:2002",
                settings={"baudrate": 1200, "parity": "even", "bytesize": 7},
            )
        )
        == {}
    )


BAD = [
    (spec(port=None), "actuators[0].port", "is required"),
    (spec(port=""), "actuators[0].port", "pyserial URL"),
    (spec(port="tcp://192.0.2.1:2002"), "actuators[0].port", "'tcp' is not a pyserial URL"),
    (spec(profile=None), "actuators[0].profile", "is required"),
    (spec(profile="mitel-33OO"), "actuators[0].profile", "use one of avaya-definity"),
    (spec(profile="nec-sv9100"), "actuators[0].profile", "has no maintenance-port dialogue"),
    (spec(settings={"baudrate": 1234}), "actuators[0].settings.baudrate", "use one of 300"),
    (spec(settings="fast"), "actuators[0].settings", "must be a table"),
    (spec(password=1234), "actuators[0].password", "must be a string"),
    (spec(colour="red"), "actuators[0].colour", "unknown key"),
    (
        spec(modes={"day": "day", "night": "evening"}),
        "actuators[0].modes.night",
        "'evening' is not a mode profile mitel-3300 can set",
    ),
    (spec(modes={"day": "day", "night": "day"}), "actuators[0].modes", "same profile mode"),
    (spec(modes={"Day": "day"}), "actuators[0].modes.Day", "not a mode name"),
    (spec(modes=[]), "actuators[0].modes", "must be a table"),
]


@pytest.mark.parametrize("table,field,words", BAD)
def test_bad_tables_name_the_key(table, field, words):
    errors = errors_of(table)
    assert field in errors, errors
    assert words in errors[field]


def test_a_login_profile_needs_the_password():
    errors = errors_of(spec(profile="mitel-3300-login"), profiles_dir=SITE_DIR)
    assert (
        "is required: profile mitel-3300-login's login sends a password"
        in errors["actuators[0].password"]
    )
    assert (
        errors_of(spec(profile="mitel-3300-login", password=PASSWORD), profiles_dir=SITE_DIR) == {}
    )


def test_modes_are_the_profile_commands_or_the_map():
    assert serial_port.modes_of(spec()) == {"day", "night", "night2"}
    assert serial_port.modes_of(spec(modes={"day": "day", "night": "night2"})) == {"day", "night"}
    assert list(serial_port.pins_of(spec())) == []


def test_the_config_loader_checks_serial_tables_with_the_site_profiles():
    config = load_config_text(f"""
[site]
name = "Test"
timezone = "Europe/Berlin"
[profiles]
dir = "{SITE_DIR}"
[[actuators]]
name = "maintenance-port"
type = "serial"
profile = "mitel-3300-login"
port = "/dev/ttyUSB0"
password = "{PASSWORD}"
modes = {{ day = "day", night = "night" }}
""")
    (table,) = config.actuators
    assert table["_modes"] == frozenset({"day", "night"})
    with pytest.raises(ValidationError) as caught:
        load_config_text("""
[site]
name = "Test"
timezone = "Europe/Berlin"
[[actuators]]
type = "serial"
profile = "samsung-dcs"
port = "/dev/ttyUSB0"
""")
    assert (
        "actuators[0].profile: profile samsung-dcs has no maintenance-port dialogue"
        in caught.value.render()
    )


def test_build_keeps_the_password_out_of_sight():
    actuator = serial_port.build(
        spec(profile="mitel-3300-login", password=PASSWORD), profiles_dir=SITE_DIR
    )
    assert actuator.modes == frozenset({"day", "night", "night2"})
    assert actuator.can_read_back
    assert PASSWORD not in repr(actuator)
    assert "password=***" in repr(actuator)
    assert PASSWORD not in repr(actuator.spec) and PASSWORD not in repr(actuator.link)
    actuator.close()
    actuator.close()
    with pytest.raises(ActuatorError, match="closed"):
        actuator.apply("day")


def test_build_refuses_a_bad_table():
    with pytest.raises(ValidationError):
        serial_port.build(spec(port=None))


def test_apply_of_a_mode_it_cannot_produce():
    actuator = serial_port.build(spec(modes={"day": "day", "night": "night"}))
    with pytest.raises(ActuatorError) as caught:
        actuator.apply("night2")
    assert "cannot produce mode 'night2'; it knows day, night" in str(caught.value)


def test_a_port_that_does_not_exist_is_an_actuator_error(tmp_path):
    actuator = serial_port.build(spec(port=str(tmp_path / "ttyUSB9")))
    with pytest.raises(ActuatorError) as caught:
        actuator.read_back()
    message = str(caught.value)
    assert "cannot open the port" in message and "ttyUSB9" in message
