"""What the front panel's events mean to the controller.

The panel only reports what its contacts did once they were stable
(:class:`~appliance.inputs.keyswitch.KeyEvent`); here each becomes a decision: a new key
position (the key is the authority in DAY or NIGHT), a flip or a press that overrides
until the next change, a hold back to the schedule, a wiring fault. A key event also
ends an LED test at once: reception comes first.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from appliance.control.zone import ZoneState
from appliance.decision.decide import Key, Override, next_schedule_change
from appliance.inputs.keyswitch import PanelEvent
from appliance.vocabulary import FaultKind

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from appliance.control.parts import ControllerParts


class PanelEvents:
    """The :class:`~appliance.control.controller.Controller`'s handling of key events (a
    part of it, in a module of its own)."""

    def _on_key_event(self: ControllerParts, zone: ZoneState, event) -> None:
        # Reception comes first: an LED test ends at once, so the decision below shows
        # on this zone's LEDs; the rest of its ending (the other zones' LEDs, its audit
        # row) waits until the worker has the mode, like every other write here.
        ended_test = self._interrupt_led_test()
        cause = None
        # An override from the key is stored after the worker has the mode, as the audit
        # row is: an fsync must not sit between the key and the relay
        # (docs/design.md#one-thread-decides).
        persist = None
        if event.kind is PanelEvent.POSITION:
            if event.value != zone.key:
                cause = (
                    "key switch",
                    "key",
                    f"key turned from {zone.key.value.upper()} to {event.value.value.upper()}",
                )
                zone.key = event.value
        elif event.kind is PanelEvent.WIRING:
            if event.value:
                self._fault(
                    zone,
                    FaultKind.WIRING,
                    "the key switch reads DAY and NIGHT at once; "
                    "check its wiring (treated as AUTO)",
                )
                cause = (
                    "key switch",
                    "fault",
                    "key switch wiring fault: DAY and NIGHT both closed",
                )
            else:
                self._clear_fault(zone, FaultKind.WIRING)
        elif event.kind in (PanelEvent.TOGGLE, PanelEvent.RELEASE_TO_AUTO) and zone.key in (
            Key.DAY,
            Key.NIGHT,
        ):
            # While the key is not in AUTO it is the authority; the push button beside it
            # asks for nothing (docs/design.md#the-keys-authority).
            log.info(
                "zone %s: %s ignored: the key switch is in %s",
                zone.name,
                event.by,
                zone.key.value.upper(),
            )
            cause = (
                event.by,
                "key",
                f"{event.by} pressed while the key switch is in "
                f"{zone.key.value.upper()}: ignored, the key decides",
            )
        elif event.kind in (PanelEvent.FLIP, PanelEvent.TOGGLE):
            if event.kind is PanelEvent.FLIP:
                mode = event.value
            else:
                current = zone.decision.mode if zone.decision else zone.applied_mode
                mode = "night" if current == "day" else "day"
            change = next_schedule_change(zone.schedule, self.clock.now())
            override = Override(
                mode=mode, until=change.at if change else None, by=event.by, set_at=self.clock.now()
            )
            zone.override = override
            persist = lambda: self.store.set_override(
                zone.name,
                override.mode,
                override.until,  # noqa: E731
                by=override.by,
                at=override.set_at,
            )
            cause = (event.by, "key", f"reception switched to {mode} until the next change")
        elif event.kind is PanelEvent.RELEASE_TO_AUTO:
            if zone.override is not None:
                cause = (event.by, "key", "reception button held: back to the schedule")
                zone.override = None
                persist = lambda: self.store.clear_override(zone.name)  # noqa: E731
        self._reconcile(zone, cause)
        if ended_test is not None:
            self._finish_led_test(ended_test)
        if persist is not None:
            self._kept(persist, zone, "saving the reception's override")
