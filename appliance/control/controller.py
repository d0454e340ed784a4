"""The one thread that decides and switches.

Everything that can change the mode is an event on the controller's queue: a key turn
(the panel's edge callbacks only wake it), a button press, a web/API/CLI request, the
clock reaching the next change, a retry falling due, the periodic read-back of the PBX.
The controller thread alone calls :func:`~appliance.decision.decide.decide` and drives actuators,
so no two threads ever drive a relay.

It sleeps exactly until the earliest of: the decision's ``next_change``, a debounce or
button-hold deadline, a retry, the next PBX read-back, or the watchdog interval (at most
10 s, so systemd hears from it and a stepped clock is noticed). It never polls the clock
every second.

Requests from other threads go through :meth:`Controller.call`, which runs a function on
the controller thread and waits for its result, and :meth:`Controller.status`, which
returns the last published snapshot without waiting at all.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from appliance.actuators.base import ActuatorError
from appliance.decision.decide import Decision, Key, Override, decide, next_schedule_change, preview
from appliance.errors import FieldError, NightswitchError, Refused, ValidationError
from appliance.inputs.panel import PanelEvent
from appliance.decision.schedule import default_schedule_json, parse_schedule

log = logging.getLogger("nightswitch.controller")

RETRY_MIN_S = 2.0
RETRY_MAX_S = 300.0
WATCHDOG_S = 10.0
LAMP_TEST_S = 1.0
#: Faults shown with the fault LED steady; the others make it blink (SPEC 3). A fallback
#: in use means a primary actuator failed verification: steady, not the blink that says
#: "clock or config".
STEADY_FAULTS = {"actuator", "link", "fallback"}


@dataclass
class ZoneState:
    """Everything the controller knows about one zone."""

    name: str
    label: str
    schedule: object
    schedule_json: dict
    modes: set | None
    primary: list
    fallback: list
    panel: object = None
    key: Key = Key.NONE
    override: Override | None = None
    decision: Decision | None = None
    applied_mode: str | None = None
    applied_at: datetime | None = None
    verified: bool = False
    switching: bool = False
    needs_apply: bool = True
    using_fallback: bool = False     # the fallback holds the mode in force now
    fallback_engaged: bool = False   # the fallback has been driven since start: keep it in step
    primary_retry_at: float | None = None   # while the fallback holds: try the primary again
    primary_backoff: float = RETRY_MIN_S
    retry_at: float | None = None
    backoff: float = RETRY_MIN_S
    verify_at: float | None = None
    reassert_at: float | None = None      # next blind re-assert (actuators that cannot read)
    faults: dict = field(default_factory=dict)   # kind -> (message, since ISO)
    schedule_version: int | None = None

    @property
    def actuators(self):
        return self.primary + self.fallback


class Controller:
    """The appliance's decision loop.

    :param config: the validated :class:`~appliance.config.Config`.
    :param store: the :class:`~appliance.store.Store`.
    :param clock: a :class:`~appliance.inputs.clock.Clock` (system or simulated).
    :param list actuators: live actuators (each knows its zone and role), in apply order.
    :param list panels: live :class:`~appliance.inputs.panel.FrontPanel` objects.
    :param on_tick: called from the loop at least every :data:`WATCHDOG_S` seconds (the
        daemon sends systemd ``WATCHDOG=1`` and runs housekeeping from it).
    :param float retry_min: first retry delay; it doubles up to *retry_max* (SPEC 4).
    """

    def __init__(self, config, store, clock, *, actuators=(), panels=(), on_tick=None,
                 retry_min: float = RETRY_MIN_S, retry_max: float = RETRY_MAX_S):
        self.config = config
        self.store = store
        self.clock = clock
        self.tz = ZoneInfo(config.timezone)
        self.on_tick = on_tick
        self.retry_min, self.retry_max = retry_min, retry_max
        self.sim = None
        self.panels = list(panels)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._snapshot_lock = threading.Lock()
        self._snapshots: dict[str, dict] = {}
        self._subscribers: list[queue.Queue] = []
        self._lamp_test_until: float | None = None
        self._last_tick = None
        self.zones: dict[str, ZoneState] = {}
        for zone_cfg in config.zones:
            self.zones[zone_cfg.name] = self._load_zone(zone_cfg, actuators)
        for panel in self.panels:
            panel._wake = self.wake
            zone = self.zones[panel.zone]
            zone.panel = panel
            zone.key = panel.position if panel.kind == "three-position" else Key.NONE
            if panel.wiring_fault:
                self._fault(zone, "wiring", "the key switch reads DAY and NIGHT at once; "
                                            "check its wiring (treated as AUTO)")
        if getattr(store, "quarantined", None):
            for zone in self.zones.values():
                self._fault(zone, "store", f"the database was damaged and set aside as "
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
            faults["config"] = ("the saved schedule does not fit the config: "
                                + exc.render().replace("\n", "; "), self.clock.now().isoformat())
        zone = ZoneState(name=name, label=zone_cfg.label, schedule=schedule,
                         schedule_json=stored, modes=modes,
                         primary=[a for a in actuators if a.zone == name and a.role == "primary"],
                         fallback=[a for a in actuators if a.zone == name and a.role == "fallback"],
                         faults=faults)
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
            version = self._stored_schedule_version(zone.name)
            if version is None or version == zone.schedule_version:
                continue
            data = self.store.get_schedule(zone.name)
            try:
                parsed = parse_schedule(data, allowed_modes=zone.modes)
            except ValidationError as exc:
                zone.schedule_version = version
                self._fault(zone, "config", f"schedule version {version} was not loaded: "
                            + exc.render().replace("\n", "; "))
                continue
            zone.schedule, zone.schedule_json, zone.schedule_version = parsed, data, version
            self._clear_fault(zone, "config")
            self._reconcile(zone, ("nightswitch", "schedule",
                                   f"schedule version {version} loaded (saved outside the web page)"))

    # -- the thread -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the controller thread. It does a lamp test, then asserts every zone's
        mode (relays came up off, so the mode in force must be put back)."""
        if self._thread is not None:
            return
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
        except Exception as exc:
            log.exception("controller step failed")
            for zone in self.zones.values():
                self._fault(zone, "internal", f"the controller hit an error and carries on: "
                                              f"{type(exc).__name__}: {exc}")
            try:
                self._publish()
            except Exception:
                log.exception("publishing the status failed")
            # Real seconds, whatever the clock: this only keeps a persistent error from
            # spinning the CPU.
            self._stop.wait(1.0)

    def step(self) -> None:
        """One pass: run queued calls, settle the panels, reconcile each zone, publish.
        The thread calls this; tests with no thread may call it directly."""
        while True:
            try:
                fn, future = self._inbox.get_nowait()
            except queue.Empty:
                break
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # handed to the caller's thread
                    future.set_exception(exc)
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
        self._publish()
        if tick and self.on_tick:
            self.on_tick()

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
            for t in (zone.retry_at, zone.verify_at, zone.reassert_at,
                      zone.primary_retry_at if zone.using_fallback else None):
                if t is not None:
                    waits.append(t - mono)
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

    # -- deciding and applying --------------------------------------------------------------
    def _decide(self, zone: ZoneState) -> Decision:
        now = self.clock.now()
        if zone.override and zone.override.until and zone.override.until <= now:
            ended = zone.override
            zone.override = None
            self.store.clear_override(zone.name)
            self._audit(zone, who=ended.by, source="override", old=ended.mode, new=None,
                        reason=f"override to {ended.mode} ended at "
                               f"{ended.until.astimezone(self.tz):%H:%M}")
        decision = decide(now, zone.schedule, zone.override, zone.key)
        if not self.clock.is_synchronized():
            self._fault(zone, "clock", "the system clock is not synchronized; holding the last "
                                       "mode applied until it is")
            if decision.source not in ("key", "override"):
                held = zone.applied_mode
                return Decision(mode=held or "unknown", source="hold",
                                reason=(f"{held}: holding the last mode applied, the clock is "
                                        "not synchronized" if held else
                                        "waiting for the clock: nothing applied yet"),
                                next_change=None)
        else:
            self._clear_fault(zone, "clock")
        return decision

    def _reconcile(self, zone: ZoneState, cause: tuple[str, str, str] | None = None) -> None:
        """Decide and apply. *cause* is ``(who, source, what)`` when a person's action
        led here; it becomes the one audit entry for the action, with the mode change it
        caused (if any)."""
        decision = self._decide(zone)
        previous = zone.decision
        zone.decision = decision
        old = previous.mode if previous else zone.applied_mode
        changed = previous is None or previous.mode != decision.mode
        # The audit row is written once the relays have moved (by _apply, before its own
        # rows, so the order stays): SQLite's fsync must not sit between a key turn and
        # its relay (SPEC 9: p99 < 5 ms; it cost 2-50 ms here).
        pending = []
        if cause is not None:
            who, source, what = cause
            pending.append(dict(who=who, source=source, old=old, new=decision.mode,
                                reason=f"{what}; now {decision.reason}" if changed else what,
                                strict=True))
        elif changed:
            who = {"key": "key switch", "override": zone.override.by if zone.override else "?",
                   "hold": "nightswitch"}.get(decision.source, "schedule")
            pending.append(dict(who=who, source=decision.source, old=old,
                                new=decision.mode, reason=decision.reason))
        if decision.source == "hold":
            if zone.applied_mode and zone.needs_apply:
                self._apply(zone, zone.applied_mode, pending)   # re-assert after a restart
            elif (zone.using_fallback and zone.primary_retry_at is not None
                  and self.clock.monotonic() >= zone.primary_retry_at):
                self._retry_primary(zone)       # the mode held, by the primary if it can
            elif zone.reassert_at is not None and self.clock.monotonic() >= zone.reassert_at:
                self._reassert(zone)            # the held mode, dialled again
            elif zone.verify_at is not None and self.clock.monotonic() >= zone.verify_at:
                # The read-back falls due on a wrong clock too; left undone, its past
                # deadline made the loop wake without pause (a core at 100 %).
                self._verify(zone)
            self._flush_audit(zone, pending)
            return
        mono = self.clock.monotonic()
        wanted_change = decision.mode != zone.applied_mode or zone.needs_apply
        if wanted_change and (zone.retry_at is None or mono >= zone.retry_at
                              or decision.mode != zone.applied_mode and previous is not None
                              and previous.mode != decision.mode):
            self._apply(zone, decision.mode, pending)
        elif (zone.using_fallback and zone.primary_retry_at is not None
              and mono >= zone.primary_retry_at):
            self._retry_primary(zone)
        elif zone.reassert_at is not None and mono >= zone.reassert_at:
            self._reassert(zone)
        elif zone.verify_at is not None and mono >= zone.verify_at:
            self._verify(zone)
        self._flush_audit(zone, pending)

    def _flush_audit(self, zone: ZoneState, pending: list) -> None:
        while pending:
            entry = pending.pop(0)
            self._audit(zone, who=entry["who"], source=entry["source"], old=entry["old"],
                        new=entry["new"], reason=entry["reason"],
                        strict=entry.get("strict", False))

    def _apply(self, zone: ZoneState, mode: str, pending: list | None = None) -> None:
        zone.switching, zone.verified = True, False
        self._publish()
        failures = self._apply_all(zone.primary, mode)
        used_fallback = False
        if failures and zone.fallback:
            fb_failures = self._apply_all(zone.fallback, mode)
            if not fb_failures:
                used_fallback = True
            failures += fb_failures
        elif zone.fallback_engaged and zone.fallback:
            # The fallback has held the PBX: bring it to this mode too, or a fallback
            # contact left closed keeps forcing the old mode now that the primary works.
            self._apply_all(zone.fallback, mode)
        zone.switching = False
        self._flush_audit(zone, pending or [])
        now = self.clock.now()
        ok = not failures or used_fallback
        if ok:
            changed = mode != zone.applied_mode
            zone.applied_mode, zone.applied_at = mode, now
            zone.needs_apply = False
            zone.retry_at, zone.backoff = None, self.retry_min
            zone.verified = True
            self.store.set_applied(zone.name, mode, at=now)
            if "actuator" in zone.faults or "link" in zone.faults:
                self._audit(zone, who="nightswitch", source="recovered", old=mode, new=mode,
                            reason=f"{mode} applied and verified after the fault cleared")
            self._clear_fault(zone, "actuator")
            self._clear_fault(zone, "link")
            if used_fallback:
                self._fault(zone, "fallback", "primary actuator failed, fallback used: "
                            + "; ".join(str(e) for _, e in failures))
                if not zone.using_fallback:
                    self._audit(zone, who="nightswitch", source="fallback", old=mode, new=mode,
                                reason="fallback used: " + "; ".join(str(e) for _, e in failures))
                    zone.primary_backoff = self.retry_min
                zone.fallback_engaged = True
                self._schedule_primary_retry(zone)
            else:
                self._clear_fault(zone, "fallback")
                zone.primary_retry_at = None
            zone.using_fallback = used_fallback
            self._schedule_verify(zone)
            self._schedule_reassert(zone)
            log.info("zone %s: %s applied%s", zone.name, mode, "" if changed else " (re-asserted)")
        else:
            message = "; ".join(str(e) for _, e in failures)
            first = "actuator" not in zone.faults
            self._fault(zone, "actuator", message)
            if first or zone.faults["actuator"][0] != message:
                self._audit(zone, who="nightswitch", source="fault", old=zone.applied_mode,
                            new=mode, reason=f"could not apply {mode}: {message}; retrying in "
                                             f"{zone.backoff:.0f} s")
            zone.retry_at = self.clock.monotonic() + zone.backoff
            zone.backoff = min(zone.backoff * 2, self.retry_max)
            zone.needs_apply = True
            zone.reassert_at = None      # never dial the old mode while the new one is due
            log.warning("zone %s: %s failed: %s", zone.name, mode, message)

    def _schedule_primary_retry(self, zone: ZoneState) -> None:
        zone.primary_retry_at = self.clock.monotonic() + zone.primary_backoff
        zone.primary_backoff = min(zone.primary_backoff * 2, self.retry_max)

    def _retry_primary(self, zone: ZoneState) -> None:
        """While the fallback holds the mode, try the primary again with backoff (SPEC 4:
        retried until it succeeds), so a primary that recovers takes over again without
        waiting for the next change of mode."""
        mode = zone.applied_mode
        failures = self._apply_all(zone.primary, mode)
        if failures:
            message = "; ".join(str(e) for _, e in failures)
            self._fault(zone, "fallback", f"primary actuator failed, fallback used: {message}")
            self._schedule_primary_retry(zone)
            log.info("zone %s: primary still fails (%s); next try in %.0f s", zone.name,
                     message, zone.primary_retry_at - self.clock.monotonic())
            return
        zone.using_fallback, zone.primary_retry_at = False, None
        zone.verified = True
        self._clear_fault(zone, "fallback")
        self._schedule_reassert(zone)
        self._audit(zone, who="nightswitch", source="recovered", old=mode, new=mode,
                    reason=f"the primary actuator applies {mode} again; the fallback is "
                           "no longer needed")
        self._schedule_verify(zone)
        log.info("zone %s: primary works again; fallback no longer needed", zone.name)

    def _apply_all(self, actuators, mode: str) -> list:
        failures = []
        for actuator in actuators:
            try:
                actuator.apply(mode)
                # Some actuators confirm by a status query inside apply(); asking again
                # would cost a second login on a slow maintenance port.
                if actuator.can_read_back and not getattr(actuator, "verifies_on_apply", False):
                    seen = actuator.read_back()
                    if seen is not None and seen != mode:
                        raise ActuatorError(f"{actuator.name}: the PBX reads back {seen}, "
                                            f"not {mode}")
            except ActuatorError as exc:
                failures.append((actuator, exc))
            except Exception as exc:  # a driver bug must not take the appliance down
                log.exception("actuator %s crashed", actuator.name)
                failures.append((actuator, ActuatorError(f"{actuator.name}: internal error {exc!r}")))
        return failures

    def _active_actuators(self, zone: ZoneState) -> list:
        return zone.fallback if zone.using_fallback else zone.primary

    def _schedule_reassert(self, zone: ZoneState) -> None:
        minutes = self.config.reassert_minutes
        if minutes and any(a.reasserts_blind for a in self._active_actuators(zone)):
            zone.reassert_at = self.clock.monotonic() + minutes * 60
        else:
            zone.reassert_at = None

    def _reassert(self, zone: ZoneState) -> None:
        """Apply the mode in force again through the actuators that cannot read the PBX
        back (FIELD_NOTES 6: many PBXs revert after their own power cut). Nothing changes,
        so nothing is audited unless it fails."""
        mode = zone.applied_mode
        self._schedule_reassert(zone)
        if zone.needs_apply or mode is None:
            return
        blind = [a for a in self._active_actuators(zone) if a.reasserts_blind]
        failures = self._apply_all(blind, mode)
        if failures:
            # The ordinary retry path takes it from here (fault, audit, backoff), at once.
            zone.needs_apply, zone.retry_at = True, self.clock.monotonic()
            log.warning("zone %s: re-asserting %s failed: %s", zone.name, mode,
                        "; ".join(str(e) for _, e in failures))
        else:
            log.info("zone %s: %s re-asserted by %s", zone.name, mode,
                     ", ".join(a.name for a in blind))

    def _schedule_verify(self, zone: ZoneState) -> None:
        if any(a.can_read_back for a in zone.actuators):
            zone.verify_at = self.clock.monotonic() + self.config.check_minutes * 60
        else:
            zone.verify_at = None

    def _verify(self, zone: ZoneState) -> None:
        """The periodic read-back: notice a PBX switched behind our back (or reset by a
        power cut) and enforce or adopt per ``[verify] drift``."""
        self._schedule_verify(zone)
        mode = zone.applied_mode
        for actuator in zone.primary if not zone.using_fallback else zone.fallback:
            if not actuator.can_read_back:
                continue
            try:
                seen = actuator.read_back()
            except ActuatorError as exc:
                if "link" not in zone.faults:
                    # The audit tells the story of a link that failed between changes too.
                    self._audit(zone, who="nightswitch", source="fault", old=mode, new=mode,
                                reason=f"could not read the PBX back: {exc}; retrying in "
                                       f"{zone.backoff:.0f} s")
                self._fault(zone, "link", str(exc))
                zone.verified = False
                zone.verify_at = self.clock.monotonic() + zone.backoff
                zone.backoff = min(zone.backoff * 2, self.retry_max)
                return
            if "link" in zone.faults:
                self._audit(zone, who="nightswitch", source="recovered", old=mode, new=mode,
                            reason=f"the PBX answers again ({actuator.name} reads back {seen})")
                if zone.retry_at is None:
                    zone.backoff = self.retry_min
            self._clear_fault(zone, "link")
            if seen is None or seen == mode:
                continue
            if self.config.drift == "adopt" and (zone.modes is None or seen in zone.modes):
                until = next_schedule_change(zone.schedule, self.clock.now())
                self._set_override(zone, seen, until.at if until else None, by="pbx",
                                   source="drift")
                # decide again now: the adopted override is the mode in force (and the
                # relays must agree with it) without waiting for some later wake-up
                self._reconcile(zone, ("pbx", "drift", f"PBX found in {seen} by "
                                       f"{actuator.name}; adopted until the next change"))
            else:
                self._audit(zone, who="pbx", source="drift", old=seen, new=mode,
                            reason=f"PBX found in {seen} by {actuator.name}; switching it back "
                                   f"to {mode}")
                zone.needs_apply = True
                self._apply(zone, zone.decision.mode if zone.decision else mode)
            return
        # The PBX confirms the mode last applied; while a change to another mode is still
        # waiting for its retry, that is not the mode in force, so nothing is verified.
        zone.verified = not zone.needs_apply

    # -- faults, audit, LEDs --------------------------------------------------------------
    def _fault(self, zone: ZoneState, kind: str, message: str) -> None:
        if zone.faults.get(kind, (None,))[0] != message:
            since = zone.faults.get(kind, (None, self.clock.now().isoformat()))[1]
            zone.faults[kind] = (message, since)

    def _clear_fault(self, zone: ZoneState, kind: str) -> None:
        zone.faults.pop(kind, None)

    def _audit(self, zone, *, who, source, old, new, reason, strict=False) -> None:
        try:
            self.store.add_audit(zone.name, at=self.clock.now(), who=who, source=source,
                                 old_mode=old, new_mode=new, reason=reason)
        except Exception as exc:  # the audit must never stop a switch
            log.exception("could not write the audit log")
            if strict:
                # SECURITY (issue 13, finding 5): a person's request whose audit entry
                # could not be written fails (after the switch: see _audit_checked).
                self._audit_failure = exc

    def _lamp_test(self) -> None:
        for panel in self.panels:
            panel.leds.lamp_test()
        if self.panels:
            self._lamp_test_until = self.clock.monotonic() + LAMP_TEST_S

    def _update_leds(self, zone: ZoneState) -> None:
        panel = zone.panel
        if panel is None or self._lamp_test_until is not None:
            return
        decision = zone.decision
        mode = decision.mode if decision else None
        if decision is None or decision.source == "hold":
            pattern = "on" if zone.applied_mode else "off"
            mode = zone.applied_mode
        elif zone.switching or not zone.verified:
            pattern = "fast"
        elif decision.source in ("key", "override"):
            pattern = "slow"
        else:
            pattern = "on"
        panel.leds.show("day", pattern if mode == "day" else "off")
        panel.leds.show("night", pattern if mode not in (None, "day", "unknown") else "off")
        kinds = set(zone.faults)
        panel.leds.show("fault", "on" if kinds & STEADY_FAULTS else "slow" if kinds else "off")

    # -- snapshots --------------------------------------------------------------------------
    def _zone_status(self, zone: ZoneState) -> dict:
        d = zone.decision
        override = None
        if zone.override:
            override = {"mode": zone.override.mode, "by": zone.override.by,
                        "until": _iso(zone.override.until, self.tz)}
        return {
            "zone": zone.name,
            "label": zone.label,
            "mode": d.mode if d else zone.applied_mode or "unknown",
            "source": d.source if d else "hold",
            "reason": d.reason if d else "starting",
            "key": zone.key.value,
            "override": override,
            "next_change": ({"at": _iso(d.next_change.at, self.tz), "mode": d.next_change.mode}
                            if d and d.next_change else None),
            # A fallback holding the mode is not "every actuator applied it" (SPEC 8).
            "verified": bool(zone.verified and not zone.switching and not zone.using_fallback),
            "switching": zone.switching,
            "applied_mode": zone.applied_mode,
            "faults": [{"kind": k, "message": m, "since": s}
                       for k, (m, s) in sorted(zone.faults.items())],
            "modes": sorted(zone.modes) if zone.modes else None,
            "actuators": [{"name": a.name, "type": a.type_name, "role": a.role,
                           "can_read_back": a.can_read_back,
                           "unverified": bool(getattr(a, "unverified", False))}
                          for a in zone.actuators],
            "clock_synchronized": self.clock.is_synchronized(),
            "now": _iso(self.clock.now(), self.tz),
        }

    def _publish(self) -> None:
        changed = []
        for zone in self.zones.values():
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
        from appliance.config import MODE_RE

        allowed = zone.modes or ({"day", "night"} | _schedule_modes(zone.schedule_json))
        if not isinstance(mode, str) or not MODE_RE.match(mode) or mode not in allowed:
            # A single-zone site never sees the word "zone" (SPEC 2).
            where = f" of zone {zone.name}" if len(self.zones) > 1 else ""
            raise ValidationError([FieldError("mode", f"{mode!r} is not a mode{where}; use one "
                                              "of " + ", ".join(sorted(allowed)))])

    def _refuse_if_key_forced(self, zone: ZoneState) -> None:
        if zone.key in (Key.DAY, Key.NIGHT):
            raise Refused(f"the key switch at reception is in {zone.key.value.upper()}; "
                          "turn it to AUTO to change the mode from here")

    def _set_override(self, zone, mode, until, *, by, source) -> None:
        now = self.clock.now()
        # SECURITY (issue 13, finding 5): the store first, memory only once it is saved,
        # so a refused write changes nothing that the next decision could act on.
        self.store.set_override(zone.name, mode, until, by=by, at=now)
        zone.override = Override(mode=mode, until=until, by=by, set_at=now)

    @staticmethod
    def _check_actor(by, source) -> None:
        """Refuse, before anything changes, a *by* or *source* the audit could not record
        (issue 13, finding 5: a token label with a control character)."""
        from appliance.store.validate import Checker

        check = Checker()
        check.who("by", by)
        check.word("source", source, what="an audit source")
        check.done()

    def _audit_checked(self) -> None:
        """Raise if an audit entry for this request could not be written."""
        failure, self._audit_failure = getattr(self, "_audit_failure", None), None
        if failure is not None:
            from appliance.store.db import StoreError

            raise StoreError(f"the change was made but its audit entry could not be written "
                             f"({failure}); check the disk (journalctl -u nightswitch)")

    def set_override(self, zone: str | None, mode: str, until, *, by: str,
                     source: str = "web") -> dict:
        """Force *mode* until ``"next"`` (the schedule's next change), an aware datetime,
        or None (until cancelled). Raises :exc:`~appliance.errors.Refused` while the key
        switch is in a forced position."""
        state = self.resolve_zone(zone)
        self._check_actor(by, source)

        def do():
            self._audit_failure = None
            self._refuse_if_key_forced(state)
            self._check_mode(state, mode)
            now = self.clock.now()
            if until == "next":
                change = next_schedule_change(state.schedule, now)
                end = change.at if change else None
            elif until is None:
                end = None
            elif isinstance(until, datetime):
                if until.tzinfo is None:
                    raise ValidationError([FieldError("until", "must include a UTC offset, such "
                                                               "as 2026-12-24T18:00:00+01:00")])
                if until <= now:
                    raise ValidationError([FieldError("until", "is in the past; give a later "
                                                               "time, \"next\" or null")])
                end = until
            else:
                raise ValidationError([FieldError("until", "must be \"next\", an ISO-8601 time "
                                                           "or null")])
            self._set_override(state, mode, end, by=by, source=source)
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
                self.store.clear_override(state.name)       # the store first (finding 5)
                state.override = None
            self._reconcile(state, cause)
            self._publish()
            self._audit_checked()
            return self._zone_status(state)

        return self.call(do)

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
            return {"version": saved, "restored_from": version,
                    "status": self._zone_status(state)}

        return self.call(do)

    def _put_in_force(self, state: ZoneState, parsed, data: dict, version: int, by: str,
                      what: str) -> None:
        state.schedule, state.schedule_json = parsed, data
        state.schedule_version = version
        self._clear_fault(state, "config")
        self._reconcile(state, (by, "schedule", what))
        self._publish()

    def preview(self, zone: str | None, start: date, days: int) -> list[dict]:
        state = self.resolve_zone(zone)
        return [{"at": _iso(t.at, self.tz), "mode": t.mode, "reason": t.reason,
                 "source": t.source} for t in preview(state.schedule, start, days)]

    def press(self, zone: str | None, event) -> None:
        """Feed a key event (from a reception button wired elsewhere, or a test)."""
        state = self.resolve_zone(zone)
        self.call(lambda: (self._on_key_event(state, event), self._publish()))

    def _on_key_event(self, zone: ZoneState, event) -> None:
        cause = None
        # An override from the key is stored after the relays moved, as the audit row is:
        # an fsync must not sit between the key and the relay (SPEC 9; it made a
        # two-position flip miss p99 < 5 ms).
        persist = None
        if event.kind is PanelEvent.POSITION:
            if event.value != zone.key:
                cause = ("key switch", "key",
                         f"key turned from {zone.key.value.upper()} to {event.value.value.upper()}")
                zone.key = event.value
        elif event.kind is PanelEvent.WIRING:
            if event.value:
                self._fault(zone, "wiring", "the key switch reads DAY and NIGHT at once; check "
                                            "its wiring (treated as AUTO)")
                cause = ("key switch", "fault", "key switch wiring fault: DAY and NIGHT both closed")
            else:
                self._clear_fault(zone, "wiring")
        elif (event.kind in (PanelEvent.TOGGLE, PanelEvent.RELEASE_TO_AUTO)
              and zone.key in (Key.DAY, Key.NIGHT)):
            # SPEC 2: while the key is not in AUTO it is the authority; the push button
            # beside it asks for nothing.
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
            persist = lambda: self.store.set_override(zone.name, override.mode, override.until,
                                                      by=override.by, at=override.set_at)
            cause = (event.by, "key", f"reception switched to {mode} until the next change")
        elif event.kind is PanelEvent.RELEASE_TO_AUTO:
            if zone.override is not None:
                cause = (event.by, "key", "reception button held: back to the schedule")
                zone.override = None
                persist = lambda: self.store.clear_override(zone.name)
        self._reconcile(zone, cause)
        if persist is not None:
            persist()

    def hardware_test(self, kind: str, name: str | None = None, *, by: str,
                      seconds: float = 1.0) -> dict:
        """Commissioning from the installer page: ``leds`` lights each LED in turn,
        ``relay`` closes one relay for *seconds* then puts the mode back, ``key`` reads the
        key switch. Runs on the controller thread, so it never races a switch."""
        import time

        def do():
            if kind == "key":
                return {"zones": {z.name: {"position": z.key.value,
                                           "raw": z.panel.contacts() if z.panel else {},
                                           "wiring_fault": bool(z.panel and z.panel.wiring_fault)}
                                  for z in self.zones.values()}}
            if kind == "leds":
                done = []
                for panel in self.panels:
                    for led in ("day", "night", "fault"):
                        if led in panel.leds.leds:
                            panel.leds.show(led, "on")
                            time.sleep(seconds)
                            panel.leds.show(led, "off")
                            done.append(f"{panel.zone}:{led}")
                self._publish()
                return {"tested": done}
            if kind == "relay":
                for zone in self.zones.values():
                    for actuator in zone.actuators:
                        relays = _relays_of(actuator)
                        if name in relays:
                            relay = relays[name]
                            relay.close_contact()
                            time.sleep(seconds)
                            relay.open_contact()
                            self._audit(zone, who=by, source="test", old=None, new=None,
                                        reason=f"relay {name} tested for {seconds:g} s")
                            zone.needs_apply = True
                            self._reconcile(zone)
                            self._publish()
                            return {"tested": name, "reasserted": zone.applied_mode}
                raise ValidationError([FieldError("name", f"no relay named {name!r}; relays are "
                                                          + ", ".join(self.relay_names()))])
            raise ValidationError([FieldError("kind", f"{kind!r} is not a test; use leds, relay "
                                                      "or key")])

        return self.call(do, timeout=120)

    def relay_names(self) -> list[str]:
        return [n for z in self.zones.values() for a in z.actuators for n in _relays_of(a)]

    def relay_states(self) -> dict[str, str]:
        states = {}
        for zone in self.zones.values():
            for actuator in zone.actuators:
                states.update(actuator.relays())
        return states

    def close(self) -> None:
        """Stop the loop and leave every relay in its safe (de-energized) state."""
        self.stop()
        for zone in self.zones.values():
            for actuator in zone.actuators:
                try:
                    actuator.close()
                except Exception:
                    log.exception("closing actuator %s", actuator.name)
        for panel in self.panels:
            panel.close()


