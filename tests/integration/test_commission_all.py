"""``nightswitch test all``: the whole commissioning walk and its report, as an installer
runs it. On ``--simulate`` the appliance runs on gpiozero's mock pins with the PBX
simulator (a maintenance port on a real pty and the relay side on the mock pins); alerts
go to real servers on 127.0.0.1. Each run is a real subprocess; errors are one line."""

from __future__ import annotations

import json
import re
import signal
from datetime import datetime, timezone
from pathlib import Path

import pytest

from appliance.decision.schedule import default_schedule_json
from appliance.store import Store
from appliance.store.lock import DataDirLock
from tests.alerthelp import SmtpSink, WebhookSink, alerts_toml
from tests.appliance_helpers import (
    OutputCollector,
    cli_env,
    free_port,
    nightswitch,
    spawn,
    wait_until,
)

SITE = """
[site]
name = "Praxis Dr. Weber <Nord>"
timezone = "Europe/Berlin"

[front_panel]
zone = "main"
key_switch = "three-position"
debounce_ms = 50

[front_panel.pins]
key_day = 5
key_night = 6
led_day = 13
led_night = 19
led_fault = 26

[mqtt]                      # not started by test all; here for its password
broker = "mqtt://127.0.0.1:1883"
site_id = "praxis-weber"
username = "praxis"
password = "s3cr3t-mqtt-pw"
"""

SERIAL_PRIMARY = """
[[actuators]]
name = "maintenance-port"
type = "serial"
role = "primary"
profile = "mitel-3300"
port = "/dev/ttyAMA0"
modes = { day = "day", night = "night" }

[[actuators]]
name = "night-service"
type = "contact"
role = "fallback"
pin = 17
modes = { day = "open", night = "closed" }
"""

STEP_KEYS = ["relays", "leds", "key", "modes", "fallback", "schedule", "holidays", "alerts"]


def write_config(tmp_path, *parts) -> Path:
    path = tmp_path / "nightswitch.toml"
    path.write_text("".join(parts))
    return path


def seed_schedule(data: Path, *, holidays: bool = True) -> None:
    """The site's hours as facilities entered them before commissioning."""
    schedule = default_schedule_json("Europe/Berlin")
    if holidays:
        schedule["holidays"] = {"country": "DE", "subdivision": "BY"}
        schedule["exceptions"] = [
            {
                "name": "Christmas Eve",
                "yearly": {"month": 12, "day": 24},
                "ranges": [{"start": "08:00", "end": "12:00", "mode": "day"}],
            }
        ]
    with Store(data) as store:
        store.save_schedule("main", schedule, by="facilities", at=datetime.now(timezone.utc))


SIM_START = "2026-03-02T10:30:00+01:00"


def run_all(config, data, *extra, installer="Test", input=None):
    args = ["test", "all", "--simulate", "--seconds", "0.1", "--config", config, "--data", data]
    if installer is not None:
        args += ["--installer", installer]
    # A weekday morning: the walk switches to NIGHT and back, whatever the hour of the run.
    env = cli_env(NIGHTSWITCH_SIM_START=SIM_START)
    return nightswitch(*args, *extra, timeout=300, input=input, env=env)


def report_of(result) -> tuple[Path, dict, str]:
    (line,) = [
        text for text in result.stdout.splitlines() if text.startswith("commissioning report: ")
    ]
    path = Path(line.split(": ", 1)[1])
    twin = json.loads(path.with_suffix(".json").read_text())
    return path, twin, path.read_text()


def checks(twin: dict, key: str) -> list[dict]:
    (step,) = [s for s in twin["steps"] if s["key"] == key]
    return step["checks"]


def results(twin: dict) -> dict:
    return {s["key"]: s["result"] for s in twin["steps"]}


def assert_one_line_error(result, code: int = 1) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [text for text in result.stderr.splitlines() if text.startswith("nightswitch: ")]
    assert line.startswith("nightswitch: error: ")
    return line


