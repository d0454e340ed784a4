"""``contact``: a relay held open or closed per mode, with the PBX's status read back
(docs/design.md#actuators-and-verification). Pins are gpiozero's MockFactory; a PBX whose
status follows the relay is a ``MockConnectedPin`` from the relay to the sense input."""

from __future__ import annotations

import time

import pytest

from appliance.actuators import build_actuator
from appliance.actuators.contact import check
from appliance.errors import ActuatorError
from tests.appliance_helpers import changes, config, connect, contact_toml


def build(factory, **kw):
    return build_actuator(config(contact_toml(**kw)).actuators[0], pin_factory=factory)


@pytest.mark.parametrize("active_high,closed_level", [(True, True), (False, False)])
def test_each_mode_sets_the_relay_at_its_polarity(mock_factory, active_high, closed_level):
    contact = build(mock_factory, sense_pin=None, active_high=active_high)
    pin = mock_factory.pin(17)
    pin.clear_states()
    contact.apply("night")
    assert pin.state is closed_level and contact.relays() == {"night-service": "closed"}
    contact.apply("night")  # holding: no second edge
    contact.apply("day")
    assert pin.state is (not closed_level) and contact.relays() == {"night-service": "open"}
    assert changes(pin) == [not closed_level, closed_level, not closed_level]
    assert contact.last_mode == "day"
    assert not contact.can_read_back and contact.read_back() is None
    contact.close()


def test_sense_that_follows_the_relay_verifies_the_mode(mock_factory):
    connect(mock_factory, 17, 24)
    contact = build(mock_factory, sense_pin=24, sense_pull_up=False)
    assert contact.can_read_back
    slept = []
    contact.sleep = slept.append  # the settle poll's only pause
    contact.apply("night")
    assert slept == []  # no waiting when the PBX answers at once
    contact.sleep = time.sleep
    assert contact.read_back() == "night"
    contact.apply("day")
    assert contact.read_back() == "day"
    contact.close()


def test_sense_that_never_follows_fails_with_a_message_naming_the_input(mock_factory):
    contact = build(mock_factory, sense_pin=24, sense_pull_up=False, settle_ms=80)
    t0 = time.monotonic()
    with pytest.raises(ActuatorError) as info:
        contact.apply("night")
    waited = time.monotonic() - t0
    assert 0.075 <= waited < 1.0
    assert str(info.value) == (
        "night-service: relay closed for night, but the PBX status "
        "input on GPIO24 still reads inactive after 80 ms; check the "
        "wiring to the PBX"
    )
    assert mock_factory.pin(17).state is True  # the relay stays where it was put
    contact.close()


def test_sense_that_follows_late_but_within_settle_time(mock_factory):
    contact = build(mock_factory, sense_pin=24, sense_pull_up=False, settle_ms=500)
    sense_pin = mock_factory.pin(24)
    slept = []

    def pbx_answers_after_a_while(seconds):  # the injected sleep of the poll loop
        slept.append(seconds)
        if len(slept) == 3:
            sense_pin.drive_high()
        time.sleep(seconds)

    contact.sleep = pbx_answers_after_a_while
    contact.apply("night")
    assert len(slept) == 3 and all(s == 0.005 for s in slept)
    contact.close()


def test_read_back_sees_a_pbx_switched_behind_our_back(mock_factory):
    contact = build(mock_factory, sense_pin=24, sense_pull_up=True)
    sense_pin = mock_factory.pin(24)
    sense_pin.drive_low()  # PBX reports night
    contact.apply("night")
    sense_pin.drive_high()  # someone pressed the console key
    assert contact.read_back() == "day"
    contact.close()


def test_a_mode_it_cannot_produce_is_an_error(mock_factory):
    contact = build(mock_factory, sense_pin=None)
    with pytest.raises(ActuatorError, match="cannot produce mode 'lunch'; it knows day, night"):
        contact.apply("lunch")
    contact.close()


def test_close_de_energizes_and_releases_sense_and_is_idempotent(mock_factory):
    contact = build(mock_factory, sense_pin=24, sense_pull_up=False, settle_ms=0)
    try:
        contact.apply("night")
    except ActuatorError:
        pass
    assert mock_factory.pin(17).state is True
    contact.close()
    contact.close()
    assert mock_factory.pin(17).state is False
    assert contact.relay.device.closed and contact.sense.device.closed
    assert repr(contact).endswith("closed>")


def test_context_manager_closes(mock_factory):
    with build(mock_factory, sense_pin=None) as contact:
        contact.apply("night")
    assert mock_factory.pin(17).state is False


def test_check_accepts_the_documented_table_and_names_bad_fields():
    good = {
        "name": "n",
        "type": "contact",
        "zone": "main",
        "role": "primary",
        "pin": 17,
        "active_high": True,
        "modes": {"day": "open", "night": "closed"},
        "settle_ms": 1000,
        "sense": {"pin": 24, "pull_up": True, "active_in": ["night"]},
    }
    assert check(good, "actuators[0]") == []
    errors = check(
        {"pin": 17, "modes": {"day": "open"}, "sense": {"pin": 3, "active_in": []}}, "actuators[2]"
    )
    fields = {e.field for e in errors}
    assert fields == {"actuators[2].sense.pin", "actuators[2].sense.active_in"}
