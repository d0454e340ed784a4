"""The PBX simulator: a tested stand-in for the PBX at the other end of the wires.

:mod:`appliance.sim.pbx_model`
    The simulated PBX's state (mode, power, password, feature codes), shared by both sides.
:mod:`appliance.sim.maintenance_terminal`
    The maintenance terminal's conversation as a pure responder (text in, text out, its
    state explicit), as unkind as a real terminal on a 3-wire line.
:mod:`appliance.sim.pty_pbx`
    The serial side's wire: that conversation and SMDR output on real ptys, at the
    profile's baud rate, with faults on request.
:mod:`appliance.sim.pin_pbx`
    The pin side: reacts to the relay actuators on gpiozero mock pins and drives the
    sense inputs.
:mod:`appliance.sim.smdr_line`
    An SMDR printer on a simulated RS-232 line (two ptys and a wire, through the UART
    model of :mod:`appliance.sim.uart`), for ``calls detect``.
:mod:`appliance.sim.smdr_lan`
    PBXs that give SMDR on the LAN: a Telnet port behind a login (Panasonic) and a TCP
    client that connects to the collector (IP Office).
"""

from appliance.errors import SimError
from appliance.sim.maintenance_terminal import MaintenanceTerminal
from appliance.sim.pbx_model import KeypadResult, ModeChange, PbxModel
from appliance.sim.pin_pbx import PinSidePbx
from appliance.sim.pty_pbx import FAULTS, PbxSimulator, simulate_serial_ports

__all__ = [
    "FAULTS",
    "KeypadResult",
    "MaintenanceTerminal",
    "ModeChange",
    "PbxModel",
    "PbxSimulator",
    "PinSidePbx",
    "SimError",
    "simulate_serial_ports",
]
