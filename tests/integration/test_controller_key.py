"""The controller and the front panel together: each key switch kind switching the relay,
debouncing on the simulated clock, the wiring fault, the start-up level, the LEDs.

The PBX's night-service status follows the relay (``MockConnectedPin`` GPIO17 -> GPIO24),
so every switch is verified as on a correctly wired site.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest

from appliance.decision.decide import Key
from appliance.errors import Refused
from appliance.inputs.clock import SimClock
from tests.appliance_helpers import (
    MONDAY_0759,
    build_rig,
    changes,
    close_contact,
    config,
    contact_toml,
    open_contact,
    panel_toml,
    wait_until,
)

WIRED = {17: 24}


@pytest.fixture
def rig(mock_factory, data_dir):
    with build_rig(
        mock_factory, data_dir, config(panel_toml(), contact_toml()), wires=WIRED
    ) as rig:
        yield rig


def relay(rig):
    return rig.pin(17)


def leds(rig):
    return dict(rig.panel.leds.patterns)


# -- three-position --------------------------------------------------------------------------


def test_key_turn_switches_after_debounce_and_not_before(rig):
    rig.step()
    assert rig.status()["mode"] == "night" and relay(rig).state is True
    relay(rig).clear_states()
    rig.turn_key("day")
    rig.advance(0.049)
    assert relay(rig).state is True and rig.status()["key"] == "auto"
    rig.advance(0.001)
    status = rig.status()
    assert (status["mode"], status["source"], status["key"]) == ("day", "key", "day")
    assert status["reason"] == "day: key switch in DAY" and status["verified"]
    assert changes(relay(rig)) == [True, False]
    entry = rig.audit(limit=1)[0]
    assert (entry["who"], entry["source"], entry["old_mode"], entry["new_mode"]) == (
        "key switch",
        "key",
        "night",
        "day",
    )
    assert entry["reason"].startswith("key turned from AUTO to DAY")


def test_key_chatter_is_one_switch_on_the_controller(rig):
    rig.step()
    relay(rig).clear_states()
    night = rig.panel.inputs["key_night"]
    day = rig.panel.inputs["key_day"]
    for dt, device, closed in [
        (0, day, True),
        (0.004, day, False),
        (0.009, day, True),
        (0.012, day, False),
        (0.02, day, True),
    ]:
        rig.advance(dt)
        (close_contact if closed else open_contact)(device)
    rig.advance(0.049)
    assert changes(relay(rig)) == [True]  # not yet: the reading held 49 ms
    rig.advance(0.001)
    assert changes(relay(rig)) == [True, False]  # exactly one change
    assert night.is_active is False
    assert len([a for a in rig.audit() if a["source"] == "key"]) == 1


def test_key_back_to_auto_returns_to_the_schedule(rig):
    rig.step()
    rig.turn_key("day")
    rig.settle_key()
    rig.turn_key("auto")
    rig.settle_key()
    status = rig.status()
    assert (status["mode"], status["source"], status["key"]) == ("night", "default", "auto")
    assert relay(rig).state is True


def test_key_in_day_or_night_refuses_every_other_request(rig):
    rig.step()
    rig.turn_key("night")
    rig.settle_key()
    with pytest.raises(Refused, match="key switch at reception is in NIGHT; turn it to AUTO"):
        rig.controller.set_override(None, "day", "next", by="anna")
    with pytest.raises(Refused):
        rig.controller.cancel_override(None, by="anna")
    rig.advance(3600)  # the schedule's 08:00 passes: key wins
    assert rig.status()["mode"] == "night" and relay(rig).state is True


def test_a_key_left_in_night_is_night_from_the_first_decision(mock_factory, data_dir):
    """MockFactory pins take their pull level when claimed, so the contact is closed just
    after the panel is built and before the controller's first pass: as on a Pi where the
    key was already in NIGHT when the daemon started, the first mode applied must be
    NIGHT, even though the schedule says DAY, and the relay must never show day."""
    cfg = config(panel_toml(), contact_toml())
    start = MONDAY_0759 + timedelta(hours=2)  # 09:59, office hours
    with build_rig(mock_factory, data_dir, cfg, wires=WIRED, start=start) as rig:
        rig.turn_key("night")
        rig.clock.advance(0.05)  # the contact has been closed a while
        relay(rig).clear_states()
        rig.step()
        assert rig.status()["mode"] == "night" and rig.status()["source"] == "key"
        assert changes(relay(rig)) == [False, True]  # off (safe) -> night; no day first
        first = rig.audit()[-1]
        assert first["new_mode"] == "night"


def test_the_position_read_at_construction_is_the_controllers_key(mock_factory, data_dir):
    cfg = config(panel_toml(), contact_toml())
    with build_rig(mock_factory, data_dir, cfg, wires=WIRED) as rig:
        assert rig.zone.key is Key.AUTO
        rig.turn_key("day")
        rig.panel._debouncer.settle(10**9)  # as if read as DAY when built
        from appliance.control.controller import Controller

        again = Controller(cfg, rig.store, rig.clock, actuators=rig.actuators, panels=rig.panels)
        assert again.zones["main"].key is Key.DAY


def test_wiring_fault_is_shown_treated_as_auto_and_cleared_when_fixed(rig):
    rig.step()
    rig.turn_key("day")
    rig.settle_key()
    assert rig.status()["mode"] == "day"
    close_contact(rig.panel.inputs["key_night"])  # both closed: a short in the cable
    rig.settle_key()
    status = rig.status()
    assert status["key"] == "auto" and status["mode"] == "night"  # the schedule's
    assert [f["kind"] for f in status["faults"]] == ["wiring"]
    assert "reads DAY and NIGHT at once" in status["faults"][0]["message"]
    assert leds(rig)["fault"] == "slow"  # a config/wiring problem blinks
    assert any(a["source"] == "fault" and "wiring fault" in a["reason"] for a in rig.audit())
    open_contact(rig.panel.inputs["key_day"])  # fixed: NIGHT alone
    rig.settle_key()
    status = rig.status()
    assert status["faults"] == [] and status["key"] == "night"
    assert leds(rig)["fault"] == "off"


def test_a_wiring_fault_present_at_start_is_reported(mock_factory, data_dir):
    cfg = config(panel_toml(), contact_toml())
    with build_rig(mock_factory, data_dir, cfg, wires=WIRED) as rig:
        rig.turn_key("day")
        close_contact(rig.panel.inputs["key_night"])
        rig.clock.advance(0.05)
        rig.step()
        status = rig.status()
        assert status["key"] == "auto" and [f["kind"] for f in status["faults"]] == ["wiring"]


# -- two-position and button ------------------------------------------------------------------


def test_two_position_flip_is_an_override_until_the_next_change(mock_factory, data_dir):
    cfg = config(panel_toml("two-position"), contact_toml())
    start = MONDAY_0759 + timedelta(hours=3)  # 10:59, day by the schedule
    with build_rig(mock_factory, data_dir, cfg, wires=WIRED, start=start) as rig:
        rig.step()
        assert rig.status()["mode"] == "day" and rig.status()["key"] == "none"
        close_contact(rig.panel.inputs["key"])
        rig.settle_key()
        status = rig.status()
        assert (status["mode"], status["source"]) == ("night", "override")
        assert status["override"] == {
            "mode": "night",
            "by": "key switch",
            "until": "2026-03-02T18:00:00+01:00",
        }
        assert relay(rig).state is True
        stored = rig.store.get_override("main")  # survives a restart
        assert (stored["mode"], stored["by"]) == ("night", "key switch")
        # unlike the three-position key, the web may still act: it is only an override
        rig.controller.cancel_override(None, by="anna")
        assert rig.status()["mode"] == "day"
        open_contact(rig.panel.inputs["key"])
        rig.settle_key()
        assert rig.status()["override"]["mode"] == "day"


def test_button_press_toggles_and_a_three_second_hold_returns_to_auto(mock_factory, data_dir):
    cfg = config(panel_toml("button", hold_s=3.0), contact_toml())
    start = MONDAY_0759 + timedelta(hours=3)
    with build_rig(mock_factory, data_dir, cfg, wires=WIRED, start=start) as rig:
        rig.step()
        button = rig.panel.inputs["key"]
        close_contact(button)
        rig.advance(0.2)
        open_contact(button)
        rig.settle_key()
        assert rig.status()["mode"] == "night" and rig.status()["source"] == "override"
        close_contact(button)
        rig.advance(0.2)
        open_contact(button)
        rig.settle_key()
        assert rig.status()["mode"] == "day" and rig.status()["override"]["mode"] == "day"
        close_contact(button)  # hold it
        rig.settle_key()
        rig.advance(2.9)
        assert rig.status()["override"] is not None
        rig.advance(0.1)
        status = rig.status()
        assert status["override"] is None and status["source"] == "weekly"
        assert rig.store.get_override("main") is None
        open_contact(button)
        rig.settle_key()
        assert rig.status()["override"] is None  # no toggle after the hold
        reasons = [a["reason"] for a in rig.audit()]
        assert any("reception button held: back to the schedule" in r for r in reasons)


def test_a_push_button_beside_the_key_switch(mock_factory, data_dir):
    """docs/design.md#modes-and-precedence names the reception push button as an override
    source of its own: beside a three-position key it toggles and holds like a button
    panel, as "reception button"; while the key is in DAY or NIGHT the key decides and a
    press is ignored."""
    cfg = config(
        panel_toml().replace("[front_panel.pins]", "[front_panel.pins]\nbutton = 22"),
        contact_toml(),
    )
    with build_rig(
        mock_factory, data_dir, cfg, wires=WIRED, start=MONDAY_0759 + timedelta(hours=3)
    ) as rig:  # 10:59, day
        rig.step()
        button = rig.panel.button

        def press(seconds: float = 0.2) -> None:
            close_contact(button)
            rig.settle_key()
            rig.advance(seconds)
            open_contact(button)
            rig.settle_key()

        press()
        status = rig.status()
        assert (status["mode"], status["source"]) == ("night", "override")
        assert status["override"]["by"] == "reception button"
        assert rig.pin(17).state is True  # night: contact closed
        press(3.0)  # a hold: back to AUTO
        assert rig.status()["override"] is None and rig.status()["mode"] == "day"
        rig.turn_key("day")
        rig.settle_key()
        press()
        status = rig.status()
        assert (status["mode"], status["source"], status["override"]) == ("day", "key", None)
        assert rig.store.get_override("main") is None
        (ignored,) = [a for a in rig.audit() if "ignored" in a["reason"]]
        assert ignored["who"] == "reception button"
        assert ignored["reason"] == (
            "reception button pressed while the key switch is in DAY: ignored, the key decides"
        )


def test_a_site_without_key_switch(mock_factory, data_dir):
    with build_rig(
        mock_factory, data_dir, config(panel_toml("none"), contact_toml()), wires=WIRED
    ) as rig:
        rig.step()
        assert rig.status()["key"] == "none" and rig.status()["mode"] == "night"


# -- LEDs ----------------------------------------------------------------------------------------


def test_lamp_test_then_the_steady_verified_mode(rig):
    rig.controller.start()
    wait_until(lambda: rig.zone.decision is not None)
    assert leds(rig) == {"day": "on", "night": "on", "fault": "on"}
    rig.clock.advance(0.99)
    time.sleep(0.1)
    assert leds(rig) == {"day": "on", "night": "on", "fault": "on"}
    rig.clock.advance(0.01)
    wait_until(lambda: leds(rig) == {"day": "off", "night": "on", "fault": "off"})


def test_lamp_test_lasts_about_one_second_of_real_time(mock_factory, data_dir):
    clock = SimClock(MONDAY_0759, rate=1.0)  # as in `simulate`
    with build_rig(
        mock_factory, data_dir, config(panel_toml(), contact_toml()), wires=WIRED, clock=clock
    ) as rig:
        day_led = rig.pin(13)
        rig.controller.start()
        wait_until(
            lambda: len(changes(day_led)) >= 3 and rig.pin(19).state is True,
            timeout=5,
            message="the lamp test did not end",
        )
        # day LED: on for the lamp test, then off (it is night); a loaded machine only
        # makes it late, never early
        assert changes(day_led) == [False, True, False]
        assert 0.95 <= day_led.states[2].timestamp <= 1.5, day_led.states
        assert rig.pin(19).state is True and rig.pin(26).state is False


def test_patterns_for_key_override_switching_and_faults(rig):
    seen_while_switching = []
    actuator = rig.actuators[0]
    real_apply = actuator.apply

    def apply(mode):
        seen_while_switching.append(leds(rig))
        real_apply(mode)

    actuator.apply = apply
    rig.step()
    assert leds(rig) == {"day": "off", "night": "on", "fault": "off"}  # steady, verified
    rig.turn_key("day")
    rig.settle_key()
    assert seen_while_switching[-1]["day"] == "fast"  # being switched
    assert leds(rig) == {"day": "slow", "night": "off", "fault": "off"}  # forced by key
    rig.turn_key("auto")
    rig.settle_key()
    rig.controller.set_override(None, "day", "next", by="anna")
    assert leds(rig)["day"] == "slow"  # forced by override
    rig.controller.cancel_override(None, by="anna")
    assert leds(rig) == {"day": "off", "night": "on", "fault": "off"}


def test_unverified_mode_blinks_fast_with_the_fault_led_steady(mock_factory, data_dir):
    with build_rig(
        mock_factory, data_dir, config(panel_toml(), contact_toml())
    ) as rig:  # not wired
        rig.step()  # no thread: no lamp test either
        status = rig.status()
        assert not status["verified"] and status["faults"][0]["kind"] == "actuator"
        assert leds(rig) == {"day": "off", "night": "fast", "fault": "on"}


def test_unsynchronized_clock_blinks_the_fault_led(mock_factory, data_dir):
    with build_rig(
        mock_factory,
        data_dir,
        config(panel_toml(), contact_toml()),
        wires=WIRED,
        synchronized=False,
    ) as rig:
        rig.step()
        status = rig.status()
        assert status["source"] == "hold" and [f["kind"] for f in status["faults"]] == ["clock"]
        assert leds(rig) == {"day": "off", "night": "off", "fault": "slow"}  # nothing applied
        assert relay(rig).state is False  # still safe


def test_key_events_are_decided_on_the_controller_and_applied_by_the_worker(rig):
    threads = set()
    actuator = rig.actuators[0]
    real_apply = actuator.apply

    def apply(mode):
        threads.add(threading.current_thread().name)
        real_apply(mode)

    actuator.apply = apply
    rig.start()
    rig.clock.advance(1)
    rig.turn_key("day")  # the edge arrives on this (the test's) thread
    rig.clock.advance(0.05)
    wait_until(lambda: rig.status()["mode"] == "day")
    rig.settle()
    assert relay(rig).state is False
    assert threads == {"worker-main"}


# -- the virtual panel of `simulate` ---------------------------------------------------------


def test_the_virtual_panel_turns_the_key_through_the_mock_pins(rig):
    from appliance.errors import ValidationError
    from appliance.sim.virtual_panel import VirtualPanel

    sim = VirtualPanel(rig.controller, rig.clock)
    rig.step()
    assert sim.snapshot()["key"] == "auto"
    assert sim.set_key("night") == {"key": "night"}
    assert rig.panel.inputs["key_night"].pin.state is False  # pulled-up contact closed
    rig.settle_key()
    snap = sim.snapshot()
    assert snap["key"] == "night" and snap["relays"] == {"night-service": "closed"}
    assert snap["now"] == "2026-03-02T06:59:00+00:00"
    with pytest.raises(ValidationError, match="'press' is not a position of a three-position"):
        sim.set_key("press")
    with pytest.raises(ValidationError, match="advance_s"):
        sim.advance(-5)
    with pytest.raises(ValidationError, match="must include a UTC offset"):
        sim.set_now(datetime(2026, 3, 2, 12, 0))
    sim.advance(3600)
    assert rig.clock.now() > MONDAY_0759


def test_the_virtual_panel_without_a_key_switch(mock_factory, data_dir):
    from appliance.errors import ValidationError
    from appliance.sim.virtual_panel import VirtualPanel

    with build_rig(mock_factory, data_dir, config(panel_toml("none"), contact_toml())) as rig:
        sim = VirtualPanel(rig.controller, rig.clock)
        assert sim.key() == "none"
        with pytest.raises(ValidationError, match="no key switch"):
            sim.set_key("day")
