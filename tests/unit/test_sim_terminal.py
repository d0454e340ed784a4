"""The simulated maintenance terminal as a table: where it is, what is typed, what it
prints, where it is afterwards. No pty, no threads, no clock."""

from __future__ import annotations

import pytest

from appliance.pbx.profiles import load_profiles
from appliance.sim.maintenance_terminal import ANSWER, ECHO, MaintenanceTerminal, match_send
from appliance.sim.pbx_model import PbxModel
from tests.fixtures.pbx.simhelp import HERE, PASSWORD, profiles

LOGIN_INCORRECT = "LOGIN INCORRECT\r\n\r\nlogin: "

# (place, typed before, input, printed, place after, mode after)
LOGIN_TABLE = [
    # The login prompt: every line is a user name, so a blank wake-up line is refused.
    ("login", "", "\r", "\r\n" + LOGIN_INCORRECT, "login", "day"),
    ("login", "", "\r\n", "\r\n" + LOGIN_INCORRECT, "login", "day"),
    ("login", "", "system\r", "system\r\n\r\nPassword: ", "password", "day"),
    # A command typed at the login prompt is a user name; nothing is switched.
    ("login", "", "CP SERVICE NIGHT1\r", "CP SERVICE NIGHT1\r\n\r\nPassword: ", "password", "day"),
    # The password prompt: not echoed; a blank line is an empty password.
    ("password", "", PASSWORD + "\r", "\r\n\r\nMAINT> ", "logged_in", "day"),
    ("password", "", "\r", "\r\n" + LOGIN_INCORRECT, "login", "day"),
    ("password", "", "guess\r", "\r\n" + LOGIN_INCORRECT, "login", "day"),
    # Logged in: silent to a blank line (no re-prompt), no idle timeout.
    ("logged_in", "", "\r", "\r\n", "logged_in", "day"),
    (
        "logged_in",
        "",
        "CP SERVICE NIGHT1\r",
        "CP SERVICE NIGHT1\r\nSYSTEM STATUS CHANGED TO NIGHT1\r\n\r\nMAINT> ",
        "logged_in",
        "night",
    ),
    (
        "logged_in",
        "",
        "cp service display\r",
        "cp service display\r\nCURRENT SYSTEM STATUS IS DAY\r\n\r\nMAINT> ",
        "logged_in",
        "day",
    ),
    ("logged_in", "", "LOGOUT\r", "LOGOUT\r\nGOODBYE\r\n\r\nlogin: ", "login", "day"),
    # A partial line left by a cut session: the next Enter submits it.
    ("logged_in", "CP SERVI", "\r", "\r\n\r\nMAINT> ", "logged_in", "day"),
    (
        "logged_in",
        "CP SERVI",
        "CE NIGHT2\r",
        "CE NIGHT2\r\nSYSTEM STATUS CHANGED TO NIGHT2\r\n\r\nMAINT> ",
        "logged_in",
        "night2",
    ),
    ("logged_in", "CP SERVI", "LOGOUT\r", "LOGOUT\r\n\r\nMAINT> ", "logged_in", "day"),
    ("login", "CP SERVI", "\r", "\r\n\r\nPassword: ", "password", "day"),
    # Line endings in any form, typed in one go; backspace edits the line.
    (
        "login",
        "",
        "system\r\n" + PASSWORD + "\n",
        "system\r\n\r\nPassword: \r\n\r\nMAINT> ",
        "logged_in",
        "day",
    ),
    (
        "logged_in",
        "",
        "CP SERVICE DAX\x7fY\r",
        "CP SERVICE DAX\x7fY\r\nSYSTEM STATUS CHANGED TO DAY\r\n\r\nMAINT> ",
        "logged_in",
        "day",
    ),
]


def terminal(name="mitel-3300-login", **kwargs):
    profile = profiles()[name] if name != "two-step" else load_profiles(HERE / "extra")[name]
    model = PbxModel.from_profile(profile)
    password = PASSWORD if profile.serial.needs_password else ""
    return MaintenanceTerminal(
        profile.serial, model, username=profile.serial.username, password=password, **kwargs
    ), model


def printed(outputs) -> str:
    return "".join(o.text for o in outputs)


@pytest.mark.parametrize("place,pending,typed,out,after,mode", LOGIN_TABLE)
def test_the_login_terminal_as_a_table(place, pending, typed, out, after, mode):
    t, model = terminal()
    t.put(place, pending=pending)
    assert printed(t.receive(typed)) == out
    assert t.where == after and model.mode == mode
    assert t.session.pending == ""


