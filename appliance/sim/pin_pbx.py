"""The simulated PBX's pin side: it watches the relays and drives the sense inputs.

In ``simulate`` the relay actuators drive gpiozero ``MockFactory`` pins as they would
drive real relays. :class:`PinSidePbx` stands where the PBX would be wired: it reads what
those pins did (gpiozero's own ``MockPin.states`` history, with its timings), acts on the
shared :class:`~appliance.sim.pbx_model.PbxModel`, and drives the sense inputs (the night
lamp, the status output) with ``drive_low()``/``drive_high()`` as the optocoupler would.

An actuator's cable can be pulled (:meth:`PinSidePbx.unplug`): the PBX no longer sees its
relays, and its sense input, no longer driven, rests at its pull level, which is how a
disconnected primary looks to the appliance when commissioning tests the fallback.

What the PBX makes of the relays, per actuator type (same tables as the config):

``contact``
    The PBX follows the relay: the mode whose state (``open``/``closed``) the relay is in.
``pulse``
    A toggle key: each press of at least :data:`MIN_PRESS_S` toggles between the
    ``dark`` (or ``off``) mode and the ``lit`` (or ``on``) mode; the lamp follows the mode.
``keypad``
    A phone: keys pressed while off-hook are collected (a press must last
    :data:`MIN_PRESS_S`, as DTMF detectors need, and come after dial tone,
    :data:`DIAL_TONE_S` after going off-hook); on hanging up the PBX decodes them into
    a feature code with :meth:`PbxModel.decode`, which checks the password.

Timings come from the pin histories, not from when this thread happened to look, so a
slow poll never turns a 150 ms press into a different one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from appliance.sim.pbx_model import PbxModel

log = logging.getLogger(__name__)

#: The shortest relay closure a PBX input or a DTMF detector takes as a press.
MIN_PRESS_S = 0.04
#: After going off-hook, keys pressed before dial tone are lost.
DIAL_TONE_S = 0.3
#: Presses are decoded from each pin's timestamped history, so a slow poll loses none;
#: 50 ms keeps `simulate` idle well under 1 % of a core (5 ms cost about 2 %) and a PBX
#: input's reaction well inside any settle time.
POLL_S = 0.05


class _PinWatch:
    """Turns one output pin's ``states`` history into timestamped edges."""

    def __init__(self, pin, active_high: bool):
        self.pin = pin
        self.active_high = active_high
        self.seen = len(pin.states)

    def is_on(self) -> bool:
        return bool(self.pin.state) == self.active_high

    def edges(self, now: float) -> list[tuple[float, bool]]:
        """New ``(monotonic time, relay on)`` edges since the last call."""
        for _ in range(5):
            # The history and its anchor must be read as a pair: re-read if the relay
            # moved in between.
            anchor = getattr(self.pin, "_last_change", now)
            states = list(self.pin.states)
            if getattr(self.pin, "_last_change", now) == anchor:
                break
        if len(states) < self.seen:  # someone called clear_states()
            self.seen = len(states)
            return []
        new = states[self.seen :]
        if not new:
            return []
        self.seen = len(states)
        # MockPin stamps each state with the time since the previous change; anchor the
        # newest at the pin's last change and walk back.
        times = []
        t = anchor
        for entry in reversed(new):
            times.append(t)
            t -= entry.timestamp
        times.reverse()
        return [(at, bool(entry.state) == self.active_high) for at, entry in zip(times, new)]


#: Commissioning reads the relays' and LEDs' histories the same way (appliance.sim.installer).
PinWatch = _PinWatch


class _Sense:
    """A sense input driven as the PBX's optocoupler would drive it."""

    def __init__(self, pin, pull_up: bool, active_in):
        self.pin = pin
        self.pull_up = pull_up
        self.active_in = frozenset(active_in)

    def update(self, model: PbxModel) -> None:
        active = model.powered and model.mode in self.active_in
        level = (not active) if self.pull_up else active
        # Re-assert on every poll: a device built on the pin later sets its pull, which
        # moves a mock input; the PBX's output would hold the line where it is.
        if self.pin.function == "input" and bool(self.pin.state) != level:
            if level:
                self.pin.drive_high()
            else:
                self.pin.drive_low()

    def rest(self) -> None:
        """Nothing drives the line (its cable is pulled): it rests at its pull level."""
        if self.pin.function == "input" and bool(self.pin.state) != self.pull_up:
            if self.pull_up:
                self.pin.drive_high()
            else:
                self.pin.drive_low()


