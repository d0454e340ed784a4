"""The simulated PBX's serial side on its own, seen from a plain pyserial port."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

import pytest
import serial

from appliance.errors import SimError
from appliance.sim import PbxSimulator
from appliance.smdr.parser import LineKind, parse_line
from tests.appliance_helpers import wait_until
from tests.fixtures.pbx.simhelp import PASSWORD, profiles


def open_port(path, **kwargs):
    kwargs.setdefault("baudrate", 9600)
    return serial.serial_for_url(path, do_not_open=False, timeout=0.05, **kwargs)


def read_until(port, text: bytes, timeout=3.0) -> bytes:
    got = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end and text not in got:
        got += port.read(max(1, port.in_waiting))
    return got


@pytest.fixture
def mitel():
    with PbxSimulator(profiles()["mitel-3300"], seed=1) as sim:
        yield sim


def test_a_pty_path_and_a_stable_link(mitel):
    assert mitel.device.startswith("/dev/pts/")
    assert os.path.realpath(mitel.port_path) == mitel.device
    assert "mitel-3300" in repr(mitel) and "9600 8N1" in repr(mitel)


def test_it_speaks_the_profiles_dialogue_with_echo(mitel):
    with open_port(mitel.port_path) as port:
        port.write(b"CP SERVICE NIGHT2\r")
        got = read_until(port, b"TO NIGHT2\r\n")
        assert got == b"CP SERVICE NIGHT2\r\nSYSTEM STATUS CHANGED TO NIGHT2\r\n"
        assert mitel.model.mode == "night2"
        port.write(b"cp service display\r")  # commands are not case-sensitive
        assert b"CURRENT SYSTEM STATUS IS NIGHT2" in read_until(port, b"IS NIGHT2")


def test_writes_take_the_wires_time(mitel):
    with open_port(mitel.port_path) as port:
        start = time.monotonic()
        port.write(b"CP SERVICE DISPLAY\r")
        got = read_until(port, b"IS DAY\r\n")
        elapsed = time.monotonic() - start
    wire = (len(b"CP SERVICE DISPLAY\r") + len(got)) * 10 / 9600
    assert elapsed >= wire + mitel.delay_s
    # the simulator counts a chunk after its write() returns, and the reader may already
    # have it by then: wait for the count rather than race the simulator's thread
    assert wait_until(lambda: mitel.bytes_out == len(got), timeout=2.0), mitel.bytes_out
    assert mitel.bytes_in == 19 and mitel.bytes_out == len(got)


def test_a_slower_port_is_slower():
    with PbxSimulator(profiles()["mitel-3300"], baud=1200) as sim:
        with open_port(sim.port_path, baudrate=1200) as port:
            start = time.monotonic()
            port.write(b"CP SERVICE DISPLAY\r")
            got = read_until(port, b"IS DAY\r\n")
            elapsed = time.monotonic() - start
    assert b"CURRENT SYSTEM STATUS IS DAY" in got
    assert elapsed >= (19 + len(got)) * 10 / 1200


def test_the_wrong_speed_or_stop_bits_get_line_noise(mitel):
    # A pty keeps only these two of the settings a client makes (see PtyEnd).
    for wrong in ({"baudrate": 1200}, {"stopbits": serial.STOPBITS_TWO}):
        with open_port(mitel.port_path, **wrong) as port:
            port.write(b"CP SERVICE NIGHT1\r")
            assert wait_until(lambda: port.in_waiting > 0, 3.0), wrong
            time.sleep(0.1)
            got = port.read(port.in_waiting)
        assert got and b"SYSTEM STATUS" not in got, wrong
    assert mitel.model.mode == "day"


def test_a_login_with_username_and_password():
    profile = profiles()["mitel-3300-login"]
    with (
        PbxSimulator(profile, password=PASSWORD) as sim,
        open_port(sim.port_path, baudrate=sim.settings.baudrate) as port,
    ):
        # No re-prompt: a blank line at the login prompt is an empty user name, refused.
        port.write(b"\r")
        assert read_until(port, b"login: ") == b"\r\nLOGIN INCORRECT\r\n\r\nlogin: "
        port.write(b"system\r")
        assert b"Password: " in read_until(port, b"Password: ")
        port.write(PASSWORD.encode() + b"\r")
        got = read_until(port, b"MAINT> ")
        assert PASSWORD.encode() not in got  # no echo of the password
        assert sim.terminal.logged_in and sim.model.mode == "day"
        port.write(b"LOGOUT\r")
        assert read_until(port, b"login: ").endswith(b"GOODBYE\r\n\r\nlogin: ")
        assert not sim.terminal.logged_in
        assert sim.terminal.events == ["refused: empty user name", "logged in", "logged out"]


def test_a_session_left_logged_in_outlives_the_client_and_the_faults():
    """A 3-wire line has no hang-up: closing the port, a drop and a clear all leave the
    PBX logged in, with what was typed without Enter still in its line buffer."""
    profile = profiles()["mitel-3300-login"]
    with PbxSimulator(profile, password=PASSWORD) as sim:
        with open_port(sim.port_path, baudrate=sim.settings.baudrate) as port:
            port.write(b"system\r" + PASSWORD.encode() + b"\rCP SERV")
            read_until(port, b"MAINT> ")
            assert wait_until(lambda: sim.terminal.session.pending == "CP SERV")
        sim.inject("drop")
        sim.clear()
        sim.inject("silence")
        sim.clear()
        assert sim.terminal.where == "logged_in" and sim.terminal.session.pending == "CP SERV"
        with open_port(sim.port_path, baudrate=sim.settings.baudrate) as port:
            port.write(b"\r")  # submits "CP SERV": unknown, a prompt
            assert read_until(port, b"MAINT> ").endswith(b"\r\n\r\nMAINT> ")
            port.write(b"\r")  # a blank line: no re-prompt at all
            time.sleep(0.2)
            assert port.read(port.in_waiting) == b"\r\n"  # only the echo
            port.write(b"CP SERVICE NIGHT1\r")  # no idle timeout: still logged in
            assert b"CHANGED TO NIGHT1" in read_until(port, b"MAINT> ")
        assert sim.terminal.events == ["logged in", "unknown: CP SERV"]
        sim.inject("power_cut")  # only a power-up logs it out
        assert sim.terminal.where == "login"


def test_the_cut_fault_leaves_half_a_line_and_a_session_open():
    profile = profiles()["mitel-3300-login"]
    events = []
    with PbxSimulator(profile, password=PASSWORD, on_event=events.append) as sim:
        sim.put_terminal("logged_in")
        sim.inject("cut")
        with open_port(sim.port_path, baudrate=sim.settings.baudrate) as port:
            port.write(b"\r")  # a blank line passes: the cut waits
            assert read_until(port, b"\r\n") == b"\r\n"
            port.write(b"CP SERVICE NIGHT1\r")
            assert wait_until(lambda: sim.terminal.session.pending.startswith("CP SERV"))
            half = sim.terminal.session.pending
            assert "CP SERVICE NIGHT1".startswith(half) and len(half) < 17
            port.write(b"LOGOUT\r")  # lost on the cut line
            time.sleep(0.2)
            assert port.read(port.in_waiting) == b""
        assert sim.terminal.where == "logged_in" and sim.model.mode == "day"
        assert f"line cut after {half!r}: the session stays logged in" in events
        sim.clear()
        assert sim.terminal.where == "logged_in" and sim.terminal.session.pending == half


def test_put_terminal_and_its_bad_places():
    profile = profiles()["mitel-3300-login"]
    with PbxSimulator(profile, password=PASSWORD) as sim:
        sim.put_terminal("password", pending="s3c")
        assert sim.terminal.where == "password" and sim.terminal.session.username == "system"
        with pytest.raises(SimError, match="'upstairs' is not a place this terminal has"):
            sim.put_terminal("upstairs")
    with PbxSimulator(profiles()["mitel-3300"]) as sim:
        with pytest.raises(SimError, match="use one of login, logged_in"):
            sim.put_terminal("password")


def test_a_port_that_refuses_a_setting_is_an_actuator_error(mitel):
    # A Linux pty that has been opened 8N1 refuses 7 data bits without parity with
    # termios.error (EINVAL), which is not an OSError: it must still become an
    # ActuatorError that names the settings.
    from appliance.actuators import serial_port
    from appliance.errors import ActuatorError
    from tests.fixtures.pbx.simhelp import fast

    open_port(mitel.port_path).close()
    profile = fast(profiles()["mitel-3300"])
    actuator = serial_port.build(
        {
            "name": "p",
            "type": "serial",
            "zone": "main",
            "role": "primary",
            "profile": "mitel-3300",
            "port": mitel.port_path,
            "settings": {"bytesize": 7, "parity": "none"},
        },
        profiles={"mitel-3300": profile},
    )
    with pytest.raises(ActuatorError) as caught:
        actuator.read_back()
    assert "cannot open the port with 9600 7N1" in str(caught.value)


def test_a_wrong_password_gets_the_documented_refusal():
    profile = profiles()["mitel-3300-login"]
    with (
        PbxSimulator(profile, password=PASSWORD) as sim,
        open_port(sim.port_path, baudrate=sim.settings.baudrate) as port,
    ):
        for line in (b"system\r", b"guess\r"):
            port.write(line)
        assert b"LOGIN INCORRECT" in read_until(port, b"LOGIN INCORRECT")
        assert not sim.terminal.logged_in
        assert wait_until(lambda: sim.terminal.events == ["refused: password"])


def test_faults_silence_garbage_and_clear(mitel):
    with open_port(mitel.port_path) as port:
        mitel.inject("silence")
        port.write(b"CP SERVICE NIGHT1\r")
        time.sleep(0.2)
        assert port.read(port.in_waiting) == b"" and mitel.model.mode == "day"
        mitel.inject("clear")
        mitel.inject("garbage")
        port.write(b"CP SERVICE DISPLAY\r")
        assert wait_until(lambda: port.in_waiting > 20, 3.0)
        noise = port.read(port.in_waiting)
        assert len(noise) > 20 and b"STATUS" not in noise
        mitel.clear()
        port.write(b"CP SERVICE DISPLAY\r")
        assert b"IS DAY" in read_until(port, b"IS DAY")


def test_slow_answers_come_late(mitel):
    mitel.inject("slow", seconds=0.5)
    with open_port(mitel.port_path) as port:
        start = time.monotonic()
        port.write(b"CP SERVICE DISPLAY\r")
        read_until(port, b"IS DAY")
        assert time.monotonic() - start >= 0.5


def test_drop_closes_the_pty_and_a_new_one_follows_the_link(mitel):
    first = mitel.device
    port = open_port(mitel.port_path)
    mitel.inject("drop", seconds=2.0)  # long enough that a stalled test still sees it
    with pytest.raises(serial.SerialException):
        port.write(b"CP SERVICE DISPLAY\r")
        for _ in range(20):
            port.read(1)
    port.close()
    with pytest.raises(serial.SerialException):
        open_port(mitel.port_path)
    assert wait_until(lambda: mitel.device is not None, 6.0)
    assert os.path.realpath(mitel.port_path) == mitel.device
    with open_port(mitel.port_path) as again:
        again.write(b"CP SERVICE DISPLAY\r")
        assert b"IS DAY" in read_until(again, b"IS DAY")
    assert first.startswith("/dev/pts/")


def test_power_cut_is_silent_then_back_in_the_profiles_mode(mitel):
    events = []
    mitel.on_event = events.append
    mitel.model.set_mode("night", by="console")
    mitel.inject("power_cut", seconds=2.0)  # the write below must land inside the cut
    assert not mitel.model.powered
    with open_port(mitel.port_path) as port:
        port.write(b"CP SERVICE DISPLAY\r")
        time.sleep(0.15)
        assert port.read(port.in_waiting) == b""
        assert wait_until(lambda: mitel.model.powered, 6.0)
        port.write(b"CP SERVICE DISPLAY\r")
        assert b"IS NIGHT1" in read_until(port, b"IS NIGHT1")  # Mitel: prior service
    assert events == ["power cut: off for 2 s", "power back on, in night"]


def test_bad_requests_are_refused_plainly(mitel):
    with pytest.raises(SimError, match="not a fault; use one of silence"):
        mitel.inject("flood")
    with pytest.raises(SimError, match="no login with a password"):
        mitel.inject("wrong_password")
    with pytest.raises(SimError, match="no SMDR format"):
        mitel.call()
    with pytest.raises(SimError, match="asks for a password"):
        PbxSimulator(profiles()["mitel-3300-login"])
    with pytest.raises(SimError, match="nothing to simulate"):
        PbxSimulator(profiles()["generic-contact"]).start()


def test_smdr_records_in_the_profiles_format_parse_back():
    profile = profiles()["avaya-partner"]
    when = datetime(2026, 12, 24, 19, 5, tzinfo=timezone.utc)
    with PbxSimulator(profile, now=lambda: when, seed=5) as sim:
        assert sim.port_path is None and sim.smdr_path is not None
        fmt = sim.smdr
        assert sim.smdr_settings.describe().startswith("1200 8N2")  # the Partner's SMDR port
        with open_port(sim.smdr_path, **sim.smdr_settings.pyserial_kwargs()) as port:
            line = sim.call(
                direction="out", extension="10", trunk="02", duration_s=157, number="9085559111"
            )
            got = read_until(port, b"\r\n").decode("latin-1").strip()
    assert got == line
    parsed = parse_line(line, fmt, now=when, tz=timezone.utc)
    assert parsed.kind == LineKind.CALL
    assert parsed.record.duration_s == 157 and parsed.record.direction == "out"
    assert parsed.record.number.startswith("9085559111")


def test_smdr_every_emits_calls():
    with PbxSimulator(profiles()["samsung-dcs"], smdr_every=0.05, seed=2) as sim:
        with open_port(sim.smdr_path) as port:
            got = read_until(port, b"\r\n", timeout=3.0)
            assert wait_until(lambda: sim.calls_emitted >= 3, 3.0)
    assert got.strip()


def test_close_is_idempotent_and_removes_the_links():
    sim = PbxSimulator(profiles()["mitel-3300"]).start()
    link = sim.port_path
    sim.close()
    sim.close()
    assert not os.path.lexists(link)


def test_the_port_reads_as_open_only_once_the_link_points_at_it(tmp_path, monkeypatch):
    """The race behind a flaky drop test: open() used to mark the port open before the
    stable link pointed at the new pty, so a client that waited for "open" could still
    find the old one. Now the link is swapped first."""
    from appliance.sim import pty_pbx

    end = pty_pbx.PtyEnd(tmp_path / "maintenance")
    seen = []
    real_replace = os.replace

    def watching_replace(src, dst):
        seen.append(end.is_open)
        real_replace(src, dst)

    monkeypatch.setattr(pty_pbx.os, "replace", watching_replace)
    try:
        device = end.open()
        assert seen == [False]
        assert end.is_open and os.path.realpath(end.link) == device == end.device
        end.close(unlink=True)
        assert not end.is_open and not os.path.lexists(end.link)  # gone, as a pulled adapter
    finally:
        end.close()
