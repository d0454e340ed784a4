"""The controller following the schedule on the simulated clock: the relay switches at the
boundary and not before, overrides start and end, an unsynchronized clock holds the last
mode, and a restart puts the stored mode back."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from appliance.errors import Refused, ValidationError
from tests.appliance_helpers import (
    BERLIN,
    MONDAY_0759,
    build_rig,
    changes,
    config,
    contact_toml,
    panel_toml,
    wait_until,
)

WIRED = {17: 24}
CFG = (panel_toml(), contact_toml())


@pytest.fixture
def rig(mock_factory, data_dir):
    with build_rig(mock_factory, data_dir, config(*CFG), wires=WIRED) as rig:
        yield rig


def relay(rig):
    return rig.pin(17)


def local(rig) -> datetime:
    return rig.clock.now().astimezone(BERLIN)


# -- schedule boundaries ------------------------------------------------------------------------


def test_the_boundary_switches_the_relay_at_the_instant_and_not_before(rig):
    rig.start()
    assert rig.status()["next_change"] == {"at": "2026-03-02T08:00:00+01:00", "mode": "day"}
    assert relay(rig).state is True  # night: contact closed
    relay(rig).clear_states()
    rig.clock.advance(59.999)
    time.sleep(0.3)  # give the thread every chance to err
    assert changes(relay(rig)) == [True]
    rig.clock.advance(0.001)
    wait_until(lambda: relay(rig).state is False, message="08:00 passed, relay still night")
    # The status is published once the relay has moved (the live streams must not crowd
    # the worker on its way there): wait for the new one, not the night still verified.
    status = wait_until(lambda: (s := rig.status())["mode"] == "day" and s["verified"] and s)
    assert (status["mode"], status["source"]) == ("day", "weekly")
    assert status["next_change"] == {"at": "2026-03-02T18:00:00+01:00", "mode": "night"}
    assert rig.zone.applied_at == datetime(2026, 3, 2, 8, 0, tzinfo=BERLIN)
    assert rig.store.get_applied("main")["mode"] == "day"
    assert changes(relay(rig)) == [True, False]


def test_a_day_of_boundaries_switches_exactly_twice(rig):
    rig.step()
    relay(rig).clear_states()
    # walk through Monday in 7-minute steps: 08:00 day, 18:00 night, no flicker
    for _ in range(24 * 60 // 7):
        rig.advance(7 * 60)
    assert changes(relay(rig)) == [True, False, True]
    modes = [
        (a["old_mode"], a["new_mode"])
        for a in reversed(rig.audit())
        if a["source"] in ("weekly", "default")
    ]
    assert modes == [(None, "night"), ("night", "day"), ("day", "night")]


def test_a_clock_step_past_the_boundary_is_noticed_at_once(rig):
    rig.start()
    rig.clock.set(datetime(2026, 3, 2, 12, 0, tzinfo=BERLIN))  # NTP stepped the clock
    wait_until(lambda: rig.status()["mode"] == "day")
    rig.settle()
    assert relay(rig).state is False


# -- the clock hold -----------------------------------------------------------------------


def test_unsynchronized_clock_holds_the_last_mode_but_key_and_override_act(rig):
    rig.start()
    assert rig.status()["mode"] == "night"
    rig.clock.set_synchronized(False)
    wait_until(lambda: rig.status()["source"] == "hold")
    status = rig.status()
    assert status["mode"] == "night" and status["faults"][0]["kind"] == "clock"
    assert "holding the last mode applied, the clock is not synchronized" in status["reason"]
    relay(rig).clear_states()
    rig.clock.advance(120)  # 08:01: the schedule says day
    time.sleep(0.3)
    assert rig.status()["source"] == "hold" and changes(relay(rig)) == [True]
    # the key at reception still acts: it does not depend on the clock
    rig.turn_key("day")
    rig.clock.advance(0.05)
    wait_until(lambda: rig.status()["mode"] == "day")
    rig.settle()
    assert rig.status()["source"] == "key" and relay(rig).state is False
    rig.turn_key("auto")
    rig.clock.advance(0.05)
    wait_until(lambda: rig.status()["source"] == "hold")
    assert rig.status()["mode"] == "day"  # the last mode applied, held
    # so does a manual override
    rig.controller.set_override(None, "night", None, by="anna")
    rig.settle()
    assert rig.status()["mode"] == "night" and relay(rig).state is True
    rig.controller.cancel_override(None, by="anna")
    rig.settle()
    assert rig.status()["source"] == "hold" and relay(rig).state is True
    # synchronized again: the schedule's mode is applied
    rig.clock.set_synchronized(True)
    wait_until(lambda: rig.status()["source"] == "weekly")
    assert rig.status()["mode"] == "day" and rig.status()["faults"] == []
    wait_until(lambda: relay(rig).state is False)


def test_a_fresh_appliance_without_a_trusted_clock_switches_nothing(mock_factory, data_dir):
    with build_rig(mock_factory, data_dir, config(*CFG), wires=WIRED, synchronized=False) as rig:
        rig.step()
        status = rig.status()
        assert (status["mode"], status["source"]) == ("unknown", "hold")
        assert status["reason"] == "waiting for the clock: nothing applied yet"
        assert changes(relay(rig)) == [False]
        assert rig.store.get_applied("main") is None


# -- overrides ------------------------------------------------------------------------------


def test_override_until_next_ends_at_the_schedules_next_change(rig):
    rig.step()
    rig.advance(3 * 3600)  # 10:59, day
    status = rig.controller.set_override(None, "night", "next", by="anna")
    assert status["mode"] == "night" and status["source"] == "override"
    assert status["override"] == {
        "mode": "night",
        "by": "anna",
        "until": "2026-03-02T18:00:00+01:00",
    }
    assert relay(rig).state is True
    stored = rig.store.get_override("main")
    assert stored["mode"] == "night" and stored["by"] == "anna"
    # at 18:00 the schedule says night too: no flicker, the override simply ends
    relay(rig).clear_states()
    rig.advance(7 * 3600 + 60)
    status = rig.status()
    assert status["override"] is None and status["source"] == "default"
    assert changes(relay(rig)) == [True]
    assert rig.store.get_override("main") is None
    assert any("override to night ended at 18:00" in a["reason"] for a in rig.audit())


def test_override_until_a_time_expires_then(rig):
    rig.step()
    end = MONDAY_0759 + timedelta(minutes=31)  # 08:30
    rig.controller.set_override(None, "night", end, by="anna")
    rig.advance(60 * 10)  # 08:09: the override holds night
    assert rig.status()["mode"] == "night" and relay(rig).state is True
    rig.advance(60 * 20 + 59.9)  # 08:29:59.9
    assert rig.status()["mode"] == "night"
    rig.advance(0.1)  # 08:30
    assert rig.status()["mode"] == "day" and relay(rig).state is False


def test_override_expiry_wakes_the_controller_thread(rig):
    rig.start()
    rig.controller.set_override(None, "day", MONDAY_0759 + timedelta(seconds=30), by="bob")
    rig.settle()
    assert relay(rig).state is False
    rig.clock.advance(30)
    wait_until(lambda: relay(rig).state is True)  # back to night at 07:59:30


def test_override_until_cancelled_lasts_across_boundaries(rig):
    rig.step()
    rig.controller.set_override(None, "night", None, by="anna")
    rig.advance(2 * 86400)
    status = rig.status()
    assert status["mode"] == "night" and status["override"]["until"] is None
    assert status["reason"] == "night: override by anna until cancelled"
    assert local(rig).strftime("%a %H:%M") == "Wed 07:59"
    rig.advance(60)  # Wednesday 08:00: still forced
    assert rig.status()["mode"] == "night" and relay(rig).state is True
    status = rig.controller.cancel_override(None, by="anna")
    assert (status["mode"], status["source"]) == ("day", "weekly")
    assert relay(rig).state is False


def test_override_requests_with_bad_input_name_the_field(rig):
    rig.step()
    with pytest.raises(ValidationError, match="'lunch' is not a mode; use one of day, night"):
        rig.controller.set_override(None, "lunch", "next", by="anna")
    with pytest.raises(ValidationError, match="must include a UTC offset"):
        rig.controller.set_override(None, "day", datetime(2026, 3, 2, 12, 0), by="anna")
    with pytest.raises(ValidationError, match="is in the past"):
        rig.controller.set_override(None, "day", MONDAY_0759 - timedelta(hours=1), by="anna")
    with pytest.raises(
        ValidationError, match='must be "next" \\(the schedule\'s next change\\), a time of day'
    ):
        rig.controller.set_override(None, "day", 3, by="anna")
    with pytest.raises(ValidationError, match="unknown zone 'sales'"):
        rig.controller.set_override("sales", "day", "next", by="anna")
    assert rig.store.get_override("main") is None and rig.status()["override"] is None


def test_override_refused_while_the_key_is_forced_and_allowed_in_auto(rig):
    rig.step()
    rig.turn_key("day")
    rig.settle_key()
    with pytest.raises(Refused):
        rig.controller.set_override(None, "night", "next", by="anna")
    assert rig.store.get_override("main") is None
    rig.turn_key("auto")
    rig.settle_key()
    assert rig.controller.set_override(None, "day", "next", by="anna")["mode"] == "day"


def test_every_override_action_is_one_audit_entry(rig):
    rig.step()
    before = len(rig.audit())
    rig.controller.set_override(None, "day", "next", by="anna", source="api")
    rig.controller.cancel_override(None, by="bob", source="cli")
    entries = rig.audit(limit=2)
    assert len(rig.audit()) == before + 2
    assert (entries[1]["who"], entries[1]["source"], entries[1]["new_mode"]) == (
        "anna",
        "api",
        "day",
    )
    assert entries[1]["reason"].startswith("override to day until Mon 2 Mar 08:00")
    assert (entries[0]["who"], entries[0]["source"], entries[0]["new_mode"]) == (
        "bob",
        "cli",
        "night",
    )


# -- restart ----------------------------------------------------------------------------------


def test_restart_reasserts_the_stored_mode(mock_factory, data_dir):
    rig = build_rig(mock_factory, data_dir, config(*CFG), wires=WIRED)
    rig.step()
    rig.controller.set_override(None, "night", None, by="anna")
    rig.advance(3 * 3600)  # 10:59, forced night
    assert relay(rig).state is True
    clock = rig.clock
    rig.close()
    assert relay(rig).state is False  # stopped: de-energized
    with build_rig(mock_factory, data_dir, config(*CFG), clock=clock) as again:
        assert again.zone.applied_mode == "night" and again.zone.override.by == "anna"
        again.step()
        assert relay(again).state is True  # night put back
        assert again.status()["source"] == "override" and again.status()["verified"]


def test_restart_without_a_trusted_clock_reasserts_the_last_mode(mock_factory, data_dir):
    rig = build_rig(mock_factory, data_dir, config(*CFG), wires=WIRED)
    rig.step()
    rig.close()
    assert relay(rig).state is False
    # a Pi without an RTC boots hours later with a stale clock
    with build_rig(
        mock_factory,
        data_dir,
        config(*CFG),
        synchronized=False,
        start=MONDAY_0759 + timedelta(hours=5),
    ) as again:
        again.step()
        status = again.status()
        assert (status["mode"], status["source"]) == ("night", "hold")
        assert relay(again).state is True
        assert again.store.get_applied("main")["mode"] == "night"


def test_a_saved_schedule_that_no_longer_fits_the_config_is_a_config_fault(mock_factory, data_dir):
    from appliance.store import Store

    store = Store(data_dir)
    doc = {
        "timezone": "Europe/Berlin",
        "default_mode": "night",
        "weekly": {"mon": [{"start": "08:00", "end": "12:00", "mode": "lunch"}]},
    }
    store.save_schedule("main", doc, by="anna", at=MONDAY_0759)
    store.close()
    with build_rig(mock_factory, data_dir, config(*CFG), wires=WIRED) as rig:
        rig.step()
        faults = rig.status()["faults"]
        assert [f["kind"] for f in faults] == ["config"]
        assert "does not fit the config" in faults[0]["message"] and "lunch" in faults[0]["message"]
        assert rig.panel.leds.patterns["fault"] == "slow"


def test_restart_never_pulses_an_unverified_toggle_blind(mock_factory, data_dir):
    """A pulse actuator without a lamp trusts the mode stored as applied: after a restart it
    must not pulse again, which would invert the PBX."""
    pulse = """
