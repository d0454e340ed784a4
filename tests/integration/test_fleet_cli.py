"""``nightswitch fleet publish|status`` as the fleet's operator runs them: a real
subprocess, a real Mosquitto (with the shipped ACL and accounts), real sites."""

from __future__ import annotations

import json
import time

import pytest

from appliance.outputs.mqtt.topics import Topics, fleet_closures_topic
from tests.appliance_helpers import contact_toml, nightswitch
from tests.mqtt_helpers import SHIPPED_ACL, Mosquitto, Site, Watcher

ACCOUNTS = {
    "branch-017": "p17",
    "branch-018": "p18",
    "branch-019": "p19",
    "fleet": "pf",
    "homeassistant": "pha",
}
FLEET = fleet_closures_topic("nightswitch")
STAFF_DAY = {"name": "Staff day", "from": "2026-03-04", "to": "2026-03-04", "ranges": []}


@pytest.fixture
def broker(tmp_path):
    b = Mosquitto(tmp_path / "broker", accounts=ACCOUNTS, acl=SHIPPED_ACL.read_text()).start()
    yield b
    b.kill()


@pytest.fixture
def fleet_args(tmp_path, broker):
    pw = tmp_path / "fleet-password"
    pw.write_text("pf\n")
    return ["--broker", broker.url, "--username", "fleet", "--password-file", pw]


@pytest.fixture
def watcher(broker):
    w = Watcher(broker, ["nightswitch/#"], user="homeassistant", password="pha").start()
    yield w
    w.stop()


def start_site(factory, tmp_path, broker, site_id, *fragments, base=None, wires=None):
    return Site(
        factory,
        tmp_path / f"data-{site_id}",
        broker,
        *fragments,
        site_id=site_id,
        username=site_id,
        password=ACCOUNTS[site_id],
        base=base,
        wires=wires,
    )


def write(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_publish_reaches_every_online_site_and_names_the_offline_one(
    mock_factory, tmp_path, broker, fleet_args, watcher
):
    away = start_site(mock_factory, tmp_path, broker, "branch-019")
    watcher.wait_for(Topics("nightswitch", "branch-019").status)
    away.close()  # known to the broker, offline now
    sites = [
        start_site(mock_factory, tmp_path, broker, "branch-017"),
        # a second site on the same mock pins: its own relay, no front panel
        start_site(
            mock_factory,
            tmp_path,
            broker,
            "branch-018",
            base=(contact_toml(pin=22, sense_pin=23),),
            wires={22: 23},
        ),
    ]
    try:
        for site in ("branch-017", "branch-018"):
            watcher.wait_for(Topics("nightswitch", site).availability, lambda m: m.text == "online")
        path = write(tmp_path, "closures.json", {"version": 3, "closures": [STAFF_DAY]})
        done = nightswitch("fleet", "publish", path, *fleet_args, "--wait", "30")
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].split() == ["SITE", "RESULT"]
        assert "branch-017  applied version 3" in lines
        assert "branch-018  applied version 3" in lines
        assert "branch-019  offline: applies it when it reconnects" in lines
        assert lines[-1].startswith("2 of 3 sites applied version 3 (")
        assert "version 3 published (1 closure)" in done.stderr
        for site in sites:
            assert site.bridge.fleet.status()["version"] == 3
        # the status table
        table = nightswitch("fleet", "status", *fleet_args)
        assert table.returncode == 0, table.stderr
        rows = [line.split() for line in table.stdout.splitlines()]
        assert rows[0] == [
            "SITE",
            "ONLINE",
            "MODE",
            "CONFIRMED",
            "FAULTS",
            "CLOSURES",
            "LAST",
            "STATUS",
        ]
        by_site = {r[0]: r for r in rows[1:-1]}
        assert by_site["branch-017"][1:6] == ["yes", "night", "yes", "-", "v3"]
        assert by_site["branch-019"][1:6] == ["OFFLINE", "night", "yes", "-", "-"]
        assert table.stdout.splitlines()[-1] == ("3 sites; company closures published: version 3")
        as_json = json.loads(nightswitch("fleet", "status", *fleet_args, "--json").stdout)
        assert as_json["sites"]["branch-018"]["status"]["closures"]["version"] == 3
    finally:
        for site in sites:
            site.close()


