"""The alert events an installer can subscribe a target to, as data.

Each fault event names the controller fault kinds that raise it (``faults``); the others
are worked out by :mod:`.rules` from the snapshot and the time. ``report`` events are not
faults: they are sent at a set time (the morning callback list, the weekly summary).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """One kind of alert.

    :param str name: the name used in ``[[alerts.targets]] events``.
    :param str title: the subject line's words.
    :param tuple faults: controller fault kinds that raise it.
    :param bool report: a scheduled report, not a fault (no reminder, no "resolved").
    """

    name: str
    title: str
    faults: tuple[str, ...] = ()
    report: bool = False


EVENTS: dict[str, Event] = {
    e.name: e
    for e in (
        Event("not_confirmed", "The PBX did not confirm the mode", ("actuator",)),
        Event("fallback", "The primary switch failed; the fallback holds the mode", ("fallback",)),
        Event("login_refused", "The PBX refused the appliance's login", ("auth",)),
        Event("fallback_drill", "The fallback switch failed its drill", ("drill",)),
        Event("calendar", "A closure calendar cannot be read", ("calendar", "company")),
        Event("link_down", "The PBX link is down", ("link",)),
        Event("clock", "The clock is not synchronized", ("clock",)),
        Event("wiring", "Key switch wiring fault", ("wiring",)),
        Event("store", "The database is failing", ("store", "internal")),
        Event("config", "The saved schedule does not fit the config", ("config",)),
        Event("smdr", "The call-record (SMDR) port is dead or silent", ("smdr",)),
        Event("key_left", "The key switch was left in DAY or NIGHT"),
        Event("override_old", "An override until cancelled is still in force"),
        Event("schedule_stale", "The schedule needs attention"),
        Event("callback_list", "After-hours calls to call back", report=True),
        Event("weekly_summary", "After-hours calls this week", report=True),
    )
}

#: The events a target gets when its ``events`` key is left out: every fault, no report.
FAULT_EVENTS = tuple(name for name, e in EVENTS.items() if not e.report)
REPORT_EVENTS = tuple(name for name, e in EVENTS.items() if e.report)


def event_of_fault(kind: str) -> str | None:
    """The event a controller fault *kind* raises, or None for a kind no event covers."""
    for event in EVENTS.values():
        if kind in event.faults:
            return event.name
    return None
