"""The words the appliance uses between its parts, each defined once.

Every name here is a :class:`~enum.StrEnum`: a member *is* its string, so it compares
equal to the word in the API's JSON, the audit log and the config file (``Source.KEY ==
"key"``), and ``json.dumps`` writes the plain word. What a word means to people (a
fault's title on the status page, whether it lights the fault LED steadily) lives
beside it, so a new kind cannot be added without saying both.
"""

from __future__ import annotations

import re
from enum import StrEnum

#: A mode's name as the config, the schedule and the API write it: ``day``, ``night``,
#: ``lunch``, ``night2`` (docs/design.md#modes-and-precedence).
MODE_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
MODE_RULE = "lower-case letters, digits, '-' and '_', starting with a letter"


class Source(StrEnum):
    """Who decided the mode in force, highest first (docs/design.md#modes-and-precedence)."""

    KEY = "key"  # the key switch in DAY or NIGHT
    OVERRIDE = "override"  # web, API, CLI, MQTT, the reception button, a key flip
    EXCEPTION = "exception"  # a date exception (or a calendar or company closure)
    CALENDAR = "calendar"  # a closure from a subscribed calendar
    COMPANY = "company"  # a company closure pushed to every site of a fleet
    HOLIDAY = "holiday"  # a public or custom holiday
    SEASON = "season"  # a seasonal plan
    WEEKLY = "weekly"  # the weekly hours
    DEFAULT = "default"  # time no range covers
    HOLD = "hold"  # the clock is not synchronized: the last mode is kept

    @property
    def is_manual(self) -> bool:
        """True for a mode forced by a person (the LEDs blink slowly for it)."""
        return self in (Source.KEY, Source.OVERRIDE)


class FaultKind(StrEnum):
    """What can be wrong with a zone. Each has a title for people and says whether the
    fault LED shows it steadily (the PBX may not be in the mode shown) or by blinking
    (clock or configuration trouble; the PBX itself is fine). See
    docs/design.md#the-front-panel."""

    ACTUATOR = "actuator"
    LINK = "link"
    FALLBACK = "fallback"
    AUTH = "auth"
    CLOCK = "clock"
    CONFIG = "config"
    WIRING = "wiring"
    STORE = "store"
    INTERNAL = "internal"
    CALENDAR = "calendar"
    COMPANY = "company"
    SMDR = "smdr"
    DRILL = "drill"

    @property
    def display_title(self) -> str:
        """The title for people (not ``title``: that is :meth:`str.title`, which a
        property would hide)."""
        return _FAULT_TITLES[self]

    @property
    def quiet(self) -> bool:
        """True for a fault found outside the switch that reception can do nothing about
        (the SMDR port): shown on the page, ``/health`` and by alert, never on the fault
        LED."""
        return self is FaultKind.SMDR

    @property
    def steady(self) -> bool:
        """True when the fault LED is lit steadily for this kind (the switch itself
        failed), False when it blinks."""
        return self in (FaultKind.ACTUATOR, FaultKind.LINK, FaultKind.FALLBACK, FaultKind.AUTH)


_FAULT_TITLES = {
    FaultKind.ACTUATOR: "Switching failed",
    FaultKind.LINK: "PBX link failed",
    FaultKind.FALLBACK: "Using the fallback switch",
    FaultKind.AUTH: "The PBX refused the login",
    FaultKind.CLOCK: "Clock not synchronized",
    FaultKind.CONFIG: "Configuration problem",
    FaultKind.WIRING: "Key switch wiring fault",
    FaultKind.STORE: "Database problem",
    FaultKind.INTERNAL: "Internal error",
    FaultKind.CALENDAR: "Calendar cannot be read",
    FaultKind.COMPANY: "Company closures cannot be read",
    FaultKind.SMDR: "Call records (SMDR) not arriving",
    FaultKind.DRILL: "The fallback failed its drill",
}


def fault_title(kind: str) -> str:
    """The title of fault *kind* for people; an unknown kind is shown capitalised."""
    try:
        return FaultKind(kind).display_title
    except ValueError:
        return kind.capitalize()


class Role(StrEnum):
    """What an actuator is for: the primary ones switch the PBX; a fallback is used only
    when a primary fails (docs/design.md#actuators-and-verification)."""

    PRIMARY = "primary"
    FALLBACK = "fallback"


class UserRole(StrEnum):
    """What a person or token may do (docs/API.md#authentication-and-roles), lowest first."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(UserRole).index(self)


class LedPattern(StrEnum):
    """What an LED shows (docs/design.md#the-front-panel)."""

    OFF = "off"
    ON = "on"  # steady: in force and verified
    SLOW = "slow"  # 1 Hz: in force by key or override, verified
    FAST = "fast"  # 4 Hz: being switched, not yet verified


class KeySwitchKind(StrEnum):
    """The key switch fitted at reception (config ``front_panel.key_switch``)."""

    THREE_POSITION = "three-position"
    TWO_POSITION = "two-position"
    BUTTON = "button"
    NONE = "none"


__all__ = [
    "MODE_RE",
    "MODE_RULE",
    "FaultKind",
    "KeySwitchKind",
    "LedPattern",
    "Role",
    "Source",
    "UserRole",
    "fault_title",
]