def test_typing_in_pieces_is_the_same_as_typing_at_once():
    whole, _ = terminal()
    pieces, _ = terminal()
    text = "system\r" + PASSWORD + "\rCP SERVICE NIGHT1\rLOGOUT\r"
    at_once = printed(whole.receive(text))
    bit_by_bit = "".join(printed(pieces.receive(ch)) for ch in text)
    assert at_once == bit_by_bit
    assert whole.events == pieces.events == ["logged in", "logged out"]


def test_a_login_prompt_that_ignores_blank_lines():
    from dataclasses import replace

    profile = profiles()["mitel-3300-login"]
    serial = replace(profile.serial, sim=replace(profile.serial.sim, blank_login="ignored"))
    t = MaintenanceTerminal(
        serial, PbxModel.from_profile(profile), username="system", password=PASSWORD
    )
    assert printed(t.receive("\r\r")) == "\r\n\r\n"  # the echo, nothing else
    assert t.where == "login" and t.events == []
    assert printed(t.receive("LOGOUT\r")).endswith("Password: ")  # a user name there


def test_echo_and_answers_come_in_order():
    t, _ = terminal()
    t.put("logged_in")
    outputs = t.receive("CP SERVICE DAY\r")
    assert [o.kind for o in outputs] == [ECHO, ANSWER, ANSWER]
    assert outputs[0].text == "CP SERVICE DAY\r\n"


def test_a_changed_password_and_another_users_session_are_refused():
    t, _ = terminal()
    t.put("password")
    assert printed(t.receive(PASSWORD + "\r", wrong_password=True)).endswith(LOGIN_INCORRECT)
    t.put("password", username="intruder")  # someone else's half-typed login
    assert printed(t.receive(PASSWORD + "\r")).endswith(LOGIN_INCORRECT)
    assert t.events == ["refused: password", "refused: password"]
    assert t.where == "login"


def test_the_events_tell_what_happened():
    t, _ = terminal()
    t.receive("\r")
    t.receive("system\r" + PASSWORD + "\r")
    t.receive("WHAT\r")
    t.receive("LOGOUT\r")
    assert t.events == ["refused: empty user name", "logged in", "unknown: WHAT", "logged out"]


def test_a_power_up_forgets_the_session_and_the_partial_line():
    t, _ = terminal()
    t.put("logged_in", pending="CP SER")
    t.power_up()
    assert t.where == "login" and t.session.pending == ""


def test_put_refuses_a_place_the_terminal_does_not_have():
    t, _ = terminal("mitel-3300")
    with pytest.raises(ValueError, match="'password' is not a place this terminal has"):
        t.put("password")
    assert t.where == "logged_in"  # no login: always at the command prompt


# (input, printed, mode after) for a profile without a login
NO_LOGIN_TABLE = [
    ("CP SERVICE NIGHT1\r", "CP SERVICE NIGHT1\r\nSYSTEM STATUS CHANGED TO NIGHT1\r\n", "night"),
    ("\r", "\r\n", "day"),
    ("HELLO\r", "HELLO\r\n", "day"),  # no sim.unknown, no prompt: just the echo
]


@pytest.mark.parametrize("typed,out,mode", NO_LOGIN_TABLE)
def test_a_terminal_without_a_login(typed, out, mode):
    t, model = terminal("mitel-3300")
    assert printed(t.receive(typed)) == out and model.mode == mode


TWO_STEP_TABLE = [
    (["SET NIGHT\r"], "\r\nCONFIRM (Y/N)?", "day"),
    (["SET NIGHT\r", "Y\r"], "\r\nCONFIRM (Y/N)?DONE\r\n", "night"),
    (["SET NIGHT\r", "N\r"], "\r\nCONFIRM (Y/N)??SYNTAX\r\n", "day"),
    (["SHOW\r", "MODE\r"], "\r\nWHICH?MODE=D\r\n", "day"),
    (["BOGUS\r"], "?SYNTAX\r\n", "day"),
]


@pytest.mark.parametrize("lines,out,mode", TWO_STEP_TABLE)
def test_multi_step_dialogues_without_echo(lines, out, mode):
    t, model = terminal("two-step")
    assert "".join(printed(t.receive(line)) for line in lines) == out
    assert model.mode == mode


@pytest.mark.parametrize(
    "template,line,captured",
    [
        ("{username}", "system", {"username": "system"}),
        ("{username}", "", {"username": ""}),
        ("LOGI {username}", "logi admin", {"username": "admin"}),
        ("", "anything", {}),
    ],
)
def test_send_templates_capture_what_was_typed(template, line, captured):
    assert match_send(template, line) == (True, captured)
    assert match_send("LOGI {username}", "LOGOUT") == (False, {})
