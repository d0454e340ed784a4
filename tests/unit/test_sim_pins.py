"""The simulated PBX's pin side on gpiozero's MockFactory pins: contact, toggle key with
lamp, keypad with password. Relays are driven as the actuators drive them (gpiozero
OutputDevice on/off with their timings), and by the actuators themselves."""

from __future__ import annotations

import time

from gpiozero import DigitalInputDevice, OutputDevice

from appliance.actuators.contact import ContactActuator
from appliance.actuators.keypad import KeypadActuator
from appliance.actuators.pulse import PulseActuator
from appliance.pbx.profiles import load_profiles
from appliance.sim import PbxModel, PinSidePbx
from tests.appliance_helpers import wait_until

CONTACT = {
    "name": "night-service",
    "type": "contact",
    "zone": "main",
    "role": "primary",
    "pin": 17,
    "active_high": True,
    "modes": {"day": "open", "night": "closed"},
    "sense": {"pin": 24, "pull_up": True, "active_in": ["night"]},
    "settle_ms": 500,
}
PULSE = {
    "name": "night-key",
    "type": "pulse",
    "zone": "main",
    "role": "primary",
    "pin": 27,
    "active_high": True,
    "pulse_ms": 100,
    "settle_ms": 500,
    "modes": {"day": "dark", "night": "lit"},
    "sense": {"pin": 25, "pull_up": True},
}
KEYPAD = {
    "name": "feature-code",
    "type": "keypad",
    "zone": "main",
    "role": "primary",
    "hook_pin": 20,
    "keys": {"7": 21, "1": 12, "8": 18, "2": 16, "*": 23, "#": 22},
    "sequences": {"day": "*71 {password}", "night": "*72 {password}"},
    "password": "1288",
    "press_ms": 50,
    "gap_ms": 50,
    "offhook_ms": 350,
    "pause_ms": 50,
    "hangup_ms": 30,
}


def model(**kwargs):
    return PbxModel(("day", "night"), **kwargs)


# -- contact ---------------------------------------------------------------------------


def test_contact_pbx_follows_the_relay_and_drives_its_status_output(mock_factory):
    pbx = model()
    relay = OutputDevice(17, pin_factory=mock_factory)
    with PinSidePbx(mock_factory, [CONTACT], pbx):
        status = DigitalInputDevice(24, pull_up=True, pin_factory=mock_factory)
        relay.on()
        assert wait_until(lambda: pbx.mode == "night")
        assert wait_until(lambda: status.is_active)  # opto pulls low: night
        relay.off()
        assert wait_until(lambda: pbx.mode == "day")
        assert wait_until(lambda: not status.is_active)
    assert [c.by for c in pbx.history] == ["contact", "contact"]


def test_contact_with_the_real_actuator_verifies_through_the_sense(mock_factory):
    pbx = model()
    with PinSidePbx(mock_factory, [CONTACT], pbx):
        actuator = ContactActuator(CONTACT, pin_factory=mock_factory)
        actuator.apply("night")  # waits for the status input to follow
        assert pbx.mode == "night" and actuator.read_back() == "night"
        actuator.apply("day")
        assert pbx.mode == "day" and actuator.read_back() == "day"
        actuator.close()


def test_an_active_low_relay(mock_factory):
    spec = dict(CONTACT, active_high=False, pin=5)
    pbx = model()
    relay = OutputDevice(5, active_high=False, pin_factory=mock_factory)
    with PinSidePbx(mock_factory, [spec], pbx):
        assert pbx.mode == "day"
        relay.on()  # pin LOW energises the relay
        assert wait_until(lambda: pbx.mode == "night")


def test_a_contact_pbx_reads_its_input_again_after_a_power_cut(mock_factory):
    pbx = model(on_power_up="day")
    relay = OutputDevice(17, pin_factory=mock_factory)
    with PinSidePbx(mock_factory, [CONTACT], pbx) as side:
        relay.on()
        assert wait_until(lambda: pbx.mode == "night")
        pbx.power_off()
        side.poll()
        pbx.power_on()  # comes up in day...
        assert wait_until(lambda: pbx.mode == "night")  # ...and follows the input


