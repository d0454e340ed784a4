"""The pure parts of the MQTT output: the [mqtt] config section, commands, states, topics,
closure-set versions."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.config import load_config_text
from appliance.errors import Refused, ValidationError
from appliance.outputs.mqtt import commands, fleet, state
from appliance.outputs.mqtt.topics import Topics, site_of
from tests.appliance_helpers import SITE, contact_toml

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=BERLIN)


def load(mqtt: str):
    return load_config_text(SITE + contact_toml() + mqtt, "test.toml")


def errors_of(mqtt: str) -> list[str]:
    with pytest.raises(ValidationError) as exc:
        load(mqtt)
    return [str(e) for e in exc.value.errors]


# -- [mqtt] --------------------------------------------------------------------------------


def test_a_minimal_section_and_its_defaults():
    cfg = load('[mqtt]\nbroker = "mqtt://192.0.2.10"\nsite_id = "branch-017"\n')
    m = cfg.mqtt
    assert (m.host, m.port, m.tls, m.site_id) == ("192.0.2.10", 1883, False, "branch-017")
    assert (m.topic_prefix, m.discovery, m.discovery_prefix, m.fleet, m.keepalive) == (
        "nightswitch",
        True,
        "homeassistant",
        True,
        30,
    )
    assert m.client_id == "nightswitch-branch-017" and m.who == "mqtt:branch-017"
    assert load("").mqtt is None


def test_tls_and_a_password_file(tmp_path):
    ca, pw = tmp_path / "ca.pem", tmp_path / "pw"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    pw.write_text("s3cret\n")
    cfg = load(
        f'[mqtt]\nbroker = "mqtts://broker.example.net"\nsite_id = "a"\n'
        f'username = "a"\npassword_file = "{pw}"\nca_file = "{ca}"\n'
    )
    assert (cfg.mqtt.port, cfg.mqtt.tls, cfg.mqtt.password) == (8883, True, "s3cret")
    assert "s3cret" not in repr(cfg.mqtt)
    assert cfg.mqtt.broker_url == "mqtts://broker.example.net:8883"


@pytest.mark.parametrize(
    "table,expected",
    [
        (
            'site_id = "a"',
            "mqtt.broker: is required: the broker's URL, such as "
            "'mqtt://192.0.2.10:1883' or 'mqtts://broker.example.net:8883'",
        ),
        (
            'broker = "http://x"\nsite_id = "a"',
            "mqtt.broker: 'http://x': the scheme must be mqtt:// or mqtts:// (TLS)",
        ),
        ('broker = "mqtt://x:99999"\nsite_id = "a"', "mqtt.broker: 'mqtt://x:99999' is not a URL"),
        ('broker = "mqtt://user:pw@x"\nsite_id = "a"', "must be just a host and port"),
        ('broker = "mqtt://x"', "mqtt.site_id: is required: this site's id in the fleet"),
        (
            'broker = "mqtt://x"\nsite_id = "Branch 17"',
            "mqtt.site_id: 'Branch 17' is not allowed; use 1 to 32 lower-case letters",
        ),
        (
            'broker = "mqtt://x"\nsite_id = "fleet"',
            "mqtt.site_id: 'fleet' is taken by the fleet's own topics",
        ),
        (
            'broker = "mqtt://x"\nsite_id = "a"\ntopic_prefix = "a/#"',
            "mqtt.topic_prefix: 'a/#' is not allowed",
        ),
        (
            'broker = "mqtt://x"\nsite_id = "a"\nkeepalive = 2',
            "mqtt.keepalive: 2 is not allowed; use whole seconds from 5 to 600",
        ),
        (
            'broker = "mqtt://x"\nsite_id = "a"\ndiscovery = "yes"',
            "mqtt.discovery: must be true or false",
        ),
        (
            'broker = "mqtt://x"\nsite_id = "a"\npassword = "p"',
            "mqtt.username: is required when a password is given",
        ),
        (
            'broker = "mqtt://x"\nsite_id = "a"\nca_file = "/nonexistent.pem"',
            "mqtt.ca_file: '/nonexistent.pem': no such file",
        ),
        (
            'broker = "mqtt://x"\nsite_id = "a"\nusername = "a"\npassword_file = "/nope"',
            "mqtt.password_file: '/nope': no such file",
        ),
        ('broker = "mqtt://x"\nsite_id = "a"\ncolour = "red"', "mqtt.colour: unknown key"),
    ],
)
def test_each_mistake_names_its_key(table, expected):
    found = errors_of(f"[mqtt]\n{table}\n")
    assert any(expected in line for line in found), found


def test_ca_file_without_tls_is_pointed_out(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    found = errors_of(f'[mqtt]\nbroker = "mqtt://x"\nsite_id = "a"\nca_file = "{ca}"\n')
    assert (
        "test.toml: mqtt.ca_file: is only used with TLS: write the broker as "
        "mqtts://HOST:PORT" in [f"test.toml: {e}" for e in found]
    )


def test_an_empty_password_file_is_an_error(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("\n")
    found = errors_of(
        f'[mqtt]\nbroker = "mqtt://x"\nsite_id = "a"\nusername = "a"\npassword_file = "{pw}"\n'
    )
    assert found == [f"mqtt.password_file: '{pw}' is empty"]


# -- topics --------------------------------------------------------------------------------


def test_topics():
    t = Topics("acme/phones", "branch-017")
    assert t.state("main") == "acme/phones/branch-017/zones/main/state"
    assert t.command_zone("acme/phones/branch-017/zones/sales/override/set") == "sales"
    assert t.command_zone("acme/phones/branch-018/zones/sales/override/set") is None
    assert t.command_zone("acme/phones/branch-017/zones/a/b/override/set") is None
    assert t.fleet_closures == "acme/phones/fleet/closures"
    assert site_of("acme/phones", "acme/phones/branch-017/status") == ("branch-017", "status")
    assert site_of("acme/phones", "acme/phones/fleet/closures") is None


# -- commands ------------------------------------------------------------------------------


def parse(payload: bytes):
    return commands.parse_command(payload, tz=BERLIN, now=NOW)


def test_plain_mode_names_and_auto():
    assert parse(b"night") == commands.Command("night", "next")
    assert parse(b"  day\n") == commands.Command("day", "next")
    assert parse(b"auto") == commands.Command(None, None)


def test_json_commands_take_until_as_the_api_does():
    assert parse(b'{"mode": "night", "until": null}') == commands.Command("night", None)
    assert parse(b'{"mode": "day", "until": "18:00"}').until == datetime(
        2026, 3, 2, 18, 0, tzinfo=BERLIN
    )
    assert parse(b'{"mode": "day", "until": "09:00"}').until == datetime(
        2026, 3, 3, 9, 0, tzinfo=BERLIN
    )
    later = (NOW + timedelta(days=2)).isoformat()
    assert parse(json.dumps({"mode": "day", "until": later}).encode()).until == NOW + timedelta(
        days=2
    )


@pytest.mark.parametrize(
    "payload,field",
    [
        (b"", "payload"),
        (b"   ", "payload"),
        (b'{"until": "next"}', "mode"),
        (b'{"mode": 3}', "mode"),
        (b'{"mode": "day", "until": "25:00"}', "until"),
        (b'{"mode": "day", "until": "2099-01-01T00:00:00+00:00"}', "until"),
        (b'{"mode": "day", "x": 1}', "x"),
        (b"[1]", "mode"),
        (b'{"mode": ' * 10000, "payload"),
        (b"\xc3\x28", "payload"),
    ],
)
def test_bad_commands_name_the_field(payload, field):
    with pytest.raises(ValidationError) as exc:
        parse(payload)
    assert exc.value.errors[0].field == field, exc.value.render()


def test_result_payloads():
    ok = commands.result_payload(
        ok=True,
        command="day",
        at=NOW,
        tz=BERLIN,
        status={"mode": "day", "override": None, "reason": "r"},
    )
    assert ok == {
        "ok": True,
        "command": "day",
        "at": "2026-03-02T10:00:00+01:00",
        "mode": "day",
        "override": None,
        "reason": "r",
    }
    refused = commands.result_payload(
        ok=False, command="day", at=NOW, tz=BERLIN, error=Refused("the key switch ...")
    )
    assert refused["refused_by"] == "key" and refused["error"] == "the key switch ..."
    assert commands.describe_payload(b"x" * 300) == "<300 bytes>"
    assert commands.describe_payload(b"\xff") == "<1 bytes, not UTF-8>"


# -- state -----------------------------------------------------------------------------------


def night(label, calls):
    return {
        "night": label,
        "began": f"{label}T18:00:00+01:00",
        "ended": None,
        "calls": calls,
        "answered": calls,
        "unanswered": 0,
        "unknown": 0,
    }


def test_last_night_is_the_latest_night_that_began_before_today():
    summary = {
        "per_night": [night("2026-02-26", 9), night("2026-02-27", 5), night("2026-03-02", 1)]
    }
    # Monday 2 March: the weekend's night began on Friday 27 February
    got = state.last_night(summary, NOW.date())
    assert (got["night"], got["calls"]) == ("2026-02-27", 5)
    assert state.last_night({"per_night": []}, NOW.date())["night"] is None
    start, end, today = state.last_night_window(NOW, BERLIN)
    assert start == datetime(2026, 2, 16, tzinfo=BERLIN) and end == NOW


# -- closure-set versions ----------------------------------------------------------------------


def parsed(version, closures=()):
    return fleet.parse_closure_set({"version": version, "closures": list(closures)}, {"main": None})


def test_versions_only_go_up():
    applied = {"version": 5, "digest": parsed(5).digest}
    assert fleet.version_verdict(parsed(6), applied) == "apply"
    assert fleet.version_verdict(parsed(6), None) == "apply"
    assert fleet.version_verdict(parsed(5), applied) == "same"
    other = parsed(5, [{"name": "x", "from": "2026-01-02", "to": "2026-01-02", "ranges": []}])
    with pytest.raises(ValidationError, match="publish the change as version 6"):
        fleet.version_verdict(other, applied)
    with pytest.raises(ValidationError, match="version 4 is older than version 5"):
        fleet.version_verdict(parsed(4), applied)


def test_a_mode_one_zone_cannot_make_names_the_zone():
    data = {
        "version": 1,
        "closures": [
            {
                "name": "Lunch",
                "from": "2026-01-02",
                "to": "2026-01-02",
                "ranges": [{"start": "12:00", "end": "13:00", "mode": "lunch"}],
            }
        ],
    }
    with pytest.raises(ValidationError) as exc:
        fleet.parse_closure_set(
            data, {"sales": {"day", "night", "lunch"}, "service": {"day", "night"}}
        )
    assert [e.field for e in exc.value.errors] == ["zone service: closures[0].ranges[0].mode"]


def test_the_digest_ignores_key_order_but_not_content():
    a = [{"name": "x", "from": "2026-01-02", "to": "2026-01-02", "ranges": []}]
    b = [{"ranges": [], "to": "2026-01-02", "from": "2026-01-02", "name": "x"}]
    assert fleet.digest_of(a) == fleet.digest_of(b)
    assert fleet.digest_of(a) != fleet.digest_of([dict(a[0], name="y")])


def test_check_says_what_the_section_sets_up():
    from appliance.commands.check import summarize

    cfg = load(
        '[mqtt]\nbroker = "mqtt://192.0.2.10"\nsite_id = "branch-017"\n'
        'username = "branch-017"\npassword = "x"\nfleet = false\n'
    )
    assert summarize(cfg)[-1] == (
        "MQTT: site branch-017 on mqtt://192.0.2.10:1883 as "
        "branch-017, keepalive 30 s, Home Assistant discovery under "
        "homeassistant/"
    )


# -- anything at all on the topics ------------------------------------------------------------


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.binary(max_size=300)
    | JSONISH.map(lambda v: json.dumps(v).encode())
    | st.fixed_dictionaries({"mode": JSONISH, "until": JSONISH}).map(
        lambda v: json.dumps(v).encode()
    )
)
def test_any_payload_is_a_command_or_a_validation_error(payload):
    try:
        command = parse(payload)
    except ValidationError as exc:
        assert exc.errors and all(e.message for e in exc.errors)
        return
    assert command.mode is None or isinstance(command.mode, str)


@given(
    st.binary(max_size=300)
    | JSONISH.map(lambda v: json.dumps(v).encode())
    | st.fixed_dictionaries(
        {
            "version": JSONISH,
            "closures": st.lists(
                st.fixed_dictionaries(
                    {"name": JSONISH, "from": JSONISH, "to": JSONISH, "ranges": JSONISH}
                ),
                max_size=3,
            ),
        }
    ).map(lambda v: json.dumps(v).encode())
)
def test_any_payload_is_a_closure_set_or_a_validation_error(payload):
    try:
        fleet.parse_closure_set(fleet.load_document(payload), {"main": {"day", "night"}})
    except ValidationError as exc:
        assert exc.errors and all(e.message for e in exc.errors)
