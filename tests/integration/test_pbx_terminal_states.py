"""The link against a simulated terminal left in the states a 3-wire line leaves real
ones in: at the login prompt after a refusal, at the password prompt, logged in with
half a line typed, or cut in the middle of a command. The link finds where the terminal
is and gets on with the job, with the old-style profile (states derived from its login)
and with one that declares its states; and the simulator is unkind enough that the old
fixed login sequence fails from those states, as it did in the field."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from appliance.actuators import serial_port
from appliance.errors import ActuatorError, LoginRefused
from appliance.pbx.profile_model import ErrorPattern
from appliance.sim import PbxSimulator
from tests.fixtures.pbx.simhelp import PASSWORD, fast, profiles, spec_for

LOGIN_PROFILES = ["mitel-3300-login", "mitel-3300-states"]


@pytest.fixture(params=LOGIN_PROFILES)
def rig(request):
    profile = fast(profiles()[request.param], step_s=1.0, operation_s=8.0)
    sim = PbxSimulator(profile, password=PASSWORD, seed=11).start()
    actuator = serial_port.build(spec_for(profile, sim.port_path), profiles={profile.name: profile})
    yield profile, sim, actuator
    actuator.close()
    sim.close()


def refusals(sim, why="password"):
    return sim.terminal.events.count(f"refused: {why}")


def test_from_the_login_prompt_after_a_refusal(rig):
    profile, sim, actuator = rig
    sim.put_terminal("login")
    actuator.apply("night")
    assert sim.model.mode == "night" and refusals(sim) == 0
    assert actuator.link.last_path == ["login"]
    # The wake-up line was itself refused as an empty user name: that is where the
    # terminal was, not a refused password.
    assert sim.terminal.events[0] == "refused: empty user name"


@pytest.mark.parametrize("pending", ["", "s3c"])
def test_from_the_password_prompt(rig, pending):
    profile, sim, actuator = rig
    sim.put_terminal("password", pending=pending)  # a login cut after the user name
    actuator.apply("night")
    assert sim.model.mode == "night"
    # The wake-up line ends that half-done login (an empty or partial password): one
    # refusal for it, and our password is sent once, and accepted.
    assert actuator.link.last_path == ["login"]
    assert refusals(sim) == 1
    assert sim.terminal.events[-2:] == ["logged in", "logged out"]


def test_a_login_prompt_silent_to_blank_lines_goes_through_the_password_prompt():
    """A terminal that does not answer a blank line at its login prompt: the logout's
    line, the last wake-up line, is taken as a user name; the password prompt that
    follows is abandoned with a blank line, and the login starts from its prompt."""
    profile = fast(profiles()["mitel-3300-login"], step_s=0.5, operation_s=8.0)
    serial = replace(profile.serial, sim=replace(profile.serial.sim, blank_login="ignored"))
    profile = replace(profile, methods={**profile.methods, "serial": serial})
    with PbxSimulator(profile, password=PASSWORD) as sim:
        actuator = serial_port.build(
            spec_for(profile, sim.port_path), profiles={profile.name: profile}
        )
        actuator.apply("night")
        assert sim.model.mode == "night"
        assert actuator.link.last_path == ["password", "login"]
        assert sim.terminal.events == ["refused: password", "logged in", "logged out"]


def test_from_a_session_left_logged_in_with_half_a_line(rig):
    profile, sim, actuator = rig
    sim.put_terminal("logged_in", pending="CP SERV")
    assert actuator.read_back() == "day"
    path = actuator.link.last_path
    if profile.serial.terminal.declared:
        assert path == ["logged_in"]  # then = "command": used as it is
    else:
        assert path == ["logged_in", "login"]  # then = "logout": proved afresh
    assert "unknown: CP SERV" in sim.terminal.events
    assert refusals(sim) == 0


def test_logged_in_and_silent_to_a_blank_line():
    """The derived profile's terminal prints nothing for a blank line at its command
    prompt (sim.reprompt off): the second wake-up line, the logout, finds it."""
    profile = fast(profiles()["mitel-3300-login"], step_s=1.0, operation_s=8.0)
    assert not profile.serial.sim.reprompt
    with PbxSimulator(profile, password=PASSWORD) as sim:
        actuator = serial_port.build(
            spec_for(profile, sim.port_path), profiles={profile.name: profile}
        )
        sim.put_terminal("logged_in")
        actuator.apply("night2")
        assert sim.model.mode == "night2"
        assert actuator.link.last_path == ["login"]
        assert sim.terminal.events[:2] == ["logged out", "logged in"]


def test_a_cut_in_the_middle_of_a_command_then_the_next_attempt(rig):
    profile, sim, actuator = rig
    actuator.apply("day")
    sim.inject("cut")
    with pytest.raises(ActuatorError) as caught:
        actuator.apply("night")
    message = str(caught.value)
    assert not isinstance(caught.value, LoginRefused)
    # It says what happened, and not "is the PBX on": the PBX answered the login.
    assert "is the PBX on" not in message
    assert "received nothing more: the PBX answered earlier on this port" in message
    assert (
        "the PBX may still be logged in: the next attempt finds it and logs it out first" in message
    )
    assert sim.terminal.where == "logged_in" and sim.terminal.session.pending
    sim.clear()
    actuator.apply("night")  # no operator needed
    assert sim.model.mode == "night" and actuator.read_back() == "night"
    assert refusals(sim) == 0


def test_the_old_fixed_login_fails_from_those_states():
    """Without states, and with the refusal pattern applied to every step (the engine
    before), a terminal at its login prompt after a refusal answers the wake-up line
    "LOGIN INCORRECT" and the right password is never sent: the wedge the field saw."""
    profile = fast(profiles()["mitel-3300-login"])
    serial = profile.serial
    old = replace(
        serial, terminal=None, errors=tuple(replace(e, during=None) for e in serial.errors)
    )
    profile = replace(profile, methods={**profile.methods, "serial": old})
    with PbxSimulator(profile, password=PASSWORD) as sim:
        actuator = serial_port.build(
            spec_for(profile, sim.port_path), profiles={profile.name: profile}
        )
        sim.put_terminal("login")
        for _ in range(2):
            with pytest.raises(LoginRefused):
                actuator.apply("night")
        assert sim.model.mode == "day" and refusals(sim) == 0


def test_a_prompt_no_state_knows_is_named_with_what_to_do():
    profile = fast(profiles()["mitel-3300-states"], step_s=0.5, operation_s=4.0)
    serial = profile.serial
    # This terminal says "?" to anything at its command prompt (LOGOUT too), and its
    # prompt is not the one the profile knows.
    strange = replace(
        serial,
        login=serial.login[:-1] + (replace(serial.login[-1], sample="READY:"),),
        logout=(),
        sim=replace(serial.sim, unknown="?"),
    )
    profile_sim = replace(profile, methods={**profile.methods, "serial": strange})
    with PbxSimulator(profile_sim, password=PASSWORD) as sim:
        actuator = serial_port.build(
            spec_for(profile, sim.port_path), profiles={profile.name: profile}
        )
        sim.put_terminal("logged_in", pending="X")
        with pytest.raises(ActuatorError) as caught:
            actuator.read_back()
    message = str(caught.value)
    assert re.search(
        r"the terminal answered '\? READY:' to 'LOGOUT', which shows none of the "
        r"prompts the profile knows \(logged_in 'MAINT>', password 'Password:', "
        r"login '.*login:'\)",
        message,
    ), message
    assert "open `nightswitch console`, press Enter" in message
    assert "log it out (type 'LOGOUT')" in message


def test_an_error_pattern_scoped_to_the_wake_stops_the_look():
    profile = fast(profiles()["mitel-3300-states"], step_s=0.5, operation_s=4.0)
    busy = ErrorPattern(
        re.compile(r"PORT BUSY"), "busy", "another session holds the port", "PORT BUSY", ("wake",)
    )
    serial = replace(
        profile.serial,
        errors=profile.serial.errors + (busy,),
        sim=replace(profile.serial.sim, unknown="PORT BUSY"),
    )
    profile = replace(profile, methods={**profile.methods, "serial": serial})
    with PbxSimulator(profile, password=PASSWORD) as sim:
        actuator = serial_port.build(
            spec_for(profile, sim.port_path), profiles={profile.name: profile}
        )
        sim.put_terminal("logged_in", pending="X")
        with pytest.raises(ActuatorError, match="another session holds the port"):
            actuator.read_back()
