"""The virtual front panel of ``nightswitch simulate``.

It turns the key, reads the LEDs and relays, and moves the simulated clock, all through
the very gpiozero MockFactory pins the real code drives: turning the virtual key drives
the key switch's mock input pins, so the panel's debouncing and the controller's key
handling run exactly as on a Pi.

A turn of the key or a move of the clock answers once the controller has handled it
(:meth:`VirtualPanel.settle`): what the call returns is the state after it, and an
override sent right after a turn to NIGHT meets the key in NIGHT, as it would a second
after a person turned it. The simulated PBX behind the appliance is :attr:`pbx`
(:class:`~appliance.sim.pbx_view.PbxView`), shown and worked from the same panel.
"""

from __future__ import annotations

import time
from datetime import datetime

from appliance.decision.decide import Key
from appliance.errors import FieldError, ValidationError

#: The longest a key turn or a clock move waits for the controller and the workers to
#: have handled it (real seconds). A PBX that is slow to answer (a fault injected) must
#: not hold the page: the answer then shows the zone still switching.
SETTLE_S = 3.0


class VirtualPanel:
    """The simulated panel of the first zone's key switch.

    :param controller: the running :class:`~appliance.control.controller.Controller`.
    :param clock: the :class:`~appliance.inputs.clock.SimClock`.
    :param pbx: the simulated PBX's :class:`~appliance.sim.pbx_view.PbxView`, or None.
    """

    def __init__(self, controller, clock, *, pbx=None):
        self.controller = controller
        self.clock = clock
        self.panel = controller.panels[0] if controller.panels else None
        self.pbx = pbx

    def key(self) -> str:
        if self.panel is None:
            return "none"
        position = self.panel.position  # debounced, as the controller sees it
        if position is not Key.NONE:
            return position.value
        return self.panel.switch.shown(self.panel.reading())

    def _drive(self, device, active: bool) -> None:
        pin = device.pin
        # A closed contact pulls the input to its active level.
        level_high = active != device.pull_up if device.pull_up is not None else active
        pin.drive_high() if level_high else pin.drive_low()

    def set_key(self, position: str, *, settle: bool = True) -> dict:
        """Turn the key to *position*: ``auto``, ``day`` or ``night`` (a three-position
        switch), ``day``/``night`` (two-position), ``press``/``release`` (button, or the
        push button beside a key; hold it pressed for ``hold_s`` to return to AUTO).

        :param bool settle: return only once the controller has handled the turn
            (:meth:`settle`); False only drives the pins (a test that paces the
            debounce itself)."""
        if not self.positions():
            raise ValidationError(
                [
                    FieldError(
                        "position", "this site has no key switch (front_panel.key_switch = none)"
                    )
                ]
            )
        kind = self.panel.kind
        allowed = self.positions()
        if position not in allowed:
            raise ValidationError(
                [
                    FieldError(
                        "position",
                        f"{position!r} is not a position of "
                        f"a {kind} key switch; use " + ", ".join(allowed),
                    )
                ]
            )
        inputs = self.panel.inputs
        if position in ("press", "release") and self.panel.button is not None:
            self._drive(self.panel.button, position == "press")
        else:
            for name, closed in self.panel.switch.contacts_for(position).items():
                self._drive(inputs[name], closed)
        if settle:
            self._let_debounce_pass()
            self.settle()
        return {"key": position}

    def _debounce_s(self) -> float:
        for cfg in getattr(getattr(self.controller, "config", None), "panels", ()):
            if cfg.zone == self.panel.zone:
                return cfg.debounce_ms / 1000
        return 0.05

    def _let_debounce_pass(self) -> None:
        """Wait until the contacts have been stable for the debounce time on the
        appliance's clock. The simulated clock of ``simulate`` runs by itself; a frozen
        one (tests) is moved on by the debounce time, as a person's hand would let it."""
        debounce = self._debounce_s()
        ready = self.clock.monotonic() + debounce
        give_up = time.monotonic() + 2 * debounce + 0.05
        while self.clock.monotonic() < ready and time.monotonic() < give_up:
            time.sleep(min(0.01, debounce))
        left = ready - self.clock.monotonic()
        if left > 0:
            self.clock.advance(left)

    def settle(self, seconds: float = SETTLE_S) -> bool:
        """Wait until the controller has handled what woke it (a key edge past its
        debounce, a clock move) and the zones' workers have applied what it decided,
        for at most *seconds*. True when everything was handled in time; False leaves
        the rest to go on in the background (a PBX that is slow to answer)."""
        deadline = time.monotonic() + seconds
        try:
            self.controller.sync(timeout=seconds)
            self.controller.wait_idle(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            return False
        return True

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
        """The panel as it is now: ``key``, ``leds``, ``relays``, ``now``, the zone's
        ``mode`` and whether it is ``verified``, and ``pbx`` (the simulated PBX's
        :meth:`~appliance.sim.pbx_view.PbxView.snapshot`, or None)."""
        zone = self.panel.zone if self.panel is not None else None
        status = self.controller.status(zone)
        return {
            "key": self.key(),
            "leds": self.leds(),
            "relays": self.relays(),
            "now": self.clock.now().isoformat(timespec="seconds"),
            "mode": status["mode"],
            "verified": status["verified"],
            "pbx": self.pbx.snapshot() if self.pbx is not None else None,
        }

    def advance(self, seconds: float, *, settle: bool = True) -> None:
        """Move the clock forward by *seconds*, then let the appliance act on it."""
        if (
            not isinstance(seconds, (int, float))
            or isinstance(seconds, bool)
            or not 0 <= seconds <= 400 * 86400
        ):
            raise ValidationError(
                [
                    FieldError(
                        "advance_s", "must be a number of seconds from 0 to 34560000 (400 days)"
                    )
                ]
            )
        self.clock.advance(seconds)
        if settle:
            self.settle()

    def set_now(self, now: datetime, *, settle: bool = True) -> None:
        """Set the clock to *now* (aware), then let the appliance act on it."""
        if now.tzinfo is None:
            raise ValidationError([FieldError("now", "must include a UTC offset")])
        self.clock.set(now)
        if settle:
            self.settle()

    def __repr__(self) -> str:
        return f"<VirtualPanel key={self.key()} leds={self.leds()}>"


__all__ = ["VirtualPanel", "Key"]
