"""The front panel at reception: a key switch and three LEDs, through gpiozero only.

Key switch kinds (SPEC 3):

``three-position``
    Two inputs, DAY and NIGHT; both open is AUTO. Both closed at once is a wiring fault:
    the panel reports it and treats the key as AUTO.
``two-position``
    One input (closed = NIGHT). Each flip is an override to that mode until the next
    change; the position at start-up is read but is not a flip.
``button``
    A momentary button. A press toggles day/night until the next change; a hold of
    ``hold_s`` (3 s) returns to AUTO.
``none``
    No key; LEDs only.

Why debouncing is done here, by stable readings, rather than with gpiozero's
``bounce_time``: mock pins ignore ``bounce_time`` and its software debounce can drop the
edge that matters (PI_NOTES 1.3). An edge callback only *records* the raw reading and
wakes the controller; the controller calls :meth:`FrontPanel.poll` when the reading has
been stable for ``debounce_ms`` on the injected clock, so every decision stays on the
controller's one thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum

from gpiozero import LED, DigitalInputDevice

from appliance.decide import Key


class Debouncer:
    """Accepts a new value once it has been read unchanged for *stable_s* seconds.

    Pure: it is fed readings and times, and never reads a clock.

    :param float stable_s: how long a reading must hold.
    :param initial: the accepted value to start from.
    """

    def __init__(self, stable_s: float, initial):
        self.stable_s = stable_s
        self.value = initial
        self._pending = initial
        self._since = None

    def observe(self, reading, t: float) -> None:
        """Record the raw *reading* seen at time *t*."""
        if reading != self._pending:
            self._pending = reading
            self._since = t

    @property
    def deadline(self) -> float | None:
        """When the pending reading will have been stable long enough, or None."""
        if self._pending == self.value or self._since is None:
            return None
        return self._since + self.stable_s

    def settle(self, t: float):
        """Accept the pending reading if it has held until *t*; return the newly accepted
        value, or None when nothing changed."""
        deadline = self.deadline
        if deadline is not None and t >= deadline:
            self.value = self._pending
            self._since = None
            return self.value
        return None


class PanelEvent(Enum):
    """What the key switch asks of the controller."""

    POSITION = "position"      # three-position: a new position (Key) in `value`
    FLIP = "flip"              # two-position: an override to `value` (a mode) until next
    TOGGLE = "toggle"          # button press: toggle day/night until next
    RELEASE_TO_AUTO = "auto"   # button hold: cancel the override
    WIRING = "wiring"          # both contacts closed (value True) or cleared (False)


@dataclass(frozen=True)
class KeyEvent:
    kind: PanelEvent
    value: object = None


#: blink timings (on, off) in seconds for each LED pattern
PATTERNS = {"off": None, "on": None, "slow": (0.5, 0.5), "fast": (0.125, 0.125)}


class StatusLeds:
    """The ``day``, ``night`` and ``fault`` LEDs (each optional).

    :param dict pins: ``{"led_day": 13, ...}``; missing LEDs are skipped.
    """

    def __init__(self, pins: dict, *, pin_factory=None):
        self.leds: dict[str, LED] = {}
        for name in ("day", "night", "fault"):
            pin = pins.get(f"led_{name}")
            if pin is not None:
                self.leds[name] = LED(pin, pin_factory=pin_factory)
        self.patterns = {name: "off" for name in ("day", "night", "fault")}

    def show(self, name: str, pattern: str) -> None:
        """Set LED *name* to *pattern*: ``off``, ``on`` (steady), ``slow`` (1 Hz) or
        ``fast`` (4 Hz). Setting the pattern it already shows does nothing, so a blink
        keeps its rhythm."""
        if pattern not in PATTERNS:
            raise ValueError(f"unknown LED pattern {pattern!r}")
        if self.patterns.get(name) == pattern:
            return
        self.patterns[name] = pattern
        led = self.leds.get(name)
        if led is None:
            return
        if pattern == "off":
            led.off()
        elif pattern == "on":
            led.on()
        else:
            on_time, off_time = PATTERNS[pattern]
            led.blink(on_time=on_time, off_time=off_time, background=True)

    def lamp_test(self) -> None:
        """All LEDs on: the start-up lamp test (the controller turns them back after 1 s)."""
        for name in ("day", "night", "fault"):
            self.show(name, "on")

    def close(self) -> None:
        for led in self.leds.values():
            led.close()

    def __repr__(self) -> str:
        return "<StatusLeds " + " ".join(f"{k}={v}" for k, v in self.patterns.items()) + ">"


class FrontPanel:
    """A key switch and its LEDs, bound to one zone.

    :param cfg: the :class:`~appliance.config.PanelConfig`.
    :param pin_factory: gpiozero pin factory.
    :param clock: the injected clock; debounce and hold times use its ``monotonic()``.
    :param wake: called (from whatever thread saw an edge) to wake the controller, which
        then calls :meth:`poll` at :attr:`deadline`.
    """

    def __init__(self, cfg, *, pin_factory=None, clock, wake=lambda: None):
        self.zone = cfg.zone
        self.kind = cfg.key_switch
        self.clock = clock
        self.hold_s = cfg.hold_s
        self._wake = wake
        self._lock = threading.Lock()
        self.inputs: dict[str, DigitalInputDevice] = {}
        self.leds = StatusLeds(cfg.pins, pin_factory=pin_factory)
        names = {"three-position": ("key_day", "key_night"), "two-position": ("key",),
                 "button": ("key",)}.get(self.kind, ())
        try:
            for name in names:
                device = DigitalInputDevice(cfg.pins[name], pull_up=cfg.pull_up,
                                            pin_factory=pin_factory)
                device.when_activated = self._edge
                device.when_deactivated = self._edge
                self.inputs[name] = device
        except Exception:
            self.close()
            raise
        # Read the level at start-up, not only edges: a key left in NIGHT over a reboot
        # must be NIGHT from the first decision.
        self._debouncer = Debouncer(cfg.debounce_ms / 1000, self._read())
        self._pressed_at = None
        self._held = False
        self.wiring_fault = self.kind == "three-position" and self._read() == (True, True)

    # -- reading -------------------------------------------------------------------------
    def _read(self):
        return tuple(bool(d.is_active) for d in self.inputs.values())

    def _edge(self) -> None:
        with self._lock:
            self._debouncer.observe(self._read(), self.clock.monotonic())
        self._wake()

    @property
    def position(self) -> Key:
        """The debounced key position (``Key.NONE`` without a three-position switch)."""
        if self.kind != "three-position":
            return Key.NONE
        return self._position_of(self._debouncer.value)

    @staticmethod
    def _position_of(reading) -> Key:
        day, night = reading
        if day and not night:
            return Key.DAY
        if night and not day:
            return Key.NIGHT
        return Key.AUTO  # both open, or both closed (wiring fault, treated as AUTO)

    @property
    def deadline(self) -> float | None:
        """The next monotonic time at which :meth:`poll` has work, or None."""
        with self._lock:
            times = [self._debouncer.deadline]
        if self.kind == "button" and self._pressed_at is not None and not self._held:
            times.append(self._pressed_at + self.hold_s)
        times = [t for t in times if t is not None]
        return min(times) if times else None

    def poll(self) -> list[KeyEvent]:
        """Settle debounced readings and return what the key asks for. Called on the
        controller's thread."""
        now = self.clock.monotonic()
        with self._lock:
            # Re-read the level too: an edge lost by the driver must not leave the
            # debounced state behind the real key for ever.
            self._debouncer.observe(self._read(), now)
            accepted = self._debouncer.settle(now)
        events: list[KeyEvent] = []
        if self.kind == "three-position" and accepted is not None:
            fault = accepted == (True, True)
            if fault != self.wiring_fault:
                self.wiring_fault = fault
                events.append(KeyEvent(PanelEvent.WIRING, fault))
            events.append(KeyEvent(PanelEvent.POSITION, self._position_of(accepted)))
        elif self.kind == "two-position" and accepted is not None:
            events.append(KeyEvent(PanelEvent.FLIP, "night" if accepted[0] else "day"))
        elif self.kind == "button":
            if accepted is not None:
                if accepted[0]:
                    self._pressed_at, self._held = now, False
                else:
                    if self._pressed_at is not None and not self._held:
                        events.append(KeyEvent(PanelEvent.TOGGLE))
                    self._pressed_at, self._held = None, False
            if (self._pressed_at is not None and not self._held
                    and now >= self._pressed_at + self.hold_s):
                self._held = True
                events.append(KeyEvent(PanelEvent.RELEASE_TO_AUTO))
        return events

    def close(self) -> None:
        for device in self.inputs.values():
            device.close()
        self.leds.close()

    def __repr__(self) -> str:
        return (f"<FrontPanel zone={self.zone} kind={self.kind} position={self.position.value}"
                f"{' WIRING-FAULT' if self.wiring_fault else ''}>")
