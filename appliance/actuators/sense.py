"""A sense input: the PBX telling us which mode it is in.

A night-service lamp, a status output or a relay contact of the PBX, wired through an
optocoupler to a GPIO. It is *active* in the modes listed in ``active_in``.
"""

from __future__ import annotations

import time

from gpiozero import DigitalInputDevice

from appliance.actuators.base import check_bool, check_keys, check_mode_names, check_pin
from appliance.errors import FieldError


def check_sense(spec, path: str, modes) -> list[FieldError]:
    if not isinstance(spec, dict):
        return [FieldError(path, "must be a table with pin, pull_up and active_in")]
    errors = check_keys(spec, {"pin", "pull_up", "active_in"}, path, actuator=False)
    if "pin" not in spec:
        errors.append(FieldError(f"{path}.pin", "is required: the GPIO the sense input is on"))
    else:
        errors += check_pin(spec["pin"], f"{path}.pin")
    errors += check_bool(spec, "pull_up", path)
    active = spec.get("active_in")
    if not isinstance(active, list) or not active:
        errors.append(
            FieldError(
                f"{path}.active_in",
                'is required: the list of modes in which the input is active, such as ["night"]',
            )
        )
    else:
        errors += check_mode_names(active, f"{path}.active_in")
        for mode in active:
            if isinstance(mode, str) and mode not in modes:
                errors.append(
                    FieldError(
                        f"{path}.active_in",
                        f"mode {mode!r} is not one of this "
                        "actuator's modes: " + ", ".join(sorted(modes)),
                    )
                )
    return errors


class SenseInput:
    """The input device for a sense table.

    :param dict spec: ``{pin, pull_up=True, active_in=[...]}``
    :param pin_factory: gpiozero pin factory (MockFactory in tests and simulate).
    """

    def __init__(self, spec: dict, *, pin_factory=None):
        self.active_in = frozenset(spec["active_in"])
        self.device = DigitalInputDevice(
            spec["pin"], pull_up=spec.get("pull_up", True), pin_factory=pin_factory
        )

    @property
    def is_active(self) -> bool:
        return bool(self.device.is_active)

    def expects_active(self, mode: str) -> bool:
        return mode in self.active_in

    def close(self) -> None:
        self.device.close()

    def __repr__(self) -> str:
        return f"<SenseInput pin={self.device.pin} active={self.is_active}>"


def mode_read_back(active: bool, last_mode: str | None, modes, active_in) -> str | None:
    """The mode a sense input reading *active* means.

    The last mode applied, if the input agrees with it; otherwise the mode the reading most
    plainly means (``night`` or ``day`` first), so a PBX switched behind our back or reset
    by a power cut shows as drift.
    """
    if last_mode is not None and (last_mode in active_in) == active:
        return last_mode
    candidates = sorted(m for m in modes if (m in active_in) == active)
    for preferred in ("night", "day"):
        if preferred in candidates:
            return preferred
    return candidates[0] if candidates else None


def wait_for_sense(sense: SenseInput, want_active: bool, timeout_s: float, sleep) -> bool:
    """Poll *sense* until it reads *want_active* or *timeout_s* passes (real time: the
    PBX takes real milliseconds to answer)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if sense.is_active == want_active:
            return True
        if time.monotonic() >= deadline:
            return False
        sleep(0.005)
