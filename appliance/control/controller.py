"""The one thread that decides.

Everything that can change the mode is an event on the controller's inbox: a key turn
(the panel's edge callbacks only wake it), a button press, a web, API, CLI or MQTT
request, the clock reaching the next change, a calendar refreshed, and the outcomes the
zones' actuator workers report. The controller thread alone calls
:func:`~appliance.decision.decide.decide` and alone writes the audit log, the faults, the
LEDs and the published status.

It never drives an actuator itself: it hands the wanted mode to the zone's
:class:`~appliance.control.worker.ActuatorWorker` and goes straight back to its inbox,
so a slow maintenance-port dialogue, a keypad sequence or a hardware test never keeps a
key turn, another zone or the LEDs waiting. The LEDs show the wanted mode (blinking
fast) the moment it is decided; the worker's outcome makes it steady.

It sleeps exactly until the earliest of: the decision's ``next_change``, an override's
end, a debounce or button-hold deadline, the lamp test's end, or the watchdog interval
(at most 10 s, so systemd hears from it and a stepped clock is noticed). It never polls
the clock every second.

Requests from other threads go through :meth:`Controller.call`, which runs a function on
the controller thread and waits for its result, and :meth:`Controller.status`, which
returns the last published snapshot without waiting at all.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

from appliance.control.commissioning import LedTest
from appliance.control.hardware_tests import HardwareTests
from appliance.control.mailbox import Mailbox
from appliance.control.outcome_handling import OutcomeHandling
from appliance.control.panel_events import PanelEvents
from appliance.control.requests import Requests
from appliance.control.worker import RETRY_MAX_S, RETRY_MIN_S, ActuatorWorker
from appliance.control.zone import ZoneState, led_patterns, zone_status
from appliance.decision.decide import Override, decide
from appliance.decision.schedule import default_schedule_json, parse_schedule
from appliance.errors import NightswitchError, StoreError, ValidationError
from appliance.vocabulary import FaultKind, Role, Source

log = logging.getLogger(__name__)

WATCHDOG_S = 10.0
LAMP_TEST_S = 1.0
#: A worker busy this long (real seconds) is hung: every dialogue and key sequence has
#: its own deadline far below it. The watchdog keep-alive stops, so systemd restarts the
#: service (and the relays are de-energized on the way down).
WORKER_STUCK_S = 300.0
#: How long a shutdown waits for a busy worker before it releases the relays directly.
STOP_WAIT_S = 2.0
#: The longest the controller waits, after handing a mode to an idle worker, for the
#: worker to take it up before it wakes the status subscribers (real seconds).
HANDOFF_WAIT_S = 0.005


class Controller(Mailbox, PanelEvents, OutcomeHandling, Requests, HardwareTests):
    """The appliance's decision loop.

    :param config: the validated :class:`~appliance.config.Config`.
    :param store: the :class:`~appliance.store.Store`.
    :param clock: a :class:`~appliance.inputs.clock.Clock` (system or simulated).
    :param list actuators: live actuators (each knows its zone and role), in apply order.
    :param list panels: live :class:`~appliance.inputs.panel.FrontPanel` objects.
    :param on_tick: called from the loop at least every :data:`WATCHDOG_S` seconds (the
        daemon sends systemd ``WATCHDOG=1`` and runs housekeeping from it).
    :param float retry_min: first retry delay; it doubles up to *retry_max*
        (docs/design.md#retries-and-the-refused-login-rule).
    """

    def __init__(
        self,
        config,
        store,
        clock,
        *,
        actuators=(),
        panels=(),
        on_tick=None,
        retry_min: float = RETRY_MIN_S,
        retry_max: float = RETRY_MAX_S,
    ):
        self.config = config
        self.store = store
        self.clock = clock
        self.tz = ZoneInfo(config.timezone)
        self.on_tick = on_tick
        self.retry_min, self.retry_max = retry_min, retry_max
        self.worker_stuck_s = WORKER_STUCK_S
        self.panels = list(panels)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._answers: list = []  # (future, result, exception) of this step's calls
        self._audit_failure: Exception | None = None
        self._thread: threading.Thread | None = None
        self._snapshot_lock = threading.Lock()
        self._snapshots: dict[str, dict] = {}
        self._subscribers: list[queue.Queue] = []
        self._lamp_test_until: float | None = None
        self._led_test: LedTest | None = None
        self._last_tick: float | None = None
        self._tick_owed = False
        self.zones: dict[str, ZoneState] = {}
        for zone_cfg in config.zones:
            self.zones[zone_cfg.name] = self._load_zone(zone_cfg, actuators)
        for panel in self.panels:
            panel._wake = self.wake
            zone = self.zones[panel.zone]
            zone.panel = panel
            zone.key = panel.position
            if panel.wiring_fault:
                self._fault(
                    zone,
                    FaultKind.WIRING,
                    "the key switch reads DAY and NIGHT at "
                    "once; check its wiring (treated as AUTO)",
                )
        if getattr(store, "quarantined", None):
            for zone in self.zones.values():
                self._fault(
                    zone,
                    FaultKind.STORE,
                    f"the database was damaged and set aside as "
                    f"{store.quarantined}; a fresh one was started "
                    "(restore a backup with nightswitch restore)",
                )
        if hasattr(clock, "on_change"):
            clock.on_change(self.wake)

    # -- construction ---------------------------------------------------------------------
    def _load_zone(self, zone_cfg, actuators) -> ZoneState:
        name = zone_cfg.name
        modes = self.config.zone_modes(name)
        stored = self.store.get_schedule(name)
        faults = {}
        if stored is None:
            stored = default_schedule_json(self.config.timezone)
            if modes is not None:
                # The default plan uses day and night only; both are always producible.
                stored["weekly"] = {
                    d: [r for r in rs if r["mode"] in modes] for d, rs in stored["weekly"].items()
                }
            self.store.save_schedule(name, stored, by="nightswitch", at=self.clock.now())
        try:
            schedule = parse_schedule(stored, allowed_modes=modes)
        except ValidationError as exc:
            # A config change can make a saved schedule use a mode the actuators no longer
            # produce. Keep running on it, loudly, rather than crash-looping.
            schedule = parse_schedule(stored)
            faults[FaultKind.CONFIG] = (
                "the saved schedule does not fit the config: " + exc.render().replace("\n", "; "),
                self.clock.now().isoformat(),
            )
        mine = [a for a in actuators if a.zone == name]
        primary = [a for a in mine if a.role == Role.PRIMARY]
        fallback = [a for a in mine if a.role == Role.FALLBACK]
        worker = ActuatorWorker(
            name,
            primary,
            fallback,
            clock=self.clock,
            report=self._post_outcome,
            check_minutes=self.config.check_minutes,
            reassert_minutes=self.config.reassert_minutes,
            retry_min=self.retry_min,
            retry_max=self.retry_max,
            drill_days=self.config.fallback_drill_days,
        )
        zone = ZoneState(
            name=name,
            label=zone_cfg.label,
            schedule=schedule,
            schedule_json=stored,
            modes=modes,
            worker=worker,
            actuators=primary + fallback,
            faults=faults,
            base_schedule=schedule,
        )
        self._schedule_drill(zone)
        zone.schedule_version = self._stored_schedule_version(name)
        applied = self.store.get_applied(name)
        if applied:
            zone.applied_mode = applied["mode"]
            zone.applied_at = _parse_time(applied.get("at"))
        for actuator in zone.actuators:
            actuator.assume(zone.applied_mode)
        override = self.store.get_override(name)
        if override:
            zone.override = Override(
                mode=override["mode"],
                until=_parse_time(override.get("until")),
                by=override.get("by", "?"),
                set_at=_parse_time(override.get("set_at")) or self.clock.now(),
            )
        return zone

    def _stored_schedule_version(self, zone: str) -> int | None:
        history = self.store.schedule_history(zone, limit=1)
        return history[0]["version"] if history else None

    def _reload_changed_schedules(self) -> None:
        """Pick up a schedule saved behind the controller's back (``nightswitch schedule
        import`` or ``rollback`` while the service runs)."""
        for zone in self.zones.values():
            version = self._kept(
                lambda z=zone: self._stored_schedule_version(z.name),
                zone,
                "reading the saved schedule",
            )
            if version is None or version == zone.schedule_version:
                continue
            data = self._kept(
                lambda z=zone: self.store.get_schedule(z.name), zone, "reading the saved schedule"
            )
            if data is None:
                continue
            try:
                parsed = parse_schedule(data, allowed_modes=zone.modes)
            except ValidationError as exc:
                zone.schedule_version = version
                self._fault(
                    zone,
                    FaultKind.CONFIG,
                    f"schedule version {version} was not loaded: "
                    + exc.render().replace("\n", "; "),
                )
                continue
            self._put_in_force(
                zone,
                parsed,
                data,
                version,
                "nightswitch",
                f"schedule version {version} loaded (saved outside the web page)",
            )

    # -- the thread -----------------------------------------------------------------------
    def step(self) -> None:
        """One pass: handle the inbox (calls and outcomes), settle the panels, decide
        each zone, publish. The thread calls this; tests with no thread may call it
        directly, and then the workers run inline, so one step does the whole round."""
        self._drain_inbox()
        for panel in self.panels:
            deadline = panel.deadline
            if deadline is not None and self.clock.monotonic() >= deadline:
                for event in panel.poll():
                    self._on_key_event(self.zones[panel.zone], event)
        if self._lamp_test_until is not None and self.clock.monotonic() >= self._lamp_test_until:
            self._lamp_test_until = None
        mono = self.clock.monotonic()
        tick = self._last_tick is None or mono - self._last_tick >= WATCHDOG_S / 2
        if tick:
            self._last_tick = mono
            self._reload_changed_schedules()
        for zone in self.zones.values():
            self._reconcile(zone)
        if self._thread is None:
            self._run_workers_inline()
        self._publish()
        self._answer_calls()
        if (tick or self._tick_owed) and self.on_tick:
            # A keep-alive held back for a hung worker is sent at the first step after it
            # recovers, not a whole watchdog interval later.
            self._tick_owed = not self._workers_alive()
            if not self._tick_owed:
                self.on_tick()

    def _clear_step_faults(self) -> None:
        """A step that went through ends an ``internal`` fault raised by one that did
        not. A ``store`` fault ends only when the store takes a write again (a full disk
        that was cleaned up), which is tried here while the fault lasts."""
        for zone in self.zones.values():
            recovered = []
            if FaultKind.INTERNAL in zone.faults:
                recovered.append(FaultKind.INTERNAL)
            if FaultKind.STORE in zone.faults and self._store_writable(zone):
                recovered.append(FaultKind.STORE)
            for kind in recovered:
                zone.clear_fault(kind)
                self._audit(
                    zone,
                    who="nightswitch",
                    source="recovered",
                    old=None,
                    new=None,
                    reason="the controller works normally again"
                    if kind is FaultKind.INTERNAL
                    else "the database takes writes again",
                )
            if recovered:
                self._publish()

    def _store_writable(self, zone: ZoneState) -> bool:
        """Try the write the controller needs most (the mode applied, which the call
        report and a restart read back); it changes nothing when it is already saved."""
        if getattr(self.store, "quarantined", None) or zone.applied_mode is None:
            return False  # a damaged database set aside stays a fault until restored
        try:
            self.store.set_applied(zone.name, zone.applied_mode, at=self.clock.now())
            return True
        except Exception:  # still failing: the fault stays
            return False

    def _next_timeout(self) -> float:
        mono, now = self.clock.monotonic(), self.clock.now()
        waits = [WATCHDOG_S]
        for panel in self.panels:
            if panel.deadline is not None:
                waits.append(panel.deadline - mono)
        if self._lamp_test_until is not None:
            waits.append(self._lamp_test_until - mono)
        for zone in self.zones.values():
            change = zone.decision.next_change if zone.decision else None
            if change is not None:
                waits.append((change.at - now).total_seconds())
            if zone.override and zone.override.until:
                waits.append((zone.override.until - now).total_seconds())
            if not zone.worker.threaded:
                # Inline workers keep time through the controller's step.
                deadline = zone.worker.next_deadline()
                if deadline is not None:
                    waits.append(deadline - mono)
        return max(0.0, min(waits))

    # -- deciding -------------------------------------------------------------------------
    def _decide(self, zone: ZoneState):
        now = self.clock.now()
        ended = zone.override
        if ended is not None and ended.until is not None and ended.until <= now:
            zone.override = None
            self._kept(
                lambda: self.store.clear_override(zone.name), zone, "clearing an ended override"
            )
            self._audit(
                zone,
                who=ended.by,
                source="override",
                old=ended.mode,
                new=None,
                reason=f"override to {ended.mode} ended at {ended.until.astimezone(self.tz):%H:%M}",
            )
        synchronized = self.clock.is_synchronized()
        if synchronized:
            self._clear_fault(zone, FaultKind.CLOCK)
        else:
            self._fault(
                zone,
                FaultKind.CLOCK,
                "the system clock is not synchronized; holding the last mode applied until it is",
            )
        return decide(
            now,
            zone.schedule,
            zone.override,
            zone.key,
            clock_synchronized=synchronized,
            held_mode=zone.applied_mode,
        )

    def _reconcile(self, zone: ZoneState, cause: tuple[str, str, str] | None = None) -> None:
        """Decide, and hand the mode in force to the zone's worker if it changed. *cause*
        is ``(who, source, what)`` when a person's action led here; it becomes the one
        audit entry for the action, with the mode change it caused (if any)."""
        decision = self._decide(zone)
        previous = zone.decision
        zone.decision = decision
        old = previous.mode if previous else zone.applied_mode
        changed = previous is None or previous.mode != decision.mode
        target = None if decision.mode == "unknown" else decision.mode
        if target is not None and target != zone.wanted_mode:
            self._want(zone, target)
        # The audit row is written once the worker has the mode: SQLite's fsync must not
        # sit between a key turn and its relay (p99 < 5 ms, docs/design.md#performance-targets;
        # it costs 2-50 ms).
        if cause is not None:
            who, source, what = cause
            self._audit(
                zone,
                who=who,
                source=source,
                old=old,
                new=decision.mode,
                reason=f"{what}; now {decision.reason}" if changed else what,
                strict=True,
            )
        elif changed:
            who = {
                Source.KEY: "key switch",
                Source.OVERRIDE: zone.override.by if zone.override else "?",
                Source.HOLD: "nightswitch",
            }.get(decision.source, "schedule")
            self._audit(
                zone,
                who=who,
                source=decision.source,
                old=old,
                new=decision.mode,
                reason=decision.reason,
            )

    def _want(self, zone: ZoneState, mode: str, *, force: bool = False) -> None:
        """Hand *mode* to the zone's worker and show it on the LEDs at once (blinking
        fast until the worker confirms it)."""
        zone.wanted_mode = mode
        zone.switching, zone.verified = True, False
        zone.handoff = zone.worker.threaded and zone.worker.idle()
        zone.worker.want(mode, force=force)
        if self._led_test is None:
            self._update_leds(zone)

    # -- faults, audit, LEDs --------------------------------------------------------------
    def _fault(self, zone: ZoneState, kind: str, message: str) -> None:
        zone.fault(kind, message, self.clock.now().isoformat())

    def _clear_fault(self, zone: ZoneState, kind: str) -> None:
        zone.clear_fault(kind)

    def _audit(self, zone, *, who, source, old, new, reason, strict=False) -> None:
        """Write an audit row. A failing write never stops a switch; with *strict* (a
        person's request) it is remembered, and the request fails once the switch is
        made (:meth:`_audit_checked`): a change nobody can account for is refused."""
        try:
            self.store.add_audit(
                zone.name,
                at=self.clock.now(),
                who=who,
                source=str(source),
                old_mode=old,
                new_mode=new,
                reason=reason,
            )
        except Exception as exc:  # the audit must never stop a switch
            log.exception("could not write the audit log")
            if strict:
                self._audit_failure = exc

    @staticmethod
    def _check_actor(by, source) -> None:
        """Refuse, before anything changes, a *by* or *source* the audit could not record
        (a token label with a control character)."""
        from appliance.store.validate import Checker

        check = Checker()
        check.who("by", by)
        check.word("source", source, what="an audit source")
        check.done()

    def _audit_checked(self) -> None:
        """Raise if an audit entry for this request could not be written."""
        failure, self._audit_failure = self._audit_failure, None
        if failure is not None:
            raise StoreError(
                f"the change was made but its audit entry could not be written "
                f"({failure}); check the disk (journalctl -u nightswitch)"
            )

    def _lamp_test(self) -> None:
        for panel in self.panels:
            panel.leds.lamp_test()
        if self.panels:
            self._lamp_test_until = self.clock.monotonic() + LAMP_TEST_S

    def _update_leds(self, zone: ZoneState) -> None:
        panel = zone.panel
        if panel is None or self._lamp_test_until is not None:
            return
        for led, pattern in led_patterns(zone).items():
            panel.leds.show(led, str(pattern))

    # -- snapshots --------------------------------------------------------------------------
    def _zone_status(self, zone: ZoneState) -> dict:
        return zone_status(
            zone, tz=self.tz, now=self.clock.now(), clock_synchronized=self.clock.is_synchronized()
        )

    def _publish(self) -> None:
        # An idle worker that was just handed a mode takes it up first (at most
        # HANDOFF_WAIT_S): waking the web's live streams now would set a crowd of threads
        # on the GIL between the worker and its relay (p99 7 ms with 20 browsers, 2 ms
        # with this wait). The LEDs showed the decision already.
        for zone in self.zones.values():
            if zone.handoff:
                zone.handoff = False
                zone.worker.wait_taken(HANDOFF_WAIT_S)
        changed = []
        for zone in self.zones.values():
            if self._led_test is None:
                self._update_leds(zone)
            snap = self._zone_status(zone)
            comparable = {k: v for k, v in snap.items() if k != "now"}
            with self._snapshot_lock:
                old = self._snapshots.get(zone.name)
                if old is None or {k: v for k, v in old.items() if k != "now"} != comparable:
                    changed.append(snap)
                self._snapshots[zone.name] = snap
        if changed:
            with self._snapshot_lock:
                subscribers = list(self._subscribers)
            for q in subscribers:
                for snap in changed:
                    try:
                        q.put_nowait(snap)
                    except queue.Full:
                        pass  # a stalled browser must not stall the controller

    def close(self) -> None:
        """Stop the loop and the workers, and leave every relay in its safe
        (de-energized) state, even when a worker is stuck in a dialogue: it gets
        :data:`STOP_WAIT_S` to reach a safe point, then its relays are released from
        here."""
        self.stop()
        if self._led_test is not None:
            self._led_test.cancel()
        for zone in self.zones.values():
            if not zone.worker.stop(STOP_WAIT_S):
                log.warning(
                    "zone %s: the actuator worker did not stop within %.0f s; "
                    "releasing its relays directly",
                    zone.name,
                    STOP_WAIT_S,
                )
            zone.worker.release_relays()
        for panel in self.panels:
            panel.close()


def _parse_time(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


__all__ = ["Controller", "NightswitchError"]
