"""``contact``: a relay held open or closed per mode.

Wired to the PBX's external night-service input (NEC Aspire, DSS Eurocom, Panasonic
KX-TDA "external night" input) or across a maintained console key. An optional
``sense`` input reads the PBX's own night status back.

Config::

    [[actuators]]
    name = "night-service"
    type = "contact"
    pin = 17
    active_high = true
    modes = { day = "open", night = "closed" }
    settle_ms = 1000            # how long the PBX may take to show the new state
    sense = { pin = 24, pull_up = true, active_in = ["night"] }
"""

from __future__ import annotations

import time

from appliance.actuators.base import (
    RelayActuator,
    check_int,
    check_keys,
    check_mode_names,
    check_relay,
)
from appliance.actuators.sense import SenseInput, check_sense, mode_read_back, wait_for_sense
from appliance.errors import ActuatorError, FieldError

ALLOWED = {"pin", "active_high", "modes", "sense", "settle_ms"}
STATES = ("open", "closed")


def check(spec: dict, path: str, **_) -> list[FieldError]:
    errors = check_keys(spec, ALLOWED, path) + check_relay(spec, path)
    errors += check_int(spec, "settle_ms", path, 0, 60000)
    modes = spec.get("modes")
    if not isinstance(modes, dict) or not modes:
        errors.append(
            FieldError(
                f"{path}.modes",
                'is required: the relay state per mode, such as { day = "open", night = "closed" }',
            )
        )
        modes = {}
    errors += check_mode_names(modes, f"{path}.modes")
    for mode, state in modes.items():
        if state not in STATES:
            errors.append(
                FieldError(
                    f"{path}.modes.{mode}", f'{state!r} is not allowed; use "open" or "closed"'
                )
            )
    if "sense" in spec:
        errors += check_sense(spec["sense"], f"{path}.sense", set(modes))
    return errors


def modes_of(spec: dict, **_) -> set[str]:
    return set(spec["modes"])


def pins_of(spec: dict):
    yield "relay", spec["pin"]
    if "sense" in spec:
        yield "sense", spec["sense"]["pin"]


def build(spec: dict, *, pin_factory=None, sleep=time.sleep, **_):
    return ContactActuator(spec, pin_factory=pin_factory, sleep=sleep)


class ContactActuator(RelayActuator):
    """A maintained relay contact. See the module docstring for the config."""

    type_name = "contact"

    def __init__(self, spec: dict, *, pin_factory=None, sleep=time.sleep):
        super().__init__(spec, sleep=sleep)
        self.relay = self._add_relay(self.name, spec["pin"], pin_factory)
        self.sense = SenseInput(spec["sense"], pin_factory=pin_factory) if "sense" in spec else None
        self.settle_s = spec.get("settle_ms", 1000) / 1000
        self.can_read_back = self.sense is not None

    def apply(self, mode: str) -> None:
        state = self.spec["modes"].get(mode)
        if state is None:
            raise ActuatorError(
                f"{self.name}: cannot produce mode {mode!r}; it knows "
                + ", ".join(sorted(self.spec["modes"]))
            )
        if state == "closed":
            self.relay.close_contact()
        else:
            self.relay.open_contact()
        self.last_mode = mode
        if self.sense and not wait_for_sense(
            self.sense, self.sense.expects_active(mode), self.settle_s, self.sleep
        ):
            reads = "active" if self.sense.is_active else "inactive"
            raise ActuatorError(
                f"{self.name}: relay {state} for {mode}, but the PBX status input on "
                f"GPIO{self.spec['sense']['pin']} still reads {reads} after "
                f"{self.settle_s * 1000:.0f} ms; check the wiring to the PBX"
            )

    def read_back(self) -> str | None:
        if self.sense is None:
            return None
        return mode_read_back(
            self.sense.is_active, self.last_mode, self.spec["modes"], self.sense.active_in
        )