[[actuators]]
name = "console-night-key"
type = "pulse"
pin = 27
pulse_ms = 30
unverified = true
modes = { day = "dark", night = "lit" }
"""
    rig = build_rig(mock_factory, data_dir, config(pulse))
    rig.step()
    assert changes(rig.pin(27)) == [False, True, False]  # nothing known: one pulse
    assert rig.status()["actuators"][0]["unverified"] is True
    rig.close()
    with build_rig(mock_factory, data_dir, config(pulse)) as again:
        again.pin(27).clear_states()
        again.step()
        assert again.status()["mode"] == "night"
        assert changes(again.pin(27)) == [False]  # no second pulse
        again.advance(60)  # 08:00: day, one pulse
        assert changes(again.pin(27)) == [False, True, False]


def test_rolling_back_to_a_version_the_config_no_longer_allows_is_refused(rig):
    """An old version may use a mode the actuators cannot make any more: the rollback is
    refused with the field named, and the schedule in force and its history stay."""
    in_force = rig.controller.get_schedule("main")
    lunch = {
        "timezone": "Europe/Berlin",
        "default_mode": "night",
        "weekly": {"mon": [{"start": "08:00", "end": "12:00", "mode": "lunch"}]},
    }
    unfit = rig.store.save_schedule("main", lunch, by="anna", at=MONDAY_0759)
    fit = rig.store.save_schedule("main", in_force, by="anna", at=MONDAY_0759)
    rig.start()
    with pytest.raises(ValidationError) as refused:
        rig.controller.rollback_schedule("main", unfit, by="ben")
    assert [e.field for e in refused.value.errors] == ["weekly.mon[0].mode"]
    assert "'lunch'" in refused.value.errors[0].message
    with pytest.raises(
        ValidationError, match=f"has no schedule version 99; versions 1 to {fit} exist"
    ):
        rig.controller.rollback_schedule("main", 99, by="ben")
    assert rig.store.schedule_history("main")[0]["version"] == fit
    assert rig.controller.get_schedule("main") == in_force
    result = rig.controller.rollback_schedule("main", fit, by="ben")
    assert (result["version"], result["restored_from"]) == (fit + 1, fit)
    assert rig.store.schedule_history("main")[0]["restored_from"] == fit
