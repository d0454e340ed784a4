"""What the controller knows about one zone, and what it shows of it.

:class:`ZoneState` is the controller's record of a zone: its schedule, key, override,
decision, the mode it wants and the mode its actuators confirmed, and its faults. It is
written on the controller thread only. Two pure functions read it: :func:`zone_status`
(the published status, which the web page, the API, ``/health``, MQTT and the alerts all
read) and :func:`led_patterns` (what the three LEDs show, docs/design.md#the-front-panel).
Keeping them pure means the LEDs and the page can never disagree about a zone, and both
are tested without a thread or a pin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from appliance.decision.decide import Decision, Key, Override
from appliance.vocabulary import FaultKind, LedPattern, Source

if TYPE_CHECKING:
    from appliance.control.worker import ActuatorWorker
    from appliance.decision.schedule import Schedule


@dataclass
class ZoneState:
    """Everything the controller knows about one zone.

    :param str name: the zone's name (``main`` on a single-zone site).
    :param str label: its name for people.
    :param schedule: the parsed schedule in force (with any calendar or company layers).
    :param dict schedule_json: the saved schedule, as JSON.
    :param modes: the modes the zone's actuators can make, or None (any).
    :param worker: the zone's :class:`~appliance.control.worker.ActuatorWorker`.
    :param list actuators: the zone's actuators, for the status (the worker drives them).
    """

    name: str
    label: str
    schedule: Schedule
    schedule_json: dict
    modes: set | None
    worker: ActuatorWorker
    actuators: list = field(default_factory=list)
    panel: Any = None  # the zone's key switch and LEDs, if any
    key: Key = Key.NONE
    override: Override | None = None
    decision: Decision | None = None
    wanted_mode: str | None = None  # handed to the worker
    applied_mode: str | None = None  # the actuators last put the PBX in it
    applied_at: datetime | None = None
    verified: bool = False  # the wanted mode is applied and confirmed
    switching: bool = False  # the worker is applying the wanted mode
    handoff: bool = False  # an idle worker was just handed a mode (see Controller._publish)
    using_fallback: bool = False
    faults: dict = field(default_factory=dict)  # kind -> (message, since ISO)
    schedule_version: int | None = None
    base_schedule: Schedule | None = None  # the saved schedule without layers
    layers: dict = field(default_factory=dict)  # kind -> layer (calendar, company)

    def fault(self, kind: str, message: str, since: str) -> None:
        """Raise (or update the message of) fault *kind*; *since* stays the first time."""
        if self.faults.get(kind, (None,))[0] != message:
            first = self.faults.get(kind, (None, since))[1]
            self.faults[kind] = (message, first)

    def clear_fault(self, kind: str) -> bool:
        """Clear fault *kind*; True if it was raised."""
        return self.faults.pop(kind, None) is not None


def _iso(at: datetime | None, tz) -> str | None:
    return at.astimezone(tz).isoformat(timespec="seconds") if at else None


def zone_status(zone: ZoneState, *, tz: ZoneInfo, now: datetime, clock_synchronized: bool) -> dict:
    """The zone's status as the API publishes it (``GET /status``, docs/API.md#get-status).

    ``verified`` is true once the wanted mode is applied by every primary actuator
    without error and confirmed by every one that can read the PBX back; a fallback
    holding the mode is not that.
    """
    d = zone.decision
    override = None
    if zone.override:
        override = {
            "mode": zone.override.mode,
            "by": zone.override.by,
            "until": _iso(zone.override.until, tz),
        }
    return {
        "zone": zone.name,
        "label": zone.label,
        "mode": d.mode if d else zone.applied_mode or "unknown",
        "source": str(d.source) if d else str(Source.HOLD),
        "reason": d.reason if d else "starting",
        "key": zone.key.value,
        "override": override,
        "next_change": (
            {"at": _iso(d.next_change.at, tz), "mode": d.next_change.mode}
            if d and d.next_change
            else None
        ),
        "verified": bool(zone.verified and not zone.switching and not zone.using_fallback),
        "switching": zone.switching,
        "applied_mode": zone.applied_mode,
        "faults": [
            {"kind": k, "message": m, "since": s} for k, (m, s) in sorted(zone.faults.items())
        ],
        "modes": sorted(zone.modes) if zone.modes else None,
        "actuators": [
            {
                "name": a.name,
                "type": a.type_name,
                "role": a.role,
                "can_read_back": a.can_read_back,
                "unverified": bool(getattr(a, "unverified", False)),
            }
            for a in zone.actuators
        ],
        "clock_synchronized": clock_synchronized,
        "now": _iso(now, tz),
    }


def led_patterns(zone: ZoneState) -> dict[str, LedPattern]:
    """What the zone's ``day``, ``night`` and ``fault`` LEDs show
    (docs/design.md#the-front-panel).

    The wanted mode's LED blinks fast from the instant it is decided until the actuators
    confirm it, then shows steadily (by the schedule) or blinks slowly (forced by the key
    or an override). A hold on an unsynchronized clock shows the held mode steadily and
    the fault LED blinking. The fault LED is steady when the switch itself failed and
    blinks for clock or configuration trouble.
    """
    decision = zone.decision
    mode = decision.mode if decision else None
    if decision is None or decision.source == Source.HOLD:
        mode = zone.applied_mode
        pattern = LedPattern.ON if mode else LedPattern.OFF
    elif zone.switching or not zone.verified:
        pattern = LedPattern.FAST
    elif Source(decision.source).is_manual:
        pattern = LedPattern.SLOW
    else:
        pattern = LedPattern.ON
    kinds = {k for k in zone.faults if not _quiet(k)}
    steady = any(_steady(k) for k in kinds)
    return {
        "day": pattern if mode == "day" else LedPattern.OFF,
        "night": pattern if mode not in (None, "day", "unknown") else LedPattern.OFF,
        "fault": LedPattern.ON if steady else LedPattern.SLOW if kinds else LedPattern.OFF,
    }


def _quiet(kind: str) -> bool:
    try:
        return FaultKind(kind).quiet
    except ValueError:
        return False


def _steady(kind: str) -> bool:
    try:
        return FaultKind(kind).steady
    except ValueError:
        return False


__all__ = ["ZoneState", "led_patterns", "zone_status"]
