"""Helpers for tests of the appliance core, in the words of the wiring.

A test builds a :class:`Rig`: the config (TOML text, as an installer writes it), gpiozero's
own ``MockFactory`` pins, a :class:`~appliance.inputs.clock.SimClock`, a :class:`Store` on disk
and a :class:`Controller` wired exactly as the daemon wires them. ``connect`` wires a relay
output to a sense input with gpiozero's ``MockConnectedPin``, which is how a PBX whose
night-service status follows the relay looks from the Pi.

The rig does not start the controller thread unless asked: a test that steps the
controller itself (``rig.step()``) is deterministic, one that needs the real thread
(``rig.start()``) waits for results with :func:`wait_until`.

The web engineer's tests may import these too.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from gpiozero.pins.mock import MockConnectedPin

from appliance.actuators import build_actuator
from appliance.config import load_config_text
from appliance.control.controller import Controller
from appliance.inputs.clock import SimClock
from appliance.inputs.panel import FrontPanel
from appliance.store import Store

BERLIN = ZoneInfo("Europe/Berlin")
UTC = timezone.utc
#: Monday 2 March 2026, 07:59 in Berlin (CET, UTC+1): one minute before the default
#: schedule's 08:00 day begins.
MONDAY_0759 = datetime(2026, 3, 2, 7, 59, tzinfo=BERLIN)
REPO = Path(__file__).resolve().parent.parent

# -- config fragments, as an installer writes them -------------------------------------------

SITE = """
[site]
name = "Test office"
timezone = "Europe/Berlin"
"""


def panel_toml(
    kind: str = "three-position",
    *,
    debounce_ms: int = 50,
    hold_s: float = 3.0,
    leds: bool = True,
    pull_up: bool = True,
) -> str:
    """A ``[front_panel]`` table with the default pin map's pins for *kind*."""
    pins = {
        "three-position": {"key_day": 5, "key_night": 6},
        "two-position": {"key": 5},
        "button": {"key": 5},
        "none": {},
    }[kind]
    if leds:
        pins.update(led_day=13, led_night=19, led_fault=26)
    lines = [
        f'[front_panel]\nkey_switch = "{kind}"\ndebounce_ms = {debounce_ms}\n'
        f"hold_s = {hold_s}\npull_up = {str(pull_up).lower()}\n[front_panel.pins]"
    ]
    lines += [f"{k} = {v}" for k, v in pins.items()]
    return "\n".join(lines) + "\n"


def contact_toml(
    *,
    name: str = "night-service",
    pin: int = 17,
    sense_pin: int | None = 24,
    role: str = "primary",
    active_high: bool = True,
    settle_ms: int = 60,
    sense_pull_up: bool = False,
    zone: str | None = None,
) -> str:
    """A ``contact`` actuator; with *sense_pin* its PBX status input is active in night.

    ``sense_pull_up = false`` makes the input active-high, so a relay pin wired to it with
    ``MockConnectedPin`` reads *active* exactly when an active-high relay is closed.
    """
    text = (
        f'[[actuators]]\nname = "{name}"\ntype = "contact"\nrole = "{role}"\n'
        f"pin = {pin}\nactive_high = {str(active_high).lower()}\nsettle_ms = {settle_ms}\n"
        'modes = { day = "open", night = "closed" }\n'
    )
    if zone:
        text += f'zone = "{zone}"\n'
    if sense_pin is not None:
        text += (
            f"sense = {{ pin = {sense_pin}, pull_up = {str(sense_pull_up).lower()}, "
            'active_in = ["night"] }\n'
        )
    return text


def config(*fragments: str):
    """A validated :class:`~appliance.config.Config` from TOML fragments (the site first)."""
    return load_config_text(SITE + "\n".join(fragments), "test.toml")


# -- pins ----------------------------------------------------------------------------------


def connect(factory, relay_pin: int, sense_pin: int):
    """Wire relay output *relay_pin* to input *sense_pin* (gpiozero's MockConnectedPin):
    the input follows every change of the relay's level. Call before the devices exist."""
    return factory.pin(relay_pin, pin_class=MockConnectedPin, input_pin=factory.pin(sense_pin))


