"""The front panel on gpiozero's MockFactory: each key switch kind, debouncing by stable
readings on the simulated clock, the wiring fault, and the LED patterns
(docs/design.md#the-front-panel)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.decision.decide import Key
from appliance.inputs.clock import SimClock
from appliance.inputs.keyswitch import KeyEvent, PanelEvent
from appliance.inputs.panel import PATTERNS, Debouncer, FrontPanel, StatusLeds
from tests.appliance_helpers import (
    MONDAY_0759,
    close_contact,
    config,
    open_contact,
    panel_toml,
    wait_until,
)


def make_panel(factory, kind="three-position", **kw):
    cfg = config(panel_toml(kind, **kw))
    clock = SimClock(MONDAY_0759)
    wakes = []
    panel = FrontPanel(
        cfg.panels[0],
        pin_factory=factory,
        clock=clock,
        wake=lambda: wakes.append(clock.monotonic()),
    )
    return panel, clock, wakes


def poll_at(panel, clock, t):
    """Advance the simulated clock to monotonic time *t* and poll."""
    clock.advance(t - clock.monotonic())
    return panel.poll()


# -- the debouncer, pure ---------------------------------------------------------------------


def test_debouncer_accepts_a_reading_only_after_it_held_long_enough():
    d = Debouncer(0.05, "open")
    d.observe("closed", 10.0)
    assert d.deadline == pytest.approx(10.05)
    assert d.settle(10.049) is None and d.value == "open"
    assert d.settle(10.05) == "closed" and d.value == "closed"
    assert d.deadline is None and d.settle(11) is None


def test_debouncer_forgets_a_blip_that_returns_to_the_accepted_value():
    d = Debouncer(0.05, "open")
    d.observe("closed", 1.0)
    d.observe("open", 1.02)
    assert d.deadline is None
    assert d.settle(2.0) is None and d.value == "open"


def test_debouncer_restarts_the_wait_on_every_change():
    d = Debouncer(0.05, 0)
    for t, reading in [(0.0, 1), (0.01, 0), (0.02, 1), (0.04, 0), (0.045, 1)]:
        d.observe(reading, t)
    assert d.settle(0.09) is None
    assert d.deadline == pytest.approx(0.095)
    assert d.settle(0.095) == 1


@settings(max_examples=200, deadline=None)
@given(gaps=st.lists(st.floats(0.0005, 0.2), min_size=1, max_size=30), start=st.booleans())
def test_debouncer_property_accepts_exactly_the_readings_that_held(gaps, start):
    """Feed alternating readings at random gaps, settling before each: a value is accepted
    exactly when the reading before it held for the whole window."""
    stable = 0.05
    d = Debouncer(stable, start)
    t, reading, accepted = 0.0, start, [start]
    since = None
    for gap in gaps:
        reading = not reading
        d.observe(reading, t)
        since = t
        t += gap
        got = d.settle(t)
        held = t >= since + stable  # the same sum the debouncer does
        if held and reading != accepted[-1]:
            assert got == reading
            accepted.append(reading)
        else:
            assert got is None
        assert d.value == accepted[-1]


# -- three-position key switch ---------------------------------------------------------------


def test_three_position_reads_auto_with_both_contacts_open(mock_factory):
    panel, clock, _ = make_panel(mock_factory)
    assert panel.position is Key.AUTO
    assert panel.deadline is None and panel.poll() == []
    assert not panel.wiring_fault
    assert "kind=three-position position=auto" in repr(panel)
    panel.close()


@pytest.mark.parametrize("position,day,night", [("day", True, False), ("night", False, True)])
def test_three_position_turn_is_accepted_after_debounce(mock_factory, position, day, night):
    panel, clock, wakes = make_panel(mock_factory)
    if day:
        close_contact(panel.inputs["key_day"])
    if night:
        close_contact(panel.inputs["key_night"])
    assert wakes == [0.0]  # the edge only wakes the controller
    assert panel.position is Key.AUTO  # not accepted yet
    assert panel.deadline == pytest.approx(0.05)
    assert poll_at(panel, clock, 0.049) == []
    assert poll_at(panel, clock, 0.05) == [KeyEvent(PanelEvent.POSITION, Key(position))]
    assert panel.position is Key(position)
    assert panel.poll() == []
    panel.close()


def test_three_position_chatter_gives_exactly_one_change_after_stable_debounce(mock_factory):
    panel, clock, wakes = make_panel(mock_factory, debounce_ms=50)
    night = panel.inputs["key_night"]
    events = []
    # a worn contact chatters for 30 ms; the controller polls whenever a deadline falls due
    for t, closed in [
        (0.000, True),
        (0.004, False),
        (0.011, True),
        (0.019, False),
        (0.026, True),
        (0.030, False),
        (0.034, True),
    ]:
        clock.advance(t - clock.monotonic())
        (close_contact if closed else open_contact)(night)
        deadline = panel.deadline
        assert deadline == pytest.approx(t + 0.05) or deadline is None
        events += panel.poll()
    assert events == [] and panel.position is Key.AUTO
    assert len(wakes) == 7
    assert poll_at(panel, clock, 0.0839) == []
    assert poll_at(panel, clock, 0.084) == [KeyEvent(PanelEvent.POSITION, Key.NIGHT)]
    assert poll_at(panel, clock, 1.0) == []
    panel.close()


def test_chatter_that_settles_back_changes_nothing(mock_factory):
    panel, clock, _ = make_panel(mock_factory)
    day = panel.inputs["key_day"]
    close_contact(day)
    clock.advance(0.01)
    open_contact(day)
    assert panel.deadline is None
    assert poll_at(panel, clock, 1.0) == [] and panel.position is Key.AUTO
    panel.close()


def test_a_lost_edge_is_caught_by_reading_the_level_when_polled(mock_factory):
    panel, clock, _ = make_panel(mock_factory)
    pin = panel.inputs["key_night"].pin
    pin.when_changed = None  # as if the driver dropped the edge callbacks
    pin.drive_low()
    assert panel.deadline is None
    assert poll_at(panel, clock, 1.0) == []  # first poll: the level starts the wait
    assert poll_at(panel, clock, 1.05) == [KeyEvent(PanelEvent.POSITION, Key.NIGHT)]
    panel.close()


def test_both_contacts_closed_is_a_wiring_fault_treated_as_auto_until_fixed(mock_factory):
    panel, clock, _ = make_panel(mock_factory)
    close_contact(panel.inputs["key_day"])
    clock.advance(0.05)
    assert panel.poll() == [KeyEvent(PanelEvent.POSITION, Key.DAY)]
    close_contact(panel.inputs["key_night"])
    clock.advance(0.05)
    assert panel.poll() == [
        KeyEvent(PanelEvent.WIRING, True),
        KeyEvent(PanelEvent.POSITION, Key.AUTO),
    ]
    assert panel.wiring_fault and panel.position is Key.AUTO
    assert "WIRING-FAULT" in repr(panel)
    open_contact(panel.inputs["key_day"])
    clock.advance(0.05)
    assert panel.poll() == [
        KeyEvent(PanelEvent.WIRING, False),
        KeyEvent(PanelEvent.POSITION, Key.NIGHT),
    ]
    assert not panel.wiring_fault and panel.position is Key.NIGHT
    panel.close()


def test_pull_down_wiring_reads_a_contact_to_3v3(mock_factory):
    panel, clock, _ = make_panel(mock_factory, pull_up=False)
    device = panel.inputs["key_night"]
    assert device.pull_up is False
    device.pin.drive_high()
    clock.advance(0.05)
    assert panel.poll() == [KeyEvent(PanelEvent.POSITION, Key.NIGHT)]
    panel.close()


def test_the_level_at_construction_is_the_starting_position(mock_factory):
    # MockFactory's pull resistor sets an input's level when the device claims it, so a
    # contact cannot be "already closed" before construction; what the panel must do is
    # start from the level it reads then, and never report the start as a turn.
    panel, clock, wakes = make_panel(mock_factory)
    assert panel._read() == (False, False)
    assert panel._debouncer.value == (False, False)
    assert poll_at(panel, clock, 5.0) == [] and wakes == []
    panel.close()


# -- two-position key switch --------------------------------------------------------------


def test_two_position_each_flip_is_an_override_request(mock_factory):
    panel, clock, _ = make_panel(mock_factory, "two-position")
    key = panel.inputs["key"]
    assert panel.position is Key.NONE
    close_contact(key)
    assert poll_at(panel, clock, 0.05) == [KeyEvent(PanelEvent.FLIP, "night")]
    open_contact(key)
    clock.advance(0.02)
    close_contact(key)  # bounce back: no flip to day
    clock.advance(0.02)
    open_contact(key)
    assert poll_at(panel, clock, clock.monotonic() + 0.049) == []
    assert poll_at(panel, clock, clock.monotonic() + 0.001) == [KeyEvent(PanelEvent.FLIP, "day")]
    panel.close()


# -- button ------------------------------------------------------------------------------------


def test_button_press_toggles_on_release(mock_factory):
    panel, clock, _ = make_panel(mock_factory, "button", hold_s=3.0)
    button = panel.inputs["key"]
    close_contact(button)
    assert poll_at(panel, clock, 0.05) == []  # pressed: wait for release or hold
    assert panel.deadline == pytest.approx(3.05)  # the hold deadline
    open_contact(button)  # released at 0.05
    assert poll_at(panel, clock, 0.099) == []
    assert poll_at(panel, clock, 0.1) == [KeyEvent(PanelEvent.TOGGLE)]
    assert panel.deadline is None
    panel.close()


def test_button_hold_of_three_seconds_returns_to_auto_and_release_does_not_toggle(mock_factory):
    panel, clock, _ = make_panel(mock_factory, "button", hold_s=3.0)
    button = panel.inputs["key"]
    close_contact(button)
    assert poll_at(panel, clock, 0.05) == []
    assert poll_at(panel, clock, 3.049) == []
    assert poll_at(panel, clock, 3.05) == [KeyEvent(PanelEvent.RELEASE_TO_AUTO)]
    assert poll_at(panel, clock, 10.0) == []  # still held: once only
    open_contact(button)
    assert poll_at(panel, clock, 10.05) == []  # no toggle after a hold
    panel.close()


def test_button_bounce_on_press_is_one_press(mock_factory):
    panel, clock, _ = make_panel(mock_factory, "button")
    button = panel.inputs["key"]
    events = []
    for t, closed in [(0.0, True), (0.003, False), (0.007, True), (0.012, False), (0.015, True)]:
        clock.advance(t - clock.monotonic())
        (close_contact if closed else open_contact)(button)
        events += panel.poll()
    events += poll_at(panel, clock, 0.2)
    open_contact(button)
    clock.advance(0.01)
    close_contact(button)  # bounce on release
    clock.advance(0.01)
    open_contact(button)
    events += poll_at(panel, clock, clock.monotonic() + 0.05)
    assert events == [KeyEvent(PanelEvent.TOGGLE)]
    panel.close()


def test_no_key_switch_reads_nothing(mock_factory):
    panel, clock, wakes = make_panel(mock_factory, "none")
    assert panel.inputs == {} and panel.position is Key.NONE
    assert poll_at(panel, clock, 10) == [] and panel.deadline is None
    assert set(panel.leds.leds) == {"day", "night", "fault"}
    panel.close()


def test_close_releases_every_pin(mock_factory):
    panel, _, _ = make_panel(mock_factory)
    panel.close()
    assert all(d.closed for d in panel.inputs.values())
    assert all(led.closed for led in panel.leds.leds.values())
    again, _, _ = make_panel(mock_factory)  # the pins are free again
    again.close()


# -- LEDs ------------------------------------------------------------------------------------

LED_PINS = {"led_day": 13, "led_night": 19, "led_fault": 26}


def test_led_steady_patterns(mock_factory):
    leds = StatusLeds(LED_PINS, pin_factory=mock_factory)
    pin = mock_factory.pin(13)
    assert [s.state for s in pin.states] == [False]
    leds.show("day", "on")
    leds.show("day", "on")  # same pattern: nothing happens
    leds.show("day", "off")
    assert [s.state for s in pin.states] == [False, True, False]
    assert leds.patterns == {"day": "off", "night": "off", "fault": "off"}
    with pytest.raises(ValueError, match="unknown LED pattern 'strobe'"):
        leds.show("day", "strobe")
    leds.close()


def record_blinks(leds) -> list[tuple[str, float, float]]:
    """Wrap each LED's ``blink`` to record ``(led, on_time, off_time)`` as requested."""
    asked = []
    for name, led in leds.leds.items():
        real = led.blink

        def blink(*args, _name=name, _real=real, **kw):
            asked.append((_name, kw["on_time"], kw["off_time"]))
            return _real(*args, **kw)

        led.blink = blink
    return asked


