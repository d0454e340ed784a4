"""The network keys of [smdr] and the login files: every mistake is named by its key and
says what is allowed; the Telnet decoding drops every option byte."""

from __future__ import annotations

import socket

import pytest

from appliance.config import load_config_text
from appliance.errors import ValidationError
from appliance.smdr.login import _records_after, load_login, parse_login
from appliance.smdr.sources import check, parse_url
from appliance.smdr.telnet import DO, DONT, IAC, SB, SE, WILL, WONT, NetPort

NO_SITE = "/nonexistent/nightswitch-smdr-site"

BASE = """
[site]
name = "t"
timezone = "Europe/Berlin"
[[actuators]]
name = "night-input"
type = "contact"
pin = 17
modes = { day = "open", night = "closed" }
"""


def errors_of(smdr: str) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        load_config_text(BASE + "[smdr]\n" + smdr, site_dir=NO_SITE)
    return {e.field: e.message for e in info.value.errors}


def test_the_port_urls():
    assert parse_url("/dev/ttyUSB0") == ("serial", "", None)
    assert parse_url("socket://192.0.2.1:2300") == ("serial", "", None)
    assert parse_url("telnet://192.0.2.10:2300") == ("telnet", "192.0.2.10", 2300)
    assert parse_url("telnet://pbx.example") == ("telnet", "pbx.example", None)
    assert parse_url("listen://:33333") == ("listen", "", 33333)
    assert parse_url("listen://[::1]:33333") == ("listen", "::1", 33333)
    for bad in ("telnet://host:99999", "listen://a:b:c", "telnet://host:port"):
        with pytest.raises(ValueError):
            parse_url(bad)


def test_good_network_configs_load():
    telnet = load_config_text(
        BASE + '[smdr]\nport = "telnet://192.0.2.10:2300"\n'
        'format = "panasonic-kx-tda"\npassword = "1234"\n',
        site_dir=NO_SITE,
    )
    assert telnet.smdr["password"] == "1234" and telnet.smdr["port"].startswith("telnet")
    listen = load_config_text(
        BASE + '[smdr]\nport = "listen://:33333"\n'
        'format = "avaya-ip-office"\nallow = ["192.0.2.20", "::1"]\n',
        site_dir=NO_SITE,
    )
    assert listen.smdr["allow"] == ["192.0.2.20", "::1"]


@pytest.mark.parametrize(
    "smdr,field,words",
    [
        (
            'port = "telnet://192.0.2.10:2300"\nformat = "panasonic-kx-tda"',
            "smdr.password",
            "is required: the login 'panasonic-telnet' types a password",
        ),
        (
            'port = "telnet://192.0.2.10:2300"\nformat = "panasonic-kx-tda"\npassword = "x"\n'
            'login = "nope"',
            "smdr.login",
            "no SMDR login called 'nope'; there are panasonic-telnet",
        ),
        (
            'port = "telnet://:2300"\nformat = "panasonic-kx-tda"\npassword = "x"',
            "smdr.port",
            "needs the PBX's address",
        ),
        (
            'port = "telnet://192.0.2.10:70000"\nformat = "panasonic-kx-tda"',
            "smdr.port",
            "use 1 to 65535",
        ),
        (
            'port = "/dev/ttyUSB0"\nformat = "panasonic-kx-tda"\npassword = "x"',
            "smdr.password",
            'only goes with port = "telnet://..."',
        ),
        (
            'port = "listen://:33333"\nformat = "avaya-ip-office"\nlogin = "panasonic-telnet"',
            "smdr.login",
            'only goes with port = "telnet://..."',
        ),
        (
            'port = "telnet://192.0.2.10"\nformat = "panasonic-kx-tda"\npassword = "x"\n'
            'allow = ["192.0.2.1"]',
            "smdr.allow",
            'only goes with port = "listen://..."',
        ),
        (
            'port = "listen://:33333"\nformat = "avaya-ip-office"\nallow = ["pbx.local"]',
            "smdr.allow",
            "'pbx.local' is not an IP address",
        ),
        (
            'port = "listen://:33333"\nformat = "avaya-ip-office"\nallow = "192.0.2.20"',
            "smdr.allow",
            "must be a list of IP addresses",
        ),
        (
            'port = "listen://pbx.local:33333"\nformat = "avaya-ip-office"',
            "smdr.port",
            "is not an IP address of this appliance",
        ),
        ('port = "listen://"\nformat = "avaya-ip-office"', "smdr.port", "needs a port"),
        (
            'port = "listen://:33333"\nformat = "avaya-ip-office"\nsettings = { baudrate = 1200 }',
            "smdr.settings",
            "do not apply to a network port",
        ),
        (
            'port = "telnet://192.0.2.10"\nformat = "panasonic-kx-tda"\npassword = "a\\u0007b"',
            "smdr.password",
            "without control characters",
        ),
    ],
)
def test_each_bad_network_key_is_named(smdr, field, words):
    errors = errors_of(smdr)
    assert field in errors, errors
    assert words in errors[field]