class ToggleKey:
    """The PBX side of a toggle night key with its lamp, built from gpiozero parts.

    The relay's output pin is a ``MockConnectedPin`` wired to a spare *wire* pin; a
    gpiozero ``DigitalInputDevice`` on that wire sees each closure of the relay (in the
    test's thread, synchronously) and toggles the lamp, which the actuator's sense input
    reads. Build it before the actuator.

    :param int relay: the relay's GPIO.
    :param int lamp: the lamp (sense) input's GPIO.
    :param int wire: a free GPIO standing for the wire to the key.
    :param bool lamp_pull_up: the sense input's pull (lit = LOW when pulled up).
    :param bool relay_active_high: which level closes the relay.
    """

    def __init__(
        self,
        factory,
        relay: int,
        lamp: int,
        wire: int,
        *,
        lamp_pull_up: bool = True,
        relay_active_high: bool = True,
    ):
        from gpiozero import DigitalInputDevice

        self.factory = factory
        self.lamp_pin = factory.pin(lamp)
        self.lamp_pull_up = lamp_pull_up
        self.lit = False
        self.presses: list[float] = []
        self.responding = True
        self.wire = DigitalInputDevice(wire, pull_up=False, pin_factory=factory)
        connect(factory, relay, wire)
        if relay_active_high:
            self.wire.when_activated = self._pressed
        else:
            self.wire.when_deactivated = self._pressed

    def _pressed(self) -> None:
        self.presses.append(time.monotonic())
        if self.responding:
            self.set_lit(not self.lit)

    def set_lit(self, lit: bool) -> None:
        """Light or darken the lamp (the PBX switched, by us or behind our back)."""
        self.lit = lit
        if lit == self.lamp_pull_up:
            self.lamp_pin.drive_low()
        else:
            self.lamp_pin.drive_high()

    def close(self) -> None:
        self.wire.close()


def close_contact(device) -> None:
    """Close a key-switch contact on a gpiozero input device: drive its pin to its active
    level, as a contact to ground does on a pulled-up input."""
    device.pin.drive_low() if device.pull_up else device.pin.drive_high()


def open_contact(device) -> None:
    device.pin.drive_high() if device.pull_up else device.pin.drive_low()


def timeline(pins: dict) -> list[tuple[float, str, bool]]:
    """Merge the state histories of several mock pins into one timeline.

    ``pin.states`` holds ``PinState(seconds since the previous change, state)``; after
    ``clear_states()`` on all of them at one moment, the running sums put every change on
    one clock. Returns ``[(seconds since the clear, name, state), ...]`` in time order,
    without the initial entries.

    :param dict pins: ``{name: MockPin}``
    """
    events = []
    for name, pin in pins.items():
        t = 0.0
        for i, state in enumerate(pin.states):
            t += state.timestamp
            if i:
                events.append((t, name, state.state))
    return sorted(events)


def changes(pin) -> list[bool]:
    """The states a mock pin went through, the initial one first."""
    return [s.state for s in pin.states]


class RecordingSleep:
    """A ``sleep`` for actuators that records each requested duration, with the relays
    that were closed while it lasted, then really sleeps (the sense inputs' deadlines are
    real time).

    Tests of relay timings assert on what was *asked for*, which no load on the machine
    changes, instead of on the wall time the mock pins saw.

    :param dict relays: ``{name: relay}`` (anything with ``is_closed``), the relays whose
        state each entry records.
    :param float polls_below: requested durations below this are polls (waiting for a
        sense input), recorded apart in :attr:`polls`.
    """

    def __init__(self, relays: dict | None = None, *, polls_below: float = 0.01):
        self.relays = relays or {}
        self.polls_below = polls_below
        self.calls: list[tuple[float, frozenset]] = []
        self.polls = 0

    def __call__(self, seconds: float) -> None:
        if seconds < self.polls_below:
            self.polls += 1
        else:
            closed = frozenset(name for name, relay in self.relays.items() if relay.is_closed)
            self.calls.append((round(seconds, 6), closed))
        time.sleep(seconds)


