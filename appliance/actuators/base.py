"""What every actuator is, and the error it raises.

An actuator turns a mode name into something the PBX notices: a relay held, a key
pulsed, digits dialled, a command typed on the maintenance port. Each zone's actuators
are driven by that zone's worker thread only (:mod:`appliance.control.worker`), so an
actuator never needs a lock of its own: no two threads ever drive one relay.

A slow apply (a keypad sequence, a maintenance-port dialogue) asks
:attr:`Actuator.should_abandon` at its safe points (before going off-hook, between the
steps of a dialogue; never in the middle of a key sequence) and raises :exc:`Abandoned`
when a newer mode is wanted, so the worker can apply that one at once.
"""

from __future__ import annotations

import abc
import time
from typing import TYPE_CHECKING

from appliance.actuators.relay import Relay
from appliance.errors import Abandoned, FieldError
from appliance.validation import Problems, mode_problem, pin_problem

if TYPE_CHECKING:
    from appliance.actuators.sense import SenseInput


def nothing_driven() -> None:
    """The default :attr:`Actuator.on_drive`: nobody is waiting for the relays."""


def never_abandon() -> bool:
    return False


class Actuator(abc.ABC):
    """The base of the relay actuators; the ``serial`` actuator follows the same shape.

    :param dict spec:
        The validated ``[[actuators]]`` table.
    :param sleep:
        The function used for relay timings. Relay timings are real time even in
        simulation: a PBX needs a 150 ms key press whatever the wall clock says.
    """

    type_name = "?"
    can_read_back = False
    #: True when the PBX cannot be read back but applying the mode again is harmless (an
    #: absolute code): the controller then re-asserts it every ``[verify]
    #: reassert_minutes``. Never true for a toggle, which a second apply would invert.
    reasserts_blind = False

    def __init__(self, spec: dict, *, sleep=time.sleep):
        self.name = spec["name"]
        self.zone = spec["zone"]
        self.role = spec["role"]
        self.spec = spec
        self.sleep = sleep
        self.last_mode: str | None = None
        self.closed = False
        #: Asked at the apply's safe points; the zone's worker sets it (see the module
        #: docstring). True means: stop here and raise :exc:`Abandoned`.
        self.should_abandon = never_abandon
        #: Called when the actuator has moved a relay; the zone's worker sets it (its
        #: controller holds back the web's live streams until then).
        self.on_drive = nothing_driven

    def check_abandon(self, where: str) -> None:
        """Raise :exc:`Abandoned` if :attr:`should_abandon` says so; *where* names the
        safe point for the log."""
        if self.should_abandon():
            raise Abandoned(f"{self.name}: stopped {where}: a newer mode is wanted")

    @property
    def modes(self) -> frozenset[str]:
        return frozenset(self.spec["_modes"])

    @abc.abstractmethod
    def apply(self, mode: str) -> None:
        """Put the PBX in *mode*; raise :exc:`ActuatorError` saying what failed."""

    def read_back(self) -> str | None:
        """The PBX's mode as read back, or None when this actuator cannot tell."""
        return None

    def assume(self, mode: str | None) -> None:
        """Tell the actuator which mode the PBX was last put in (from the store), for
        actuators that cannot read it back and must not toggle blindly."""
        self.last_mode = mode

    def relays(self) -> dict[str, str]:
        """``{relay name: "open"|"closed"}`` for the web page's hardware view."""
        return {
            name: "closed" if relay.is_closed else "open"
            for name, relay in self.relay_devices().items()
        }

    def relay_devices(self) -> dict:
        """``{relay name: Relay}``: the relays this actuator drives (none for the
        maintenance port), for commissioning."""
        return {}

    def close(self) -> None:
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"last_mode={self.last_mode}"
        return f"<{type(self).__name__} {self.name!r} zone={self.zone} role={self.role} {state}>"


class RelayActuator(Actuator):
    """The base of the actuators that drive relays (``contact``, ``pulse``,
    ``keypad``): they hold :class:`~appliance.actuators.relay.Relay` channels and
    perhaps a :class:`~appliance.actuators.sense.SenseInput`, and closing them leaves
    every relay de-energized.

    Each drive of a relay calls :attr:`~Actuator.on_drive`.

    Subclasses add their relays with :meth:`_add_relay` (in the order the hardware view
    lists them) and set :attr:`sense`.
    """

    def __init__(self, spec: dict, *, sleep=time.sleep):
        super().__init__(spec, sleep=sleep)
        # set before any pin is claimed: close() and repr() must work half-built
        self._relays: dict = {}
        self.sense: SenseInput | None = None

    def _add_relay(self, name: str, pin, pin_factory=None) -> Relay:
        """A :class:`~appliance.actuators.relay.Relay` on *pin*, driven as the table's
        ``active_high`` says, held by this actuator and closed with it."""
        relay = Relay(
            name,
            pin,
            active_high=self.spec.get("active_high", True),
            pin_factory=pin_factory,
            after_drive=lambda: self.on_drive(),
        )
        self._relays[relay.name] = relay
        return relay

    def relay_devices(self) -> dict:
        return dict(self._relays)

    def relay_tested(self, name: str) -> bool:
        """Relay *name* was just moved and put back by a relay test; True when the PBX
        may have acted on it, so that this actuator must apply the mode again to undo it
        (a toggle key pressed). A level (a contact) is back where it was: False."""
        return False

    def close(self) -> None:
        if not self.closed:
            for relay in self._relays.values():
                relay.close()
            if self.sense is not None:
                self.sense.close()
        super().close()


# -- helpers the type modules share when checking their tables -----------------------


def check_keys(spec: dict, allowed: set, path: str, *, actuator=True) -> list[FieldError]:
    """Unknown keys of a table; *actuator* adds the keys every actuator table has."""
    allowed = set(allowed) | ({"name", "type", "zone", "role"} if actuator else set())
    problems = Problems()
    # "_modes" is the appliance's own note on a checked table, never the installer's
    problems.unknown({k: v for k, v in spec.items() if k != "_modes"}, allowed, path)
    return problems.errors


def check_pin(value, path: str) -> list[FieldError]:
    problem = pin_problem(value)
    return [FieldError(path, problem)] if problem else []


def check_int(spec: dict, key: str, path: str, lo: int, hi: int, *, required=False):
    problems = Problems()
    problems.integer(spec, key, path, lo=lo, hi=hi, required=required)
    return problems.errors


def check_bool(spec: dict, key: str, path: str):
    problems = Problems()
    problems.boolean(spec, key, path)
    return problems.errors


def check_mode_names(names, path: str) -> list[FieldError]:
    return [FieldError(path, problem) for problem in map(mode_problem, names) if problem]


def check_relay(spec: dict, path: str, key: str = "pin") -> list[FieldError]:
    """The relay's GPIO (required) and its polarity."""
    errors = []
    if key not in spec:
        errors.append(FieldError(f"{path}.{key}", "is required: the GPIO driving the relay"))
    else:
        errors += check_pin(spec[key], f"{path}.{key}")
    return errors + check_bool(spec, "active_high", path)
