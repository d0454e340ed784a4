"""``pulse``: a momentary relay pulse across a toggle key, with the key's lamp read back.

Many night keys toggle (Avaya Partner's #503 button, console NIGHT keys): a blind pulse
when the PBX is already in the wanted mode *inverts* it. So a pulse actuator reads the
lamp first and pulses only when the lamp disagrees, then checks that the lamp followed.
Without a lamp input the config must say ``unverified = true``; the actuator then trusts
the last mode it applied (kept in the store across restarts) and the web page says the
mode is unverified.

Config::

    [[actuators]]
    name = "console-night-key"
    type = "pulse"
    pin = 27
    pulse_ms = 300
    settle_ms = 2000
    modes = { day = "dark", night = "lit" }     # the lamp in each mode
    sense = { pin = 25, pull_up = true }        # the lamp, through an optocoupler
"""

from __future__ import annotations

import time

from appliance.actuators.base import (
    RelayActuator,
    check_bool,
    check_int,
    check_keys,
    check_mode_names,
    check_pin,
    check_relay,
)
from appliance.actuators.sense import SenseInput, mode_read_back, wait_for_sense
from appliance.errors import ActuatorError, FieldError

ALLOWED = {"pin", "active_high", "modes", "sense", "pulse_ms", "settle_ms", "unverified"}


def check(spec: dict, path: str, **_) -> list[FieldError]:
    errors = check_keys(spec, ALLOWED, path) + check_relay(spec, path)
    errors += check_bool(spec, "unverified", path)
    errors += check_int(spec, "pulse_ms", path, 20, 5000)
    errors += check_int(spec, "settle_ms", path, 0, 60000)
    modes = spec.get("modes")
    if not isinstance(modes, dict) or not modes:
        errors.append(
            FieldError(
                f"{path}.modes",
                'is required: the lamp in each mode, such as { day = "dark", night = "lit" }',
            )
        )
        modes = {}
    errors += check_mode_names(modes, f"{path}.modes")
    for mode, lamp in modes.items():
        if lamp not in ("lit", "dark"):
            errors.append(
                FieldError(f"{path}.modes.{mode}", f'{lamp!r} is not allowed; use "lit" or "dark"')
            )
    # only when every lamp is lit/dark: a bad (even unhashable) one is reported above
    if (
        modes
        and all(lamp in ("lit", "dark") for lamp in modes.values())
        and set(modes.values()) != {"lit", "dark"}
    ):
        errors.append(
            FieldError(
                f"{path}.modes",
                "a toggle key has two states: give at least "
                'one mode with "lit" and one with "dark"',
            )
        )
    sense = spec.get("sense")
    if sense is None:
        if spec.get("unverified") is not True:
            errors.append(
                FieldError(
                    f"{path}.sense",
                    "is required: a toggle pulsed blind can invert the mode. Wire "
                    "the key's lamp through an optocoupler to a GPIO and give sense = { pin = N }, "
                    "or accept the risk with unverified = true",
                )
            )
    elif not isinstance(sense, dict):
        errors.append(
            FieldError(f"{path}.sense", "must be a table such as { pin = 25, pull_up = true }")
        )
    else:
        errors += check_keys(sense, {"pin", "pull_up"}, f"{path}.sense", actuator=False)
        if "pin" not in sense:
            errors.append(
                FieldError(f"{path}.sense.pin", "is required: the GPIO of the lamp input")
            )
        else:
            errors += check_pin(sense["pin"], f"{path}.sense.pin")
        errors += check_bool(sense, "pull_up", f"{path}.sense")
        if spec.get("unverified") is True:
            errors.append(
                FieldError(
                    f"{path}.unverified", "cannot be true when a sense input is given; remove one"
                )
            )
    return errors


def modes_of(spec: dict, **_) -> set[str]:
    return set(spec["modes"])


def pins_of(spec: dict):
    yield "relay", spec["pin"]
    if "sense" in spec:
        yield "lamp", spec["sense"]["pin"]


def build(spec: dict, *, pin_factory=None, sleep=time.sleep, **_):
    return PulseActuator(spec, pin_factory=pin_factory, sleep=sleep)


class PulseActuator(RelayActuator):
    """A toggle key pulsed by a relay. See the module docstring for the config."""

    type_name = "pulse"

    def __init__(self, spec: dict, *, pin_factory=None, sleep=time.sleep):
        super().__init__(spec, sleep=sleep)
        self.relay = self._add_relay(self.name, spec["pin"], pin_factory)
        self.lit_modes = frozenset(m for m, lamp in spec["modes"].items() if lamp == "lit")
        if "sense" in spec:
            sense_spec = dict(spec["sense"], active_in=sorted(self.lit_modes))
            self.sense = SenseInput(sense_spec, pin_factory=pin_factory)
        self.pulse_s = spec.get("pulse_ms", 300) / 1000
        self.settle_s = spec.get("settle_ms", 2000) / 1000
        self.unverified = self.sense is None
        self.can_read_back = self.sense is not None

    def _lamp_lit(self) -> bool | None:
        if self.sense is not None:
            return self.sense.is_active
        if self.last_mode is None:
            return None
        return self.last_mode in self.lit_modes

    def pulse(self) -> None:
        try:
            self.relay.close_contact()
            self.sleep(self.pulse_s)
        finally:
            self.relay.open_contact()

    def relay_tested(self, name: str) -> bool:
        """A relay test presses the key: the PBX toggled. Without a lamp to read, the
        mode this actuator believes in is toggled too, so the next :meth:`apply` presses
        again and puts the PBX back."""
        if self.sense is None and self.last_mode is not None:
            was_lit = self.last_mode in self.lit_modes
            self.last_mode = next(
                (m for m in self.spec["modes"] if (m in self.lit_modes) != was_lit),
                self.last_mode,
            )
        return True

    def apply(self, mode: str) -> None:
        if mode not in self.spec["modes"]:
            raise ActuatorError(
                f"{self.name}: cannot produce mode {mode!r}; it knows "
                + ", ".join(sorted(self.spec["modes"]))
            )
        want_lit = mode in self.lit_modes
        lit = self._lamp_lit()
        if lit is not None and lit == want_lit:
            self.last_mode = mode
            return
        self.check_abandon("before pulsing the key")
        self.pulse()
        if self.sense is not None and not wait_for_sense(
            self.sense, want_lit, self.settle_s, self.sleep
        ):
            raise ActuatorError(
                f"{self.name}: pulsed the key for {mode}, but its lamp on "
                f"GPIO{self.spec['sense']['pin']} is still "
                f"{'lit' if self.sense.is_active else 'dark'} "
                f"after {self.settle_s * 1000:.0f} ms; check the relay across the key and "
                "the lamp wiring"
            )
        self.last_mode = mode

    def read_back(self) -> str | None:
        if self.sense is None:
            return None
        return mode_read_back(
            self.sense.is_active, self.last_mode, self.spec["modes"], self.lit_modes
        )
