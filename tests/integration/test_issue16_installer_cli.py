"""Issue 16, the installer's command line: ``simulate`` says how other commands reach it
(and how to come back to it, and reset the admin's password), a command aimed at the
wrong data directory names the running simulation instead of ``systemctl start``,
``test pbx --simulate`` talks to the PBX simulator on a pty, and an editable install of
the project prints no setuptools warning (the first ``./dev`` run)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.appliance_helpers import REPO, OutputCollector, cli_env, nightswitch, spawn
from tests.web.test_issue16_sim_api import PBX_PASSWORD


def _simulate(data, env):
    proc = spawn("simulate", "--port", "0", "--data", data, env=env)
    out = OutputCollector(proc)
    out.wait_for("Ctrl+C stops it", timeout=30)
    return proc, out


def _stop(proc, out) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)
    out.join()
    assert proc.returncode == 0, out.stderr


def test_simulate_tells_how_to_reach_it_and_a_wrong_data_dir_names_it(tmp_path):
    env = cli_env(TMPDIR=tmp_path)  # where simulations leave their note
    data = tmp_path / "sim"
    proc, out = _simulate(data, env)
    try:
        lines = [line.rstrip("\n").removeprefix("nightswitch simulate: ") for line in out.out]
        assert lines[0] == f"data in {data}"
        assert lines[2].startswith("log in as admin with password ")
        assert (
            f"other commands reach this simulation with --data {data}, such as: "
            f"nightswitch status --data {data}"
        ) in lines
        assert f"to come back to it later: nightswitch simulate --data {data}" in lines
        # the wrong data directory (the service's, by default) names the simulation
        result = nightswitch("status", "--data", tmp_path / "elsewhere", env=env)
        assert result.returncode == 1
        assert result.stderr.strip() == (
            f"nightswitch: error: nothing is running on {tmp_path / 'elsewhere'}, but a "
            f"simulation is (nightswitch simulate, data in {data}): add --data {data} to "
            "reach it"
        )
        assert "systemctl" not in result.stderr
        result = nightswitch("status", "--data", data, env=env)
        assert result.returncode == 0 and result.stdout.startswith(("DAY", "NIGHT"))
        # the password reset it names works while the simulation runs
        result = nightswitch(
            "user",
            "passwd",
            "admin",
            "--data",
            data,
            "--password-stdin",
            env=env,
            input="a-new-long-pass-2026\n",
        )
        assert result.returncode == 0, result.stderr
    finally:
        _stop(proc, out)
    assert not list(tmp_path.glob("nightswitch-simulate-*.json"))  # its note is gone
    result = nightswitch("status", "--data", data, env=env)
    assert result.stderr.strip() == (
        f"nightswitch: error: nothing is running on {data}: start the service (sudo "
        f"systemctl start nightswitch), or a simulation on this data (nightswitch simulate "
        f"--data {data})"
    )
    # back on the same data: no new password, but how to reset it
    proc, out = _simulate(data, env)
    try:
        lines = [line.rstrip("\n").removeprefix("nightswitch simulate: ") for line in out.out]
        assert lines[0] == f"data in {data}"
        assert lines[2] == (
            f"log in with the accounts already in {data}; forgot the "
            f"admin's password? nightswitch user passwd admin --data {data}"
        )
        assert not any("password " in line and "log in as admin" in line for line in lines)
    finally:
        _stop(proc, out)


def test_a_note_left_by_a_killed_simulation_is_ignored(tmp_path):
    env = cli_env(TMPDIR=tmp_path)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    note = tmp_path / f"nightswitch-simulate-{os.getuid()}-{dead}.json"
    note.write_text(f'{{"data": "/nowhere", "web": "http://127.0.0.1:1/", "pid": {dead}}}\n')
    result = nightswitch("status", "--data", tmp_path / "d", env=env)
    assert "nightswitch simulate --data" in result.stderr and "/nowhere" not in result.stderr


def test_test_pbx_simulate_talks_to_the_pbx_simulator(tmp_path):
    result = nightswitch(
        "test",
        "pbx",
        "--simulate",
        "--yes",
        "--config",
        REPO / "hardware/examples/mitel-3300.toml",
        env=cli_env(TMPDIR=tmp_path),
    )
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    assert "simulated: maintenance-port talks to the PBX simulator on " in out
    assert "(a pseudo-terminal) instead of /dev/ttyAMA0" in out
    assert "read back night" in out and "PBX dialogue OK" in out
    assert out.rstrip().endswith("test pbx: done")


def test_test_pbx_simulate_logs_in_without_showing_the_password(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text(f'''
[site]
name = "Login site"
timezone = "Europe/Berlin"

[profiles]
dir = "{REPO / "tests/fixtures/pbx/site"}"

[[actuators]]
name = "maintenance-port"
type = "serial"
zone = "main"
role = "primary"
profile = "mitel-3300-login"
port = "/dev/ttyAMA0"
password = "{PBX_PASSWORD}"
modes = {{ day = "day", night = "night" }}
''')
    result = nightswitch(
        "test", "pbx", "--simulate", "--yes", "--config", config, env=cli_env(TMPDIR=tmp_path)
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "logged in (3 steps" in result.stdout and "PBX dialogue OK" in result.stdout
    assert PBX_PASSWORD not in result.stdout + result.stderr


def test_an_editable_install_prints_no_setuptools_warning(tmp_path):
    """The first ``./dev`` run installs the project editable with ``pip -q``: setuptools
    must take the plain .pth route, which has nothing to warn about."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    result = subprocess.run(
        [venv / "bin/python", "-m", "pip", "install", "-q", "--no-deps", "-e", REPO],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    said = result.stdout + result.stderr
    assert "Editable installation" not in said and "BuildBackendWarning" not in said, said
    check = subprocess.run(
        [venv / "bin/python", "-c", "import appliance; print(appliance.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert check.stdout.strip() == str(REPO / "appliance" / "__init__.py"), check.stderr
