"""What the controller makes of each outcome a zone's worker reports.

The worker drives the actuators and says what happened
(:class:`~appliance.control.outcomes.Outcome`); this part of the controller turns it into
the zone's state, its faults, the audit log and the LEDs, on the controller thread: the
mode the PBX is in now, whether it is confirmed, a fallback holding it, a refused login,
a PBX found in another mode (enforced or adopted), the fallback drill.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from appliance.control.outcomes import Outcome, OutcomeKind
from appliance.control.zone import ZoneState
from appliance.decision.decide import next_schedule_change
from appliance.errors import StoreError
from appliance.vocabulary import FaultKind

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from appliance.control.parts import ControllerParts


class OutcomeHandling:
    """The :class:`~appliance.control.controller.Controller`'s handling of outcomes (a
    part of it, in a module of its own)."""

    def _on_outcome(self: ControllerParts, o: Outcome) -> None:
        zone = self.zones[o.zone]
        current = o.mode == zone.wanted_mode
        kind = o.kind
        if (
            kind in (OutcomeKind.APPLIED, OutcomeKind.FELL_BACK, OutcomeKind.PRIMARY_BACK)
            and o.mode is not None
        ):
            self._applied(zone, o.mode)
            if current:
                zone.switching = False
                zone.verified = True
            if (
                any(k in zone.faults for k in (FaultKind.ACTUATOR, FaultKind.LINK, FaultKind.AUTH))
                and kind is OutcomeKind.APPLIED
            ):
                self._audit(
                    zone,
                    who="nightswitch",
                    source="recovered",
                    old=o.mode,
                    new=o.mode,
                    reason=f"{o.mode} applied and verified after the fault cleared",
                )
            for cleared in (FaultKind.ACTUATOR, FaultKind.LINK):
                self._clear_fault(zone, cleared)
            if not o.needs_operator:
                self._clear_fault(zone, FaultKind.AUTH)
            if kind is OutcomeKind.FELL_BACK:
                self._fault(
                    zone, FaultKind.FALLBACK, "primary actuator failed, fallback used: " + o.message
                )
                if o.needs_operator:
                    self._fault(zone, FaultKind.AUTH, _refused_text(o.message))
                if not zone.using_fallback:
                    self._audit(
                        zone,
                        who="nightswitch",
                        source="fallback",
                        old=o.mode,
                        new=o.mode,
                        reason="fallback used: " + o.message,
                    )
                zone.using_fallback = True
            else:
                if kind is OutcomeKind.PRIMARY_BACK:
                    self._audit(
                        zone,
                        who="nightswitch",
                        source="recovered",
                        old=o.mode,
                        new=o.mode,
                        reason=f"the primary actuator applies {o.mode} "
                        "again; the fallback is no longer needed",
                    )
                self._clear_fault(zone, FaultKind.FALLBACK)
                self._clear_fault(zone, FaultKind.AUTH)
                zone.using_fallback = False
        elif kind is OutcomeKind.FAILED:
            if current:
                zone.switching, zone.verified = False, False
            fault = FaultKind.AUTH if o.needs_operator else FaultKind.ACTUATOR
            message = _refused_text(o.message) if o.needs_operator else o.message
            first = fault not in zone.faults
            if first or zone.faults[fault][0] != message:
                retry = (
                    f"retrying in {o.retry_in:.0f} s"
                    if not o.needs_operator
                    else "not retried by itself (a retry could lock the PBX's account); "
                    "fix the password, then press Retry or restart the service"
                )
                self._audit(
                    zone,
                    who="nightswitch",
                    source="fault",
                    old=zone.applied_mode,
                    new=o.mode,
                    reason=f"could not apply {o.mode}: {o.message}; {retry}",
                )
            self._fault(zone, fault, message)
        elif kind is OutcomeKind.VERIFIED:
            self._link_answers(zone, o)
            if current:
                zone.verified = not zone.switching
        elif kind is OutcomeKind.LINK_DOWN and o.needs_operator:
            if FaultKind.AUTH not in zone.faults:
                self._audit(
                    zone,
                    who="nightswitch",
                    source="fault",
                    old=o.mode,
                    new=o.mode,
                    reason=f"could not read the PBX back: {o.message}; not retried "
                    "by itself (a retry could lock the PBX's account)",
                )
            self._fault(zone, FaultKind.AUTH, _refused_text(o.message))
            if current:
                zone.verified = False
        elif kind is OutcomeKind.LINK_DOWN:
            if FaultKind.LINK not in zone.faults:
                # The audit tells the story of a link that failed between changes too.
                self._audit(
                    zone,
                    who="nightswitch",
                    source="fault",
                    old=o.mode,
                    new=o.mode,
                    reason=f"could not read the PBX back: {o.message}; retrying in "
                    f"{o.retry_in:.0f} s",
                )
            self._fault(zone, FaultKind.LINK, o.message)
            if current:
                zone.verified = False
        elif kind is OutcomeKind.DRIFT:
            self._link_answers(zone, o)
            if current:
                self._on_drift(zone, o)
        elif kind is OutcomeKind.DRILLED:
            self._on_drill(zone, o)
        elif kind is OutcomeKind.TESTED:
            # The worker applies the mode again by itself after the test.
            self._audit(zone, who=o.by, source="test", old=None, new=None, reason=o.message)
        if self._led_test is None:
            self._update_leds(zone)

    def _schedule_drill(self: ControllerParts, zone: ZoneState) -> None:
        """The next fallback drill falls due N days after the last one, across restarts
        (a daemon restarted every night would otherwise never drill)."""
        worker = zone.worker
        if not worker.drill_s:
            return
        last = self.store.get_setting(f"drill.{zone.name}")
        if last:
            try:
                since = (self.clock.now() - datetime.fromisoformat(last)).total_seconds()
                worker.schedule_drill(worker.drill_s - since)
            except (ValueError, TypeError):
                pass

    def _on_drill(self: ControllerParts, zone: ZoneState, o: Outcome) -> None:
        try:
            self.store.set_setting(f"drill.{zone.name}", self.clock.now().isoformat())
        except Exception:  # the drill's time is a convenience; the audit tells the story
            log.exception("could not keep the time of the fallback drill")
        if o.message:
            self._fault(
                zone,
                FaultKind.DRILL,
                f"the fallback ({o.by}) could not apply "
                f"{o.mode} in its drill: {o.message}; the "
                "primary still switches, but there is no "
                "working backup",
            )
            self._audit(
                zone,
                who="nightswitch",
                source="drill",
                old=o.mode,
                new=o.mode,
                reason=f"fallback drill failed: {o.message}",
            )
        else:
            cleared = zone.clear_fault(FaultKind.DRILL)
            self._audit(
                zone,
                who="nightswitch",
                source="drill",
                old=o.mode,
                new=o.mode,
                reason=f"fallback drill: {o.by} applied {o.mode} and read it back"
                + ("; the drill fault is cleared" if cleared else ""),
            )

    def _applied(self: ControllerParts, zone: ZoneState, mode: str) -> None:
        now = self.clock.now()
        zone.applied_mode, zone.applied_at = mode, now
        self._kept(
            lambda: self.store.set_applied(zone.name, mode, at=now),
            zone,
            f"saving that {mode} was applied",
        )

    def _kept(self: ControllerParts, write, zone: ZoneState, what: str):
        """Run a store operation the switch does not depend on; a failing disk becomes the
        zone's ``store`` fault (cleared when the store takes writes again) instead of
        stopping the controller's step. Returns the operation's result, or None."""
        try:
            return write()
        except StoreError as exc:
            log.error("zone %s: %s failed: %s", zone.name, what, exc)
            self._fault(
                zone,
                FaultKind.STORE,
                f"the database cannot be written: {exc}; "
                "switching goes on, but changes may not be "
                "kept",
            )
            return None

    def _link_answers(self: ControllerParts, zone: ZoneState, o: Outcome) -> None:
        if FaultKind.LINK in zone.faults:
            seen = o.seen or o.mode
            self._audit(
                zone,
                who="nightswitch",
                source="recovered",
                old=o.mode,
                new=o.mode,
                reason=f"the PBX answers again ({o.by} reads back {seen})",
            )
            self._clear_fault(zone, FaultKind.LINK)

    def _on_drift(self: ControllerParts, zone: ZoneState, o: Outcome) -> None:
        """The PBX was found in another mode: adopt it as an override until the next
        change, or switch it back (``[verify] drift``)."""
        seen = o.seen
        if seen is None or zone.wanted_mode is None:
            return  # a drift report always names both; nothing to act on otherwise
        if self.config.drift == "adopt" and (zone.modes is None or seen in zone.modes):
            until = next_schedule_change(zone.schedule, self.clock.now())
            self._set_override(zone, seen, until.at if until else None, by="pbx")
            self._reconcile(
                zone,
                ("pbx", "drift", f"PBX found in {seen} by {o.by}; adopted until the next change"),
            )
            if zone.wanted_mode == seen:
                zone.worker.want(seen, force=True)
            return
        self._audit(
            zone,
            who="pbx",
            source="drift",
            old=seen,
            new=o.mode,
            reason=f"PBX found in {seen} by {o.by}; switching it back to {o.mode}",
        )
        self._want(zone, zone.wanted_mode, force=True)


def _refused_text(message: str) -> str:
    return (
        f"{message}. The PBX refused the login: check the password in the config "
        "(nightswitch check), then press Retry on the status page (or run nightswitch "
        "retry); it is not tried again by itself for a day, so the account is not locked"
    )
