"""The serial actuator against the simulated PBX on a real pty, per profile with a
serial dialogue: every mode, the read-back, and every fault the simulator injects."""

from __future__ import annotations

import logging

import pytest

from appliance.actuators import serial_port
from appliance.errors import ActuatorError, LoginRefused, SimError
from appliance.sim import PbxModel, PbxSimulator
from tests.fixtures.pbx.simhelp import PASSWORD, fast, profiles, serial_profiles, spec_for

SERIAL = serial_profiles()


def test_every_serial_profile_is_covered():
    assert {"mitel-3300", "mitel-3300-login", "mitel-3300-states"} <= set(SERIAL)


@pytest.fixture(params=SERIAL)
def rig(request):
    """A fast-failing copy of the profile, its simulator, and an actuator on it."""
    profile = fast(profiles()[request.param])
    sim = PbxSimulator(
        profile, password=PASSWORD if profile.serial.needs_password else "", seed=7
    ).start()
    actuator = serial_port.build(spec_for(profile, sim.port_path), profiles={profile.name: profile})
    yield profile, sim, actuator
    actuator.close()
    sim.close()


def test_every_mode_is_set_and_read_back(rig):
    profile, sim, actuator = rig
    for mode in profile.serial.commands:
        actuator.apply(mode)
        assert sim.model.mode == mode
        assert actuator.read_back() == mode
    assert [c.by for c in sim.model.history] == ["serial"] * len(profile.serial.commands)
    if profile.serial.logout:
        assert not sim.terminal.logged_in  # each operation logged out


def test_a_mode_changed_behind_our_back_is_read_back(rig):
    profile, sim, actuator = rig
    actuator.apply("day")
    sim.model.set_mode("night", by="console")
    assert actuator.read_back() == "night"


@pytest.mark.parametrize(
    "fault,words",
    [
        ("silence", ("received nothing",)),
        # Line noise is quoted where the terminal's state is looked for, else a timeout.
        ("garbage", ("no answer within", "the terminal answered")),
        ("slow", ("no answer within", "received nothing")),
    ],
)
def test_fault_then_recovery(rig, fault, words):
    profile, sim, actuator = rig
    actuator.apply("day")
    sim.inject(fault)
    with pytest.raises(ActuatorError) as caught:
        actuator.apply("night")
    message = str(caught.value)
    assert any(w in message for w in words), message
    if "is the PBX on" in message:
        # Only when nothing at all came back on this port.
        assert "received nothing" in message and "answered" not in message
    assert f"[{profile.name} on {sim.port_path}]" in message
    assert sim.model.mode != "night" or fault in ("garbage", "slow")
    sim.clear()
    actuator.apply("night")
    assert sim.model.mode == "night" and actuator.read_back() == "night"


def test_wrong_password_is_refused_once_then_recovery(rig):
    profile, sim, actuator = rig
    if not profile.serial.needs_password:
        with pytest.raises(SimError, match="no login with a password"):
            sim.inject("wrong_password")
        return
    sim.inject("wrong_password")
    for _ in range(2):
        with pytest.raises(LoginRefused) as caught:
            actuator.apply("night")
        assert caught.value.retry_automatically is False
    message = str(caught.value)
    assert "the PBX refused the login: check the password" in message
    assert "nightswitch console" in message and "LOGIN INCORRECT" in message
    assert PASSWORD not in message
    # One password per operation: the link never tries a refused login again.
    assert sim.terminal.events.count("refused: password") == 2
    assert sim.model.mode == "day"
    sim.clear()
    # The terminal is at its login prompt after the refusal, where a blank wake-up line
    # is refused too: the next operation finds its way from there.
    assert sim.terminal.where == "login"
    actuator.apply("night")
    assert sim.model.mode == "night"


def test_dropped_port_vanishes_and_comes_back(rig):
    profile, sim, actuator = rig
    first = sim.device
    sim.inject("drop")
    assert sim.device is None
    with pytest.raises(ActuatorError) as caught:
        actuator.apply("night")
    assert "cannot open the port" in str(caught.value)
    sim.clear()
    assert sim.device is not None
    actuator.apply("night")
    assert actuator.read_back() == "night"
    assert first is not None


def test_a_drop_with_a_time_comes_back_by_itself(rig):
    profile, sim, actuator = rig
    sim.inject("drop", seconds=2.0)  # long enough that a stalled test still sees it
    with pytest.raises(ActuatorError):
        actuator.read_back()
    from tests.appliance_helpers import wait_until

    assert wait_until(lambda: sim.device is not None, timeout=6.0)
    assert actuator.read_back() == "day"