# -- toggle key with lamp --------------------------------------------------------------


def test_each_press_toggles_and_the_lamp_follows(mock_factory):
    pbx = model()
    key = OutputDevice(27, pin_factory=mock_factory)
    with PinSidePbx(mock_factory, [PULSE], pbx):
        lamp = DigitalInputDevice(25, pull_up=True, pin_factory=mock_factory)
        assert not lamp.is_active
        for expected in ("night", "day", "night"):
            key.on()
            time.sleep(0.1)
            key.off()
            assert wait_until(lambda: pbx.mode == expected)
            assert wait_until(lambda: lamp.is_active == (expected == "night"))
            time.sleep(0.05)
        key.on()
        key.off()  # a blip (well under 40 ms) is no press
        time.sleep(0.1)
        assert pbx.mode == "night"


def test_the_key_acts_while_held(mock_factory):
    pbx = model()
    key = OutputDevice(27, pin_factory=mock_factory)
    with PinSidePbx(mock_factory, [PULSE], pbx):
        key.on()
        assert wait_until(lambda: pbx.mode == "night", 1.0)
        key.off()


def test_pulse_actuator_against_the_toggle_key(mock_factory):
    pbx = model()
    with PinSidePbx(mock_factory, [PULSE], pbx) as side:
        actuator = PulseActuator(PULSE, pin_factory=mock_factory)
        actuator.apply("night")
        assert pbx.mode == "night" and actuator.read_back() == "night"
        actuator.apply("night")  # the lamp says night already: no pulse
        assert pbx.mode == "night"
        assert side.watchers[0].presses == 1
        actuator.apply("day")
        assert pbx.mode == "day"
        pbx.set_mode("night", by="serial")  # switched behind our back
        assert wait_until(lambda: actuator.read_back() == "night")
        actuator.close()


def test_the_lamp_is_dark_while_the_power_is_off(mock_factory):
    pbx = model(mode="night")
    with PinSidePbx(mock_factory, [PULSE], pbx):
        lamp = DigitalInputDevice(25, pull_up=True, pin_factory=mock_factory)
        assert wait_until(lambda: lamp.is_active)
        pbx.power_off()
        assert wait_until(lambda: not lamp.is_active)


def test_brief_style_pulse_spec_with_on_off_and_active_in(mock_factory):
    spec = dict(
        PULSE,
        modes={"day": "off", "night": "on"},
        sense={"pin": 25, "pull_up": True, "active_in": ["night"]},
    )
    pbx = model()
    key = OutputDevice(27, pin_factory=mock_factory)
    with PinSidePbx(mock_factory, [spec], pbx):
        lamp = DigitalInputDevice(25, pull_up=True, pin_factory=mock_factory)
        key.on()
        time.sleep(0.08)
        key.off()
        assert wait_until(lambda: pbx.mode == "night" and lamp.is_active)


# -- keypad ----------------------------------------------------------------------------


class Phone:
    """Relays across a phone's hook switch and keys, driven like the keypad actuator."""

    def __init__(self, factory, spec):
        self.hook = OutputDevice(spec["hook_pin"], pin_factory=factory)
        self.keys = {k: OutputDevice(p, pin_factory=factory) for k, p in spec["keys"].items()}

    def dial(self, keys: str, *, offhook=0.35, press=0.05, gap=0.05):
        self.hook.on()
        time.sleep(offhook)
        for key in keys:
            self.keys[key].on()
            time.sleep(press)
            self.keys[key].off()
            time.sleep(gap)
        self.hook.off()


def test_keypad_decodes_a_feature_code_with_the_right_password(mock_factory):
    pbx = model(password="1288")
    phone = Phone(mock_factory, KEYPAD)
    with PinSidePbx(mock_factory, [KEYPAD], pbx) as side:
        phone.dial("*721288")
        assert wait_until(lambda: pbx.mode == "night")
        result = side.watchers[0].results[-1]
        assert (result.outcome, result.dialled) == ("accepted", "*72***")


def test_keypad_refuses_a_wrong_password(mock_factory):
    pbx = model(password="1288")
    phone = Phone(mock_factory, KEYPAD)
    with PinSidePbx(mock_factory, [KEYPAD], pbx) as side:
        phone.dial("*721277")
        assert wait_until(lambda: side.watchers[0].results)
        assert side.watchers[0].results[-1].outcome == "wrong_password"
        assert pbx.mode == "day"


def test_keys_before_dial_tone_are_lost(mock_factory):
    pbx = model(password="1288")
    phone = Phone(mock_factory, KEYPAD)
    with PinSidePbx(mock_factory, [KEYPAD], pbx) as side:
        phone.dial("*721288", offhook=0.05)
        assert wait_until(lambda: side.watchers[0].results)
        assert side.watchers[0].results[-1].outcome == "unknown_code"
        assert pbx.mode == "day"


def test_too_short_presses_are_not_digits(mock_factory):
    pbx = model(password="1288")
    phone = Phone(mock_factory, KEYPAD)
    with PinSidePbx(mock_factory, [KEYPAD], pbx) as side:
        phone.dial("*721288", press=0)  # far under MIN_PRESS_S, however late
        side.poll()  # the hang-up is seen by now
        assert side.watchers[0].offhook_at is None
        assert side.watchers[0].results == []  # nothing dialled: nothing to decode
        assert pbx.mode == "day"


def test_keypad_actuator_right_and_wrong_password(mock_factory):
    pbx = model(password="1288")
    with PinSidePbx(mock_factory, [KEYPAD], pbx) as side:
        actuator = KeypadActuator(KEYPAD, pin_factory=mock_factory)
        actuator.apply("night")
        assert wait_until(lambda: pbx.mode == "night")
        actuator.apply("day")
        assert wait_until(lambda: pbx.mode == "day")
        actuator.close()
        wrong = KeypadActuator(dict(KEYPAD, password="1212"), pin_factory=mock_factory)
        wrong.apply("night")
        assert wait_until(lambda: len(side.watchers[0].results) == 3)
        assert side.watchers[0].results[-1].outcome == "wrong_password"
        assert pbx.mode == "day"
        wrong.close()


def test_keypad_uses_the_profiles_codes_when_the_model_has_them(mock_factory):
    nec = load_profiles(None)["nec-sv9100"]
    pbx = PbxModel.from_profile(nec)
    spec = dict(
        KEYPAD,
        keys={"7": 21, "1": 12, "8": 18, "2": 16, "6": 23},
        sequences={"day": "718 1", "night": "718 2"},
        password="",
    )
    with PinSidePbx(mock_factory, [spec], pbx):
        actuator = KeypadActuator(spec, pin_factory=mock_factory)
        actuator.apply("night")
        assert wait_until(lambda: pbx.mode == "night")
        actuator.dial("7186")  # a code the profile has: night2
        assert wait_until(lambda: pbx.mode == "night2")
        actuator.close()


def test_serial_specs_are_left_to_the_pty_side(mock_factory):
    side = PinSidePbx(mock_factory, [{"type": "serial", "name": "p"}, CONTACT], model())
    assert len(side.watchers) == 1
    assert repr(side) == "<PinSidePbx contact mode=day>"
    side.close()
    side.close()


def test_the_pbx_gets_the_modes_its_actuators_use(mock_factory):
    pbx = PbxModel()  # as simulate builds it: day, night
    spec = dict(CONTACT, modes={"day": "open", "lunch": "open", "night": "closed"})
    keypad = dict(KEYPAD, sequences={"day": "*71 {password}", "holiday": "*79 {password}"})
    with PinSidePbx(mock_factory, [spec, keypad], pbx):
        assert set(pbx.modes) == {"day", "night", "lunch", "holiday"}
        pbx.set_mode("lunch", by="console")
        assert pbx.mode == "lunch"
