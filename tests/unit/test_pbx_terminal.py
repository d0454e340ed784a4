"""Terminal states in profiles: declared ones load and are checked, old profiles get
states derived from their login, and error patterns belong to the steps they are about."""

from __future__ import annotations

import copy
import tomllib

import pytest

from appliance.errors import ValidationError
from appliance.pbx.profile_reader import parse_profile
from appliance.pbx.profiles import SHIPPED_DIR, _merge, load_profiles
from appliance.pbx.terminal import default_during, derive_terminal
from tests.fixtures.pbx.simhelp import SITE_DIR, profiles


def doc_with_login() -> dict:
    """The shipped mitel-3300 document merged with the test fixture's invented login."""
    shipped = tomllib.loads((SHIPPED_DIR / "mitel-3300.toml").read_text(encoding="utf-8"))
    site = tomllib.loads((SITE_DIR / "mitel-3300-login.toml").read_text(encoding="utf-8"))
    site.pop("extends")
    doc = _merge(shipped, site)
    doc["name"] = "mitel-3300"
    return doc


def states_doc(**terminal) -> dict:
    doc = doc_with_login()
    doc["methods"]["serial"]["terminal"] = terminal
    return doc


def test_an_old_site_profile_gets_states_from_its_login():
    serial = profiles()["mitel-3300-login"].serial
    terminal = serial.terminal
    assert not terminal.declared
    assert [(s.name, s.expect, s.then, s.send) for s in terminal.states] == [
        ("login", "login:", "login step 2", None),
        ("password", "Password:", "send", ""),
        ("logged_in", "MAINT>", "logout", None),
    ]
    # The first step's blank line (sent twice: retries = 1), then the logout's line.
    assert terminal.wake == ("", "", "LOGOUT")
    assert terminal.unknown == "login step 1"
    # The auth error belongs to the answer to the password, not to the wake-up line.
    assert serial.errors[0].during == ("login step 3",)
    assert serial.errors[0].applies("login", 3)
    assert not serial.errors[0].applies("login", 1) and not serial.errors[0].applies("wake")


def test_a_profile_without_a_login_has_no_states():
    assert profiles()["mitel-3300"].serial.terminal is None
    assert derive_terminal((), ()) is None


def test_declared_states_load_in_order():
    serial = profiles()["mitel-3300-states"].serial
    terminal = serial.terminal
    assert terminal.declared and terminal.unknown == "stop"
    assert [s.name for s in terminal.states] == ["logged_in", "password", "login"]
    assert terminal.state("login").login_step == 2
    assert terminal.state("logged_in").then == "command"
    assert terminal.wake == ("", "LOGOUT")
    assert "logged_in 'MAINT>'" in terminal.describe()
    assert serial.sim.reprompt


def test_default_error_scopes():
    login = profiles()["mitel-3300-login"].serial.login
    assert default_during("auth", login) == ("login step 3",)
    assert default_during("busy", login) == ("login", "command", "status", "logout")
    assert default_during("auth", ()) == ("login",)


def test_the_shipped_profiles_still_load_unchanged():
    shipped = load_profiles(None)
    assert not shipped.problems
    assert shipped["mitel-3300"].serial.terminal is None


def test_every_fixture_site_profile_loads():
    found = load_profiles(SITE_DIR)
    assert not found.problems, [p.render() for p in found.problems]


T = ("methods", "serial", "terminal")
GOOD_STATE = {"expect": "MAINT>\\s*$", "sample": "MAINT> ", "then": "command"}