def _sense(spec: dict, pin_factory, default_active) -> _Sense | None:
    sense = spec.get("sense")
    if not isinstance(sense, dict) or "pin" not in sense:
        return None
    active_in = sense.get("active_in", default_active)
    return _Sense(pin_factory.pin(sense["pin"]), sense.get("pull_up", True), active_in)


class _Contact:
    def __init__(self, spec, pin_factory, model):
        self.model = model
        self.watch = _PinWatch(pin_factory.pin(spec["pin"]), spec.get("active_high", True))
        self.modes = dict(spec["modes"])
        self.sense = _sense(spec, pin_factory, [])
        self.was_powered = model.powered
        self.follow(by="contact")

    def follow(self, by: str) -> None:
        state = "closed" if self.watch.is_on() else "open"
        if self.modes.get(self.model.mode) == state:
            return
        for mode, wanted in self.modes.items():
            if wanted == state and mode in self.model.modes:
                self.model.set_mode(mode, by=by)
                return

    def drain(self, now: float) -> None:
        """Forget what the relay did while unplugged, and read the input again, as a PBX
        does when a cable is plugged back."""
        self.watch.edges(now)
        if self.model.powered:
            self.follow(by="contact")

    def poll(self, now: float) -> None:
        edges = self.watch.edges(now)
        powered = self.model.powered
        history = self.model.history
        if edges and history and history[-1].at > edges[-1][0]:
            # The PBX read this input when it changed; the maintenance port switched it
            # after that. A late poll must not replay the older edge over the newer change.
            edges = []
        if powered and (edges or not self.was_powered):
            # A PBX reads its night input on every change, and again when it powers up.
            self.follow(by="contact")
        self.was_powered = powered
        if self.sense:
            self.sense.update(self.model)


class _Toggle:
    def __init__(self, spec, pin_factory, model):
        self.model = model
        self.watch = _PinWatch(pin_factory.pin(spec["pin"]), spec.get("active_high", True))
        lit = [m for m, v in spec["modes"].items() if v in ("lit", "on")]
        dark = [m for m, v in spec["modes"].items() if v in ("dark", "off")]
        self.pair = (dark[0], lit[0])
        self.sense = _sense(spec, pin_factory, lit)
        self.pressed_at: float | None = None
        self.counted = False
        self.presses = 0

    def _press(self) -> None:
        self.counted = True
        if self.model.powered:
            self.presses += 1
            self.model.toggle(self.pair, by="toggle")

    def drain(self, now: float) -> None:
        self.watch.edges(now)  # presses made while unplugged never arrived
        self.pressed_at = None

    def poll(self, now: float) -> None:
        for at, on in self.watch.edges(now):
            if on:
                self.pressed_at, self.counted = at, False
            elif self.pressed_at is not None:
                if not self.counted and at - self.pressed_at >= MIN_PRESS_S:
                    self._press()
                self.pressed_at = None
        if (
            self.pressed_at is not None
            and not self.counted
            and now - self.pressed_at >= MIN_PRESS_S
            and self.watch.is_on()
        ):
            self._press()  # a key acts while held, not on release
        if self.sense:
            self.sense.update(self.model)


class _Keypad:
    def __init__(self, spec, pin_factory, model):
        self.model = model
        active_high = spec.get("active_high", True)
        self.hook = _PinWatch(pin_factory.pin(spec["hook_pin"]), active_high)
        self.keys = {
            (name if len(name) == 1 or name.startswith("<") else f"<{name}>"): _PinWatch(
                pin_factory.pin(pin), active_high
            )
            for name, pin in spec["keys"].items()
        }
        if not model.feature_codes:
            # A PBX with no profile codes is taken to be programmed with the config's.
            model.feature_codes.update(spec.get("sequences", {}))
        self.sense = _sense(spec, pin_factory, [])
        self.offhook_at: float | None = None
        self.down: dict[str, float] = {}
        self.dialled: list[str] = []
        self.results = []

    def drain(self, now: float) -> None:
        for watch in (self.hook, *self.keys.values()):
            watch.edges(now)
        self.offhook_at, self.down, self.dialled = None, {}, []

    def poll(self, now: float) -> None:
        events = [(at, "hook", on) for at, on in self.hook.edges(now)]
        for name, watch in self.keys.items():
            events += [(at, name, on) for at, on in watch.edges(now)]
        events.sort(key=lambda e: (e[0], e[1] == "hook"))
        for at, what, on in events:
            if what == "hook":
                if on:
                    self.offhook_at, self.dialled, self.down = at, [], {}
                elif self.offhook_at is not None:
                    self.offhook_at = None
                    if self.dialled:
                        self.results.append(self.model.decode("".join(self.dialled)))
                continue
            if on:
                self.down[what] = at
                continue
            pressed = self.down.pop(what, None)
            if pressed is None or self.offhook_at is None or not self.model.powered:
                continue
            if at - pressed >= MIN_PRESS_S and pressed >= self.offhook_at + DIAL_TONE_S:
                self.dialled.append(what)
        if self.sense:
            self.sense.update(self.model)


