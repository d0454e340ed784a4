"""The virtual front panel of ``nightswitch simulate``.

It turns the key, reads the LEDs and relays, and moves the simulated clock, all through
the very gpiozero MockFactory pins the real code drives: turning the virtual key drives
the key switch's mock input pins, so the panel's debouncing and the controller's key
handling run exactly as on a Pi.
"""

from __future__ import annotations

from datetime import datetime

from appliance.decision.decide import Key
from appliance.errors import FieldError, ValidationError


class VirtualPanel:
    """The simulated panel of the first zone's key switch.

    :param controller: the running :class:`~appliance.control.controller.Controller`.
    :param clock: the :class:`~appliance.inputs.clock.SimClock`.
    """

    def __init__(self, controller, clock):
        self.controller = controller
        self.clock = clock
        self.panel = controller.panels[0] if controller.panels else None

    def key(self) -> str:
        if self.panel is None:
            return "none"
        position = self.panel.position          # debounced, as the controller sees it
        if position is not Key.NONE:
            return position.value
        return self.panel.switch.shown(self.panel.reading())

    def _drive(self, device, active: bool) -> None:
        pin = device.pin
        # A closed contact pulls the input to its active level.
        level_high = active != device.pull_up if device.pull_up is not None else active
        pin.drive_high() if level_high else pin.drive_low()

    def set_key(self, position: str) -> dict:
        """Turn the key to *position*: ``auto``, ``day`` or ``night`` (a three-position
        switch), ``day``/``night`` (two-position), ``press``/``release`` (button, or the
        push button beside a key; hold it pressed for ``hold_s`` to return to AUTO)."""
        if not self.positions():
            raise ValidationError([FieldError("position", "this site has no key switch "
                                                          "(front_panel.key_switch = none)")])
        kind = self.panel.kind
        allowed = self.positions()
        if position not in allowed:
            raise ValidationError([FieldError("position", f"{position!r} is not a position of "
                                              f"a {kind} key switch; use " + ", ".join(allowed))])
        inputs = self.panel.inputs
        if position in ("press", "release") and self.panel.button is not None:
            self._drive(self.panel.button, position == "press")
        else:
            for name, closed in self.panel.switch.contacts_for(position).items():
                self._drive(inputs[name], closed)
        return {"key": position}

    def positions(self) -> tuple[str, ...]:
        """What :meth:`set_key` takes on this panel."""
        if self.panel is None:
            return ()
        allowed = self.panel.switch.positions
        if self.panel.button is not None:
            allowed += ("press", "release")
        return allowed

    def leds(self) -> dict[str, str]:
        if self.panel is None:
            return {}
        return dict(self.panel.leds.patterns)

    def relays(self) -> dict[str, str]:
        return self.controller.relay_states()

    def snapshot(self) -> dict:
        return {"key": self.key(), "leds": self.leds(), "relays": self.relays(),
                "now": self.clock.now().isoformat(timespec="seconds")}

    def advance(self, seconds: float) -> None:
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) \
                or not 0 <= seconds <= 400 * 86400:
            raise ValidationError([FieldError("advance_s", "must be a number of seconds from 0 "
                                                           "to 34560000 (400 days)")])
        self.clock.advance(seconds)

    def set_now(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValidationError([FieldError("now", "must include a UTC offset")])
        self.clock.set(now)

    def __repr__(self) -> str:
        return f"<VirtualPanel key={self.key()} leds={self.leds()}>"


__all__ = ["VirtualPanel", "Key"]