BAD = [
    # (what is wrong, terminal table, the field named, words of the message)
    ("no states", {"wake": [""]}, "methods.serial.terminal.states", "is required"),
    (
        "wake not a list",
        {"wake": "", "states": {"logged_in": GOOD_STATE}},
        "methods.serial.terminal.wake",
        "must be a list",
    ),
    (
        "password in wake",
        {"wake": ["{password}"], "states": {"logged_in": GOOD_STATE}},
        "methods.serial.terminal.wake[0]",
        "must not use {username} or {password}",
    ),
    (
        "unknown key",
        {"colour": 1, "states": {"logged_in": GOOD_STATE}},
        "methods.serial.terminal.colour",
        "unknown key",
    ),
    (
        "state name",
        {"states": {"Logged In": GOOD_STATE}},
        "methods.serial.terminal.states.Logged In",
        "not a state name",
    ),
    (
        "no then",
        {"states": {"logged_in": {"expect": "MAINT>", "sample": "MAINT> "}}},
        "methods.serial.terminal.states.logged_in.then",
        "is required",
    ),
    (
        "bad then",
        {"states": {"logged_in": dict(GOOD_STATE, then="dance")}},
        "methods.serial.terminal.states.logged_in.then",
        '"login step N"',
    ),
    (
        "login step too far",
        {"states": {"login": {"expect": "login:", "sample": "login: ", "then": "login step 9"}}},
        "methods.serial.terminal.states.login.then",
        "the login has 3 step(s)",
    ),
    (
        "sample not at the end",
        {"states": {"logged_in": dict(GOOD_STATE, sample="MAINT> hello")}},
        "methods.serial.terminal.states.logged_in.sample",
        "does not end with a match",
    ),
    (
        "send without then send",
        {"states": {"logged_in": dict(GOOD_STATE, send="")}},
        "methods.serial.terminal.states.logged_in.send",
        'only for then = "send"',
    ),
    (
        "then send without send",
        {"states": {"password": {"expect": "Password:", "sample": "Password: ", "then": "send"}}},
        "methods.serial.terminal.states.password.send",
        'is required with then = "send"',
    ),
    (
        "send the password",
        {
            "states": {
                "password": {
                    "expect": "Password:",
                    "sample": "Password: ",
                    "then": "send",
                    "send": "{password}",
                }
            }
        },
        "methods.serial.terminal.states.password.send",
        "must not use",
    ),
    (
        "bad regex",
        {"states": {"logged_in": dict(GOOD_STATE, expect="(")}},
        "methods.serial.terminal.states.logged_in.expect",
        "not a valid regular expression",
    ),
    (
        "unknown",
        {"unknown": "retry", "states": {"logged_in": GOOD_STATE}},
        "methods.serial.terminal.unknown",
        '"stop" or "login step N"',
    ),
]


@pytest.mark.parametrize("what,table,field,words", BAD, ids=[b[0] for b in BAD])
def test_bad_terminal_tables_name_key_and_what_is_allowed(what, table, field, words):
    with pytest.raises(ValidationError) as caught:
        parse_profile(states_doc(**copy.deepcopy(table)), "site/x.toml", name="mitel-3300")
    fields = {e.field: e.message for e in caught.value.errors}
    assert field in fields, caught.value.render()
    assert words in fields[field]


def test_the_simulators_blank_login_setting():
    doc = doc_with_login()
    doc["methods"]["serial"]["sim"] = {"blank_login": "sometimes"}
    with pytest.raises(ValidationError) as caught:
        parse_profile(doc, "x.toml", name="mitel-3300")
    assert (
        "methods.serial.sim.blank_login: 'sometimes' is not allowed; use \"refused\""
        in caught.value.render()
    )


def test_logout_state_needs_a_logout():
    doc = states_doc(states={"logged_in": dict(GOOD_STATE, then="logout")})
    del doc["methods"]["serial"]["logout"]
    with pytest.raises(ValidationError) as caught:
        parse_profile(doc, "x.toml", name="mitel-3300")
    assert "has no logout dialogue" in caught.value.render()


def test_a_login_state_needs_a_login():
    doc = tomllib.loads((SHIPPED_DIR / "mitel-3300.toml").read_text(encoding="utf-8"))
    doc["methods"]["serial"]["terminal"] = {
        "states": {"login": {"expect": "login:", "sample": "login: ", "then": "login step 1"}}
    }
    with pytest.raises(ValidationError) as caught:
        parse_profile(doc, "x.toml", name="mitel-3300")
    assert "the login has 0 step(s)" in caught.value.render()


@pytest.mark.parametrize(
    "during,words",
    [
        (["login step 4"], "the login dialogue has 3 step(s)"),
        (["dinner"], "not a part of the dialogue"),
        ("login", "must be a list"),
        ([], "must be a list"),
    ],
)
def test_error_scopes_are_checked(during, words):
    doc = doc_with_login()
    doc["methods"]["serial"]["errors"][0]["during"] = during
    with pytest.raises(ValidationError) as caught:
        parse_profile(doc, "x.toml", name="mitel-3300")
    assert words in caught.value.render()


def test_error_scopes_as_given():
    doc = doc_with_login()
    doc["methods"]["serial"]["errors"][0]["during"] = ["wake", "login step 3", "status"]
    serial = parse_profile(doc, "x.toml", name="mitel-3300").serial
    error = serial.errors[0]
    assert error.applies("wake") and error.applies("status", 1)
    assert error.applies("login", 3) and not error.applies("login", 2)
    assert not error.applies("command", 1)
