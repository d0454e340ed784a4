"""The kinds of key switch at reception, each one idea: what its contacts mean.

A :class:`KeySwitch` says which inputs a kind has (the config's pin names), what a
debounced reading of them asks of the controller (:meth:`KeySwitch.events`), which
position a reading is (:meth:`KeySwitch.position`), and, for the virtual panel and
commissioning, which contacts a position closes (:meth:`KeySwitch.contacts_for`). The
front panel, the controller, the virtual panel, the config check and ``nightswitch test
key`` all pick the kind by name from :data:`KEY_SWITCHES`, as the actuators are picked
by their ``type``: no code outside this module asks "which kind is this?".

Pure: readings and times come in as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from appliance.decision.decide import Key
from appliance.vocabulary import KeySwitchKind


class PanelEvent(Enum):
    """What the key switch asks of the controller."""

    POSITION = "position"  # three-position: a new position (Key) in `value`
    FLIP = "flip"  # two-position: an override to `value` (a mode) until next
    TOGGLE = "toggle"  # button press: toggle day/night until next
    RELEASE_TO_AUTO = "auto"  # button hold: cancel the override
    WIRING = "wiring"  # both contacts closed (value True) or cleared (False)


@dataclass(frozen=True)
class KeyEvent:
    kind: PanelEvent
    value: object = None
    by: str = "key switch"  # the reception push button beside a key says so


class PressAndHold:
    """What a momentary button means: released before *hold_s*, a press (toggle); held
    for *hold_s*, back to AUTO (once, then nothing until it is released).

    Pure: it is fed debounced levels and times.
    """

    def __init__(self, hold_s: float, by: str = "key switch"):
        self.hold_s = hold_s
        self.by = by
        self.pressed_at: float | None = None
        self.held = False

    @property
    def deadline(self) -> float | None:
        """When a press still down becomes a hold, or None."""
        if self.pressed_at is None or self.held:
            return None
        return self.pressed_at + self.hold_s

    def update(self, pressed: bool | None, now: float) -> list[KeyEvent]:
        """*pressed* is the newly accepted level (None: unchanged)."""
        events = []
        if pressed is not None:
            if pressed:
                self.pressed_at, self.held = now, False
            else:
                if self.pressed_at is not None and not self.held:
                    events.append(KeyEvent(PanelEvent.TOGGLE, by=self.by))
                self.pressed_at, self.held = None, False
        if self.deadline is not None and now >= self.deadline:
            self.held = True
            events.append(KeyEvent(PanelEvent.RELEASE_TO_AUTO, by=self.by))
        return events


class KeySwitch:
    """One kind of key switch (a stateless description; :meth:`tracker` gives the state
    a kind keeps between readings).

    :attr inputs: the config's pin names of its contacts, in reading order.
    :attr positions: what the virtual panel and commissioning can set it to.
    """

    kind: KeySwitchKind
    inputs: tuple[str, ...] = ()
    positions: tuple[str, ...] = ()
    #: A momentary button itself (no reception push button can be fitted beside it).
    momentary = False

    def position(self, reading: tuple) -> Key:
        """The key position a reading is (:attr:`Key.NONE` for kinds without one)."""
        return Key.NONE

    def wiring_fault(self, reading: tuple) -> bool:
        """True when the reading cannot happen with a sound wiring."""
        return False

    def tracker(self, hold_s: float):
        """The state this kind keeps between readings (a button's press), or None."""
        return None

    def events(self, accepted: tuple | None, previous_fault: bool, tracker, now: float):
        """What a newly accepted reading (None: nothing new) asks of the controller, and
        whether the wiring is faulty now: ``(events, wiring_fault)``."""
        return [], previous_fault

    def contacts_for(self, position: str) -> dict[str, bool]:
        """Which contacts are closed in *position* (one of :attr:`positions`)."""
        return {}

    def shown(self, reading: tuple) -> str:
        """The reading as the virtual panel shows the key."""
        return "none"


class ThreePosition(KeySwitch):
    """Two inputs, DAY and NIGHT; both open is AUTO. Both closed at once is a wiring
    fault, treated as AUTO."""

    kind = KeySwitchKind.THREE_POSITION
    inputs = ("key_day", "key_night")
    positions = ("day", "auto", "night")

    def position(self, reading) -> Key:
        day, night = reading
        if day and not night:
            return Key.DAY
        if night and not day:
            return Key.NIGHT
        return Key.AUTO  # both open, or both closed (wiring fault, treated as AUTO)

    def wiring_fault(self, reading) -> bool:
        return tuple(reading) == (True, True)

    def events(self, accepted, previous_fault, tracker, now):
        if accepted is None:
            return [], previous_fault
        events = []
        fault = self.wiring_fault(accepted)
        if fault != previous_fault:
            events.append(KeyEvent(PanelEvent.WIRING, fault))
        events.append(KeyEvent(PanelEvent.POSITION, self.position(accepted)))
        return events, fault

    def contacts_for(self, position):
        return {"key_day": position == "day", "key_night": position == "night"}

    def shown(self, reading):
        return self.position(reading).value


class TwoPosition(KeySwitch):
    """One input (closed = NIGHT). Each flip is an override to that mode until the next
    change; the position at start-up is read but is not a flip."""

    kind = KeySwitchKind.TWO_POSITION
    inputs = ("key",)
    positions = ("day", "night")

    def events(self, accepted, previous_fault, tracker, now):
        if accepted is None:
            return [], previous_fault
        return [KeyEvent(PanelEvent.FLIP, "night" if accepted[0] else "day")], previous_fault

    def contacts_for(self, position):
        return {"key": position == "night"}

    def shown(self, reading):
        return "night" if reading[0] else "day"


class Button(KeySwitch):
    """A momentary button: a press toggles day/night until the next change, a hold of
    ``hold_s`` returns to AUTO."""

    kind = KeySwitchKind.BUTTON
    inputs = ("key",)
    positions = ("press", "release")
    momentary = True

    def tracker(self, hold_s):
        return PressAndHold(hold_s)

    def events(self, accepted, previous_fault, tracker, now):
        return tracker.update(None if accepted is None else accepted[0], now), previous_fault

    def contacts_for(self, position):
        return {"key": position == "press"}

    def shown(self, reading):
        return "night" if reading[0] else "day"


class NoKey(KeySwitch):
    """No key switch: LEDs only."""

    kind = KeySwitchKind.NONE


#: The kinds by their config name (``front_panel.key_switch``).
KEY_SWITCHES: dict[str, KeySwitch] = {
    k.kind.value: k for k in (ThreePosition(), TwoPosition(), Button(), NoKey())
}


def key_switch(kind: str) -> KeySwitch:
    """The :class:`KeySwitch` of config name *kind*."""
    return KEY_SWITCHES[kind]


__all__ = ["KEY_SWITCHES", "KeyEvent", "KeySwitch", "PanelEvent", "PressAndHold", "key_switch"]