@pytest.mark.parametrize("pattern,half", [("slow", 0.5), ("fast", 0.125)])
def test_led_blink_timings_as_requested(mock_factory, pattern, half):
    leds = StatusLeds(LED_PINS, pin_factory=mock_factory)
    asked = record_blinks(leds)
    pin = mock_factory.pin(19)
    leds.show("night", pattern)
    assert asked == [("night", half, half)]
    # gpiozero's blink thread really blinks the pin: a clean alternation
    wait_until(lambda: len(pin.states) >= 4, timeout=10)
    leds.show("night", "off")
    states = [s.state for s in pin.states]
    assert states[:2] == [False, True]
    assert all(a != b for a, b in zip(states, states[1:]))
    assert pin.state is False and leds.patterns["night"] == "off"
    assert PATTERNS[pattern] == (half, half)
    leds.close()


def test_showing_the_same_blink_again_keeps_its_rhythm(mock_factory):
    leds = StatusLeds(LED_PINS, pin_factory=mock_factory)
    asked = record_blinks(leds)
    leds.show("fault", "fast")
    leds.show("fault", "fast")  # the controller republishes often
    # one blink started: a second would restart the rhythm mid-phase
    assert asked == [("fault", 0.125, 0.125)]
    leds.show("fault", "slow")
    assert asked == [("fault", 0.125, 0.125), ("fault", 0.5, 0.5)]
    leds.close()


def test_lamp_test_lights_every_led(mock_factory):
    leds = StatusLeds(LED_PINS, pin_factory=mock_factory)
    leds.lamp_test()
    assert all(mock_factory.pin(p).state for p in LED_PINS.values())
    assert leds.patterns == {"day": "on", "night": "on", "fault": "on"}
    assert repr(leds) == "<StatusLeds day=on night=on fault=on>"
    leds.close()


def test_missing_leds_are_skipped_but_their_pattern_is_kept(mock_factory):
    leds = StatusLeds({"led_fault": 26}, pin_factory=mock_factory)
    assert list(leds.leds) == ["fault"]
    leds.show("day", "slow")  # no LED wired: nothing to drive
    assert leds.patterns["day"] == "slow"
    leds.close()
