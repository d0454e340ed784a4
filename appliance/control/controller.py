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
from concurrent.futures import Future
from datetime import date, datetime
from zoneinfo import ZoneInfo

from appliance.control.commissioning import LED_ORDER, LedTest
from appliance.control.outcomes import Outcome, OutcomeKind
from appliance.control.worker import RETRY_MAX_S, RETRY_MIN_S, ActuatorWorker
from appliance.control.zone import ZoneState, led_patterns, zone_status
from appliance.decision.decide import Key, Override, decide, next_schedule_change, preview
from appliance.decision.schedule import default_schedule_json, parse_schedule
from appliance.decision.until import resolve_end
from appliance.errors import FieldError, NightswitchError, Refused, StoreError, ValidationError
from appliance.inputs.keyswitch import PanelEvent
from appliance.vocabulary import MODE_RE, FaultKind, Role, Source

log = logging.getLogger(__name__)

WATCHDOG_S = 10.0
LAMP_TEST_S = 1.0
#: A worker busy this long (real seconds) is hung: every dialogue and key sequence has
#: its own deadline far below it. The watchdog keep-alive stops, so systemd restarts the
#: service (and the relays are de-energized on the way down).
WORKER_STUCK_S = 300.0
#: How long a shutdown waits for a busy worker before it releases the relays directly.
STOP_WAIT_S = 2.0


