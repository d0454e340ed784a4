"""The front panel at reception: a key switch and three LEDs, through gpiozero only.

Key switch kinds (docs/design.md#the-keys-authority):

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

Any kind but ``button`` may also have a reception push button (pin ``button``) beside the
key: it works as the ``button`` kind does, and while a three-position key is in DAY or
NIGHT the key decides and a press is ignored.

Why debouncing is done here, by stable readings, rather than with gpiozero's
``bounce_time``: mock pins ignore ``bounce_time`` and its software debounce can drop the
edge that matters (docs/raspberry-pi.md#inputs-and-debouncing). An edge callback only
*records* the raw reading and wakes the controller; the controller calls
:meth:`FrontPanel.poll` when the reading has been stable for ``debounce_ms`` on the
injected clock, so every decision stays on the controller's one thread.
"""

from __future__ import annotations

import threading

from gpiozero import LED, DigitalInputDevice

from appliance.decision.decide import Key
from appliance.inputs.keyswitch import KeyEvent, PressAndHold, key_switch


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
        self._since: float | None = None

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


#: blink timings (on, off) in seconds for each LED pattern
BLINKS = {"slow": (0.5, 0.5), "fast": (0.125, 0.125)}
PATTERNS: dict[str, tuple[float, float] | None] = {"off": None, "on": None, **BLINKS}


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
        self.patterns = dict.fromkeys(("day", "night", "fault"), "off")

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
            on_time, off_time = BLINKS[pattern]
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
        self.switch = key_switch(self.kind)
        names = self.switch.inputs
        # A reception push button beside the key: its own input, debouncer and meaning.
        self.button: DigitalInputDevice | None = None
        self._button_debouncer = self._button = None
        try:
            for name in names:
                self.inputs[name] = DigitalInputDevice(
                    cfg.pins[name], pull_up=cfg.pull_up, pin_factory=pin_factory
                )
            if "button" in cfg.pins and not self.switch.momentary:
                self.button = DigitalInputDevice(
                    cfg.pins["button"], pull_up=cfg.pull_up, pin_factory=pin_factory
                )
                self._button_debouncer = Debouncer(
                    cfg.debounce_ms / 1000, bool(self.button.is_active)
                )
                self._button = PressAndHold(cfg.hold_s, by="reception button")
        except Exception:
            self.close()
            raise
        # Read the level at start-up, not only edges: a key left in NIGHT over a reboot
        # must be NIGHT from the first decision.
        self._debouncer = Debouncer(cfg.debounce_ms / 1000, self._read())
        self._press = self.switch.tracker(cfg.hold_s)
        self.wiring_fault = self.switch.wiring_fault(self._read())
        # Edges only once everything they touch exists (gpiozero calls back from its own
        # thread as soon as a callback is set).
        for device in [*self.inputs.values(), *([self.button] if self.button else [])]:
            device.when_activated = self._edge
            device.when_deactivated = self._edge

    # -- reading -------------------------------------------------------------------------
    def _read(self):
        return tuple(bool(d.is_active) for d in self.inputs.values())

    def _edge(self) -> None:
        with self._lock:
            now = self.clock.monotonic()
            self._debouncer.observe(self._read(), now)
            if self.button is not None:
                self._button_debouncer.observe(bool(self.button.is_active), now)
        self._wake()

    def contacts(self) -> dict[str, bool]:
        """Each input's raw reading, closed = True (the push button as ``button``): for
        commissioning, which shows the wiring rather than what it means."""
        readings = {name: bool(d.is_active) for name, d in self.inputs.items()}
        if self.button is not None:
            readings["button"] = bool(self.button.is_active)
        return readings

    @property
    def position(self) -> Key:
        """The debounced key position (``Key.NONE`` without a three-position switch)."""
        return self.switch.position(self._debouncer.value)

    def reading(self) -> tuple:
        """The contacts as they read now, not yet debounced (the virtual panel and
        commissioning show the wiring as it is)."""
        return self._read()

    def reading_position(self) -> Key:
        """The position the contacts read now, not yet debounced (commissioning)."""
        return self.switch.position(self._read())

    @property
    def deadline(self) -> float | None:
        """The next monotonic time at which :meth:`poll` has work, or None."""
        with self._lock:
            times = [self._debouncer.deadline]
            if self.button is not None:
                times += [self._button_debouncer.deadline, self._button.deadline]
        if self._press is not None:
            times.append(self._press.deadline)
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
            if self.button is not None:
                self._button_debouncer.observe(bool(self.button.is_active), now)
                button = self._button_debouncer.settle(now)
        events, self.wiring_fault = self.switch.events(
            accepted, self.wiring_fault, self._press, now
        )
        if self.button is not None:
            events += self._button.update(button, now)
        return events

    def close(self) -> None:
        for device in self.inputs.values():
            device.close()
        button = getattr(self, "button", None)
        if button is not None:
            button.close()
        self.leds.close()

    def __repr__(self) -> str:
        return (
            f"<FrontPanel zone={self.zone} kind={self.kind} position={self.position.value}"
            f"{' WIRING-FAULT' if self.wiring_fault else ''}>"
        )