def test_a_set_with_errors_is_not_published(tmp_path, broker, fleet_args, watcher):
    path = write(
        tmp_path,
        "bad.json",
        {
            "version": 0,
            "closures": [
                {"name": "Staff day", "from": "2026-03-04", "to": "2026-03-01", "ranges": []}
            ],
            "note": "x",
        },
    )
    done = nightswitch("fleet", "publish", path, *fleet_args)
    assert done.returncode == 2
    errors = done.stderr.splitlines()
    assert (
        f"nightswitch: error: {path}: note: unknown key; allowed keys here: version, "
        "closures" in errors
    )
    assert any("version: must be a whole number, 1 or more, not 0" in e for e in errors)
    assert any("closures[0].to" in e for e in errors)
    assert "Traceback" not in done.stderr
    time.sleep(0.3)
    assert watcher.on(FLEET) == []
    not_json = write(tmp_path, "not.json", "{version: 1")
    done = nightswitch("fleet", "publish", not_json, *fleet_args)
    assert done.returncode == 2 and "not valid JSON at line 1" in done.stderr


def test_versions_only_go_up(tmp_path, broker, fleet_args, watcher):
    v5 = write(tmp_path, "v5.json", {"version": 5, "closures": [STAFF_DAY]})
    assert nightswitch("fleet", "publish", v5, *fleet_args, "--wait", "1").returncode == 0
    v4 = write(tmp_path, "v4.json", {"version": 4, "closures": []})
    done = nightswitch("fleet", "publish", v4, *fleet_args)
    assert done.returncode == 2
    assert "version: version 4 is older than version 5, which is published" in done.stderr
    other = write(tmp_path, "v5b.json", {"version": 5, "closures": []})
    done = nightswitch("fleet", "publish", other, *fleet_args)
    assert done.returncode == 2 and "publish this as version 6" in done.stderr
    dry = nightswitch(
        "fleet",
        "publish",
        write(tmp_path, "v6.json", {"version": 6, "closures": []}),
        *fleet_args,
        "--dry-run",
    )
    assert dry.returncode == 0 and "is good; not published (--dry-run)" in dry.stdout
    time.sleep(0.3)
    assert [m.json()["version"] for m in watcher.on(FLEET)] == [5]


def test_a_site_that_refuses_makes_publish_fail_and_says_why(
    mock_factory, tmp_path, broker, fleet_args, watcher
):
    site = start_site(mock_factory, tmp_path, broker, "branch-017")
    try:
        watcher.wait_for(
            Topics("nightswitch", "branch-017").availability, lambda m: m.text == "online"
        )
        lunch = dict(STAFF_DAY, ranges=[{"start": "12:00", "end": "13:00", "mode": "lunch"}])
        path = write(tmp_path, "lunch.json", {"version": 2, "closures": [lunch]})
        done = nightswitch("fleet", "publish", path, *fleet_args, "--wait", "30", "--json")
        assert done.returncode == 1, done.stdout + done.stderr
        result = json.loads(done.stdout)
        assert result["sites"]["branch-017"]["result"] == "refused"
        error = result["sites"]["branch-017"]["refused"]["errors"][0]
        assert error["field"] == "closures[0].ranges[0].mode" and "'lunch'" in error["message"]
        assert site.bridge.fleet.status()["version"] is None
    finally:
        site.close()


def test_connection_trouble_is_one_line(tmp_path, broker, fleet_args):
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    done = nightswitch(
        "fleet", "status", "--broker", broker.url, "--username", "fleet", "--password-file", wrong
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"nightswitch: error: the broker {broker.url} refused the "
        "connection: Not authorized (check --username and "
        "--password-file, and the broker's ACL)"
    )
    done = nightswitch("fleet", "status", "--broker", "http://example.net")
    assert done.returncode == 2
    assert "--broker: 'http://example.net': the scheme must be mqtt:// or mqtts://" in done.stderr
    done = nightswitch("fleet", "status", "--config", tmp_path / "missing.toml")
    assert done.returncode == 1 and "no config file here" in done.stderr
