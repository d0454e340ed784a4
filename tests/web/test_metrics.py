"""``/metrics``: Prometheus' text format read from the controller's state at scrape time;
it says what ``/api/v1/status`` says at the same moment, its names pass ``promtool check
metrics`` (Debian's prometheus package), and the example rules pass ``promtool test
rules``."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime

from prometheus_client.parser import text_string_to_metric_families

from tests.appliance_helpers import REPO
from tests.web.webhelp import bearer, settle, turn_key

PROMTOOL = shutil.which("promtool")


def scrape(client, token) -> tuple[str, dict]:
    answer = client.get("/metrics", headers=bearer(token))
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    text = answer.get_data(as_text=True)
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return text, samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def agree(samples, status) -> None:
    zone = status["zone"]
    assert value(samples, "nightswitch_mode", zone=zone, mode=status["mode"]) == 1.0
    assert sum(v for (n, text), v in samples.items() if n == "nightswitch_mode") == 1.0
    assert value(samples, "nightswitch_confirmed", zone=zone) == float(status["verified"])
    assert value(samples, "nightswitch_switching", zone=zone) == float(status["switching"])
    faults = {
        dict(text)["kind"]
        for (n, text), v in samples.items()
        if n == "nightswitch_fault" and v == 1.0
    }
    assert faults == {f["kind"] for f in status["faults"]}
    assert value(samples, "nightswitch_clock_synchronized") == float(status["clock_synchronized"])
    assert value(samples, "nightswitch_key_forced", zone=zone) == float(
        status["key"] in ("day", "night")
    )
    assert value(samples, "nightswitch_override_active", zone=zone) == float(
        status["override"] is not None
    )
    change = status["next_change"]
    got = [
        (dict(text)["mode"], v)
        for (n, text), v in samples.items()
        if n == "nightswitch_next_change_timestamp_seconds"
    ]
    if change:
        assert got == [(change["mode"], datetime.fromisoformat(change["at"]).timestamp())]
    else:
        assert got == []
    assert value(samples, "nightswitch_schedule_warnings", zone=zone) == float(
        len(status["warnings"])
    )


def test_metrics_equal_the_status_at_the_same_moment(appliance, client, tokens):
    token = tokens["viewer"]
    for step in ("office hours", "key to night", "clock lost", "override"):
        if step == "key to night":
            turn_key(appliance, "night")
        elif step == "clock lost":
            turn_key(appliance, "auto")
            appliance.clock.set_synchronized(False)
            settle(appliance, 3)
        elif step == "override":
            appliance.clock.set_synchronized(True)
            settle(appliance, 3)
            appliance.controller.set_override(None, "night", None, by="anna")
        # the simulated clock stands still: both answers describe the same moment
        status = client.get("/api/v1/status", headers=bearer(token)).get_json()
        _, samples = scrape(client, token)
        agree(samples, status)
    assert status["source"] == "override"


def test_switches_are_counted_and_only_rise(appliance, client, tokens):
    token = tokens["viewer"]
    _, before = scrape(client, token)
    for position in ("night", "day", "auto"):
        turn_key(appliance, position)
    _, after = scrape(client, token)
    total = lambda s: sum(v for (n, text), v in s.items() if n == "nightswitch_switches_total")
    assert total(after) >= total(before) + 2
    assert (
        value(after, "nightswitch_switches_total", zone="main", source="key", result="confirmed")
        >= 2
    )
    for key, v in before.items():
        if key[0].endswith(("_total", "_count", "_bucket", "_sum")) and key in after:
            assert after[key] >= v, key


def test_metrics_need_a_login_unless_the_status_is_public(client):
    assert client.get("/metrics").status_code == 401


def test_metric_names_pass_promtool(appliance, client, tokens):
    assert PROMTOOL, "promtool is missing: ./dev test installs Debian's prometheus package"
    turn_key(appliance, "night")
    text, _ = scrape(client, tokens["viewer"])
    result = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


def test_the_example_alert_rules_pass_promtool():
    assert PROMTOOL, "promtool is missing: ./dev test installs Debian's prometheus package"
    docs = REPO / "docs"
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", "prometheus-rules.yml"],
        cwd=docs,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0 and "SUCCESS: 8 rules found" in checked.stdout, checked
    tested = subprocess.run(
        [PROMTOOL, "test", "rules", "prometheus-rules.test.yml"],
        cwd=docs,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr
