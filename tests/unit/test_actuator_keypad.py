"""``keypad``: relays across a phone's hook switch and keys dial a feature code
(docs/design.md#actuators-and-verification).
The order of every relay comes from the mock pins' own state histories; the timings are
the durations the keypad asked its ``sleep`` for, with the relays closed meanwhile (a
loaded machine stretches a sleep, never the request)."""

from __future__ import annotations

import pytest
from gpiozero.exc import GPIOPinInUse

from appliance.actuators import build_actuator
from appliance.actuators.keypad import check, tokens
from appliance.config import load_config_text
from appliance.errors import ActuatorError, ValidationError
from tests.appliance_helpers import SITE, RecordingSleep, config, connect, timeline

KEYS = {"7": 21, "1": 12, "8": 18, "2": 16, "4": 23, "3": 22}
TIMES = {"press_ms": 60, "gap_ms": 40, "offhook_ms": 120, "pause_ms": 150, "hangup_ms": 80}


def keypad_toml(
    *,
    sequences='{ night = "718 1", day = "718 2" }',
    password=None,
    sense=False,
    settle_ms=60,
    keys=KEYS,
    **times,
) -> str:
    t = dict(TIMES, **times)
    text = (
        '[[actuators]]\nname = "feature-code"\ntype = "keypad"\nhook_pin = 20\n'
        "keys = { " + ", ".join(f'"{k}" = {v}' for k, v in keys.items()) + " }\n"
        f"sequences = {sequences}\nsettle_ms = {settle_ms}\n"
        + "".join(f"{k} = {v}\n" for k, v in t.items())
    )
    if password is not None:
        text += f'password = "{password}"\n'
    if sense:
        text += 'sense = { pin = 24, pull_up = false, active_in = ["night"] }\n'
    return text


def build(factory, *, sleep=None, **kw):
    spec = config(keypad_toml(**kw)).actuators[0]
    if sleep is None:
        return build_actuator(spec, pin_factory=factory)
    return build_actuator(spec, pin_factory=factory, sleep=sleep)


def relay_pins(factory) -> dict:
    pins = {"hook": factory.pin(20)}
    pins.update({key: factory.pin(gpio) for key, gpio in KEYS.items()})
    for pin in pins.values():
        pin.clear_states()
    return pins


def presses(events):
    """``[(key, closed_at, opened_at)]`` from a timeline, hook included."""
    open_at, result = {}, []
    for t, name, state in events:
        if state:
            open_at[name] = t
        else:
            result.append((name, open_at.pop(name), t))
    return sorted(result, key=lambda p: p[1])


def test_dials_hook_then_keys_in_order_with_the_configured_timings(mock_factory):
    sleep = RecordingSleep()
    keypad = build(mock_factory, sleep=sleep)
    sleep.relays = {
        name.removeprefix("feature-code-"): relay for name, relay in keypad.relay_devices().items()
    }
    pins = relay_pins(mock_factory)
    keypad.apply("night")
    events = presses(timeline(pins))
    assert [name for name, _, _ in events] == ["hook", "7", "1", "8", "1"]
    ms = {k: v / 1000 for k, v in TIMES.items()}
    hook, key = frozenset({"hook"}), lambda k: frozenset({"hook", f"key-{k}"})  # noqa: E731
    # off-hook and the dial tone; each key pressed for press_ms with the line held,
    # a gap after each; the space in "718 1" adds a pause; the line held for the
    # confirmation tone, then hung up
    assert sleep.calls == [
        (ms["offhook_ms"], hook),
        (ms["press_ms"], key("7")),
        (ms["gap_ms"], hook),
        (ms["press_ms"], key("1")),
        (ms["gap_ms"], hook),
        (ms["press_ms"], key("8")),
        (ms["gap_ms"], hook),
        (ms["pause_ms"], hook),
        (ms["press_ms"], key("1")),
        (ms["gap_ms"], hook),
        (ms["hangup_ms"], hook),
    ]
    assert all(not pin.state for pin in pins.values())
    assert keypad.last_mode == "night"
    assert keypad.relays()["feature-code-hook"] == "open"
    keypad.close()


def test_password_is_substituted_and_never_shown(mock_factory):
    keypad = build(
        mock_factory,
        sequences='{ night = "7{password}1", day = "7{password}2" }',
        password="4331",
        sense=True,
        settle_ms=40,
    )
    pins = relay_pins(mock_factory)
    with pytest.raises(ActuatorError) as info:  # nothing answers on the status input
        keypad.apply("night")
    dialled = [name for name, _, _ in presses(timeline(pins)) if name != "hook"]
    assert "".join(dialled) == "743311"
    assert "4331" not in str(info.value)
    assert "dialled the code for night" in str(info.value)
    assert "GPIO24 did not follow within 40 ms" in str(info.value)
    assert "4331" not in repr(keypad) and "password=***" in repr(keypad)
    assert tokens("7{password}1", "4331") == list("743311")
    assert tokens("<NIGHT> {password} 1", "00") == ["<NIGHT>", " ", "0", "0", " ", "1"]
    keypad.close()


def test_a_status_input_that_follows_verifies_the_code(mock_factory):
    import time

    keypad = build(mock_factory, sense=True, settle_ms=500)
    status = mock_factory.pin(24)
    hook = mock_factory.pin(20)

    def sleep(seconds):  # the PBX lights its status once the phone hangs up
        if not hook.state and not status.state:
            status.drive_high()
        time.sleep(seconds)

    keypad.sleep = sleep
    keypad.apply("night")
    assert keypad.read_back() == "night"
    keypad.close()


def test_a_status_that_drops_on_hang_up_is_not_a_confirmation(mock_factory):
    connect(mock_factory, 20, 24)  # the status only follows the line being held
    keypad = build(mock_factory, sense=True, settle_ms=50, hangup_ms=0)
    with pytest.raises(ActuatorError, match="did not follow within 50 ms"):
        keypad.apply("night")
    keypad.close()


def test_a_mode_without_a_sequence_is_an_error(mock_factory):
    keypad = build(mock_factory)
    pins = relay_pins(mock_factory)
    with pytest.raises(ActuatorError, match="no sequence for mode 'lunch'; it knows day, night"):
        keypad.apply("lunch")
    assert timeline(pins) == []
    keypad.close()


def test_every_relay_is_released_even_when_dialling_fails_half_way(mock_factory):
    keypad = build(mock_factory)
    pins = relay_pins(mock_factory)
    calls = []

    def sleep_then_fail(seconds):
        calls.append(seconds)
        if len(calls) == 2:  # during the first key press
            raise RuntimeError("power dip")

    keypad.sleep = sleep_then_fail
    with pytest.raises(RuntimeError):
        keypad.apply("night")
    assert [name for name, _, _ in presses(timeline(pins))] == ["hook", "7"]
    assert all(not pin.state for pin in pins.values())
    keypad.close()


def test_unmapped_keys_and_other_config_errors_are_named():
    with pytest.raises(ValidationError) as info:
        load_config_text(
            SITE
            + keypad_toml(
                sequences='{ night = "719", day = "7{password}" }',
                password="55",
                press_ms=10,
                keys={"7": 21, "1": 12, "x": 18, "2": 3},
            )
        )
    messages = {}
    for e in info.value.errors:
        messages.setdefault(e.field, []).append(e.message)
    assert "key '9' has no relay; add it to keys" in messages["actuators[0].sequences.night"]
    assert any("'x' is not a phone key" in m for m in messages["actuators[0].keys"])
    assert any("GPIO3 is reserved" in m for m in messages["actuators[0].keys.2"])
    assert messages["actuators[0].password"] == [
        "a key of the password has no relay; add every key it uses to keys"
    ]
    assert any("30 to 2000" in m for m in messages["actuators[0].press_ms"])
    assert all("55" not in m for ms in messages.values() for m in ms)


def test_check_of_a_bare_table():
    errors = {}
    for e in check({"password": "12ab", "sequences": {"night": "7{password}", "day": "7;"}}, "a"):
        errors[e.field] = errors.get(e.field, "") + e.message + "; "
    assert "is required" in errors["a.hook_pin"] and "is required" in errors["a.keys"]
    assert "phone keys (0-9 * #)" in errors["a.password"]
    assert "uses {password} but no password is set" in errors["a.sequences.night"]
    assert "';' is not a phone key" in errors["a.sequences.day"]
    assert "12ab" not in " ".join(errors.values())


def test_a_busy_key_pin_is_reported_as_such_and_frees_the_others(mock_factory):
    from gpiozero import OutputDevice

    busy = OutputDevice(16, pin_factory=mock_factory)  # key "2" is taken
    with pytest.raises(GPIOPinInUse):
        build(mock_factory)
    busy.close()
    build(mock_factory).close()  # nothing was left claimed


def test_close_opens_every_relay(mock_factory):
    keypad = build(mock_factory, sense=True)
    keypad.hook.close_contact()
    keypad.keys["7"].close_contact()
    keypad.close()
    keypad.close()
    assert mock_factory.pin(20).state is False and mock_factory.pin(21).state is False
    assert keypad.sense.device.closed