def test_test_all_on_the_simulator_writes_the_report(tmp_path):
    smtp, hook = SmtpSink().start(), WebhookSink().start()
    try:
        data = tmp_path / "data"
        seed_schedule(data)
        config = write_config(
            tmp_path,
            SITE,
            SERIAL_PRIMARY,
            alerts_toml(("office", smtp.url, None), ("pager", hook.url, None)),
        )
        result = run_all(config, data, installer="Anna  Schmidt")
        assert result.returncode == 0, result.stdout + result.stderr
        path, twin, html = report_of(result)
        assert re.fullmatch(r"commissioning-\d{4}-\d\d-\d\d-\d{4}\.html", path.name)
        assert path.parent == data / "reports"
        assert result.stdout.strip().endswith(
            "test all: 8 step(s) passed, 0 done but not confirmed, 0 skipped"
        )

        assert [s["key"] for s in twin["steps"]] == STEP_KEYS
        assert results(twin) == dict.fromkeys(STEP_KEYS, "passed"), json.dumps(
            twin["steps"], indent=1
        )
        assert twin["summary"] == {
            "overall": "passed",
            "passed": 8,
            "failed": 0,
            "skipped": 0,
            "unconfirmed": 0,
        }
        assert twin["installer"] == "Anna Schmidt" and twin["simulated"] is True
        assert twin["site"] == {"name": "Praxis Dr. Weber <Nord>", "timezone": "Europe/Berlin"}

        # relays: the fallback's relay, seen on its mock pin
        (relay,) = checks(twin, "relays")
        assert relay["what"] == "relay night-service (GPIO17)"
        assert "the mock pin went high and back" in relay["detail"]
        assert relay["answer"] == "nobody to ask on a simulated site"
        (leds,) = checks(twin, "leds")
        assert leds["detail"].startswith(
            "lit in turn: day, night, fault (day GPIO13, night "
            "GPIO19, fault GPIO26); each mock pin was lit alone"
        )
        # key: each position read, and the PBX followed DAY and NIGHT through the port
        key = checks(twin, "key")
        assert [c["what"] for c in key] == ["key in DAY", "key in NIGHT", "key in AUTO"]
        assert (
            "the PBX followed the key: night applied and read back by maintenance-port; "
            "the simulated PBX is in night" in key[1]["detail"]
        )
        # each mode through the PBX with read-back
        modes = checks(twin, "modes")
        assert sorted(c["what"] for c in modes) == ["DAY", "NIGHT"]
        for check in modes:
            mode = check["what"].lower()
            assert check["detail"] == (
                f"{mode} applied and read back by maintenance-port; the simulated PBX is in {mode}"
            )
        # the fallback takes over with the port silent, the port takes over again
        takes_over, back = checks(twin, "fallback")
        assert takes_over["what"] == "fallback takes over"
        assert (
            "with maintenance-port disconnected, switching to night failed on it and the "
            "fallback (night-service) holds night" in takes_over["detail"]
        )
        assert "the simulated PBX is in night" in takes_over["detail"]
        assert "falls silent" in takes_over["answer"]
        assert back["what"] == "primary takes over again"
        assert "maintenance-port reconnected and took over again" in back["detail"]
        # the schedule in force, and the switch at its next change on the simulated clock
        in_force, by_itself = checks(twin, "schedule")
        assert in_force["what"] == "schedule in force" and "next change:" in in_force["detail"]
        assert by_itself["detail"].startswith("the simulated clock was moved from ")
        (week,) = [t for s in twin["steps"] if s["key"] == "schedule" for t in s["tables"]]
        assert week["head"] == ["Date", "Time", "Mode", "Why"] and len(week["rows"]) >= 8
        # holidays: the next twelve closed days, the Christmas closure among them
        (holiday_table,) = [t for s in twin["steps"] if s["key"] == "holidays" for t in s["tables"]]
        assert len(holiday_table["rows"]) == 12
        whys = " ".join(row[2] for row in holiday_table["rows"])
        assert "public holiday" in whys and "Christmas Eve, special hours" in whys
        # alerts: delivered to real servers
        assert [c["what"] for c in checks(twin, "alerts")] == [
            "alert target office",
            "alert target pager",
        ]
        wait_until(lambda: smtp.subjects(), timeout=30)
        assert "Test: alerts reach this address" in smtp.subjects()[0]
        assert hook.events() == ["test test"]

        # the report: site, wiring, versions, installer; escaped, and no secret in it
        assert "Praxis Dr. Weber &lt;Nord&gt;" in html and "<Nord>" not in html
        for text in (
            "Anna Schmidt",
            "key_day GPIO5",
            "relay GPIO17",
            "/dev/ttyAMA0",
            "mitel-3300",
            "gpiozero",
            "PC (simulation",
            "Rehearsal on a PC",
            "Every step passed",
            "@page",
            "size: A4",
            "break-before: page",
        ):
            assert text in html, text
        assert "s3cr3t-mqtt-pw" not in html and "s3cr3t-mqtt-pw" not in json.dumps(twin)
        assert "<script" not in html

        # the walk is in the audit log under the installer's name, and left no override
        with Store(data) as store:
            rows = store.audit("main", limit=500, who="Anna Schmidt")
            assert any("override to night" in r["reason"] for r in rows)
            assert any("relay night-service" in r["reason"] for r in rows)
            assert store.get_override("main") is None
    finally:
        smtp.stop()
        hook.stop()


