"""The simulated PBX as the installer sees it in ``simulate``: its mode, its lamp, its
ports, and the faults an installer may throw at it.

:class:`PbxView` stands over the pieces :class:`~appliance.daemon.Appliance` built for
``simulate``: the shared :class:`~appliance.sim.pbx_model.PbxModel`, one
:class:`~appliance.sim.pty_pbx.PbxSimulator` per ``serial`` actuator and the
:class:`~appliance.sim.pin_pbx.PinSidePbx` behind the relays. It adds no behaviour of its
own: switching the PBX "behind the appliance's back" is what a person at the PBX's own
console does (:meth:`PbxModel.set_mode` with ``by="console"``), and each fault is the
simulator's own (:meth:`PbxSimulator.inject`, :meth:`PinSidePbx.unplug`,
:meth:`PbxModel.power_cut`). The Installer page and ``/api/v1/sim/pbx`` show and use it.
"""

from __future__ import annotations

from appliance.errors import FieldError, SimError, ValidationError

#: What each fault does, in the words the page shows. ``power_cut`` is the whole PBX's;
#: the others are one actuator's (a port's, or a relay cable's).
FAULT_WORDS = {
    "silence": "the maintenance port reads everything and answers nothing",
    "garbage": "the maintenance port answers line noise",
    "slow": "the maintenance port answers later than the profile waits",
    "wrong_password": "the PBX's password was changed: every login is refused",
    "drop": "the port vanishes (the pty closes) until the faults are cleared",
    "cut": "the line is cut in the middle of the next command",
    "unplug": "the relay cable is pulled: the PBX no longer sees the relays, and the "
    "read-back input rests at its pull level",
    "power_cut": "the PBX loses power and comes back in its power-up mode",
    "clear": "every fault ends: ports and cables are back",
}
#: Each fault's short name, for a list to choose from.
FAULT_NAMES = {
    "silence": "falls silent",
    "garbage": "answers line noise",
    "slow": "answers too late",
    "wrong_password": "password changed",
    "drop": "port vanishes",
    "cut": "line cut mid-command",
    "unplug": "cable pulled",
    "power_cut": "power cut",
    "clear": "every fault ends",
}
#: The faults of a maintenance port, in the order the page offers them.
PORT_FAULTS = ("silence", "garbage", "slow", "wrong_password", "drop", "cut")
#: The fault of a relay actuator's cable.
PIN_FAULTS = ("unplug",)


