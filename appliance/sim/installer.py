"""The installer of a simulated site: hands that turn the key and pull cables, and eyes
that read the mock pins.

``nightswitch test all --simulate`` walks through the same commissioning steps as on a
real site (:mod:`appliance.control.commissioning_run`), but nobody stands at the relay
board. :class:`SimulatedInstaller` stands in: it turns the key by driving the key
switch's gpiozero mock input pins (as :class:`~appliance.sim.virtual_panel.VirtualPanel`
does), pulls a primary actuator's cable by making the simulated PBX fail the way a
disconnected one does (a silent maintenance port, or relays the PBX no longer sees and a
sense input nobody drives), and answers "did the relay click, did the LED light?" from
gpiozero's own ``MockPin.states`` histories instead of a person's eyes. Every answer it
gives says that it comes from the mock pins.
"""

from __future__ import annotations

import time

from appliance.sim.pin_pbx import PinWatch
from appliance.sim.virtual_panel import VirtualPanel


class PinWitness:
    """What a set of output pins did from now on, read from their ``states`` history.

    :param dict pins: ``{name: (gpiozero pin, active_high)}``.
    """

    def __init__(self, pins: dict):
        self.watches = {
            name: PinWatch(pin, active_high) for name, (pin, active_high) in pins.items()
        }
        self.initial = {name: watch.is_on() for name, watch in self.watches.items()}

    def timeline(self) -> list[tuple[float, str, bool]]:
        """``(monotonic time, pin name, on)`` of every change since the witness was made,
        in order."""
        now = time.monotonic()
        events = [
            (at, name, on) for name, watch in self.watches.items() for at, on in watch.edges(now)
        ]
        return sorted(events, key=lambda e: e[0])

    def states_seen(self) -> list[dict[str, bool]]:
        """Each combination of the pins' states in turn, the one at the start first."""
        state = dict(self.initial)
        seen = [dict(state)]
        for _, name, on in self.timeline():
            state[name] = on
            seen.append(dict(state))
        return seen


class SimulatedInstaller:
    """The hands and eyes of commissioning on ``--simulate``.

    :param appliance: the :class:`~appliance.daemon.Appliance` built with
        ``simulate=True`` on a gpiozero ``MockFactory``.
    """

    simulated = True

    def __init__(self, appliance):
        self.appliance = appliance
        self.factory = appliance.pin_factory
        serial = [s for s in appliance.config.actuators if s["type"] == "serial"]
        self.serial_sims = {spec["name"]: sim for spec, sim in zip(serial, appliance.serial_sims)}
        self.unplugged: list[str] = []

    # -- eyes ---------------------------------------------------------------------------
    def watch(self, pins: dict) -> PinWitness:
        """Start watching *pins* (``{name: (pin name such as "GPIO17", active_high)}``)."""
        return PinWitness(
            {
                name: (self.factory.pin(spec), active_high)
                for name, (spec, active_high) in pins.items()
            }
        )

    def pbx_mode(self) -> str | None:
        """The mode the simulated PBX is in (what a call to the site would find)."""
        model = self.appliance.pbx_model
        return model.mode if model is not None else None

    # -- hands --------------------------------------------------------------------------
    def _panel(self, panel) -> VirtualPanel:
        hands = VirtualPanel(self.appliance.controller, self.appliance.clock)
        hands.panel = panel  # the virtual panel's hands work on any zone's panel
        return hands

    def turn_key(self, panel, position: str) -> str:
        """Turn *panel*'s key to *position*."""
        self._panel(panel).set_key(position)
        return f"the simulated key was turned to {position.upper()} (mock input pins driven)"

    def press_button(self, panel) -> str:
        """Press *panel*'s button once, longer than its debounce and shorter than a hold."""
        cfg = next(c for c in self.appliance.config.panels if c.zone == panel.zone)
        hands = self._panel(panel)
        # The press is timed here, so its pins are driven without waiting in between.
        hands.set_key("press", settle=False)
        time.sleep(min(cfg.debounce_ms / 1000 * 3 + 0.05, cfg.hold_s / 2))
        hands.set_key("release")
        return "the simulated button was pressed once (mock input pin driven)"

    def disconnect(self, spec: dict) -> str:
        """Make actuator *spec* fail the way a disconnected one does."""
        name = spec["name"]
        if spec["type"] == "serial":
            self.serial_sims[name].inject("silence")
            what = (
                "the simulated PBX's maintenance port falls silent, as it does with the "
                "cable pulled"
            )
        else:
            self.appliance.pbx_sim.unplug(name)
            what = (
                "the simulated PBX no longer sees its relays and its sense input rests at "
                "its pull level, as with the cable pulled"
            )
        self.unplugged.append(name)
        return f"{name} disconnected: {what}"

    def reconnect(self, spec: dict) -> str:
        name = spec["name"]
        if spec["type"] == "serial":
            self.serial_sims[name].clear()
        else:
            self.appliance.pbx_sim.plug(name)
        if name in self.unplugged:
            self.unplugged.remove(name)
        return f"{name} connected again (simulated)"

    def reconnect_all(self) -> None:
        """Put back every cable still pulled (the run was interrupted)."""
        for name in list(self.unplugged):
            spec = next(s for s in self.appliance.config.actuators if s["name"] == name)
            self.reconnect(spec)

    def move_clock_to(self, at) -> str:
        """Move the simulated clock to *at* (the schedule's next change)."""
        before = self.appliance.clock.now()
        self.appliance.clock.set(at)
        return f"the simulated clock was moved from {before:%a %H:%M} to {at:%a %H:%M}"


__all__ = ["PinWitness", "SimulatedInstaller"]
