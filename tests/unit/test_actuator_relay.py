"""The pieces every relay actuator is made of: one relay channel (off at construction and at
close, without a blip), a sense input, the base class and the type registry."""

from __future__ import annotations

import pytest

from appliance.actuators import ACTUATOR_TYPES, actuator_module, build_actuator, pins_of
from appliance.actuators.base import Actuator
from appliance.actuators.relay import Relay
from appliance.actuators.sense import SenseInput
from appliance.inputs.clock import SimClock
from tests.appliance_helpers import MONDAY_0759, changes, config, contact_toml


def test_an_active_high_relay_never_blips_on_at_construction(mock_factory):
    relay = Relay("night-service", 17, active_high=True, pin_factory=mock_factory)
    pin = mock_factory.pin(17)
    # the whole history: LOW before, LOW after; never HIGH (energized)
    assert changes(pin) == [False]
    assert pin.function == "output"
    assert not relay.is_closed
    relay.close()
    assert changes(pin) == [False]


def test_an_active_low_relay_what_mockfactory_shows(mock_factory):
    """An active-low relay is energized by LOW. A mock pin starts at its pull level (LOW,
    floating) before the device claims it, so the history is LOW (= energized) then HIGH
    (= off) at construction. On lgpio the claim itself drives LOW first
    (docs/raspberry-pi.md#outputs-and-the-lgpio-blip): the blip the pin map avoids by
    driving relays active-high."""
    relay = Relay("key", 27, active_high=False, pin_factory=mock_factory)
    pin = mock_factory.pin(27)
    assert changes(pin) == [False, True]
    assert not relay.is_closed and pin.state is True
    relay.close_contact()
    assert pin.state is False and relay.is_closed
    relay.close()
    assert changes(pin) == [False, True, False, True]  # de-energized before release


@pytest.mark.parametrize("active_high", [True, False])
def test_close_leaves_the_relay_de_energized_and_releases_the_line(mock_factory, active_high):
    relay = Relay("r", 22, active_high=active_high, pin_factory=mock_factory)
    relay.close_contact()
    assert "closed" in repr(relay)
    relay.close()
    relay.close()  # idempotent
    pin = mock_factory.pin(22)
    assert pin.state is (not active_high)  # the off level
    assert pin.function == "input"  # released
    assert relay.device.closed


def test_a_sense_input_is_active_in_its_modes(mock_factory):
    sense = SenseInput(
        {"pin": 24, "pull_up": True, "active_in": ["night", "holiday"]}, pin_factory=mock_factory
    )
    pin = mock_factory.pin(24)
    assert sense.is_active is False  # pulled up, opto off
    pin.drive_low()  # opto conducts: PBX in night
    assert sense.is_active is True
    assert sense.expects_active("night") and sense.expects_active("holiday")
    assert not sense.expects_active("day")
    assert "active=True" in repr(sense)
    sense.close()
    pulled_down = SenseInput(
        {"pin": 25, "pull_up": False, "active_in": ["night"]}, pin_factory=mock_factory
    )
    mock_factory.pin(25).drive_high()
    assert pulled_down.is_active is True
    pulled_down.close()


def test_the_registry_picks_a_module_by_type_name():
    assert set(ACTUATOR_TYPES) == {"contact", "pulse", "keypad", "serial"}
    for name in ("contact", "pulse", "keypad"):
        module = actuator_module(name)
        assert callable(module.check) and callable(module.build) and callable(module.modes_of)
    assert actuator_module("contact").__name__ == "appliance.actuators.contact"


def test_pins_of_lists_every_gpio_an_actuator_claims():
    spec = config(contact_toml(pin=17, sense_pin=24)).actuators[0]
    assert pins_of(spec) == [("relay", 17), ("sense", 24)]


def test_build_actuator_builds_the_type_with_the_injected_factory(mock_factory):
    spec = config(contact_toml()).actuators[0]
    actuator = build_actuator(spec, pin_factory=mock_factory, clock=SimClock(MONDAY_0759))
    assert type(actuator).__name__ == "ContactActuator"
    assert actuator.relay.device.pin_factory is mock_factory
    assert (actuator.name, actuator.zone, actuator.role) == ("night-service", "main", "primary")
    assert actuator.modes == frozenset({"day", "night"})
    actuator.close()


def test_the_base_actuator_shape(mock_factory):
    spec = {"name": "x", "zone": "main", "role": "fallback", "_modes": frozenset({"day"})}
    with pytest.raises(TypeError, match="apply"):
        Actuator(spec)  # every type must say how it applies a mode

    class Minimal(Actuator):
        def apply(self, mode):
            self.last_mode = mode

    base = Minimal(spec)
    assert base.read_back() is None and base.relays() == {} and not base.can_read_back
    base.assume("day")
    assert base.last_mode == "day"
    assert repr(base) == "<Minimal 'x' zone=main role=fallback last_mode=day>"
    with base as same:
        assert same is base
    assert base.closed and repr(base).endswith("closed>")