def test_a_failing_step_is_recorded_and_the_walk_goes_on(tmp_path):
    """No holidays in the schedule and an alert target nobody listens on: both steps fail
    with their reason, every other step still runs, the report is written, exit 1."""
    data = tmp_path / "data"
    seed_schedule(data, holidays=False)
    closed = free_port()
    config = write_config(
        tmp_path,
        SITE,
        SERIAL_PRIMARY,
        alerts_toml(("office", f"smtp://127.0.0.1:{closed}/?to=a@example.com", None), timeout_s=5),
    )
    result = run_all(config, data)
    line = assert_one_line_error(result)
    path, twin, html = report_of(result)
    assert line == (
        f"nightswitch: error: test all: 2 step(s) failed: Holidays and closures, Alerts; see {path}"
    )
    assert results(twin) == {
        **dict.fromkeys(STEP_KEYS, "passed"),
        "holidays": "failed",
        "alerts": "failed",
    }
    (holidays,) = checks(twin, "holidays")
    assert holidays["detail"].startswith("no holidays or closures in the next 12 months")
    (alert,) = checks(twin, "alerts")
    assert alert["detail"].startswith(
        f"not delivered: cannot reach the mail server 127.0.0.1:{closed}"
    )
    assert "2 steps failed" in html


def test_on_a_real_site_with_yes_nothing_a_person_must_do_is_faked(tmp_path):
    """Without --simulate (gpiozero's mock pins stand in for the Pi's here) and with
    --yes: the relays and LEDs are driven but nobody looked, so they are 'done, not
    confirmed'; the key needs a hand at reception and the fallback someone at the PBX,
    so they are skipped with why; the exit is 0 (nothing failed)."""
    data = tmp_path / "data"
    seed_schedule(data)
    keypad_fallback = """
[[actuators]]
name = "night-service"
type = "contact"
role = "primary"
pin = 17
modes = { day = "open", night = "closed" }

[[actuators]]
name = "feature-code"
type = "keypad"
role = "fallback"
hook_pin = 20
keys = { "7" = 21, "1" = 12, "8" = 18, "2" = 16 }
sequences = { night = "718 1", day = "718 2" }
press_ms = 30
gap_ms = 30
offhook_ms = 0
hangup_ms = 0
"""
    config = write_config(tmp_path, SITE, keypad_fallback)
    # This PC's clock is trusted as timesyncd's would be on the Pi (installer guide 5).
    result = nightswitch(
        "test",
        "all",
        "--yes",
        "--installer",
        "Test",
        "--seconds",
        "0.1",
        "--config",
        config,
        "--data",
        data,
        timeout=300,
        env=cli_env(NIGHTSWITCH_TRUST_CLOCK=1),
    )
    assert result.returncode == 0, result.stderr
    path, twin, html = report_of(result)
    assert twin["simulated"] is False and "Rehearsal on a PC" not in html
    assert results(twin) == {
        "relays": "unconfirmed",
        "leds": "unconfirmed",
        "key": "skipped",
        "modes": "unconfirmed",
        "fallback": "skipped",
        "schedule": "unconfirmed",
        "holidays": "passed",
        "alerts": "skipped",
    }
    assert [c["answer"] for c in checks(twin, "relays")] == ["not asked (--yes)"] * 6
    assert all("needs someone at reception" in c["detail"] for c in checks(twin, "key"))
    (fallback,) = checks(twin, "fallback")
    assert fallback["detail"].startswith("the primary night-service cannot read the PBX back")
    by_itself = checks(twin, "schedule")[1]
    assert by_itself["result"] == "skipped" and "real time cannot be moved" in by_itself["detail"]
    assert "not confirmed by a person" in html
    assert "test all: 1 step(s) passed, 4 done but not confirmed, 3 skipped" in result.stdout


