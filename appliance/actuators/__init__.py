"""The actuators, picked by the config's ``type`` as pyserial picks a URL handler by
scheme: a registry of module names, imported on first use.

Each type module provides:

``check(spec, path, *, profiles_dir=None) -> list[FieldError]``
    Validate its ``[[actuators]]`` table.
``modes_of(spec, *, profiles_dir=None) -> set[str]``
    The modes it can produce (for the config's "mode the actuators cannot produce" check).
``build(spec, *, pin_factory, clock, profiles_dir, sleep) -> Actuator``
    The live actuator.
``pins_of(spec) -> list[(what, gpio)]``
    Every GPIO it claims (for the config's "pin used twice" check).
"""

from __future__ import annotations

import importlib
import time

ACTUATOR_TYPES = {
    "contact": "appliance.actuators.contact",
    "pulse": "appliance.actuators.pulse",
    "keypad": "appliance.actuators.keypad",
    "serial": "appliance.actuators.serial_port",
}


def actuator_module(type_name: str):
    """The module implementing actuator *type_name*."""
    return importlib.import_module(ACTUATOR_TYPES[type_name])


def pins_of(spec: dict) -> list[tuple[str, int]]:
    module = actuator_module(spec["type"])
    return list(module.pins_of(spec)) if hasattr(module, "pins_of") else []


def build_actuator(
    spec: dict, *, pin_factory=None, clock=None, profiles_dir=None, sleep=time.sleep
):
    """Build the live actuator for a validated spec."""
    module = actuator_module(spec["type"])
    return module.build(
        spec, pin_factory=pin_factory, clock=clock, profiles_dir=profiles_dir, sleep=sleep
    )
