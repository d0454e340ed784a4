"""``pulse``: a toggle key pulsed by a relay, pulsed only when its lamp disagrees, and the
lamp checked afterwards (docs/design.md#actuators-and-verification). The PBX's toggle key
is :class:`ToggleKey`: gpiozero parts that light or darken the lamp on each closure of the
relay."""

from __future__ import annotations

import pytest

from appliance.actuators import build_actuator
from appliance.actuators.pulse import check
from appliance.config import load_config_text
from appliance.errors import ActuatorError, ValidationError
from tests.appliance_helpers import SITE, RecordingSleep, ToggleKey, changes, config

PULSE = """
[[actuators]]
name = "console-night-key"
type = "pulse"
pin = 27
pulse_ms = {pulse_ms}
settle_ms = {settle_ms}
active_high = {active_high}
modes = {{ day = "dark", night = "lit" }}
"""


def pulse_toml(
    *, pulse_ms=120, settle_ms=60, active_high=True, sense=True, unverified=False
) -> str:
    text = PULSE.format(
        pulse_ms=pulse_ms, settle_ms=settle_ms, active_high=str(active_high).lower()
    )
    if sense:
        text += "sense = { pin = 25, pull_up = true }\n"
    if unverified:
        text += "unverified = true\n"
    return text


def build(factory, *, sleep=None, **kw):
    spec = config(pulse_toml(**kw)).actuators[0]
    if sleep is None:
        return build_actuator(spec, pin_factory=factory)
    return build_actuator(spec, pin_factory=factory, sleep=sleep)


@pytest.fixture
def key(mock_factory):
    toggle = ToggleKey(mock_factory, relay=27, lamp=25, wire=4)
    yield toggle
    toggle.close()


def test_pulses_once_when_the_lamp_disagrees_and_checks_it_followed(mock_factory, key):
    sleep = RecordingSleep()
    pulse = build(mock_factory, pulse_ms=120, sleep=sleep)
    sleep.relays = pulse.relay_devices()
    relay = mock_factory.pin(27)
    relay.clear_states()
    pulse.apply("night")
    assert key.lit and len(key.presses) == 1
    assert changes(relay) == [False, True, False]
    # the relay was held closed for the whole requested pulse
    assert sleep.calls == [(0.12, frozenset({"console-night-key"}))]
    assert pulse.read_back() == "night"
    pulse.apply("day")
    assert not key.lit and len(key.presses) == 2
    assert pulse.read_back() == "day"
    pulse.close()


def test_no_pulse_when_the_lamp_already_agrees(mock_factory, key):
    pulse = build(mock_factory)
    key.set_lit(True)  # the PBX is already in night
    relay = mock_factory.pin(27)
    relay.clear_states()
    pulse.apply("night")
    assert changes(relay) == [False]  # a blind pulse would have inverted it
    assert key.presses == [] and pulse.last_mode == "night"
    pulse.close()


def test_a_lamp_that_does_not_follow_is_a_named_failure(mock_factory, key):
    pulse = build(mock_factory, settle_ms=80)
    key.responding = False  # the relay is not across the key after all
    with pytest.raises(ActuatorError) as info:
        pulse.apply("night")
    assert str(info.value) == (
        "console-night-key: pulsed the key for night, but its lamp on "
        "GPIO25 is still dark after 80 ms; check the relay across the "
        "key and the lamp wiring"
    )
    assert len(key.presses) == 1
    assert mock_factory.pin(27).state is False  # the pulse ended
    pulse.close()


def test_active_low_relay_pulses_low(mock_factory):
    key = ToggleKey(mock_factory, relay=27, lamp=25, wire=4, relay_active_high=False)
    pulse = build(mock_factory, active_high=False)
    relay = mock_factory.pin(27)
    relay.clear_states()
    pulse.apply("night")
    assert changes(relay) == [True, False, True]
    assert key.lit
    pulse.close()
    key.close()


def test_read_back_names_the_lamp_state_when_switched_behind_our_back(mock_factory, key):
    pulse = build(mock_factory)
    pulse.apply("night")
    key.set_lit(False)  # someone pressed the console key
    assert pulse.read_back() == "day"
    pulse.close()