def test_power_cut_back_in_another_mode_is_seen_by_read_back(rig):
    profile, sim, actuator = rig
    actuator.apply("day")
    sim.inject("power_cut", mode="night")
    assert actuator.read_back() == "night"  # the controller sees the drift
    actuator.apply("day")
    assert actuator.read_back() == "day"


def test_power_cut_follows_the_profile(rig):
    profile, sim, actuator = rig
    actuator.apply("night")
    sim.inject("power_cut")
    # mitel-3300: "after a reboot the prior service is restored"
    assert profile.power.on_power_up == "retain"
    assert actuator.read_back() == "night"


def test_while_the_power_is_off_the_port_is_silent(rig):
    profile, sim, actuator = rig
    sim.inject("power_cut", seconds=30)
    with pytest.raises(ActuatorError, match="received nothing") as caught:
        actuator.read_back()
    assert "is the PBX on, the cable right" in str(caught.value)
    assert not isinstance(caught.value, LoginRefused)
    sim.clear()
    assert actuator.read_back() in profile.modes


def test_wrong_port_speed_gets_line_noise():
    profile = fast(profiles()["mitel-3300"], step_s=1.0)
    with PbxSimulator(profile, baud=1200, seed=3) as sim:
        actuator = serial_port.build(
            spec_for(profile, sim.port_path), profiles={profile.name: profile}
        )
        with pytest.raises(ActuatorError) as caught:
            actuator.apply("night")
        assert "no answer within" in str(caught.value)
        assert sim.model.mode == "day"
        right = serial_port.build(
            spec_for(profile, sim.port_path, settings={"baudrate": 1200}),
            profiles={profile.name: profile},
        )
        right.apply("night")
        assert sim.model.mode == "night"


def test_a_shared_model_with_the_pin_side(mock_factory):
    """A mode set on the pins shows on the maintenance port's status query."""
    profile = fast(profiles()["mitel-3300"])
    model = PbxModel.from_profile(profile)
    with PbxSimulator(profile, model=model) as sim:
        actuator = serial_port.build(
            spec_for(profile, sim.port_path), profiles={profile.name: profile}
        )
        model.set_mode("night2", by="keypad")
        assert actuator.read_back() == "night2"


def test_a_profile_mode_we_do_not_map_is_reported_by_its_own_name():
    profile = fast(profiles()["mitel-3300"])
    with PbxSimulator(profile) as sim:
        actuator = serial_port.build(
            spec_for(profile, sim.port_path, modes={"day": "day", "night": "night"}),
            profiles={profile.name: profile},
        )
        sim.model.set_mode("night2", by="console")
        assert actuator.read_back() == "night2"
        assert "night2" not in actuator.modes


def test_the_password_never_reaches_the_log(caplog):
    profile = fast(profiles()["mitel-3300-login"])
    caplog.set_level(logging.DEBUG)
    with PbxSimulator(profile, password=PASSWORD) as sim:
        actuator = serial_port.build(
            spec_for(profile, sim.port_path), profiles={profile.name: profile}
        )
        actuator.apply("night")
        sim.inject("wrong_password")
        with pytest.raises(ActuatorError) as caught:
            actuator.apply("day")
    assert "system" in caplog.text and "***" in caplog.text
    for text in (caplog.text, str(caught.value), repr(actuator), repr(actuator.link)):
        assert PASSWORD not in text


def test_retries_on_a_fresh_port_recover_from_one_lost_answer():
    profile = fast(profiles()["mitel-3300"], retries=1)
    with PbxSimulator(profile) as sim:
        actuator = serial_port.build(
            spec_for(profile, sim.port_path), profiles={profile.name: profile}
        )
        sim.inject("silence")
        import threading

        threading.Timer(0.2, sim.clear).start()  # the PBX wakes up during attempt 1
        actuator.apply("night")
        assert sim.model.mode == "night"


