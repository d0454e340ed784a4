"""PBX profiles: every shipped file loads and keeps to its sources; bad files say why."""

from __future__ import annotations

import copy
import re
import tomllib

import pytest

from appliance.errors import ValidationError
from appliance.pbx.profile_model import METHODS
from appliance.pbx.profile_reader import parse_profile
from appliance.pbx.profiles import SHIPPED_DIR, load_profile_file, load_profiles
from appliance.smdr.formats import load_format
from tests.fixtures.pbx.simhelp import BAD_DIR, SITE_DIR

SHIPPED = sorted(p.stem for p in SHIPPED_DIR.glob("*.toml"))


def raw(name: str) -> dict:
    return tomllib.loads((SHIPPED_DIR / f"{name}.toml").read_text(encoding="utf-8"))


def test_the_families_are_shipped():
    for name in (
        "mitel-3300",
        "nec-sv9100",
        "nec-sv8100",
        "mitel-sx5",
        "avaya-partner",
        "samsung-dcs",
        "panasonic-kx-ta",
        "panasonic-kx-tda",
        "openscape-4000",
        "generic-contact",
        "toshiba-strata",
        "avaya-definity",
        "avaya-merlin",
        "nortel-meridian",
        "vimar",
        "nec-neax",
        "panasonic-kx-td",
    ):
        assert name in SHIPPED
    assert len(SHIPPED) >= 16  # issue 14: at least 16 PBX families


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_loads_and_is_honest(name):
    profile = load_profile_file(SHIPPED_DIR / f"{name}.toml")
    assert profile.name == name
    # Its source names its section of docs/pbx-families.md (test_docs checks the anchor).
    assert re.match(r"docs/pbx-families\.md#[a-z0-9-]+", profile.source), profile.source
    # No shipped profile may claim a check on real hardware.
    assert profile.verified.lower().startswith("nothing verified on a real unit")
    assert "day" in profile.modes
    assert any(profile.method(m).supported for m in METHODS)
    for method in METHODS:
        if not profile.method(method).supported:
            assert profile.method(method).note, f"{name}: unsupported {method} needs a note"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_smdr_format_exists(name):
    profile = load_profile_file(SHIPPED_DIR / f"{name}.toml")
    if profile.smdr_format is not None:
        assert load_format(profile.smdr_format).name == profile.smdr_format


def test_serial_dialogue_only_where_the_notes_document_one():
    profiles = load_profiles(None)
    with_serial = sorted(n for n, p in profiles.items() if p.has_serial)
    # docs/pbx-families.md#night-service-over-the-maintenance-port: of our families only
    # the Mitel 3300/MiVB documents a night command on the maintenance port; every other
    # profile must say so instead of inventing one.
    assert with_serial == ["mitel-3300"]
    for _name, profile in profiles.items():
        if not profile.has_serial:
            assert profile.serial.note


def test_mitel_3300_dialogue_is_the_documented_one():
    mitel = load_profiles(None)["mitel-3300"]
    commands = {mode: steps[0].send for mode, steps in mitel.serial.commands.items()}
    assert commands == {
        "day": "CP SERVICE DAY",
        "night": "CP SERVICE NIGHT1",
        "night2": "CP SERVICE NIGHT2",
    }
    status = mitel.serial.status
    assert status.steps[0].send == "CP SERVICE DISPLAY"
    match = status.steps[0].pattern.search("CURRENT SYSTEM STATUS IS NIGHT1")
    assert status.mode_of(match.group("status")) == "night"
    assert mitel.serial.login == ()  # not documented, so not invented
    assert mitel.power.on_power_up == "retain"


def test_absolute_feature_codes_per_the_notes():
    profiles = load_profiles(None)
    assert profiles["nec-sv9100"].method("keypad").details["sequences"]["night"] == "718 2"
    assert profiles["nec-sv8100"].method("keypad").details["sequences"]["day"] == "818 1"
    assert profiles["mitel-sx5"].method("keypad").details["sequences"] == {
        "day": "312",
        "night": "313",
    }
    samsung = profiles["samsung-dcs"].method("keypad").details
    assert samsung["sequences"]["night"] == "<NIGHT> {password} 1"
    assert samsung["password_default"] == "0000"
    assert profiles["generic-contact"].method("contact").details["night_when"] == "closed"
    assert profiles["avaya-partner"].method("toggle_key").details["lit_in"] == ("night",)
    # Day/night codes for KX-TA are not in the sources: only lunch is given.
    assert profiles["panasonic-kx-ta"].method("keypad").details["sequences"] == {"lunch": "783#"}


