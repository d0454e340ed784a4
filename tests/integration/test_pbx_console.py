"""``nightswitch console``: a real terminal (a pty) on the simulated PBX's port, and the
session in the audit log."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.sim import PbxSimulator
from appliance.store import Store
from tests.fixtures.pbx.simhelp import profiles

ROOT = Path(__file__).resolve().parents[2]


def read_until(fd: int, text: bytes, timeout: float = 10.0) -> bytes:
    got = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end and text not in got:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                got += os.read(fd, 4096)
            except OSError:
                break
    return got


def console(args, env_extra=None):
    """Start ``nightswitch console`` with a pty as its terminal; returns (proc, master)."""
    master, slave = pty.openpty()
    env = dict(os.environ, **(env_extra or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance", "console", *args],
        cwd=ROOT,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    return proc, master


def finish(proc, master) -> int:
    try:
        return proc.wait(timeout=10)
    finally:
        os.close(master)


def test_a_console_session_talks_to_the_pbx_and_is_audited(tmp_path):
    data = tmp_path / "data"
    with PbxSimulator(profiles()["mitel-3300"]) as sim:
        proc, master = console(
            ["--profile", "mitel-3300", "--port", sim.port_path, "--data", str(data)],
            {"SUDO_USER": "installer-jo"},
        )
        banner = read_until(master, b"audit log")
        assert b"9600 8N1" in banner and b"Ctrl+]" in banner
        os.write(master, b"CP SERVICE NIGHT1\r")
        assert b"SYSTEM STATUS CHANGED TO NIGHT1" in read_until(master, b"TO NIGHT1")
        assert sim.model.mode == "night"
        os.write(master, b"\x1d")  # Ctrl+] quits
        read_until(master, b"console closed")
        assert finish(proc, master) == 0
    store = Store(data)
    try:
        rows = store.audit(source="console")
    finally:
        store.close()
    assert [r["who"] for r in rows] == ["installer-jo", "installer-jo"]
    reasons = sorted(r["reason"] for r in rows)
    assert reasons[0].startswith(f"console session on {sim.port_path} ended after")
    assert reasons[1] == f"console session on {sim.port_path} started (profile mitel-3300)"
    assert {r["zone"] for r in rows} == {"main"}


def test_the_port_and_profile_come_from_the_config(tmp_path):
    data = tmp_path / "data"
    with PbxSimulator(profiles()["mitel-3300"]) as sim:
        config = tmp_path / "nightswitch.toml"
        config.write_text(f"""
[site]
name = "Test"
timezone = "Europe/Berlin"
[[zones]]
name = "sales"
[[actuators]]
name = "maintenance-port"
type = "serial"
zone = "sales"
profile = "mitel-3300"
port = "{sim.port_path}"
""")
        proc, master = console(["--config", str(config), "--data", str(data)])
        read_until(master, b"audit log")
        os.write(master, b"CP SERVICE DISPLAY\r")
        assert b"CURRENT SYSTEM STATUS IS DAY" in read_until(master, b"IS DAY")
        os.write(master, b"\x1d")
        assert finish(proc, master) == 0
    store = Store(data)
    try:
        assert {r["zone"] for r in store.audit(source="console")} == {"sales"}
    finally:
        store.close()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--profile", "mitel-3300"], "--port: is required with --profile"),
        (["--port", "/dev/ttyUSB0"], "--profile: is required with --port"),
        (
            ["--profile", "mitel-3300", "--port", "/dev/x", "--actuator", "a"],
            "give either --actuator or --profile",
        ),
        (
            ["--profile", "mitel-3300", "--port", "/dev/x", "--baud", "7"],
            "--baud: 7 is not allowed",
        ),
        (["--profile", "nope", "--port", "/dev/x"], "'nope' is not a known PBX profile"),
    ],
)
def test_bad_arguments_are_one_line_errors(args, message, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "appliance", "console", *args, "--data", str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_without_a_terminal_it_says_so(tmp_path):
    with PbxSimulator(profiles()["mitel-3300"]) as sim:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "appliance",
                "console",
                "--profile",
                "mitel-3300",
                "--port",
                sim.port_path,
                "--data",
                str(tmp_path),
            ],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 1
    assert "console needs a terminal on stdin" in done.stderr


def test_a_missing_port_is_a_one_line_error(tmp_path):
    proc, master = console(
        [
            "--profile",
            "mitel-3300",
            "--port",
            str(tmp_path / "ttyUSB7"),
            "--data",
            str(tmp_path / "data"),
        ]
    )
    out = read_until(master, b"\n", timeout=10)
    assert finish(proc, master) == 1
    assert b"nightswitch: error: cannot open" in out and b"ttyUSB7" in out