class TerminalServer:
    """A TCP port in front of the simulated PBX's serial port, as a ser2net box or a
    terminal server puts a PBX's maintenance port on the LAN."""

    def __init__(self, device: str, baudrate: int):
        import socket
        import threading

        import serial

        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.serial = serial.serial_for_url(
            device, do_not_open=False, baudrate=baudrate, timeout=0.02
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        import select

        self.listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            with conn:
                while not self._stop.is_set():
                    ready, _, _ = select.select([conn], [], [], 0.01)
                    if ready:
                        data = conn.recv(4096)
                        if not data:
                            break
                        self.serial.write(data)
                    waiting = self.serial.in_waiting
                    if waiting:
                        conn.sendall(self.serial.read(waiting))

    def close(self):
        self._stop.set()
        self._thread.join()
        self.listener.close()
        self.serial.close()


def test_a_pbx_behind_a_terminal_server_over_socket_url():
    profile = fast(profiles()["mitel-3300"], step_s=1.0)
    with PbxSimulator(profile) as sim:
        server = TerminalServer(sim.port_path, 9600)
        try:
            actuator = serial_port.build(
                spec_for(profile, f"socket://127.0.0.1:{server.port}"),
                profiles={profile.name: profile},
            )
            actuator.apply("night")
            assert sim.model.mode == "night" and actuator.read_back() == "night"
        finally:
            server.close()


def test_a_spy_url_logs_the_traffic_for_field_debugging(tmp_path):
    profile = fast(profiles()["mitel-3300"])
    log = tmp_path / "pbx-port.log"
    with PbxSimulator(profile) as sim:
        actuator = serial_port.build(
            spec_for(profile, f"spy://{sim.port_path}?file={log}"), profiles={profile.name: profile}
        )
        actuator.apply("night")
        assert sim.model.mode == "night"
    text = log.read_text()  # a hex dump: 16 bytes per line, text at the right
    assert "TX   0000  43 50 20 53 45 52 56 49" in text  # "CP SERVI..."
    assert "ATUS IS NIGHT1" in text  # the read-back's answer


def test_a_console_session_and_the_daemon_take_turns():
    """`nightswitch console` opens the port exclusively, as the actuator does: while it is
    open the actuator fails cleanly (and the controller retries), then works again."""
    import serial

    profile = fast(profiles()["mitel-3300"])
    with PbxSimulator(profile) as sim:
        actuator = serial_port.build(
            spec_for(profile, sim.port_path), profiles={profile.name: profile}
        )
        console = serial.serial_for_url(sim.port_path, do_not_open=False, exclusive=True)
        try:
            with pytest.raises(ActuatorError, match="Could not exclusively lock port"):
                actuator.apply("night")
        finally:
            console.close()
        actuator.apply("night")
        assert sim.model.mode == "night"


def test_simulate_points_serial_actuators_at_simulated_pbxs(mock_factory):
    """What `nightswitch simulate` does with a config that has a serial actuator."""
    from appliance.actuators import build_actuator
    from appliance.sim import PinSidePbx, simulate_serial_ports

    contact = {
        "name": "night-service",
        "type": "contact",
        "zone": "main",
        "role": "fallback",
        "pin": 17,
        "modes": {"day": "open", "night": "closed"},
    }
    serial_table = {
        "name": "maintenance-port",
        "type": "serial",
        "zone": "main",
        "role": "primary",
        "profile": "mitel-3300",
        "port": "/dev/ttyAMA0",
        "settings": {"baudrate": 19200},
    }
    model = PbxModel()
    tables, sims = simulate_serial_ports([serial_table, contact], model)
    side = PinSidePbx(mock_factory, tables, model).start()
    try:
        assert tables[1] is contact and tables[0]["port"] == sims[0].port_path
        assert sims[0].settings.baudrate == 19200
        assert "night2" in model.modes
        actuators = [build_actuator(t, pin_factory=mock_factory) for t in tables]
        actuators[0].apply("night2")
        assert model.mode == "night2" and actuators[0].read_back() == "night2"
        for actuator in actuators:
            actuator.close()
    finally:
        side.close()
        for sim in sims:
            sim.close()


def test_multi_step_dialogues_and_an_error_answer():
    from appliance.pbx.profiles import load_profiles
    from tests.fixtures.pbx.simhelp import HERE

    profile = load_profiles(HERE / "extra")["two-step"]
    with PbxSimulator(profile) as sim:
        actuator = serial_port.build(
            spec_for(profile, sim.port_path), profiles={profile.name: profile}
        )
        actuator.apply("night")
        assert sim.model.mode == "night" and actuator.read_back() == "night"
        actuator.apply("day")
        assert actuator.read_back() == "day"
        sim.inject("power_cut")  # this fixture comes back in night
        assert actuator.read_back() == "night"
        # A PBX that answers "?SYNTAX": a refusal, reported at once, not a timeout.
        broken = profile.serial.commands["day"][0]
        from dataclasses import replace

        bad = replace(
            profile,
            methods={
                **profile.methods,
                "serial": replace(
                    profile.serial,
                    commands={**profile.serial.commands, "day": (replace(broken, send="SET DAI"),)},
                ),
            },
        )
        wrong = serial_port.build(spec_for(bad, sim.port_path), profiles={bad.name: bad})
        with pytest.raises(ActuatorError) as caught:
            wrong.apply("day")
        assert "the PBX did not understand the command (the PBX said '?SYNTAX')" in str(
            caught.value
        )
