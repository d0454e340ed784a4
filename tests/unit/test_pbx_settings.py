"""Serial settings of a PBX port: every value an installer may write, and the errors."""

from __future__ import annotations

import pytest
import serial

from appliance.pbx.port_settings import BAUD_RATES, SerialSettings, parse_settings


@pytest.mark.parametrize("baud", BAUD_RATES)
def test_every_standard_rate_from_300_to_115200(baud):
    settings, errors = parse_settings({"baudrate": baud}, "s")
    assert errors == [] and settings.baudrate == baud


def test_a_full_table_maps_to_pyserial():
    settings, errors = parse_settings(
        {
            "baudrate": 1200,
            "bytesize": 7,
            "parity": "Mark",
            "stopbits": 2,
            "xonxoff": True,
            "line_ending": "crlf",
            "pacing_ms": 20,
        },
        "s",
    )
    assert errors == []
    assert settings.pyserial_kwargs() == {
        "baudrate": 1200,
        "bytesize": serial.SEVENBITS,
        "parity": serial.PARITY_MARK,
        "stopbits": serial.STOPBITS_TWO,
        "xonxoff": True,
        "rtscts": False,
    }
    assert settings.eol == "\r\n"
    assert settings.describe() == "1200 7M2 XON/XOFF, line ending CRLF, 20 ms between characters"
    # start + 7 data + parity + 2 stop = 11 bits
    assert settings.char_time_s == pytest.approx(11 / 1200)


def test_overrides_keep_the_base():
    base = SerialSettings(baudrate=1200, parity="even", bytesize=7)
    settings, errors = parse_settings({"baudrate": 9600}, "actuators[0].settings", base)
    assert errors == []
    assert (settings.baudrate, settings.parity, settings.bytesize) == (9600, "even", 7)


BAD = [
    ({"baudrate": 1234}, "s.baudrate", "use one of 300, 600"),
    ({"baudrate": True}, "s.baudrate", "not allowed"),
    ({"baudrate": "9600"}, "s.baudrate", "not allowed"),
    ({"bytesize": 6}, "s.bytesize", "use 7 or 8"),
    ({"parity": "purple"}, "s.parity", '"none", "even", "odd", "mark", "space"'),
    ({"parity": 1}, "s.parity", "not allowed"),
    ({"stopbits": 1.5}, "s.stopbits", "use 1 or 2"),
    ({"xonxoff": "yes"}, "s.xonxoff", "true or false"),
    ({"line_ending": "\r"}, "s.line_ending", '"cr", "lf", "crlf"'),
    ({"pacing_ms": -1}, "s.pacing_ms", "0 to 1000"),
    ({"pacing_ms": 2.5}, "s.pacing_ms", "whole number"),
    ({"speed": 9600}, "s.speed", "unknown key; allowed keys are baudrate"),
    ({"xonxoff": True, "rtscts": True}, "s.rtscts", "not both"),
]


@pytest.mark.parametrize("table,field,words", BAD)
def test_bad_values_name_the_key_and_what_is_allowed(table, field, words):
    settings, errors = parse_settings(table, "s")
    assert settings is None
    assert [e.field for e in errors] == [field]
    assert words in errors[0].message


def test_not_a_table():
    settings, errors = parse_settings("9600 8N1", "actuators[2].settings")
    assert settings is None and errors[0].field == "actuators[2].settings"
    assert "must be a table" in errors[0].message


def test_whole_numbers_written_as_floats_are_kept_whole():
    # TOML reads "bytesize = 8.0" as a float; the port is still described as 8N1.
    settings, errors = parse_settings({"bytesize": 8.0, "stopbits": 1.0}, "s")
    assert errors == []
    assert settings.bytesize == 8 and isinstance(settings.bytesize, int)
    assert settings.stopbits == 1 and isinstance(settings.stopbits, int)
    assert settings.describe().startswith("9600 8N1")
    assert parse_settings({"bytesize": 7.5}, "s")[0] is None  # no such thing