class Controller:
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

    def __init__(self, config, store, clock, *, actuators=(), panels=(), on_tick=None,
                 retry_min: float = RETRY_MIN_S, retry_max: float = RETRY_MAX_S):
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
        self._answers: list = []        # (future, result, exception) of this step's calls
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
                self._fault(zone, FaultKind.WIRING, "the key switch reads DAY and NIGHT at "
                                                    "once; check its wiring (treated as AUTO)")
        if getattr(store, "quarantined", None):
            for zone in self.zones.values():
                self._fault(zone, FaultKind.STORE, f"the database was damaged and set aside as "
                                                   f"{store.quarantined}; a fresh one was started "
                                                   "(restore a backup with nightswitch restore)")
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
                stored["weekly"] = {d: [r for r in rs if r["mode"] in modes]
                                    for d, rs in stored["weekly"].items()}
            self.store.save_schedule(name, stored, by="nightswitch", at=self.clock.now())
        try:
            schedule = parse_schedule(stored, allowed_modes=modes)
        except ValidationError as exc:
            # A config change can make a saved schedule use a mode the actuators no longer
            # produce. Keep running on it, loudly, rather than crash-looping.
            schedule = parse_schedule(stored)
            faults[FaultKind.CONFIG] = ("the saved schedule does not fit the config: "
                                        + exc.render().replace("\n", "; "),
                                        self.clock.now().isoformat())
        mine = [a for a in actuators if a.zone == name]
        primary = [a for a in mine if a.role == Role.PRIMARY]
        fallback = [a for a in mine if a.role == Role.FALLBACK]
        zone = ZoneState(name=name, label=zone_cfg.label, schedule=schedule,
                         schedule_json=stored, modes=modes, actuators=primary + fallback,
                         faults=faults, base_schedule=schedule)
        zone.worker = ActuatorWorker(
            name, primary, fallback, clock=self.clock, report=self._post_outcome,
            check_minutes=self.config.check_minutes,
            reassert_minutes=self.config.reassert_minutes,
            retry_min=self.retry_min, retry_max=self.retry_max,
            drill_days=self.config.fallback_drill_days)
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
            zone.override = Override(mode=override["mode"], until=_parse_time(override.get("until")),
                                     by=override.get("by", "?"),
                                     set_at=_parse_time(override.get("set_at")) or self.clock.now())
        return zone

    def _stored_schedule_version(self, zone: str) -> int | None:
        history = self.store.schedule_history(zone, limit=1)
        return history[0]["version"] if history else None

    def _reload_changed_schedules(self) -> None:
        """Pick up a schedule saved behind the controller's back (``nightswitch schedule
        import`` or ``rollback`` while the service runs)."""
        for zone in self.zones.values():
            version = self._kept(lambda z=zone: self._stored_schedule_version(z.name), zone,
                                 "reading the saved schedule")
            if version is None or version == zone.schedule_version:
                continue
            data = self._kept(lambda z=zone: self.store.get_schedule(z.name), zone,
                              "reading the saved schedule")
            if data is None:
                continue
            try:
                parsed = parse_schedule(data, allowed_modes=zone.modes)
            except ValidationError as exc:
                zone.schedule_version = version
                self._fault(zone, FaultKind.CONFIG, f"schedule version {version} was not loaded: "
                            + exc.render().replace("\n", "; "))
                continue
            self._put_in_force(zone, parsed, data, version, "nightswitch",
                               f"schedule version {version} loaded (saved outside the web page)")

    # -- the thread -----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start the controller thread and the zones' workers. The controller does a lamp
        test, then asserts every zone's mode (relays came up off, so the mode in force must
        be put back)."""
        if self._thread is not None:
            return
        for zone in self.zones.values():
            zone.worker.start()
        self._thread = threading.Thread(target=self._run, name="controller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        self._lamp_test()
        self._guarded_step()
        while not self._stop.is_set():
            self.clock.wait(self._wake, self._next_timeout())
            self._wake.clear()
            if self._stop.is_set():
                break
            self._guarded_step()

    def _guarded_step(self) -> None:
        """A step that survives a failing disk (a full or read-only SD card makes the
        store raise): the fault is shown and the loop goes on, so the key switch still
        works. If every step keeps failing, the watchdog ping stops and systemd restarts
        the service."""
        try:
            self.step()
            self._clear_step_faults()
        except Exception as exc:
            self._answer_calls()
            log.exception("controller step failed")
            for zone in self.zones.values():
                if isinstance(exc, StoreError):
                    self._fault(zone, FaultKind.STORE, f"the database cannot be written: "
                                                       f"{exc}; switching goes on, but "
                                                       "changes may not be kept")
                else:
                    self._fault(zone, FaultKind.INTERNAL, f"the controller hit an error and "
                                                          f"carries on: {type(exc).__name__}: "
                                                          f"{exc}")
            try:
                self._publish()
            except Exception:
                log.exception("publishing the status failed")
            # Real seconds, whatever the clock: this only keeps a persistent error from
            # spinning the CPU.
            self._stop.wait(1.0)

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
                self._audit(zone, who="nightswitch", source="recovered", old=None, new=None,
                            reason="the controller works normally again" if kind is
                            FaultKind.INTERNAL else "the database takes writes again")
            if recovered:
                self._publish()

    def _store_writable(self, zone: ZoneState) -> bool:
        """Try the write the controller needs most (the mode applied, which the call
        report and a restart read back); it changes nothing when it is already saved."""
        if getattr(self.store, "quarantined", None) or zone.applied_mode is None:
            return False        # a damaged database set aside stays a fault until restored
        try:
            self.store.set_applied(zone.name, zone.applied_mode, at=self.clock.now())
            return True
        except Exception:  # still failing: the fault stays
            return False

    def _workers_alive(self) -> bool:
        """False when a worker has been busy longer than any dialogue may take: then the
        watchdog keep-alive (sent from :attr:`on_tick`) stops and systemd restarts us."""
        for zone in self.zones.values():
            stuck = zone.worker.stuck_for()
            if stuck > self.worker_stuck_s:
                log.error("zone %s: the actuator worker has been busy for %.0f s; stopping "
                          "the watchdog keep-alive so systemd restarts the service",
                          zone.name, stuck)
                return False
        return True

    def _run_workers_inline(self) -> None:
        """Without threads: let each worker do what is due, then handle its outcomes,
        until nothing more happens (a drift enforced is one more round)."""
        for _ in range(20):
            did = False
            for zone in self.zones.values():
                if zone.worker.threaded:
                    continue
                while zone.worker.run_pending():
                    did = True
            self._drain_inbox()
            if not did:
                return

    def _drain_inbox(self) -> None:
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, Outcome):
                self._on_outcome(item)
            elif isinstance(item, tuple) and item and isinstance(item[1], LedTest):
                self._on_led_test(*item)
            else:
                fn, future = item
                if future.set_running_or_notify_cancel():
                    try:
                        self._answers.append((future, fn(), None))
                    except BaseException as exc:  # handed to the caller's thread
                        self._answers.append((future, None, exc))

    def _answer_calls(self) -> None:
        """Hand back the results of this step's calls, once the step has published: a
        caller that gets its answer then sees everything the step did in the status."""
        answers, self._answers = self._answers, []
        for future, result, exc in answers:
            if exc is None:
                future.set_result(result)
            else:
                future.set_exception(exc)

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

    def call(self, fn, *args, timeout: float = 60.0, **kwargs):
        """Run ``fn(*args, **kwargs)`` on the controller thread and return its result (or
        raise its exception) here. Without a running thread it runs a step inline."""
        future: Future = Future()
        self._inbox.put((lambda: fn(*args, **kwargs), future))
        if self._thread is None or threading.current_thread() is self._thread:
            self.step()
        else:
            self.wake()
        return future.result(timeout)

    def sync(self, timeout: float = 30.0) -> None:
        """Return once every step that was running or due when this was called has
        finished: a key edge or clock change that woke the controller has been decided,
        its LEDs set and its status published. (One :meth:`call` is not enough: it is
        answered at the start of the next step, before that step looks at the panel.)"""
        self.call(lambda: None, timeout=timeout)
        self.call(lambda: None, timeout=timeout)

    def _post(self, item) -> None:
        self._inbox.put(item)
        self.wake()

    def _post_outcome(self, outcome: Outcome) -> None:
        """The workers' report: handled on the controller thread."""
        self._post(outcome)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until every worker has finished what is wanted now and the controller
        has handled its outcomes (a retry or read-back due later is not waited for).
        For tests and commissioning, which must look at the relays after a change."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            self.call(lambda: None, timeout=max(0.1, deadline - time.monotonic()))
            if all(z.worker.idle() for z in self.zones.values()) and self._inbox.empty():
                self.call(lambda: None, timeout=max(0.1, deadline - time.monotonic()))
                if all(z.worker.idle() for z in self.zones.values()) and self._inbox.empty():
                    return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the workers are still busy after {timeout} s: "
                                   + ", ".join(repr(z.worker) for z in self.zones.values()))
            time.sleep(0.002)

    # -- deciding -------------------------------------------------------------------------
    def _decide(self, zone: ZoneState):
        now = self.clock.now()
        if zone.override and zone.override.until and zone.override.until <= now:
            ended = zone.override
            zone.override = None
            self._kept(lambda: self.store.clear_override(zone.name), zone,
                       "clearing an ended override")
            self._audit(zone, who=ended.by, source="override", old=ended.mode, new=None,
                        reason=f"override to {ended.mode} ended at "
                               f"{ended.until.astimezone(self.tz):%H:%M}")
        synchronized = self.clock.is_synchronized()
        if synchronized:
            self._clear_fault(zone, FaultKind.CLOCK)
        else:
            self._fault(zone, FaultKind.CLOCK, "the system clock is not synchronized; holding "
                                               "the last mode applied until it is")
        return decide(now, zone.schedule, zone.override, zone.key,
                      clock_synchronized=synchronized, held_mode=zone.applied_mode)

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
            self._audit(zone, who=who, source=source, old=old, new=decision.mode,
                        reason=f"{what}; now {decision.reason}" if changed else what,
                        strict=True)
        elif changed:
            who = {Source.KEY: "key switch",
                   Source.OVERRIDE: zone.override.by if zone.override else "?",
                   Source.HOLD: "nightswitch"}.get(decision.source, "schedule")
            self._audit(zone, who=who, source=decision.source, old=old, new=decision.mode,
                        reason=decision.reason)

    def _want(self, zone: ZoneState, mode: str, *, force: bool = False) -> None:
        """Hand *mode* to the zone's worker and show it on the LEDs at once (blinking
        fast until the worker confirms it)."""
        zone.wanted_mode = mode
        zone.switching, zone.verified = True, False
        zone.worker.want(mode, force=force)
        if self._led_test is None:
            self._update_leds(zone)

    # -- what the workers report ----------------------------------------------------------
    def _on_outcome(self, o: Outcome) -> None:
        zone = self.zones[o.zone]
        current = o.mode == zone.wanted_mode
        kind = o.kind
        if kind in (OutcomeKind.APPLIED, OutcomeKind.FELL_BACK, OutcomeKind.PRIMARY_BACK):
            self._applied(zone, o.mode)
            if current:
                zone.switching = False
                zone.verified = True
            if any(k in zone.faults for k in (FaultKind.ACTUATOR, FaultKind.LINK,
                                              FaultKind.AUTH)) \
                    and kind is OutcomeKind.APPLIED:
                self._audit(zone, who="nightswitch", source="recovered", old=o.mode,
                            new=o.mode, reason=f"{o.mode} applied and verified after the "
                                               "fault cleared")
            for cleared in (FaultKind.ACTUATOR, FaultKind.LINK):
                self._clear_fault(zone, cleared)
            if not o.needs_operator:
                self._clear_fault(zone, FaultKind.AUTH)
            if kind is OutcomeKind.FELL_BACK:
                self._fault(zone, FaultKind.FALLBACK, "primary actuator failed, fallback used: "
                            + o.message)
                if o.needs_operator:
                    self._fault(zone, FaultKind.AUTH, _refused_text(o.message))
                if not zone.using_fallback:
                    self._audit(zone, who="nightswitch", source="fallback", old=o.mode,
                                new=o.mode, reason="fallback used: " + o.message)
                zone.using_fallback = True
            else:
                if kind is OutcomeKind.PRIMARY_BACK:
                    self._audit(zone, who="nightswitch", source="recovered", old=o.mode,
                                new=o.mode, reason=f"the primary actuator applies {o.mode} "
                                                   "again; the fallback is no longer needed")
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
                retry = (f"retrying in {o.retry_in:.0f} s" if not o.needs_operator else
                         "not retried by itself (a retry could lock the PBX's account); "
                         "fix the password, then press Retry or restart the service")
                self._audit(zone, who="nightswitch", source="fault", old=zone.applied_mode,
                            new=o.mode, reason=f"could not apply {o.mode}: {o.message}; {retry}")
            self._fault(zone, fault, message)
        elif kind is OutcomeKind.VERIFIED:
            self._link_answers(zone, o)
            if current:
                zone.verified = not zone.switching
        elif kind is OutcomeKind.LINK_DOWN and o.needs_operator:
            if FaultKind.AUTH not in zone.faults:
                self._audit(zone, who="nightswitch", source="fault", old=o.mode, new=o.mode,
                            reason=f"could not read the PBX back: {o.message}; not retried "
                                   "by itself (a retry could lock the PBX's account)")
            self._fault(zone, FaultKind.AUTH, _refused_text(o.message))
            if current:
                zone.verified = False
        elif kind is OutcomeKind.LINK_DOWN:
            if FaultKind.LINK not in zone.faults:
                # The audit tells the story of a link that failed between changes too.
                self._audit(zone, who="nightswitch", source="fault", old=o.mode, new=o.mode,
                            reason=f"could not read the PBX back: {o.message}; retrying in "
                                   f"{o.retry_in:.0f} s")
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
            self._audit(zone, who=o.by, source="test", old=None, new=None,
                        reason=o.message)
        if self._led_test is None:
            self._update_leds(zone)

    def _schedule_drill(self, zone: ZoneState) -> None:
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

    def _on_drill(self, zone: ZoneState, o: Outcome) -> None:
        try:
            self.store.set_setting(f"drill.{zone.name}", self.clock.now().isoformat())
        except Exception:  # the drill's time is a convenience; the audit tells the story
            log.exception("could not keep the time of the fallback drill")
        if o.message:
            self._fault(zone, FaultKind.DRILL, f"the fallback ({o.by}) could not apply "
                                               f"{o.mode} in its drill: {o.message}; the "
                                               "primary still switches, but there is no "
                                               "working backup")
            self._audit(zone, who="nightswitch", source="drill", old=o.mode, new=o.mode,
                        reason=f"fallback drill failed: {o.message}")
        else:
            cleared = zone.clear_fault(FaultKind.DRILL)
            self._audit(zone, who="nightswitch", source="drill", old=o.mode, new=o.mode,
                        reason=f"fallback drill: {o.by} applied {o.mode} and read it back"
                               + ("; the drill fault is cleared" if cleared else ""))

    def _applied(self, zone: ZoneState, mode: str) -> None:
        now = self.clock.now()
        zone.applied_mode, zone.applied_at = mode, now
        self._kept(lambda: self.store.set_applied(zone.name, mode, at=now), zone,
                   f"saving that {mode} was applied")

    def _kept(self, write, zone: ZoneState, what: str):
        """Run a store operation the switch does not depend on; a failing disk becomes the
        zone's ``store`` fault (cleared when the store takes writes again) instead of
        stopping the controller's step. Returns the operation's result, or None."""
        try:
            return write()
        except StoreError as exc:
            log.error("zone %s: %s failed: %s", zone.name, what, exc)
            self._fault(zone, FaultKind.STORE, f"the database cannot be written: {exc}; "
                                               "switching goes on, but changes may not be "
                                               "kept")
            return None

    def _link_answers(self, zone: ZoneState, o: Outcome) -> None:
        if FaultKind.LINK in zone.faults:
            seen = o.seen or o.mode
            self._audit(zone, who="nightswitch", source="recovered", old=o.mode, new=o.mode,
                        reason=f"the PBX answers again ({o.by} reads back {seen})")
            self._clear_fault(zone, FaultKind.LINK)

    def _on_drift(self, zone: ZoneState, o: Outcome) -> None:
        """The PBX was found in another mode: adopt it as an override until the next
        change, or switch it back (``[verify] drift``)."""
        seen = o.seen
        if self.config.drift == "adopt" and (zone.modes is None or seen in zone.modes):
            until = next_schedule_change(zone.schedule, self.clock.now())
            self._set_override(zone, seen, until.at if until else None, by="pbx")
            self._reconcile(zone, ("pbx", "drift", f"PBX found in {seen} by {o.by}; adopted "
                                                   "until the next change"))
            if zone.wanted_mode == seen:
                zone.worker.want(seen, force=True)
            return
        self._audit(zone, who="pbx", source="drift", old=seen, new=o.mode,
                    reason=f"PBX found in {seen} by {o.by}; switching it back to {o.mode}")
        self._want(zone, zone.wanted_mode, force=True)

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
            self.store.add_audit(zone.name, at=self.clock.now(), who=who, source=str(source),
                                 old_mode=old, new_mode=new, reason=reason)
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
            raise StoreError(f"the change was made but its audit entry could not be written "
                             f"({failure}); check the disk (journalctl -u nightswitch)")

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
        return zone_status(zone, tz=self.tz, now=self.clock.now(),
                           clock_synchronized=self.clock.is_synchronized())

    def _publish(self) -> None:
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

    # -- the interface for the web page, the CLI and the panel --------------------------------
    def zone_names(self) -> list[str]:
        return list(self.zones)

    def resolve_zone(self, zone: str | None) -> ZoneState:
        if zone is None:
            return next(iter(self.zones.values()))
        if zone not in self.zones:
            raise ValidationError([FieldError("zone", f"unknown zone {zone!r}; zones are "
                                                      + ", ".join(self.zones))])
        return self.zones[zone]

    def status(self, zone: str | None = None) -> dict:
        """The last published status of *zone* (the first zone by default), without
        waiting for the controller thread."""
        name = self.resolve_zone(zone).name
        with self._snapshot_lock:
            snap = self._snapshots.get(name)
        if snap is None:
            return self.call(lambda: self._zone_status(self.zones[name]))
        return dict(snap)

    def schedule_in_force(self, zone: str | None = None):
        """The parsed :class:`~appliance.decision.schedule.Schedule` in force (with its
        layers). It is immutable: other threads may compute with it (previews, the page's
        override choices) without asking the controller."""
        return self.resolve_zone(zone).schedule

    def subscribe(self) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=100)
        with self._snapshot_lock:
            self._subscribers.append(q)
        return q

    def unsubscribe(self, q) -> None:
        with self._snapshot_lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def _check_mode(self, zone: ZoneState, mode) -> None:
        allowed = zone.modes or ({"day", "night"} | _schedule_modes(zone.schedule_json))
        if not isinstance(mode, str) or not MODE_RE.match(mode) or mode not in allowed:
            # A single-zone site never sees the word "zone" (docs/design.md#zones).
            where = f" of zone {zone.name}" if len(self.zones) > 1 else ""
            raise ValidationError([FieldError("mode", f"{mode!r} is not a mode{where}; use one "
                                              "of " + ", ".join(sorted(allowed)))])

    def _refuse_if_key_forced(self, zone: ZoneState) -> None:
        if zone.key in (Key.DAY, Key.NIGHT):
            raise Refused(f"the key switch at reception is in {zone.key.value.upper()}; "
                          "turn it to AUTO to change the mode from here")

    def _set_override(self, zone, mode, until, *, by) -> None:
        """Save the override first, then hold it in memory: a failing disk must not leave
        an override in force that no audit row and no restart knows about."""
        now = self.clock.now()
        self.store.set_override(zone.name, mode, until, by=by, at=now)
        zone.override = Override(mode=mode, until=until, by=by, set_at=now)

    def set_override(self, zone: str | None, mode: str, until, *, by: str,
                     source: str = "web") -> dict:
        """Force *mode* until ``"next"`` (the schedule's next change), an aware datetime,
        or None (until cancelled). Returns the zone's status as soon as the decision is
        stored and the worker has the mode (``switching`` true); the PBX's confirmation
        follows in the status and the live updates. Raises
        :exc:`~appliance.errors.Refused` while the key switch is in a forced position."""
        state = self.resolve_zone(zone)
        self._check_actor(by, source)

        def do():
            self._audit_failure = None
            self._refuse_if_key_forced(state)
            self._check_mode(state, mode)
            now = self.clock.now()
            change = next_schedule_change(state.schedule, now) if until == "next" else None
            end = resolve_end(until, now, change.at if change else None)
            self._set_override(state, mode, end, by=by)
            self._reconcile(state, (by, source, f"override to {mode} " + (
                f"until {end.astimezone(self.tz):%a %d %b %H:%M}" if end else "until cancelled")))
            self._publish()
            self._audit_checked()
            return self._zone_status(state)

        return self.call(do)

    def cancel_override(self, zone: str | None, *, by: str, source: str = "web") -> dict:
        state = self.resolve_zone(zone)
        self._check_actor(by, source)

        def do():
            self._audit_failure = None
            self._refuse_if_key_forced(state)
            cause = None
            if state.override is not None:
                cause = (by, source, f"override to {state.override.mode} cancelled")
                self.store.clear_override(state.name)
                state.override = None
            self._reconcile(state, cause)
            self._publish()
            self._audit_checked()
            return self._zone_status(state)

        return self.call(do)

    def retry(self, zone: str | None, *, by: str, source: str = "web") -> dict:
        """An operator's retry: try the zone's actuators again now, a refused login
        included (which the worker otherwise tries again only after a day)."""
        state = self.resolve_zone(zone)
        self._check_actor(by, source)

        def do():
            self._audit(state, who=by, source=source, old=state.applied_mode,
                        new=state.wanted_mode, reason="retry requested: the actuators are "
                                                      "tried again now")
            state.worker.retry_now()
            if state.wanted_mode is not None:
                self._want(state, state.wanted_mode, force=True)
            self._publish()
            return self._zone_status(state)

        return self.call(do)

    def set_external_fault(self, zone: str | None, kind: str, message: str | None) -> None:
        """Show (or, with *message* None, clear) a fault that another part found, such as
        the SMDR port being dead: it is in the status, ``/health`` and the pages like the
        controller's own faults, but never on the fault LED when reception can do nothing
        about it (:attr:`~appliance.vocabulary.FaultKind.quiet`), and it never changes a
        decision."""
        state = self.resolve_zone(zone)

        def do():
            if message is None:
                self._clear_fault(state, kind)
            else:
                self._fault(state, kind, message)
            self._publish()

        self.call(do)

    def get_schedule(self, zone: str | None = None) -> dict:
        return dict(self.resolve_zone(zone).schedule_json)

    def put_schedule(self, zone: str | None, data, *, by: str) -> dict:
        """Validate and save a schedule; nothing is saved when it has errors."""
        state = self.resolve_zone(zone)
        parsed = parse_schedule(data, allowed_modes=state.modes)

        def do():
            version = self.store.save_schedule(state.name, data, by=by, at=self.clock.now())
            self._put_in_force(state, parsed, data, version, by,
                               f"schedule saved (version {version})")
            self._publish()
            return {"version": version, "status": self._zone_status(state)}

        return self.call(do)

    def rollback_schedule(self, zone: str | None, version, *, by: str) -> dict:
        """Put an old *version* of the schedule in force again. History is never rewritten:
        the copy is saved as the newest version, marked as restored from *version*, so the
        history and the audit say "rolled back" rather than "saved"."""
        state = self.resolve_zone(zone)

        def do():
            old = {}

            def fits(data):
                # The modes may have changed in the config since that version was saved.
                old["parsed"], old["data"] = parse_schedule(data, allowed_modes=state.modes), data

            saved = self.store.rollback_schedule(state.name, version, by=by,
                                                 at=self.clock.now(), fits=fits)
            self._put_in_force(state, old["parsed"], old["data"], saved, by,
                               f"schedule rolled back to version {version} "
                               f"(saved as version {saved})")
            self._publish()
            return {"version": saved, "restored_from": version,
                    "status": self._zone_status(state)}

        return self.call(do)

    def _put_in_force(self, state: ZoneState, parsed, data: dict, version: int, by: str,
                      what: str) -> None:
        state.base_schedule, state.schedule_json = parsed, data
        state.schedule = self._layered(state, parsed)
        state.schedule_version = version
        self._clear_fault(state, FaultKind.CONFIG)
        self._reconcile(state, (by, "schedule", what))

    # -- closure layers (calendar subscriptions, company closures) -------------------------
    LAYER_KINDS = ("calendar", "company")

    @staticmethod
    def _layered(zone: ZoneState, parsed):
        """*parsed* (the saved schedule) with the zone's closure layers, calendar first."""
        return parsed.with_layers(*zone.layers.get("calendar", ()),
                                  *zone.layers.get("company", ()))

    def set_schedule_layer(self, zone: str | None, kind: str, layer=None, *,
                           fault: str | None = None) -> None:
        """Put closures from outside the saved schedule in force (level 3 of
        docs/design.md#modes-and-precedence).

        :param zone: a zone name, or None for every zone.
        :param str kind: ``calendar`` or ``company``.
        :param layer: a :class:`~appliance.decision.layers.ClosureLayer` of that kind, a
            tuple of them (several calendars of one zone; the first wins), or None to
            keep the layer last given (a source that failed keeps its last good copy).
        :param str fault: a message raises the fault *kind* on the zone; None clears it.

        Runs on the controller thread and decides again at once. A changed layer, a new
        fault and a cleared fault are audited. Before :meth:`start` the layer is only
        recorded, so nothing moves before the lamp test and the first decision.
        """
        from appliance.decision.layers import ClosureLayer

        if kind not in self.LAYER_KINDS:
            raise ValidationError([FieldError("kind", f"{kind!r} is not a layer kind; use "
                                                      + " or ".join(self.LAYER_KINDS))])
        layers = None if layer is None else (
            (layer,) if isinstance(layer, ClosureLayer) else tuple(layer))
        if layers is not None and any(not isinstance(item, ClosureLayer) or item.kind != kind
                                      for item in layers):
            raise ValidationError([FieldError("layer", f"must be {kind} ClosureLayer objects")])
        states = list(self.zones.values()) if zone is None else [self.resolve_zone(zone)]

        def record(state) -> tuple | None:
            """Set the layer and fault; return the audit cause, if anything changed."""
            what = []
            if layers is not None and state.layers.get(kind, ()) != layers:
                state.layers[kind] = layers
                state.schedule = self._layered(state, state.base_schedule)
                count = sum(len(item.entries) for item in layers)
                what.append(f"{kind} closures updated ({count} entr"
                            f"{'y' if count == 1 else 'ies'})")
            old = state.faults.get(kind, (None,))[0]
            if fault is not None and old != fault:
                self._fault(state, kind, fault)
                what.append(f"{kind} fault: {fault}; the last good copy stays in force")
            elif fault is None and old is not None:
                self._clear_fault(state, kind)
                what.append(f"{kind} fault cleared")
            return ("nightswitch", kind, "; ".join(what)) if what else None

        if self._thread is None:
            for state in states:
                record(state)
            return None
        if all((layers is None or state.layers.get(kind, ()) is layers
                or state.layers.get(kind, ()) == layers)
               and state.faults.get(kind, (None,))[0] == fault for state in states):
            # Nothing new (a refresh that found the same closures): the controller
            # thread is not woken at all. A stale read here only costs one call.
            return None

        def do():
            for state in states:
                cause = record(state)
                if cause is not None:
                    self._reconcile(state, cause)
            self._publish()

        return self.call(do)

    def preview(self, zone: str | None, start: date, days: int) -> list[dict]:
        state = self.resolve_zone(zone)
        return [{"at": _iso(t.at, self.tz), "mode": t.mode, "reason": t.reason,
                 "source": t.source} for t in preview(state.schedule, start, days)]

    def _on_key_event(self, zone: ZoneState, event) -> None:
        if self._led_test is not None:
            # Reception comes first: the test ends, the LEDs show the mode again.
            self._led_test.cancel()
            self._end_led_test(self._led_test)
        cause = None
        # An override from the key is stored after the worker has the mode, as the audit
        # row is: an fsync must not sit between the key and the relay
        # (docs/design.md#one-thread-decides).
        persist = None
        if event.kind is PanelEvent.POSITION:
            if event.value != zone.key:
                cause = ("key switch", "key",
                         f"key turned from {zone.key.value.upper()} to {event.value.value.upper()}")
                zone.key = event.value
        elif event.kind is PanelEvent.WIRING:
            if event.value:
                self._fault(zone, FaultKind.WIRING, "the key switch reads DAY and NIGHT at once; "
                                                    "check its wiring (treated as AUTO)")
                cause = ("key switch", "fault", "key switch wiring fault: DAY and NIGHT both closed")
            else:
                self._clear_fault(zone, FaultKind.WIRING)
        elif (event.kind in (PanelEvent.TOGGLE, PanelEvent.RELEASE_TO_AUTO)
              and zone.key in (Key.DAY, Key.NIGHT)):
            # While the key is not in AUTO it is the authority; the push button beside it
            # asks for nothing (docs/design.md#the-keys-authority).
            log.info("zone %s: %s ignored: the key switch is in %s", zone.name, event.by,
                     zone.key.value.upper())
            cause = (event.by, "key", f"{event.by} pressed while the key switch is in "
                                      f"{zone.key.value.upper()}: ignored, the key decides")
        elif event.kind in (PanelEvent.FLIP, PanelEvent.TOGGLE):
            if event.kind is PanelEvent.FLIP:
                mode = event.value
            else:
                current = zone.decision.mode if zone.decision else zone.applied_mode
                mode = "night" if current == "day" else "day"
            change = next_schedule_change(zone.schedule, self.clock.now())
            override = Override(mode=mode, until=change.at if change else None,
                                by=event.by, set_at=self.clock.now())
            zone.override = override
            persist = lambda: self.store.set_override(zone.name, override.mode, override.until,  # noqa: E731
                                                      by=override.by, at=override.set_at)
            cause = (event.by, "key", f"reception switched to {mode} until the next change")
        elif event.kind is PanelEvent.RELEASE_TO_AUTO:
            if zone.override is not None:
                cause = (event.by, "key", "reception button held: back to the schedule")
                zone.override = None
                persist = lambda: self.store.clear_override(zone.name)  # noqa: E731
        self._reconcile(zone, cause)
        if persist is not None:
            self._kept(persist, zone, "saving the reception's override")

    # -- hardware tests ---------------------------------------------------------------------
    def test_leds(self, seconds: float, *, by: str) -> Future:
        """Light each LED of each panel in turn for *seconds* (real time). Returns a
        future of ``{"tested": [...], "interrupted": bool}`` at once; a key turn ends the
        test early. Nothing waits on the controller thread."""
        def begin():
            if self._led_test is not None:
                raise Refused("an LED test is running already; wait for it to end")
            steps = [(panel, led) for panel in self.panels for led in LED_ORDER
                     if led in panel.leds.leds]
            test = LedTest(steps, seconds, self._post, by=by)
            self._led_test = test
            test.start()
            return test.future
        return self.call(begin)

    def _on_led_test(self, what: str, test: LedTest, panel, led) -> None:
        if test is not self._led_test:
            return                  # ended already (a key turn); its pacer is late
        if what == "show":
            for name in LED_ORDER:
                panel.leds.show(name, "on" if name == led else "off")
            test.lit.append(f"{panel.zone}:{led}")
        else:
            self._end_led_test(test)

    def _end_led_test(self, test: LedTest) -> None:
        if test is not self._led_test:
            return
        self._led_test = None
        for zone in self.zones.values():
            self._update_leds(zone)
        self._audit(self.resolve_zone(None), who=test.by, source="test", old=None, new=None,
                    reason=f"LED test: {', '.join(test.lit) or 'no LEDs are wired'} lit for "
                           f"{test.seconds:g} s each"
                           + (" (ended early: the key was turned)" if test.interrupted else ""))
        if not test.future.done():
            test.future.set_result({"tested": list(test.lit), "interrupted": test.interrupted})

    def test_relay(self, name: str, seconds: float, *, by: str) -> Future:
        """Show relay *name* in the other state for *seconds*, on its zone's worker
        (:meth:`~appliance.control.worker.ActuatorWorker.relay_test`). Returns the
        worker's future at once."""
        for zone in self.zones.values():
            if name in zone.worker.relays():
                return zone.worker.relay_test(name, seconds, by=by)
        raise ValidationError([FieldError("name", f"no relay named {name!r}; relays are "
                                                  + ", ".join(self.relay_names()))])

    def read_key(self) -> dict:
        """The key switch of each zone: its debounced position and each contact's raw
        reading (commissioning shows the wiring rather than what it means)."""
        return {"zones": {z.name: {"position": z.key.value,
                                   "raw": z.panel.contacts() if z.panel else {},
                                   "wiring_fault": bool(z.panel and z.panel.wiring_fault)}
                          for z in self.zones.values()}}

    def relay_names(self) -> list[str]:
        return [n for z in self.zones.values() for n in z.worker.relays()]

    def relay_states(self) -> dict[str, str]:
        states = {}
        for zone in self.zones.values():
            for actuator in zone.actuators:
                states.update(actuator.relays())
        return states

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
                log.warning("zone %s: the actuator worker did not stop within %.0f s; "
                            "releasing its relays directly", zone.name, STOP_WAIT_S)
            zone.worker.release_relays()
        for panel in self.panels:
            panel.close()


def _refused_text(message: str) -> str:
    return (f"{message}. The PBX refused the login: check the password in the config "
            "(nightswitch check), then press Retry on the status page (or run nightswitch "
            "retry); it is not tried again by itself for a day, so the account is not locked")


def _schedule_modes(data: dict) -> set:
    modes = set()
    for ranges in (data.get("weekly") or {}).values():
        modes |= {r.get("mode") for r in ranges if isinstance(r, dict)}
    return {m for m in modes if isinstance(m, str)}


def _parse_time(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _iso(at: datetime | None, tz) -> str | None:
    return at.astimezone(tz).isoformat(timespec="seconds") if at else None


__all__ = ["Controller", "NightswitchError"]