def mutate(path, value):
    """A change to the mitel-3300 document: set *path* (a tuple of keys) to *value*, or
    delete it when value is DELETE."""

    def apply(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        if value is DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return doc

    return apply


DELETE = object()
S = ("methods", "serial")

BAD = [
    # (what is wrong, change, the field named, words of the message)
    ("name differs from file", mutate(("name",), "mitel"), "name", "differs from the file name"),
    ("bad name", mutate(("name",), "Mitel 3300"), "name", "not allowed"),
    ("unknown top key", mutate(("colour",), "red"), "colour", "unknown key"),
    ("no title", mutate(("title",), DELETE), "title", "is required"),
    ("no source", mutate(("source",), ""), "source", "non-empty string"),
    ("no verified", mutate(("verified",), DELETE), "verified", "is required"),
    ("no day", mutate(("modes",), ["night"]), "modes", 'must include "day"'),
    ("bad mode", mutate(("modes",), ["day", "Night"]), "modes[1]", "not a mode name"),
    ("twice", mutate(("modes",), ["day", "day"]), "modes", "twice"),
    ("power", mutate(("power", "on_power_up"), "sometimes"), "power.on_power_up", '"retain"'),
    ("missing method", mutate(("methods", "contact"), DELETE), "methods.contact", "is required"),
    (
        "unsupported, no note",
        mutate(("methods", "contact", "note"), DELETE),
        "methods.contact.note",
        "say what the sources",
    ),
    (
        "supported not bool",
        mutate(("methods", "contact", "supported"), "no"),
        "methods.contact.supported",
        "true or false",
    ),
    (
        "baud",
        mutate(S + ("settings", "baudrate"), 1234),
        "methods.serial.settings.baudrate",
        "300, 600",
    ),
    (
        "parity",
        mutate(S + ("settings", "parity"), "purple"),
        "methods.serial.settings.parity",
        '"even"',
    ),
    ("bits", mutate(S + ("settings", "bytesize"), 9), "methods.serial.settings.bytesize", "7 or 8"),
    ("stop", mutate(S + ("settings", "stopbits"), 3), "methods.serial.settings.stopbits", "1 or 2"),
    (
        "line ending",
        mutate(S + ("settings", "line_ending"), "nl"),
        "methods.serial.settings.line_ending",
        '"crlf"',
    ),
    (
        "pacing",
        mutate(S + ("settings", "pacing_ms"), 5000),
        "methods.serial.settings.pacing_ms",
        "0 to 1000",
    ),
    ("both flows", mutate(S + ("settings", "rtscts"), True), None, None),  # alone is fine
    (
        "regex",
        mutate(S + ("commands", "day"), [{"send": "X", "expect": "(", "sample": "X"}]),
        "methods.serial.commands.day[0].expect",
        "not a valid regular expression",
    ),
    (
        "sample",
        mutate(S + ("commands", "day"), [{"send": "X", "expect": "DONE", "sample": "OK"}]),
        "methods.serial.commands.day[0].sample",
        "does not match",
    ),
    (
        "no sample",
        mutate(S + ("commands", "day"), [{"send": "X", "expect": "DONE"}]),
        "methods.serial.commands.day[0].sample",
        "is required with expect",
    ),
    (
        "placeholder",
        mutate(S + ("commands", "day"), [{"send": "X {pass}"}]),
        "methods.serial.commands.day[0].send",
        "not a placeholder",
    ),
    (
        "step key",
        mutate(S + ("commands", "day"), [{"send": "X", "wait": 3}]),
        "methods.serial.commands.day[0].wait",
        "unknown key",
    ),
    (
        "step timeout",
        mutate(S + ("commands", "day"), [{"send": "X", "timeout_s": 0}]),
        "methods.serial.commands.day[0].timeout_s",
        "0.05 to 300",
    ),
    (
        "retries",
        mutate(S + ("commands", "day"), [{"send": "X", "retries": 9}]),
        "methods.serial.commands.day[0].retries",
        "0 to 5",
    ),
    (
        "command mode",
        mutate(S + ("commands", "evening"), [{"send": "X"}]),
        "methods.serial.commands.evening",
        "not in this profile's modes",
    ),
    (
        "status group",
        mutate(
            S + ("status", "steps"), [{"send": "D", "expect": "IS (DAY)", "sample": "IS {status}"}]
        ),
        "methods.serial.status.steps[0].expect",
        "(?P<status>",
    ),
    (
        "status word",
        mutate(S + ("status", "values"), {"DAY": "day", "NIGHT1": "night"}),
        "methods.serial.status.values",
        "no word for mode 'night2'",
    ),
    (
        "status sample",
        mutate(
            S + ("status", "steps"),
            [{"send": "D", "expect": "(?P<status>DAY|NIGHT1)", "sample": "IS DAY"}],
        ),
        "methods.serial.status.steps[0].sample",
        "must contain {status}",
    ),
    (
        "password without auth error",
        mutate(S + ("login",), [{"send": "{password}"}]),
        "methods.serial.errors",
        'kind = "auth"',
    ),
    (
        "error kind",
        mutate(S + ("errors",), [{"pattern": "NO", "kind": "oops", "message": "no"}]),
        "methods.serial.errors[0].kind",
        "auth, refused",
    ),
    (
        "error sample",
        mutate(S + ("errors",), [{"pattern": "NO", "message": "no", "sample": "YES"}]),
        "methods.serial.errors[0].sample",
        "does not match",
    ),
    (
        "timeouts",
        mutate(S + ("timeouts", "step_s"), 1000),
        "methods.serial.timeouts.step_s",
        "0.05 to 300",
    ),
    (
        "sim key",
        mutate(S + ("sim",), {"echo": True, "speed": 3}),
        "methods.serial.sim.speed",
        "unknown key",
    ),
    (
        "keypad key",
        mutate(("methods", "keypad"), {"supported": True, "sequences": {"day": "7A1"}}),
        "methods.keypad.sequences.day",
        "not a key",
    ),
    (
        "keypad password",
        mutate(("methods", "keypad"), {"supported": True, "sequences": {"day": "{password}1"}}),
        "methods.keypad.password",
        "must be true",
    ),
    (
        "keypad timing",
        mutate(("methods", "keypad"), {"supported": True, "timing": {"press_ms": 5}}),
        "methods.keypad.timing.press_ms",
        "30 to 2000",
    ),
    (
        "contact night_when",
        mutate(
            ("methods", "contact"), {"supported": True, "wiring": "w", "night_when": "sometimes"}
        ),
        "methods.contact.night_when",
        '"unknown"',
    ),
    (
        "toggle lit_in",
        mutate(
            ("methods", "toggle_key"),
            {"supported": True, "key": "k", "lamp": "l", "lit_in": ["dusk"]},
        ),
        "methods.toggle_key.lit_in[0]",
        "not in this profile's modes",
    ),
    ("smdr format", mutate(("smdr_format",), "Not A Name"), "smdr_format", "format name"),
]


@pytest.mark.parametrize("what,change,field,words", BAD, ids=[b[0] for b in BAD])
def test_bad_profile_names_key_and_what_is_allowed(what, change, field, words):
    doc = change(copy.deepcopy(raw("mitel-3300")))
    if field is None:
        assert parse_profile(doc, "mitel-3300.toml", name="mitel-3300").name == "mitel-3300"
        return
    with pytest.raises(ValidationError) as caught:
        parse_profile(doc, "site/mitel-3300.toml", name="mitel-3300")
    fields = {e.field: e.message for e in caught.value.errors}
    assert field in fields, caught.value.render()
    assert words in fields[field]
    assert caught.value.render().startswith("site/mitel-3300.toml: ")


def test_all_problems_are_reported_at_once():
    doc = copy.deepcopy(raw("mitel-3300"))
    doc["title"] = ""
    doc["methods"]["serial"]["settings"]["baudrate"] = 7
    doc["methods"]["serial"]["settings"]["parity"] = "x"
    with pytest.raises(ValidationError) as caught:
        parse_profile(doc, "p.toml", name="mitel-3300")
    assert len(caught.value.errors) == 3


def test_a_bad_site_profile_never_stops_the_others(tmp_path):
    (tmp_path / "good-one.toml").write_text(
        (SITE_DIR / "mitel-3300-login.toml").read_text().replace("mitel-3300-login", "good-one")
    )
    for bad in BAD_DIR.glob("*.toml"):
        (tmp_path / bad.name).write_text(bad.read_text())
    profiles = load_profiles(tmp_path)
    assert "good-one" in profiles
    assert "mitel-3300" in profiles and "nec-sv9100" in profiles
    sources = sorted(p.source for p in profiles.problems)
    assert sources == [str(tmp_path / "bad-regex.toml"), str(tmp_path / "not-toml.toml")]
    text = "\n".join(p.render() for p in profiles.problems)
    assert "not valid TOML" in text
    assert "methods.serial.commands.day[0].expect: is not a valid regular expression" in text
    with pytest.raises(ValidationError) as caught:
        profiles.require("bad-regex")
    assert "exists but does not load" in caught.value.render()
    with pytest.raises(ValidationError) as caught:
        profiles.require("mitel-330")
    assert "use one of avaya-definity, avaya-merlin, avaya-partner" in caught.value.render()


def test_site_profile_overrides_a_shipped_one_by_name(tmp_path):
    (tmp_path / "mitel-3300.toml").write_text(
        'extends = "mitel-3300"\nname = "mitel-3300"\n'
        '[methods.serial.settings]\nbaudrate = 1200\nparity = "even"\nbytesize = 7\n'
    )
    mitel = load_profiles(tmp_path)["mitel-3300"]
    assert mitel.serial.settings.describe().startswith("1200 7E1")
    assert mitel.path == str(tmp_path / "mitel-3300.toml")
    # The rest comes from the shipped file.
    assert mitel.serial.commands["night"][0].send == "CP SERVICE NIGHT1"


def test_site_profile_without_extends_stands_alone(tmp_path):
    (tmp_path / "tiny.toml").write_text("""
name = "tiny"
title = "Tiny"
families = ["T1"]
source = "a site's own notes"
verified = "checked on our unit, 2026"
modes = ["day", "night"]
[methods.contact]
supported = true
wiring = "input 1"
night_when = "open"
[methods.toggle_key]
supported = false
note = "none"
[methods.keypad]
supported = false
note = "none"
[methods.serial]
supported = false
note = "none"
""")
    tiny = load_profiles(tmp_path)["tiny"]
    assert tiny.method("contact").details == {"wiring": "input 1", "night_when": "open"}


def test_extends_unknown_and_circular(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b"\nname = "a"\n')
    (tmp_path / "b.toml").write_text('extends = "a"\nname = "b"\n')
    (tmp_path / "c.toml").write_text('extends = "nope"\nname = "c"\n')
    profiles = load_profiles(tmp_path)
    text = "\n".join(p.render() for p in profiles.problems)
    assert "circle" in text
    assert "'nope' is not a profile to extend" in text
    assert not {"a", "b", "c"} & set(profiles)


def test_missing_site_directory_is_fine(tmp_path):
    profiles = load_profiles(tmp_path / "absent")
    assert "mitel-3300" in profiles and profiles.problems == []


def test_profile_repr_is_short():
    assert (
        repr(load_profiles(None)["mitel-3300"])
        == "<Profile mitel-3300 modes=day/night/night2 methods=keypad,serial>"
    )


def test_the_new_families_say_what_their_notes_say():
    profiles = load_profiles(None)
    vimar = profiles["vimar"].method("keypad").details
    assert vimar["sequences"] == {"night": "901 <R>", "day": "900 <R>"}
    # docs/pbx-families.md#nortel-meridian
    assert profiles["nortel-meridian"].power.on_power_up == "night"
    for name in ("toshiba-strata", "avaya-definity", "avaya-merlin", "panasonic-kx-td"):
        toggle = profiles[name].method("toggle_key")
        assert toggle.supported and toggle.details["lit_in"] == ("night",), name
    # Lamps the notes do not describe are not invented.
    assert profiles["nortel-meridian"].method("toggle_key").details["lit_in"] == ()
    assert profiles["nec-neax"].method("contact").details["night_when"] == "unknown"
    # A toggle feature code dialled blind can invert the mode: not offered.
    assert not profiles["avaya-merlin"].method("keypad").supported
    assert {
        n: profiles[n].smdr_format
        for n in ("toshiba-strata", "avaya-definity", "nec-neax", "panasonic-kx-td")
    } == {
        "toshiba-strata": "toshiba-strata-dk",
        "avaya-definity": "avaya-definity",
        "nec-neax": "nec-neax",
        "panasonic-kx-td": "panasonic-kx-td",
    }
