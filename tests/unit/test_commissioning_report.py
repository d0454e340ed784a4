"""The commissioning report: what it shows, what it never shows, where it is kept."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from appliance.commands.test_all import report_data, secret_values
from appliance.control.commissioning_results import StepResult
from appliance.control.site_facts import wiring
from appliance.outputs import commissioning_report
from tests.appliance_helpers import config

BERLIN = ZoneInfo("Europe/Berlin")
AT = datetime(2026, 3, 2, 10, 15, tzinfo=BERLIN)

ACTUATORS = """
[front_panel]
key_switch = "three-position"
[front_panel.pins]
key_day = 5
key_night = 6
led_day = 13

[[actuators]]
name = "maintenance-port"
type = "serial"
profile = "mitel-3300"
port = "/dev/ttyUSB0"
password = "pbx-pass-77"
modes = { day = "day", night = "night" }

[[actuators]]
name = "feature-code"
type = "keypad"
role = "fallback"
hook_pin = 20
keys = { "7" = 21, "1" = 12, "8" = 18, "2" = 16 }
password = "7171"
sequences = { night = "718 1 {password}", day = "718 2 {password}" }
"""


def a_report(site="Test office", installer="Anna", failed=False) -> dict:
    cfg = config(ACTUATORS)
    cfg.site_name = site
    relays = StepResult("relays", "Relays")
    relays.add(
        "relay feature-code-hook (GPIO20)",
        "failed" if failed else "passed",
        "relay feature-code-hook closed for 2 s",
        "no: <b>silent</b>",
    )
    holidays = StepResult("holidays", "Holidays and closures")
    holidays.add("holidays", "passed", "12 closed day(s) found")
    holidays.tables.append(
        {
            "title": "The next holidays",
            "head": ["Date", "Mode", "Why"],
            "rows": [("Fri 03 Apr 2026", "night", "public holiday Good Friday")],
        }
    )
    run = SimpleNamespace(steps=[relays, holidays], stopped=None)
    return report_data(
        cfg,
        run,
        installer=installer,
        simulated=False,
        started=AT - timedelta(minutes=12),
        finished=AT,
    )


def test_the_wiring_shows_pins_and_ports_but_no_secret_and_no_code():
    facts = wiring(config(ACTUATORS))
    text = json.dumps(facts)
    assert "pbx-pass-77" not in text and "7171" not in text and "718" not in text
    port, keypad = facts["actuators"]
    assert port == {
        "name": "maintenance-port",
        "type": "serial",
        "zone": "main",
        "role": "primary",
        "port": "/dev/ttyUSB0",
        "profile": "mitel-3300",
        "pins": [],
        "modes": ["day", "night"],
    }
    assert keypad["pins"][:2] == ["hook GPIO20", "key 7 GPIO21"]
    assert facts["panels"][0]["pins"] == ["key_day GPIO5", "key_night GPIO6", "led_day GPIO13"]
    (profile,) = facts["profiles"]
    assert profile["profile"] == "mitel-3300" and profile["kind"] == "shipped"
    assert profile["file"].endswith("mitel-3300.toml") and profile["verified"]


def test_the_report_escapes_what_the_config_and_the_installer_wrote():
    html = commissioning_report.render(
        a_report(site="<script>alert(1)</script> & Co", installer="O'Brien <i>")
    )
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    assert "O&#39;Brien &lt;i&gt;" in html
    assert "no: &lt;b&gt;silent&lt;/b&gt;" in html
    assert "Mon 2 Mar 2026, 10:15 CET" in html and "12 min 0 s" in html
    assert "public holiday Good Friday" in html


def test_a_secret_that_would_reach_the_report_stops_it():
    cfg = config(ACTUATORS)
    secrets = secret_values(cfg.raw)
    assert set(secrets) == {"pbx-pass-77", "7171"}
    report = a_report()
    commissioning_report.render(report, secrets=secrets)  # none in it: fine
    report["steps"][0]["checks"][0]["detail"] = "the PBX said: password pbx-pass-77 wrong"
    with pytest.raises(ValueError, match="secret would appear"):
        commissioning_report.render(report, secrets=secrets)


def test_reports_are_kept_side_by_side_and_the_newest_is_found(tmp_path):
    assert commissioning_report.latest(tmp_path) is None
    first = commissioning_report.save(tmp_path, a_report(installer="Anna"), at=AT)
    second = commissioning_report.save(tmp_path, a_report(installer="Ben", failed=True), at=AT)
    assert first.name == "commissioning-2026-03-02-1015.html"
    assert second.name == "commissioning-2026-03-02-1015-2.html"  # same minute
    assert first.read_text() != second.read_text()
    assert oct(first.stat().st_mode & 0o777) == "0o640"
    newest = commissioning_report.latest(tmp_path)
    assert (newest["name"], newest["installer"], newest["overall"]) == (
        second.name,
        "Ben",
        "failed",
    )
    later = a_report(installer="Cem")
    later["finished"] = (AT + timedelta(days=1)).isoformat()
    third = commissioning_report.save(tmp_path, later, at=AT + timedelta(days=1))
    assert commissioning_report.latest(tmp_path)["name"] == third.name
    # a twin that cannot be read is passed over, not a crash of the Installer page
    third.with_suffix(".json").write_text("{not json")
    assert commissioning_report.latest(tmp_path)["name"] == second.name


@pytest.mark.parametrize(
    "name",
    [
        "../nightswitch.db",
        "commissioning-2026-03-02-1015.json",
        "commissioning-x.html",
        "/etc/passwd",
        "",
        None,
        "commissioning-2026-03-02-1015.html/..",
        "commissioning-2026-03-02-9999.html",
    ],
)
def test_only_a_reports_own_name_is_served(tmp_path, name):
    commissioning_report.save(tmp_path, a_report(), at=AT)
    assert commissioning_report.report_file(tmp_path, name) is None


def test_a_saved_report_is_found_by_its_name(tmp_path):
    path = commissioning_report.save(tmp_path, a_report(), at=AT)
    assert commissioning_report.report_file(tmp_path, path.name) == path
