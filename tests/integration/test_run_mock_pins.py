"""``nightswitch run --mock-pins``: the appliance on a PC with gpiozero's mock pins and a
real serial port, as an installer rehearses against a real PBX through a USB-serial
cable before the Pi is mounted. The "real PBX" here is the simulator on a real pty."""

from __future__ import annotations

import signal

from appliance.sim import PbxSimulator
from tests.appliance_helpers import (
    SITE,
    OutputCollector,
    cli_env,
    free_port,
    panel_toml,
    spawn,
    wait_until,
)
from tests.fixtures.pbx.simhelp import profiles
from tests.integration.test_cli_appliance import api


def write_config(tmp_path, port_path: str) -> str:
    path = tmp_path / "rehearsal.toml"
    path.write_text(
        SITE
        + f'[web]\nlisten = "127.0.0.1:{free_port()}"\n'
        + panel_toml()
        + f"""
[[actuators]]
name = "maintenance-port"
type = "serial"
profile = "mitel-3300"
port = "{port_path}"
modes = {{ day = "day", night = "night" }}
"""
    )
    return path


def test_run_with_mock_pins_switches_a_real_serial_port(tmp_path):
    # No GPIO here, and a pin factory that does not exist: only --mock-pins can start it.
    env = cli_env(NIGHTSWITCH_TRUST_CLOCK="1", GPIOZERO_PIN_FACTORY="no-such-factory")
    with PbxSimulator(profiles()["mitel-3300"], seed=3) as pbx:
        cfg = write_config(tmp_path, pbx.port_path)
        data = tmp_path / "data"
        proc = spawn("run", "--mock-pins", "--config", cfg, "--data", data, env=env)
        out = OutputCollector(proc)
        try:
            wait_until(
                lambda: (data / "daemon.json").exists(),
                timeout=30,
                message="run --mock-pins did not start:\n" + out.stderr,
            )
            status = wait_until(
                lambda: (s := api("GET", data, "/status"))["verified"] and s,
                timeout=30,
                message="never verified:\n" + out.stderr,
            )
            assert pbx.model.mode == status["mode"] and status["faults"] == []
            other = "night" if status["mode"] == "day" else "day"
            api("POST", data, "/override", {"mode": other, "until": None})
            wait_until(
                lambda: pbx.model.mode == other and api("GET", data, "/status")["verified"],
                timeout=30,
                message="the override never reached the PBX:\n" + out.stderr,
            )
            assert [c.by for c in pbx.model.history][-1] == "serial"
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(20)
            out.join()
    assert code == 0, out.stderr
    assert (
        "mock pins: no relay, LED or key switch is real; serial ports are: "
        f"maintenance-port on {pbx.port_path}" in out.stderr
    )
    assert "Traceback" not in out.stderr


def test_run_without_pins_says_how_to_rehearse_on_a_pc(tmp_path):
    env = cli_env(NIGHTSWITCH_TRUST_CLOCK="1", GPIOZERO_PIN_FACTORY="no-such-factory")
    cfg = write_config(tmp_path, "/dev/ttyUSB0")
    proc = spawn("run", "--config", cfg, "--data", tmp_path / "data", env=env)
    out = OutputCollector(proc)
    assert proc.wait(30) == 1
    out.join()
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("nightswitch: error: cannot open the GPIO pins (")
    assert (
        "on a PC use `nightswitch run --mock-pins` (a real PBX on a USB-serial cable) or "
        "`nightswitch simulate`" in lines[-1]
    )
    assert "Traceback" not in out.stderr