def _relays_of(actuator) -> dict:
    relays = {}
    for attr in ("relay", "hook"):
        relay = getattr(actuator, attr, None)
        if relay is not None:
            relays[relay.name] = relay
    for relay in getattr(actuator, "keys", {}).values() if isinstance(
            getattr(actuator, "keys", None), dict) else ():
        relays[relay.name] = relay
    return relays


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


def parse_until(value, tz, now: datetime) -> object:
    """Turn a CLI/API ``until`` into what :meth:`Controller.set_override` takes:
    ``"next"``, None, ``HH:MM`` (the next such local time) or an ISO-8601 time."""
    if value is None or value == "next":
        return value
    if not isinstance(value, str):
        raise ValidationError([FieldError("until", "must be \"next\", HH:MM, an ISO-8601 time "
                                                   "or null")])
    import re

    if re.fullmatch(r"\d{1,2}:\d{2}", value):
        h, m = map(int, value.split(":"))
        if h > 23 or m > 59:
            raise ValidationError([FieldError("until", f"{value!r} is not a time of day")])
        now = now.astimezone(tz)
        end = now.replace(hour=h, minute=m, second=0, microsecond=0)
        return end if end > now else end + timedelta(days=1)
    try:
        end = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError([FieldError("until", f"{value!r} is not \"next\", HH:MM or an "
                                                   "ISO-8601 time")]) from None
    return end if end.tzinfo else end.replace(tzinfo=tz)


__all__ = ["Controller", "ZoneState", "NightswitchError", "parse_until"]