def test_the_installers_name_is_asked_when_not_given(tmp_path):
    data = tmp_path / "data"
    seed_schedule(data)
    config = write_config(tmp_path, SITE, SERIAL_PRIMARY)
    result = run_all(config, data, installer=None, input="  Jo  Installer \n")
    assert "Your name, for the report and the log:" in result.stdout
    _, twin, _ = report_of(result)
    assert twin["installer"] == "Jo Installer"


@pytest.mark.parametrize(
    "args, says",
    [
        (["--yes"], "--installer NAME is needed with --yes"),
        (["--yes", "--installer", "   "], "the installer's name is empty"),
        (["--yes", "--installer", "Anna\x1b[2J"], "must be printable text of at most 80"),
        (["--yes", "--installer", "x" * 81], "must be printable text of at most 80"),
        (
            ["--yes", "--installer", "Anna", "--seconds", "30"],
            "--seconds must be between 0.1 and 10 for test all",
        ),
    ],
)
def test_test_all_refuses_bad_input(tmp_path, args, says):
    config = write_config(tmp_path, SITE, SERIAL_PRIMARY)
    line = assert_one_line_error(
        nightswitch(
            "test", "all", "--simulate", "--config", config, "--data", tmp_path / "data", *args
        )
    )
    assert says in line
    assert not (tmp_path / "data" / "reports").exists()


def test_test_all_without_a_config(tmp_path):
    line = assert_one_line_error(
        nightswitch(
            "test",
            "all",
            "--yes",
            "--installer",
            "Anna",
            "--config",
            tmp_path / "none.toml",
            "--data",
            tmp_path / "data",
        )
    )
    assert "no config file here; run install.sh" in line


def test_test_all_refuses_while_the_daemon_owns_the_pins(tmp_path):
    data = tmp_path / "data"
    config = write_config(tmp_path, SITE, SERIAL_PRIMARY)
    lock = DataDirLock(data)
    assert lock.acquire()
    try:
        line = assert_one_line_error(
            nightswitch(
                "test", "all", "--yes", "--installer", "Anna", "--config", config, "--data", data
            )
        )
        assert "the nightswitch service is running and owns the pins" in line
    finally:
        lock.release()
    assert not (data / "reports").exists()


def test_installer_is_only_for_test_all(tmp_path):
    config = write_config(tmp_path, SITE, SERIAL_PRIMARY)
    line = assert_one_line_error(
        nightswitch(
            "test",
            "leds",
            "--simulate",
            "--yes",
            "--installer",
            "Anna",
            "--config",
            config,
            "--data",
            tmp_path / "data",
        )
    )
    assert "--installer is for test all" in line


def test_sigterm_stops_the_walk_and_still_writes_the_report(tmp_path):
    """systemd, or the ssh session closing, ends the walk as Ctrl+C does: the site is put
    back on its schedule, and the report says what was done and what was not."""
    data = tmp_path / "data"
    seed_schedule(data)
    config = write_config(tmp_path, SITE, SERIAL_PRIMARY)
    proc = spawn(
        "test",
        "all",
        "--simulate",
        "--yes",
        "--installer",
        "Test",
        "--seconds",
        "0.1",
        "--config",
        config,
        "--data",
        data,
        env=cli_env(PYTHONUNBUFFERED=1),
    )
    output = OutputCollector(proc)
    try:
        output.wait_for("maintenance-port disconnected; switching", timeout=120)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
        output.join()
    assert "Traceback" not in output.stderr
    (line,) = [text for text in output.stderr.splitlines() if text.startswith("nightswitch: ")]
    assert line.startswith("nightswitch: error: test all stopped: the run was interrupted")
    (report,) = (data / "reports").glob("*.json")
    twin = json.loads(report.read_text())
    assert results(twin)["modes"] == "passed"
    (fallback,) = [s for s in twin["steps"] if s["key"] == "fallback"]
    assert fallback["result"] == "failed" and "interrupted" in fallback["error"]
    assert [c["detail"][:11] for c in checks(twin, "alerts")] == ["not run: th"]
    with Store(data) as store:
        assert store.get_override("main") is None