class _Watcher(Protocol):
    """What :class:`PinSidePbx` polls: one actuator's wiring, read as the PBX would."""

    def poll(self, now: float) -> None: ...


#: The watcher of each actuator type, made from ``(spec, pin_factory, model)``.
WATCHERS: dict[str, Callable[[dict, Any, PbxModel], _Watcher]] = {
    "contact": _Contact,
    "pulse": _Toggle,
    "keypad": _Keypad,
}


def _modes_of(spec: dict) -> list[str]:
    table = spec.get("sequences") if spec.get("type") == "keypad" else spec.get("modes")
    return list(table or {})


class PinSidePbx:
    """The PBX end of the relay wiring, on gpiozero mock pins.

    :param pin_factory: the ``MockFactory`` the actuators use; pins are fetched with
        ``pin_factory.pin(n)``, the very objects the actuators' devices drive.
    :param list actuator_specs: the config's ``[[actuators]]`` tables; ``serial`` ones
        are the pty side's business and are skipped.
    :param model: the shared :class:`~appliance.sim.pbx_model.PbxModel`.
    :param float poll_s: how often the pin histories are read.
    """

    def __init__(self, pin_factory, actuator_specs, model: PbxModel, *, poll_s: float = POLL_S):
        self.model = model
        self.poll_s = poll_s
        self.watchers: list[_Watcher] = []
        self.named: dict = {}
        for spec in actuator_specs:
            kind = WATCHERS.get(spec.get("type"))
            if kind is not None:
                model.add_modes(_modes_of(spec))
                watcher = kind(spec, pin_factory, model)
                self.watchers.append(watcher)
                self.named[spec.get("name")] = watcher
        self.unplugged: set[str] = set()
        self._failed: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def poll(self) -> None:
        """Read the relays and drive the sense inputs once (the thread does this every
        ``poll_s``; tests may call it directly)."""
        with self._lock:
            now = time.monotonic()
            resting = {id(self.named[name]) for name in self.unplugged}
            for i, watcher in enumerate(self.watchers):
                if id(watcher) in resting:
                    continue
                try:
                    watcher.poll(now)
                except Exception:
                    # The simulated PBX must outlive a bug in one of its inputs: say so
                    # once, keep the others running.
                    if i not in self._failed:
                        self._failed.add(i)
                        log.exception("pbx-sim: the %s input failed", type(watcher).__name__)

    def unplug(self, name: str) -> None:
        """Pull the cable of actuator *name*: the PBX stops seeing its relays and its
        sense input rests at its pull level until :meth:`plug`.

        :raises KeyError: when no relay actuator has that name.
        """
        with self._lock:
            watcher = self.named[name]
            self.unplugged.add(name)
            if watcher.sense:
                watcher.sense.rest()

    def plug(self, name: str) -> None:
        """Plug actuator *name* back: what its relays did meanwhile is lost; the PBX
        reads a night-service input again at once."""
        with self._lock:
            watcher = self.named[name]
            if name not in self.unplugged:
                return
            self.unplugged.discard(name)
            watcher.drain(time.monotonic())
            if watcher.sense:
                watcher.sense.update(self.model)

    def start(self) -> PinSidePbx:
        if self._thread is None:
            self.poll()
            self._thread = threading.Thread(target=self._run, name="pbx-sim-pins", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    def close(self) -> None:
        """Stop watching. Idempotent; the pins belong to the factory and stay."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        kinds = ",".join(type(w).__name__.strip("_").lower() for w in self.watchers) or "none"
        return f"<PinSidePbx {kinds} mode={self.model.mode}>"