class PbxView:
    """The simulated PBX of ``simulate``, for the page and the API.

    :param model: the shared :class:`~appliance.sim.pbx_model.PbxModel`.
    :param dict ports: ``{actuator name: PbxSimulator}`` of the serial actuators.
    :param pins: the :class:`~appliance.sim.pin_pbx.PinSidePbx`, or None.
    :param dict configured: ``{actuator name: the port the config names}``, so the page
        can say which port the simulation uses instead.
    """

    def __init__(self, model, *, ports=None, pins=None, configured=None):
        self.model = model
        self.ports = dict(ports or {})
        self.pins = pins
        self.configured = dict(configured or {})

    # -- what it shows ------------------------------------------------------------------
    def snapshot(self) -> dict:
        """``{"mode", "modes", "powered", "inputs": [...], "ports": [...], "faults":
        {actuator: [fault, ...]}}``: each relay actuator's read-back input (``lamp``:
        ``lit``, ``dark`` or None without one; ``cable``), each serial actuator's port
        (the pty really used, the terminal's place, the faults on it)."""
        model = self.model
        inputs = []
        if self.pins is not None:
            for name, watcher in self.pins.named.items():
                sense = getattr(watcher, "sense", None)
                unplugged = name in self.pins.unplugged
                lamp = None
                if sense is not None:
                    lit = model.powered and model.mode in sense.active_in and not unplugged
                    lamp = "lit" if lit else "dark"
                inputs.append(
                    {
                        "actuator": name,
                        "type": _kind(watcher),
                        "lamp": lamp,
                        "lamp_modes": sorted(sense.active_in) if sense else [],
                        "sense_pin": _pin_name(sense.pin) if sense else None,
                        "cable": "unplugged" if unplugged else "plugged",
                    }
                )
        ports = []
        for name, sim in self.ports.items():
            ports.append(
                {
                    "actuator": name,
                    "profile": sim.profile.name,
                    "path": sim.port_path,
                    "device": sim.device,
                    "configured": self.configured.get(name),
                    "terminal": sim.terminal.where if sim.terminal else None,
                    "faults": sorted(sim.faults),
                }
            )
        return {
            "mode": model.mode,
            "modes": list(model.modes),
            "powered": model.powered,
            "inputs": inputs,
            "ports": ports,
            "faults": self.faults(),
        }

    def faults(self) -> dict[str, list[str]]:
        """``{actuator name: [fault, ...]}`` the page offers, and ``"pbx": ["power_cut",
        "clear"]`` for the whole PBX."""
        offered = {}
        for name, sim in self.ports.items():
            offered[name] = [
                f
                for f in PORT_FAULTS
                if f != "wrong_password" or (sim.serial is not None and sim.serial.needs_password)
            ]
        if self.pins is not None:
            for name in self.pins.named:
                offered[name] = list(PIN_FAULTS)
        offered["pbx"] = ["power_cut", "clear"]
        return offered

    def port_of(self, actuator: str) -> str | None:
        """The port a serial actuator really uses in the simulation (its pty's stable
        path), or None."""
        sim = self.ports.get(actuator)
        return sim.port_path if sim is not None else None

    # -- what the installer does to it --------------------------------------------------
    def set_mode(self, mode) -> dict:
        """Switch the PBX to *mode* at its own console, behind the appliance's back (the
        read-back finds it: switched back or taken as an override, per ``[verify]
        drift``)."""
        if not isinstance(mode, str) or mode not in self.model.modes:
            raise ValidationError(
                [
                    FieldError(
                        "mode",
                        f"{str(mode)[:20]!r} is not a mode of "
                        "the simulated PBX; use " + ", ".join(self.model.modes),
                    )
                ]
            )
        self.model.set_mode(mode, by="console")
        return self.snapshot()

    def inject(self, fault, actuator=None) -> dict:
        """Start *fault* (:data:`FAULT_WORDS`) on *actuator* (``"pbx"`` or None for the
        whole PBX's ``power_cut`` and ``clear``)."""
        where = actuator or "pbx"
        offered = self.faults()
        if where not in offered:
            raise ValidationError(
                [
                    FieldError(
                        "actuator",
                        f"{str(where)[:40]!r} is not a part "
                        "of the simulated PBX; use " + ", ".join(offered),
                    )
                ]
            )
        if fault not in offered[where]:
            raise ValidationError(
                [
                    FieldError(
                        "fault",
                        f"{str(fault)[:20]!r} is not a fault of "
                        f"{where}; use " + ", ".join(offered[where]),
                    )
                ]
            )
        try:
            if fault == "clear":
                self.clear()
            elif fault == "power_cut":
                self._power_cut()
            elif fault == "unplug":
                self.pins.unplug(where)
            else:
                self.ports[where].inject(fault)
        except SimError as exc:
            raise ValidationError([FieldError("fault", str(exc))]) from None
        return self.snapshot()

    def _power_cut(self) -> None:
        if self.ports:
            # The serial side also puts each terminal back at its login prompt.
            first, *others = self.ports.values()
            first.inject("power_cut")
            for sim in others:
                if sim.terminal is not None:
                    sim.terminal.power_up()
        else:
            self.model.power_cut()

    def clear(self) -> None:
        """End every fault: each port's (:meth:`PbxSimulator.clear`), every pulled
        cable."""
        for sim in self.ports.values():
            sim.clear()
        if self.pins is not None:
            for name in list(self.pins.unplugged):
                self.pins.plug(name)

    def __repr__(self) -> str:
        return f"<PbxView mode={self.model.mode} ports={list(self.ports)}>"


def _kind(watcher) -> str:
    return type(watcher).__name__.strip("_").lower()


def _pin_name(pin) -> str:
    """``GPIO24``: gpiozero's own name of the pin."""
    info = getattr(pin, "info", None)
    return str(getattr(info, "name", None) or pin)


__all__ = ["FAULT_NAMES", "FAULT_WORDS", "PIN_FAULTS", "PORT_FAULTS", "PbxView"]
