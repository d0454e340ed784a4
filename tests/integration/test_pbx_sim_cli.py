"""``nightswitch pbx-sim`` as an installer runs it: a process on a pty, driven from stdin."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial

from appliance.actuators import serial_port
from appliance.errors import ActuatorError
from tests.fixtures.pbx.simhelp import fast, profiles, spec_for

ROOT = Path(__file__).resolve().parents[2]


class SimProcess:
    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "pbx-sim", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 10.0) -> re.Match:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r}; saw {self.seen}")

    def send(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.send("quit")
        try:
            return self.proc.wait(timeout=10)
        finally:
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                stream.close()


def test_an_installer_session():
    sim = SimProcess("--profile", "mitel-3300", "--mode", "night")
    try:
        found = sim.wait_for(r"maintenance port at (/dev/pts/\d+) \(9600 8N1.*stable path (\S+)\)")
        device, link = found.group(1), found.group(2)
        assert Path(link).resolve() == Path(device)
        profile = fast(profiles()["mitel-3300"], step_s=0.6)
        actuator = serial_port.build(spec_for(profile, link), profiles={profile.name: profile})
        assert actuator.read_back() == "night"
        actuator.apply("day")
        sim.wait_for(r"mode night -> day \(by serial\)")
        sim.send("mode night2")
        sim.wait_for(r"mode day -> night2 \(by console\)")
        assert actuator.read_back() == "night2"
        sim.send("fault silence")
        sim.wait_for("fault silence on")
        with pytest.raises(ActuatorError, match="received nothing"):
            actuator.read_back()
        sim.send("clear")
        sim.wait_for("faults cleared")
        assert actuator.read_back() == "night2"
        sim.send("powercut")
        sim.wait_for("power cut: back on in night2")  # Mitel: retains its mode
        sim.send("fault wrong_password")
        sim.wait_for("no login with a password")
        sim.send("frobnicate")
        sim.wait_for("unknown command 'frobnicate'; type 'help'")
        sim.send("help")
        sim.wait_for("fault FAULT")
    finally:
        assert sim.stop() == 0


def test_smdr_output_on_a_second_pty():
    sim = SimProcess("--profile", "samsung-dcs", "--smdr-every", "0.1")
    try:
        sim.wait_for("no maintenance port")
        path = sim.wait_for(
            r"SMDR output at /dev/pts/\d+ \(format samsung-dcs.*stable path "
            r"(\S+)\)"
        ).group(1)
        with serial.serial_for_url(path, do_not_open=False, timeout=2.0) as port:
            line = port.readline()
        assert line.endswith(b"\r\n") and len(line.strip()) > 10
        sim.send("call")
        sim.wait_for("SMDR ")
    finally:
        assert sim.stop() == 0


def test_it_keeps_running_without_stdin_until_terminated():
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance", "pbx-sim", "--profile", "mitel-3300"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "pbx-sim: mitel-3300" in proc.stdout.readline()
        time.sleep(0.3)
        assert proc.poll() is None
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--profile", "mitel"], "--profile: 'mitel' is not a known PBX profile"),
        (["--profile", "mitel-3300", "--baud", "9601"], "--baud: 9601 is not allowed"),
        (["--profile", "mitel-3300", "--mode", "lunch"], "--mode: 'lunch' is not one of"),
        (["--profile", "mitel-3300", "--fault", "fire"], "--fault: 'fire' is not allowed"),
        (["--profile", "mitel-3300", "--smdr-every", "0"], "--smdr-every: 0 is not allowed"),
        (["--profile", "mitel-3300", "--timezone", "Mars/Base"], "--timezone: 'Mars/Base'"),
        (["--profile", "generic-contact"], "there is nothing to simulate on a serial port"),
    ],
)
def test_bad_arguments_are_one_line_errors(args, message):
    done = subprocess.run(
        [sys.executable, "-m", "appliance", "pbx-sim", *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode in (1, 2)
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("nightswitch: error: ")


def test_terminal_states_and_the_cut_from_stdin():
    """An installer rehearses the states a real terminal is found in."""
    from tests.fixtures.pbx.simhelp import PASSWORD, SITE_DIR

    sim = SimProcess(
        "--profile", "mitel-3300-login", "--profiles-dir", str(SITE_DIR), "--password", PASSWORD
    )
    try:
        link = sim.wait_for(r"maintenance port at /dev/pts/\d+ .*stable path (\S+)\)").group(1)
        sim.wait_for("terminal at login")
        profile = fast(profiles()["mitel-3300-login"], step_s=1.0, operation_s=8.0)
        actuator = serial_port.build(spec_for(profile, link), profiles={profile.name: profile})
        sim.send("terminal logged_in CP SERV")
        sim.wait_for(r"terminal at logged_in, 'CP SERV' typed")
        assert actuator.read_back() == "day"
        sim.send("status")
        sim.wait_for(r"terminal at login$")  # logged out again afterwards
        sim.send("fault cut")
        sim.wait_for("fault cut on")
        with pytest.raises(ActuatorError, match="the PBX may still be logged in"):
            actuator.apply("night")
        sim.wait_for(r"line cut after 'C[^']*': the session stays logged in")
        sim.send("clear")
        sim.wait_for("faults cleared")
        actuator.apply("night")
        sim.wait_for(r"mode day -> night \(by serial\)")
        sim.send("terminal upstairs")
        sim.wait_for(
            "'upstairs' is not a place this terminal has; use one of login, password, logged_in"
        )
    finally:
        assert sim.stop() == 0
