"""The appliance's commands as an installer and reception type them: ``check``,
``test leds|relays|key|pbx``, and ``status``/``day``/``night``/``auto`` against a running
``nightswitch simulate``. Each runs as a real subprocess; errors are one line, never a
traceback."""

from __future__ import annotations

import json
import signal
import socket

import pytest

from appliance.commands import daemon_client
from appliance.store.lock import DataDirLock
from tests.appliance_helpers import (
    REPO,
    SITE,
    OutputCollector,
    cli_env,
    contact_toml,
    nightswitch,
    panel_toml,
    spawn,
    wait_until,
)

KEYPAD = """
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


@pytest.fixture
def good_config(tmp_path):
    path = tmp_path / "nightswitch.toml"
    path.write_text(SITE + panel_toml() + contact_toml() + KEYPAD)
    return path


def assert_one_line_errors(result, code: int) -> list[str]:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("nightswitch: error: ") for line in lines), lines
    return lines


# -- check ---------------------------------------------------------------------------------


def test_check_a_good_config_summarizes_it(good_config, tmp_path):
    result = nightswitch("check", "--config", good_config, "--data", tmp_path / "none")
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0] == "site: Test office (Europe/Berlin), web on 0.0.0.0:8080"
    assert out[1] == "zone main (Main): modes day, night"
    assert out[2].startswith("  front panel: three-position key switch, debounce 50 ms; ")
    assert "key_day=GPIO5" in out[2] and "led_fault=GPIO26" in out[2]
    assert "  actuator night-service: contact (primary), modes day, night" in out
    assert "  actuator feature-code: keypad (fallback), modes day, night" in out
    assert "PBX read-back every 15 min, drift = enforce" in out
    assert out[-1] == f"{good_config}: OK"


def test_check_judges_the_saved_schedule_against_the_config(good_config, tmp_path):
    """A mode the schedule uses that no actuator can make is a config error, with
    file, key and reason (docs/design.md#modes-and-precedence); check reads the data
    directory without writing to it."""
    from datetime import datetime, timezone

    from appliance.store import Store

    data = tmp_path / "data"
    lunch = {
        "timezone": "Europe/Berlin",
        "default_mode": "night",
        "weekly": {"mon": [{"start": "08:00", "end": "12:00", "mode": "lunch"}]},
    }
    with Store(data) as store:
        store.save_schedule("main", lunch, by="anna", at=datetime.now(timezone.utc))
    before = sorted((p.name, p.stat().st_mtime_ns) for p in data.iterdir())
    result = nightswitch("check", "--config", good_config, "--data", data)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"nightswitch: error: {data}/nightswitch.db: schedule version 1: "
        "weekly.mon[0].mode: mode 'lunch' cannot be produced by this zone's "
        "actuators; allowed: day, night"
    )
    assert "save a schedule that uses only the modes" in lines[1]
    assert sorted((p.name, p.stat().st_mtime_ns) for p in data.iterdir()) == before
    with Store(data) as store:
        store.save_schedule(
            "main", dict(lunch, weekly={}), by="anna", at=datetime.now(timezone.utc)
        )
    result = nightswitch("check", "--config", good_config, "--data", data)
    assert result.returncode == 0, result.stderr
    assert "saved schedule version 2 fits the config" in result.stdout.splitlines()
    assert "runs on" not in result.stdout  # Europe/Berlin on both sides
    with Store(data) as store:
        store.save_schedule(
            "main",
            dict(lunch, weekly={}, timezone="America/New_York"),
            by="anna",
            at=datetime.now(timezone.utc),
        )
    result = nightswitch("check", "--config", good_config, "--data", data)
    assert result.returncode == 0, result.stderr
    assert (
        "warning: schedule version 3 runs on America/New_York, but site.timezone is "
        "Europe/Berlin; make them the same (Schedule page, Advanced, or the config)"
        in result.stdout.splitlines()
    )
    (data / "nightswitch.db").write_bytes(b"not a database at all" * 100)
    result = nightswitch("check", "--config", good_config, "--data", data)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "saved schedules not checked: cannot read" in result.stdout


def test_check_a_bad_config_lists_every_error_and_exits_2(tmp_path):
    path = tmp_path / "nightswitch.toml"
    path.write_text(
        SITE
        + "[verify]\ndrift = 'ignore'\n"
        + panel_toml().replace("key_night = 6", "key_night = 14")
        + contact_toml(pin=5)
    )
    result = nightswitch("check", "--config", path)
    lines = assert_one_line_errors(result, 2)
    assert (
        f"nightswitch: error: {path}: verify.drift: 'ignore' is not allowed; use one of "
        "enforce, adopt" in lines
    )
    assert any(
        "front_panel.pins.key_night: GPIO14 is reserved for UART TXD" in text for text in lines
    )
    assert any("pins: GPIO5 is used twice" in text for text in lines)
    assert result.stdout == ""


def test_check_a_toml_syntax_error(tmp_path):
    path = tmp_path / "nightswitch.toml"
    path.write_text("[site\nname = 'x'\n")
    (line,) = assert_one_line_errors(nightswitch("check", "--config", path), 2)
    assert "not valid TOML" in line and "line 1" in line


def test_check_without_a_config_file(tmp_path):
    (line,) = assert_one_line_errors(nightswitch("check", "--config", tmp_path / "none.toml"), 1)
    assert "no config file here; run install.sh" in line


@pytest.mark.parametrize(
    "command", ["check", "test", "run", "simulate", "status", "day", "night", "auto"]
)
def test_every_command_has_help(command):
    result = nightswitch(command, "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: nightswitch " + command)


def test_unknown_arguments_are_one_usage_error():
    result = nightswitch("test", "lights", "--simulate")
    assert result.returncode == 2 and "invalid choice: 'lights'" in result.stderr
    assert "Traceback" not in result.stderr


# -- test (commissioning) ---------------------------------------------------------------------


def test_test_leds_on_mock_pins(good_config, tmp_path):
    result = nightswitch(
        "test",
        "leds",
        "--yes",
        "--simulate",
        "--seconds",
        "0.1",
        "--config",
        good_config,
        "--data",
        tmp_path / "data",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name, gpio in (("day", 13), ("night", 19), ("fault", 26)):
        assert f"LED {name} (GPIO{gpio}) on for 0.1 s" in out
        assert f"did the {name} LED light? (not asked: --yes)" in out
    assert out.strip().endswith("test leds: done")


def test_test_relays_clicks_every_relay_and_skips_sense_inputs(good_config, tmp_path):
    result = nightswitch(
        "test",
        "relays",
        "--yes",
        "--simulate",
        "--seconds",
        "0.1",
        "--config",
        good_config,
        "--data",
        tmp_path / "data",
    )
    assert result.returncode == 0, result.stderr
    lines = [text for text in result.stdout.splitlines() if text.startswith("relay ")]
    assert [text.split(" closed for")[0] for text in lines] == [
        "relay night-service relay (GPIO17)",
        "relay feature-code hook (GPIO20)",
        "relay feature-code key 7 (GPIO21)",
        "relay feature-code key 1 (GPIO12)",
        "relay feature-code key 8 (GPIO18)",
        "relay feature-code key 2 (GPIO16)",
    ]
    assert "GPIO24" not in result.stdout


def test_test_key_reads_the_contacts(good_config, tmp_path):
    result = nightswitch(
        "test", "key", "--yes", "--simulate", "--config", good_config, "--data", tmp_path / "data"
    )
    assert result.returncode == 0, result.stderr
    assert (
        "key switch (three-position) of zone main: reads key_day=open, key_night=open"
        in result.stdout
    )
    assert "turn the key to DAY (not waited for: --yes)" in result.stdout


def test_test_key_asks_for_the_push_button_beside_the_key(tmp_path):
    config = tmp_path / "nightswitch.toml"
    config.write_text(
        SITE
        + panel_toml("none").replace("[front_panel.pins]", "[front_panel.pins]\nbutton = 22")
        + contact_toml()
    )
    # On mock pins nobody holds the button down: the step reads open and fails, by name.
    result = nightswitch(
        "test", "key", "--simulate", "--config", config, "--data", tmp_path / "data", input="\n"
    )
    assert "key switch (none) of zone main: reads button=open" in result.stdout
    assert "hold the reception push button down and press Enter" in result.stdout
    assert "button reads open: WRONG" in result.stdout
    (line,) = assert_one_line_errors(result, 1)
    assert line == "nightswitch: error: test key failed: not confirmed: push button"


def test_test_answers_no_is_a_failure(good_config, tmp_path):
    result = nightswitch(
        "test",
        "leds",
        "--simulate",
        "--seconds",
        "0.1",
        "--config",
        good_config,
        "--data",
        tmp_path / "data",
        input="y\nn\ny\n",
    )
    (line,) = assert_one_line_errors(result, 1)
    assert line == "nightswitch: error: test leds failed: not confirmed: led night"


@pytest.mark.parametrize("part", ["leds", "relays", "key"])
def test_test_with_nobody_to_answer_says_how_to_run_it_unattended(good_config, tmp_path, part):
    # stdin closed (a script, ssh without a tty): once "FAILED: relay ..." as if the wiring
    # were wrong, found by the hostile-CLI fuzzer
    (line,) = assert_one_line_errors(
        nightswitch(
            "test",
            part,
            "--simulate",
            "--seconds",
            "0.1",
            "--config",
            good_config,
            "--data",
            tmp_path / "data",
            input="",
        ),
        1,
    )
    assert "standard input is closed" in line and "--yes" in line


def test_test_pbx_without_a_serial_actuator(good_config, tmp_path):
    (line,) = assert_one_line_errors(
        nightswitch(
            "test",
            "pbx",
            "--yes",
            "--simulate",
            "--config",
            good_config,
            "--data",
            tmp_path / "data",
        ),
        1,
    )
    assert "no serial actuator in the config" in line


def test_test_refuses_while_the_daemon_owns_the_pins(good_config, tmp_path):
    data = tmp_path / "data"
    lock = DataDirLock(data)
    assert lock.acquire()
    try:
        (line,) = assert_one_line_errors(
            nightswitch("test", "relays", "--yes", "--config", good_config, "--data", data), 1
        )
        assert "the nightswitch service is running and owns the pins" in line
    finally:
        lock.release()


def test_test_seconds_out_of_range(good_config, tmp_path):
    (line,) = assert_one_line_errors(
        nightswitch(
            "test",
            "leds",
            "--yes",
            "--simulate",
            "--seconds",
            "0",
            "--config",
            good_config,
            "--data",
            tmp_path / "data",
        ),
        1,
    )
    assert "--seconds must be between 0.1 and 60" in line


@pytest.mark.parametrize(
    "host, says",
    [
        ("\x80", "is not an address"),  # once an 'idna' codec traceback, exit 70
        ("front desk", "is not an address"),
        ("", "an empty host"),
    ],
)
def test_simulate_refuses_a_host_that_is_not_an_address(tmp_path, host, says):
    (line,) = assert_one_line_errors(
        nightswitch(
            "simulate", "--host", host, "--port", "0", "--data", tmp_path / "d", timeout=30
        ),
        2,
    )
    assert line.startswith("nightswitch: error: --host: ") and says in line
    assert "0.0.0.0" in line


def test_simulate_on_an_address_this_machine_lacks_says_so(tmp_path):
    # 192.0.2.0/24 is TEST-NET-1: never assigned to a real interface
    result = nightswitch(
        "simulate", "--host", "192.0.2.55", "--port", "0", "--data", tmp_path / "d", timeout=30
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    # the daemon's journal lines (INFO ...) come first; the error is the one last line
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("nightswitch: ")]
    assert line.startswith("nightswitch: error: cannot serve the web page on 192.0.2.55:0")
    assert "no network interface of this machine has that address" in line


# -- status, day, night, auto against a running appliance ----------------------------------------


@pytest.fixture(scope="module")
def appliance(tmp_path_factory):
    """``nightswitch simulate`` on a free port with its clock set to Monday 10:00."""
    data = tmp_path_factory.mktemp("sim")
    proc = spawn("simulate", "--port", "0", "--data", data)
    out = OutputCollector(proc)
    try:
        out.wait_for("open http://", timeout=30)
        wait_until(lambda: (data / "daemon.json").exists())
        api("POST", data, "/sim/clock", {"now": "2026-03-02T10:00:00+01:00"})
        wait_until(lambda: api("GET", data, "/status")["mode"] == "day")
        yield {"data": data}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        out.join()
    assert proc.returncode == 0, out.stderr


def api(method, data, path, body=None):
    """The daemon's API over the command line's Unix socket (as the operator cli:USER)."""
    return daemon_client.request(data, method, "/api/v1" + path, body)


def cli(appliance, *args):
    return nightswitch(*args, "--data", appliance["data"])


def test_status_tells_the_mode_why_and_the_next_change(appliance):
    result = cli(appliance, "status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "DAY  (day: weekly hours Monday 08:00-18:00)",
        "next change: night at Mon 2 Mar 18:00",
        "key switch: auto",
        "verified: yes",
    ]


def test_night_until_a_time_then_auto(appliance):
    result = cli(appliance, "night", "--until", "19:30")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("NIGHT  (night: override by ")
    assert first.endswith("until Mon 2 Mar 19:30)")
    status = json.loads(cli(appliance, "status", "--json").stdout)
    assert status["override"]["mode"] == "night"
    assert status["override"]["until"] == "2026-03-02T19:30:00+01:00"
    result = cli(appliance, "auto")
    assert result.returncode == 0 and result.stdout.startswith("DAY  (day: weekly hours")
    assert api("GET", appliance["data"], "/status")["override"] is None


def test_day_until_never_and_next(appliance):
    result = cli(appliance, "night", "--until", "never")
    assert result.returncode == 0 and "until cancelled" in result.stdout
    result = cli(appliance, "night")  # --until next by default
    assert result.returncode == 0
    override = json.loads(cli(appliance, "status", "--json").stdout)["override"]
    assert override["until"] == "2026-03-02T18:00:00+01:00"
    assert cli(appliance, "auto").returncode == 0


def test_retry_asks_the_daemon_to_try_the_pbx_again(appliance):
    result = cli(appliance, "retry")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("DAY  (day: weekly hours")
    audit = api("GET", appliance["data"], "/audit?limit=5")["entries"]
    assert any(
        a["reason"].startswith("retry requested") and a["who"].startswith("cli:") for a in audit
    ), audit


def test_override_takes_any_mode_the_zone_can_make(appliance):
    result = cli(appliance, "override", "night", "--until", "19:30")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("NIGHT  (night: override by ")
    # the default wiring's contact makes day and night only: lunch is named, not guessed
    (line,) = assert_one_line_errors(cli(appliance, "override", "lunch"), 2)
    assert "'lunch' is not a mode" in line and "day, night" in line
    assert json.loads(cli(appliance, "status", "--json").stdout)["override"]["mode"] == "night"
    assert cli(appliance, "auto").returncode == 0


def test_a_bad_until_is_named(appliance):
    result = cli(appliance, "night", "--until", "25:00")
    (line,) = assert_one_line_errors(result, 2)
    assert "until" in line and "'25:00' is not a time of day" in line


def test_the_key_in_night_refuses_the_cli(appliance):
    data = appliance["data"]
    api("POST", data, "/sim/key", {"position": "night"})
    try:
        wait_until(lambda: api("GET", data, "/status")["key"] == "night")
        (line,) = assert_one_line_errors(cli(appliance, "day"), 1)
        assert "the key switch at reception is in NIGHT; turn it to AUTO" in line
        assert line.endswith("(HTTP 409)")
        assert "key switch: night" in cli(appliance, "status").stdout
    finally:
        api("POST", data, "/sim/key", {"position": "auto"})
        wait_until(lambda: api("GET", data, "/status")["key"] == "auto")


def test_an_unknown_zone_is_named(appliance):
    # bad input: exit 2
    (line,) = assert_one_line_errors(cli(appliance, "status", "--zone", "sales"), 2)
    assert line == "nightswitch: error: there is no zone 'sales'; zones are main (HTTP 404)"


def test_an_override_in_the_past_is_bad_input(appliance):
    (line,) = assert_one_line_errors(cli(appliance, "day", "--until", "2026-03-02T09:00"), 2)
    assert line == ('nightswitch: error: until: is in the past; give a later time, "next" or null')


#: issue 16: the service or a simulation, not the service alone
NOTHING_RUNNING = (
    "nightswitch: error: nothing is running on {data}: start the service (sudo "
    "systemctl start nightswitch), or a simulation on this data (nightswitch "
    "simulate --data {data})"
)


def no_simulation(tmp_path) -> dict:
    """The command line's environment with a temporary directory of its own, where no
    running simulation has left its note."""
    return dict(cli_env(), TMPDIR=str(tmp_path))


def test_status_without_a_running_daemon(tmp_path):
    (line,) = assert_one_line_errors(
        nightswitch("status", "--data", tmp_path, env=no_simulation(tmp_path)), 1
    )
    assert line == NOTHING_RUNNING.format(data=tmp_path)


def test_a_stale_endpoint_after_the_daemon_was_killed(tmp_path):
    # SIGKILL leaves daemon.json behind, naming a socket nobody listens on any more
    stale = tmp_path / "cli.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(stale))
    (tmp_path / "daemon.json").write_text(json.dumps({"socket": str(stale)}))
    (line,) = assert_one_line_errors(
        nightswitch("status", "--data", tmp_path, env=no_simulation(tmp_path)), 1
    )
    assert line == NOTHING_RUNNING.format(data=tmp_path)
    (tmp_path / "daemon.json").write_text("{not json")
    (line,) = assert_one_line_errors(nightswitch("status", "--data", tmp_path), 1)
    assert line.endswith("daemon.json is damaged; restart the daemon")


def test_simulate_answers_a_serial_actuator_with_the_pbx_simulator(tmp_path):
    """``simulate`` uses the PBX simulator (docs/design.md#the-pbx-simulator). A config
    whose actuator is a maintenance port (the Mitel 3300 example names /dev/ttyAMA0) talks
    to the simulator on a pty, and the mode is verified by reading the simulated PBX
    back."""
    data = tmp_path / "d"
    proc = spawn(
        "simulate",
        "--config",
        REPO / "hardware/examples/mitel-3300.toml",
        "--port",
        "0",
        "--data",
        data,
    )
    out = OutputCollector(proc)
    try:
        out.wait_for("open http://", timeout=30)
        assert "actuator maintenance-port talks to the simulated mitel-3300 on " in out.stderr
        wait_until(lambda: (data / "daemon.json").exists())
        # simulate starts at the real time of day: set a night first
        api("POST", data, "/sim/clock", {"now": "2026-03-02T06:00:00+01:00"})
        status = wait_until(
            lambda: (s := api("GET", data, "/status"))["verified"] and s["mode"] == "night" and s,
            message="the serial actuator never verified night",
        )
        assert status["mode"] == "night" and status["faults"] == []
        api("POST", data, "/sim/clock", {"now": "2026-03-02T10:00:00+01:00"})
        status = wait_until(
            lambda: (s := api("GET", data, "/status"))["mode"] == "day" and s["verified"] and s,
            message="day never verified",
        )
        assert status["faults"] == []
        reasons = [a["reason"] for a in api("GET", data, "/audit?limit=10")["entries"]]
        assert any("day" in r for r in reasons), reasons
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        out.join()
    assert proc.returncode == 0, out.stderr
    assert "/dev/ttyAMA0" not in out.stderr