def test_check_reports_network_problems_even_with_an_unknown_format():
    errors = check({"port": "listen://:1", "format": "nope", "allow": ["x"]}, site_dir=NO_SITE)
    assert {e.field for e in errors} == {"smdr.allow"}


# -- login files ------------------------------------------------------------------------------


def test_the_shipped_login_loads_and_cites_its_source():
    login = load_login("panasonic-telnet")
    assert login.source.startswith("docs/pbx-families.md#panasonic-kx-tda")
    assert login.verified.startswith("Nothing verified on a real unit")
    assert login.port == 2300 and login.username == "SMDR" and login.needs_password
    assert [a.send for a in login.answers] == ["{username}", "smdr", "{password}"]
    assert login.refused.search("\r\n> ") and not login.refused.search(
        "01/02/02 10:03AM 1200 01 <I>12345678901234567890 5'15 00:00'00"
    )


def test_a_broken_login_names_every_key():
    data = {
        "name": "x",
        "title": "t",
        "source": "s",
        "verified": "v",
        "colour": 1,
        "answers": [
            {"name": "a", "expect": "(", "sample": "x", "send": "{secret}"},
            {"name": "b", "expect": "login:", "sample": "Password:", "send": ""},
        ],
        "refused": {"expect": "no", "sample": "no", "wait_s": 0},
    }
    with pytest.raises(ValidationError) as info:
        parse_login(data, expected_name="y")
    fields = {e.field: e.message for e in info.value.errors}
    assert "unknown key" in fields["colour"]
    assert "must match the file name y.toml" in fields["name"]
    assert "not a valid regular expression" in fields["answers[0].expect"]
    assert "{secret} is not a placeholder" in fields["answers[0].send"]
    assert "does not match expect" in fields["answers[1].sample"]
    assert "use 0.2 to 60 seconds" in fields["refused.wait_s"]
    assert "is required" in fields["refused.message"]


def test_the_password_never_survives_in_what_follows_the_login():
    assert _records_after(b"\r\nsecret\r\n01/02/02 ...\r\n", "secret") == b"\r\n01/02/02 ...\r\n"
    assert b"secret" not in _records_after(b"xx secret yy", "secret")
    assert _records_after(b"data", "") == b"data"


# -- Telnet --------------------------------------------------------------------------------------


def test_telnet_options_are_refused_and_never_reach_the_data():
    ours, theirs = socket.socketpair()
    port = NetPort(ours, timeout=0.5, telnet=True, name="test")
    # DO ECHO, WILL SGA, a subnegotiation, an escaped 0xFF, and a command split over reads
    theirs.sendall(
        bytes([IAC, DO, 1])
        + b"ab"
        + bytes([IAC, WILL, 3, IAC, SB, 24, 1, IAC, SE])
        + b"c"
        + bytes([IAC, IAC])
        + bytes([IAC])
    )
    got = port.read(100)
    theirs.sendall(bytes([DONT, 5]) + b"d")
    got += port.read(100)
    assert got == b"abc\xffd"
    replies = theirs.recv(100)
    assert replies == bytes([IAC, WONT, 1, IAC, DONT, 3])  # no reply to DONT
    port.write(b"x\xffy")
    assert theirs.recv(100) == b"x\xff\xffy"
    theirs.close()
    with pytest.raises(Exception) as info:
        port.read(1)
    assert "closed the connection" in str(info.value)


def test_check_says_how_the_network_records_come_in():
    from appliance.commands.check import summarize

    telnet = load_config_text(
        BASE + '[smdr]\nport = "telnet://192.0.2.10:2300"\n'
        'format = "panasonic-kx-tda"\npassword = "1234"\n',
        site_dir=NO_SITE,
    )
    assert (
        "SMDR: panasonic-kx-tda on telnet://192.0.2.10:2300 (zone main), login panasonic-telnet"
    ) in summarize(telnet)
    listen = load_config_text(
        BASE + '[smdr]\nport = "listen://:33333"\nformat = "avaya-ip-office"\n', site_dir=NO_SITE
    )
    assert any(
        "the PBX connects (from any address: set smdr.allow)" in line for line in summarize(listen)
    )
    assert "1234" not in "\n".join(summarize(telnet))