# -- without a lamp ------------------------------------------------------------------------


def test_unverified_trusts_the_last_mode_it_was_told(mock_factory):
    pulse = build(mock_factory, sense=False, unverified=True)
    relay = mock_factory.pin(27)
    assert pulse.unverified and not pulse.can_read_back and pulse.read_back() is None
    pulse.assume("night")  # the store says night was applied last
    relay.clear_states()
    pulse.apply("night")
    assert changes(relay) == [False]  # no pulse: it is already night
    pulse.apply("day")
    assert changes(relay) == [False, True, False]
    assert pulse.last_mode == "day"
    pulse.apply("day")
    assert changes(relay) == [False, True, False]
    pulse.close()


def test_a_relay_test_press_is_pressed_back_even_without_a_lamp(mock_factory):
    """A relay test closes the key's relay: the PBX toggled. The actuator says so
    (relay_tested), believes the other mode now, and its next apply presses again."""
    pulse = build(mock_factory, sense=False, unverified=True)
    relay = mock_factory.pin(27)
    pulse.assume("night")
    assert pulse.relay_tested("console-night-key") is True
    assert pulse.last_mode == "day"  # what the PBX is in after the test's press
    relay.clear_states()
    pulse.apply("night")
    assert changes(relay) == [False, True, False]
    assert pulse.last_mode == "night"
    pulse.close()


def test_unverified_with_nothing_known_pulses(mock_factory):
    pulse = build(mock_factory, sense=False, unverified=True)
    pulse.assume(None)
    relay = mock_factory.pin(27)
    relay.clear_states()
    pulse.apply("night")
    assert changes(relay) == [False, True, False]
    pulse.close()


def test_a_pulse_without_lamp_or_unverified_is_a_config_error():
    with pytest.raises(ValidationError) as info:
        load_config_text(SITE + pulse_toml(sense=False))
    (error,) = info.value.errors
    assert error.field == "actuators[0].sense"
    assert "a toggle pulsed blind can invert the mode" in error.message
    assert "unverified = true" in error.message


def test_check_names_every_bad_field():
    errors = check(
        {
            "pin": 27,
            "modes": {"day": "dim", "night": "lit"},
            "pulse_ms": 10,
            "settle_ms": 70000,
            "unverified": "yes",
            "sense": {"pin": 25, "x": 1},
            "active_high": 0,
        },
        "actuators[1]",
    )
    messages = {e.field: e.message for e in errors}
    assert "'dim' is not allowed" in messages["actuators[1].modes.day"]
    assert "20 to 5000" in messages["actuators[1].pulse_ms"]
    assert "0 to 60000" in messages["actuators[1].settle_ms"]
    assert "true or false" in messages["actuators[1].unverified"]
    assert "true or false" in messages["actuators[1].active_high"]
    assert "unknown key" in messages["actuators[1].sense.x"]
    both = check(
        {
            "pin": 27,
            "modes": {"day": "dark", "night": "lit"},
            "unverified": True,
            "sense": {"pin": 25},
        },
        "a",
    )
    assert [e.field for e in both] == ["a.unverified"]
    one_state = check(
        {"pin": 27, "modes": {"day": "lit", "night": "lit"}, "sense": {"pin": 25}}, "a"
    )
    assert "two states" in one_state[0].message
    assert check({"modes": {"day": "dark", "night": "lit"}, "sense": {}}, "a")[0].field == "a.pin"


def test_a_mode_it_cannot_produce_is_an_error(mock_factory, key):
    pulse = build(mock_factory)
    with pytest.raises(ActuatorError, match="cannot produce mode 'lunch'"):
        pulse.apply("lunch")
    assert key.presses == []
    pulse.close()


def test_close_leaves_the_relay_off(mock_factory, key):
    pulse = build(mock_factory)
    pulse.relay.close_contact()
    pulse.close()
    pulse.close()
    assert mock_factory.pin(27).state is False and pulse.sense.device.closed
