"""``nightswitch test pbx``'s walk-through of a profile, against the simulated PBX."""

from __future__ import annotations

from appliance.pbx import commission
from appliance.sim import PbxSimulator
from tests.fixtures.pbx.simhelp import PASSWORD, SITE_DIR, fast, profiles, spec_for


def run(profile, url, secrets=None, **kwargs):
    lines = []
    ok = commission.test_dialogue(profile, url, secrets, out=lines.append, **kwargs)
    return ok, "\n".join(lines)


def test_the_whole_dialogue_and_the_original_mode_restored():
    profile = profiles()["mitel-3300"]
    with PbxSimulator(profile, seed=1) as sim:
        sim.model.set_mode("night", by="console")
        ok, report = run(profile, sim.port_path)
        assert ok, report
        assert sim.model.mode == "night"  # put back as it was
        assert [c.new for c in sim.model.history][1:] == ["day", "night", "night2", "night"]
    assert "the PBX reports mode night" in report
    assert "switched to night2 (night2), read back night2" in report
    assert "put the PBX back in night" in report
    assert "verified: Nothing verified on a real unit" in report
    assert "no login in this profile" in report
    assert "PBX dialogue OK" in report


def test_a_login_profile_with_a_password_that_is_never_printed():
    profile = profiles()["mitel-3300-login"]
    with PbxSimulator(profile, password=PASSWORD) as sim:
        ok, report = run(profile, sim.port_path, {"password": PASSWORD})
    assert ok, report
    assert "logged in (3 steps; the terminal was at: login)" in report and "logged out" in report
    assert PASSWORD not in report


def test_from_a_serial_actuator_table_as_the_test_command_calls_it():
    profile = profiles()["mitel-3300-login"]
    with PbxSimulator(profile, password=PASSWORD) as sim:
        table = spec_for(profile, sim.port_path, modes={"day": "day", "night": "night2"})
        lines = []
        ok = commission.test_dialogue(table, profiles_dir=SITE_DIR, out=lines.append)
        # Only the modes the table maps are tried, then the original is put back.
        assert [c.new for c in sim.model.history] == ["day", "night2", "day"]
    report = "\n".join(lines)
    assert ok, report
    assert "switched to night (night2), read back night2" in report


def test_a_silent_pbx_fails_with_the_reason():
    profile = fast(profiles()["mitel-3300"])
    with PbxSimulator(profile) as sim:
        sim.inject("silence")
        ok, report = run(profile, sim.port_path)
    assert not ok
    assert "FAILED: " in report and "received nothing" in report
    assert "PBX dialogue FAILED" in report and "nightswitch console" in report


def test_a_wrong_password_fails_at_login():
    profile = fast(profiles()["mitel-3300-login"])
    with PbxSimulator(profile, password=PASSWORD) as sim:
        ok, report = run(profile, sim.port_path, {"password": "not-it"})
        assert sim.model.history == []
    assert not ok and "the PBX refused the login" in report


def test_a_pbx_that_does_not_follow_is_reported_and_put_back():
    profile = fast(profiles()["mitel-3300"])
    with PbxSimulator(profile) as sim:
        # The PBX answers the command but a power cut puts it straight back.
        sim.model.subscribe(
            lambda change: (
                change.new == "night2"
                and change.by == "serial"
                and sim.model.set_mode("day", by="power")
            )
        )
        ok, report = run(profile, sim.port_path)
        assert sim.model.mode == "day"
    assert not ok
    assert "FAILED: switched to night2 (night2), but the PBX reports day" in report


def test_a_profile_without_a_serial_dialogue():
    ok, report = run(profiles()["nec-sv9100"], "/dev/null")
    assert not ok and "has no maintenance-port dialogue" in report