# -- waiting -------------------------------------------------------------------------------


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.005, message: str = ""):
    """Poll *predicate* until it returns something truthy; fail the test after *timeout*
    real seconds. Returns the predicate's value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(message or f"timed out after {timeout} s waiting for {predicate}")
        time.sleep(interval)


# -- the rig -------------------------------------------------------------------------------


@dataclass
class Rig:
    """A controller on mock pins, a simulated clock and a store on disk."""

    factory: object
    clock: SimClock
    store: Store
    config: object
    data_dir: Path
    actuators: list
    panels: list
    controller: Controller
    closed: bool = False
    extra: dict = field(default_factory=dict)

    def pin(self, gpio: int):
        return self.factory.pin(gpio)

    @property
    def panel(self):
        return self.panels[0]

    @property
    def zone(self):
        return next(iter(self.controller.zones.values()))

    def status(self, zone=None) -> dict:
        return self.controller.status(zone)

    def step(self) -> None:
        """One controller pass on this thread (only while the thread is not running)."""
        assert self.controller._thread is None, "step() is for rigs without a thread"
        self.controller.step()

    def start(self) -> None:
        """Start the controller thread and wait for its first decision."""
        self.controller.start()
        wait_until(
            lambda: (
                self.controller.zones
                and all(z.decision is not None for z in self.controller.zones.values())
            ),
            message="the controller made no first decision",
        )
        self.settle()  # the decision is set before the relays move

    def start_without_waiting(self) -> None:
        """Start the controller thread and wait for its first decision only (the worker
        may still be applying it)."""
        self.controller.start()
        wait_until(
            lambda: all(z.decision is not None for z in self.controller.zones.values()),
            message="the controller made no first decision",
        )

    def settle(self) -> None:
        """Wait until the controller has handled what it was woken for and every zone's
        worker has applied what is wanted now. The status shows a new mode (switching)
        before the relays move, so a test that saw the mode change waits here before it
        looks at a relay."""
        if self.controller.running:
            self.controller.wait_idle()
        else:
            self.controller.call(lambda: None)

    def advance(self, seconds: float) -> None:
        """Advance the simulated clock; with no thread, step the controller at once."""
        self.clock.advance(seconds)
        if self.controller._thread is None:
            self.controller.step()

    def turn_key(self, position: str) -> None:
        """Turn a three-position key: drive the DAY and NIGHT contacts (not debounced yet)."""
        inputs = self.panel.inputs
        for name, closed in (("key_day", position == "day"), ("key_night", position == "night")):
            (close_contact if closed else open_contact)(inputs[name])

    def settle_key(self) -> None:
        """Let the debounce time pass on the simulated clock."""
        self.advance(self.config.panels[0].debounce_ms / 1000)

    def audit(self, **kw) -> list[dict]:
        return self.store.audit(**kw)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.controller.close()
            self.store.close()

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def build_rig(
    factory,
    data_dir,
    cfg,
    *,
    start: datetime = MONDAY_0759,
    clock=None,
    wires: dict | None = None,
    retry_min: float = 2.0,
    retry_max: float = 300.0,
    synchronized: bool = True,
    on_tick=None,
    sleep=time.sleep,
) -> Rig:
    """Build a controller exactly as the daemon does, on *factory*'s mock pins.

    :param wires: ``{relay_gpio: sense_gpio}`` wired with MockConnectedPin before the
        devices are built.
    """
    for relay_pin, sense_pin in (wires or {}).items():
        connect(factory, relay_pin, sense_pin)
    clock = clock or SimClock(start, synchronized=synchronized)
    store = Store(data_dir)
    actuators = [
        build_actuator(spec, pin_factory=factory, clock=clock, sleep=sleep)
        for spec in cfg.actuators
    ]
    panels = [FrontPanel(p, pin_factory=factory, clock=clock) for p in cfg.panels]
    controller = Controller(
        cfg,
        store,
        clock,
        actuators=actuators,
        panels=panels,
        on_tick=on_tick,
        retry_min=retry_min,
        retry_max=retry_max,
    )
    return Rig(factory, clock, store, cfg, Path(data_dir), actuators, panels, controller)


# -- processes -----------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port that was free a moment ago (the config needs a concrete port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_env(**extra) -> dict:
    """The environment for a ``nightswitch`` subprocess: this checkout first on the path,
    gpiozero's mock pins, and *extra*."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["GPIOZERO_PIN_FACTORY"] = "mock"
    env.pop("NOTIFY_SOCKET", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def console_script() -> str:
    """The installed ``nightswitch`` command of the Python running the tests (its venv's
    ``bin``, whether or not that is on PATH). Missing is a failure, not a skip: the console
    script is what installers and systemd run."""
    beside = Path(sys.executable).parent / "nightswitch"
    found = str(beside) if beside.exists() else shutil.which("nightswitch")
    assert found, (
        f"no nightswitch console script beside {sys.executable} or on PATH: "
        "install the project (pip install -e .)"
    )
    return found


def nightswitch(*args, env=None, timeout: float = 60, input: str | None = None):
    """Run ``python -m appliance ARGS`` and return the CompletedProcess (text)."""
    return subprocess.run(
        [sys.executable, "-m", "appliance", *map(str, args)],
        capture_output=True,
        text=True,
        env=env or cli_env(),
        timeout=timeout,
        input=input,
        cwd=REPO,
    )


def spawn(*args, env=None) -> subprocess.Popen:
    """Start ``python -m appliance ARGS`` in the background (stdout and stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "appliance", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or cli_env(),
        cwd=REPO,
    )


class OutputCollector:
    """Reads a subprocess's stdout and stderr on threads, so a pipe never fills up and a
    test can wait for a line."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._read, args=(proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(proc.stderr, self.err), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(stream, sink):
        for line in iter(stream.readline, ""):
            sink.append(line)

    def wait_for(self, text: str, timeout: float = 20.0, stream: str = "out") -> str:
        sink = self.out if stream == "out" else self.err

        def found():
            for line in list(sink):
                if text in line:
                    return line
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"process exited ({self.proc.returncode}) before {text!r}:\n"
                    + "".join(self.out)
                    + "".join(self.err)
                )
            return None

        return wait_until(
            found,
            timeout,
            message=f"no {text!r} in {stream} after {timeout} s:\n"
            + "".join(self.out)
            + "".join(self.err),
        )

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the process's output to end (call after it exited) and close the pipes."""
        for t in self._threads:
            t.join(timeout)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)
