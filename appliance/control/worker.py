"""One zone's actuators, driven on a thread of their own.

The controller decides; a zone's :class:`ActuatorWorker` makes it so. The controller
hands it the *wanted* mode (:meth:`ActuatorWorker.want`) and goes straight back to the
key switch; the worker drives the zone's actuators (the primaries, the fallback when
they fail, the periodic read-back, the blind re-assert, the retries) and reports each
outcome back as an :class:`~appliance.control.outcomes.Outcome`. It never writes the
audit log, a fault or an LED: the controller does, from the outcomes.

The newest wanted mode wins. There is no queue of modes, only the one wanted now: a key
turned twice during a slow dialogue never makes the PBX go through a mode nobody wants
any more. An apply asks, at its safe points, whether its mode is still wanted (a keypad
before going off-hook, a maintenance-port dialogue between its steps; never in the
middle of a key sequence) and stops there when it is not; the worker then applies the
newest mode.

Hardware tests that touch the zone's relays run here too (:meth:`ActuatorWorker.submit`),
so no two threads ever drive a relay; a newer wanted mode interrupts them.

Without a thread (:meth:`run_pending` called by the controller's own step) the same
code runs inline, which is how the deterministic tests drive it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import replace

from appliance.actuators.base import RelayActuator
from appliance.control.commissioning import describe_relay_test, exercise_relay
from appliance.control.outcomes import Outcome, OutcomeKind
from appliance.errors import Abandoned, ActuatorError

log = logging.getLogger(__name__)

RETRY_MIN_S = 2.0
RETRY_MAX_S = 300.0
#: After the PBX refused a login, the worker tries that actuator again by itself only
#: this long after (a day): a maintenance account that locks after a few failures must
#: not be locked by the appliance. An operator's "retry" or a restart after fixing the
#: config tries at once.
REFUSED_RETRY_S = 24 * 3600.0
#: The longest the idle worker sleeps without looking at its deadlines again.
IDLE_WAIT_S = 60.0


class ActuatorWorker:
    """Drives one zone's actuators and reports what happened.

    :param str zone: the zone's name (carried by every outcome).
    :param list primary: the primary actuators, in apply order.
    :param list fallback: the fallback actuators, used when a primary fails.
    :param clock: the appliance's :class:`~appliance.inputs.clock.Clock`; retries,
        read-backs and re-asserts fall due on its ``monotonic()``.
    :param report: called with each :class:`~appliance.control.outcomes.Outcome`, from
        the worker's thread (or inline).
    :param float check_minutes: the periodic read-back interval (0: never).
    :param float reassert_minutes: the blind re-assert interval (0: never).
    :param float retry_min: the first retry delay; it doubles up to *retry_max*.
    :param float refused_retry_s: see :data:`REFUSED_RETRY_S`.
    :param float drill_days: every this many days the fallback applies the mode in force
        and reads it back (a backup route must be tested to be worth anything); 0: never.
    """

    def __init__(
        self,
        zone: str,
        primary,
        fallback,
        *,
        clock,
        report,
        check_minutes: float = 15,
        reassert_minutes: float = 60,
        retry_min: float = RETRY_MIN_S,
        retry_max: float = RETRY_MAX_S,
        refused_retry_s: float = REFUSED_RETRY_S,
        drill_days: float = 0,
    ):
        self.zone = zone
        self.primary = list(primary)
        self.fallback = list(fallback)
        self.clock = clock
        self.report = report
        self.check_s = check_minutes * 60
        self.reassert_s = reassert_minutes * 60
        self.retry_min, self.retry_max = retry_min, retry_max
        self.refused_retry_s = refused_retry_s
        self.drill_s = drill_days * 86400 if self.fallback else 0
        # Written by other threads, under the lock.
        self._lock = threading.Lock()
        self._wanted: str | None = None
        self._force = False
        self._ack = False
        self._jobs: deque = deque()
        self._wake = threading.Event()
        self._interrupt = threading.Event()  # ends a hardware test's pause early
        # Clear from a want() until the loop has moved the relays for it (or taken it up,
        # when the primary has none): see wait_taken().
        self._taken = threading.Event()
        self._taken.set()
        self._stopping = False
        self._thread: threading.Thread | None = None
        # The worker's own state: read and written on its thread only.
        self.busy = False
        self.busy_since: float | None = None  # real time, for the liveness check
        self.done: str | None = None  # applied successfully since start
        self.failed_mode: str | None = None
        self.retry_at: float | None = None
        self.backoff = retry_min
        self.using_fallback = False
        self.fallback_engaged = False  # driven since start: keep it in step
        self.primary_retry_at: float | None = None
        self.primary_backoff = retry_min
        self.verify_at: float | None = None
        self.verify_backoff = retry_min
        self.reassert_at: float | None = None
        self.drill_at: float | None = (
            self.clock.monotonic() + self.drill_s if self.drill_s else None
        )
        self.refused: dict[str, tuple[float, str]] = {}  # actuator -> (until, message)
        self.last_failure: Outcome | None = None
        self._applying: str | None = None  # the mode an apply is driving now
        for actuator in self.actuators:
            actuator.should_abandon = self._superseded
            actuator.on_drive = self._taken.set
        self._primary_moves_relays = any(isinstance(a, RelayActuator) for a in self.primary)

    @property
    def actuators(self) -> list:
        return self.primary + self.fallback

    # -- what other threads call ----------------------------------------------------------
    def want(self, mode: str, *, force: bool = False) -> None:
        """Make *mode* the wanted mode (replacing any other), and apply it even if the
        actuators are already in it when *force* (after a restart, a drift, a test).
        Returns at once."""
        with self._lock:
            if mode != self._wanted:
                self._ack = True  # every change of the wanted mode gets an outcome
            self._wanted = mode
            self._force = self._force or force
            self._taken.clear()
        self._interrupt.set()
        self._wake.set()

    def wait_taken(self, timeout: float) -> bool:
        """Wait up to *timeout* real seconds for the loop to act on the latest
        :meth:`want`: to move the primary's first relay, or to take the change up when the
        primary has no relay (a dialogue's first answer is seconds away); True once it
        has (or when nothing waits). The controller calls this before it wakes the status
        subscribers, so the worker meets no crowd of web threads on its way to the relay
        (docs/design.md#one-thread-decides)."""
        return self._taken.wait(timeout)

    def retry_now(self) -> None:
        """An operator's retry: forget refused logins and waiting retries, and apply the
        wanted mode again at once."""

        def reset():
            self.refused.clear()
            self.failed_mode = self.retry_at = None
            self.backoff = self.retry_min
            self.primary_retry_at = self.clock.monotonic() if self.using_fallback else None
            self.done = None

        self.submit(reset)

    def submit(self, job) -> Future:
        """Run ``job()`` on the worker's thread, after any pending change of mode; the
        future holds its result. A job may call :meth:`pause`."""
        future: Future = Future()
        with self._lock:
            self._jobs.append((job, future))
        self._wake.set()
        return future

    def pause(self, seconds: float) -> bool:
        """Wait *seconds* of real time inside a job (a relay held for a test: the
        installer watches it in real time). Returns True when a newer wanted mode or the
        stop cut it short."""
        self._interrupt.clear()
        with self._lock:
            busy_with_change = self._has_change()
        if busy_with_change or self._stopping:
            return True
        return self._interrupt.wait(seconds)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"worker-{self.zone}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop the thread: an apply in progress stops at its next safe point. Returns
        False when the thread is still busy after *timeout* (a dialogue stuck in a
        read); the caller then releases the relays directly."""
        self._stopping = True
        self._interrupt.set()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        alive = self._thread.is_alive()
        if not alive:
            self._thread = None
        return not alive

    def stuck_for(self) -> float:
        """Real seconds the current piece of work has taken so far (0 when idle)."""
        since = self.busy_since
        return 0.0 if since is None else time.monotonic() - since

    @property
    def threaded(self) -> bool:
        return self._thread is not None

    def idle(self) -> bool:
        """True when the worker has nothing to do now (it may have a deadline later)."""
        with self._lock:
            if self.busy or self._jobs or self._has_change_due():
                return False
        # A read-back, re-assert, primary retry or drill that is due is work for now too
        # (the loop may not have woken for it yet: the clock has just been moved).
        deadline = self.next_deadline()
        return deadline is None or deadline > self.clock.monotonic()

    # -- the loop ----------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                did = self.run_pending()
            except Exception:
                log.exception("zone %s: the actuator worker hit an error and carries on", self.zone)
                time.sleep(1.0)  # real seconds: only to keep a persistent error from spinning
                continue
            if did:
                continue
            self.clock.wait(self._wake, self.next_wait())

    def next_wait(self) -> float:
        """Seconds of the clock's time until the worker's next deadline (at most
        :data:`IDLE_WAIT_S`)."""
        deadline = self.next_deadline()
        if deadline is None:
            return IDLE_WAIT_S
        return max(0.0, min(IDLE_WAIT_S, deadline - self.clock.monotonic()))

    def next_deadline(self) -> float | None:
        """The next monotonic time at which :meth:`run_pending` has work, or None."""
        times = [
            t
            for t in (
                self.retry_due_at(),
                self.primary_retry_at if self.using_fallback else None,
                self.reassert_at,
                self.verify_at,
                self.drill_at,
            )
            if t is not None
        ]
        return min(times) if times else None

    def retry_due_at(self) -> float | None:
        if self.failed_mode is None or self._wanted != self.failed_mode:
            return None
        return self.retry_at

    def _has_change(self) -> bool:
        return self._wanted is not None and (self._wanted != self.done or self._force)

    def _has_change_due(self) -> bool:
        if not self._has_change():
            return False
        if self._wanted != self.failed_mode or self._force:
            return True
        return self.retry_at is not None and self.clock.monotonic() >= self.retry_at

    def run_pending(self) -> bool:
        """Do the most urgent piece of work that is due, if any; True when something was
        done. A change of mode comes first, then a hardware test, then the retry of the
        primary, the re-assert and the read-back."""
        mono = self.clock.monotonic()
        with self._lock:
            due = self._has_change_due()
            mode = self._wanted
            job = self._jobs.popleft() if not due and self._jobs else None
            ack, self._ack = self._ack, False
            if due:
                self._force = False
            # Set under the lock with the pop, so idle() never sees neither.
            self.busy = due or job is not None
            if not (due and self._primary_moves_relays):
                self._taken.set()  # else the relay's drive sets it (on_drive)
        if ack and not due:
            # The wanted mode came back to one the actuators are in (or are waiting to
            # retry) before anything was driven: say so, or the controller would show
            # "switching" for ever.
            self._acknowledge(mode)
        if due and mode is not None:
            work = lambda: self._apply(mode, again=mode in (self.done, self.failed_mode))  # noqa: E731
        elif job is not None:
            work = lambda: self._run_job(*job)  # noqa: E731
        elif (
            self.using_fallback
            and self.primary_retry_at is not None
            and mono >= self.primary_retry_at
        ):
            work = self._retry_primary
        elif self.reassert_at is not None and mono >= self.reassert_at:
            work = self._reassert
        elif self.verify_at is not None and mono >= self.verify_at:
            work = self._verify
        elif self.drill_at is not None and mono >= self.drill_at:
            work = self._drill
        else:
            self.busy = False
            return False
        self.busy = True
        self.busy_since = time.monotonic()
        try:
            work()
        finally:
            self._taken.set()  # an apply that moved nothing (refused, failed, abandoned)
            self.busy = False
            self.busy_since = None
        return True

    def _acknowledge(self, mode: str | None) -> None:
        if mode is not None and mode == self.done:
            self.report(Outcome(self.zone, OutcomeKind.APPLIED, mode, reasserted=True))
        elif mode is not None and mode == self.failed_mode and self.last_failure is not None:
            retry_in = (
                None if self.retry_at is None else max(0.0, self.retry_at - self.clock.monotonic())
            )
            self.report(replace(self.last_failure, retry_in=retry_in))

    def _superseded(self) -> bool:
        """Asked by an apply at its safe points: stop, a newer mode is wanted?"""
        return self._stopping or (self._applying is not None and self._wanted != self._applying)

    # -- applying ----------------------------------------------------------------------
    def _drive(self, actuators, mode: str) -> tuple[list, bool]:
        """Apply *mode* with each actuator; ``(failures, abandoned)``."""
        failures = []
        now = self.clock.monotonic()
        self._applying = mode
        try:
            for actuator in actuators:
                refused = self.refused.get(actuator.name)
                if refused is not None:
                    if now < refused[0]:
                        failures.append((actuator, _refused_error(refused[1])))
                        continue
                    del self.refused[actuator.name]  # the long interval has passed
                try:
                    actuator.apply(mode)
                    # Some actuators confirm by a status query inside apply(); asking
                    # again would cost a second login on a slow maintenance port.
                    if actuator.can_read_back and not getattr(actuator, "verifies_on_apply", False):
                        seen = actuator.read_back()
                        if seen is not None and seen != mode:
                            raise ActuatorError(
                                f"{actuator.name}: the PBX reads back {seen}, not {mode}"
                            )
                except Abandoned as exc:
                    log.info("zone %s: %s", self.zone, exc)
                    return failures, True
                except ActuatorError as exc:
                    if not exc.retry_automatically:
                        self.refused[actuator.name] = (now + self.refused_retry_s, str(exc))
                    failures.append((actuator, exc))
                except Exception as exc:  # a driver bug must not take the appliance down
                    log.exception("actuator %s crashed", actuator.name)
                    failures.append(
                        (actuator, ActuatorError(f"{actuator.name}: internal error {exc!r}"))
                    )
            return failures, False
        finally:
            self._applying = None

    def _apply(self, mode: str, *, again: bool) -> None:
        failures, abandoned = self._drive(self.primary, mode)
        if abandoned:
            return  # the loop comes back for the newest mode
        used_fallback = False
        if failures and self.fallback:
            fb_failures, abandoned = self._drive(self.fallback, mode)
            if abandoned:
                return
            used_fallback = not fb_failures
            failures += fb_failures
        elif self.fallback_engaged and self.fallback:
            # The fallback has held the PBX: bring it to this mode too, or a fallback
            # contact left closed keeps forcing the old mode now that the primary works.
            self._drive(self.fallback, mode)
        message = "; ".join(str(e) for _, e in failures)
        operator = bool(failures) and all(not e.retry_automatically for _, e in failures)
        if failures and not used_fallback:
            self.done = None
            self.failed_mode = mode
            if operator:
                # Only refused logins failed: no retry before the long interval.
                self.retry_at = (
                    min(until for until, _ in self.refused.values())
                    if self.refused
                    else self.clock.monotonic() + self.refused_retry_s
                )
            else:
                self.retry_at = self.clock.monotonic() + self.backoff
                self.backoff = min(self.backoff * 2, self.retry_max)
            retry_in = self.retry_at - self.clock.monotonic()
            self.reassert_at = None  # never dial the old mode while the new one is due
            log.warning("zone %s: %s failed: %s", self.zone, mode, message)
            self.last_failure = Outcome(
                self.zone,
                OutcomeKind.FAILED,
                mode,
                message,
                retry_in=retry_in,
                needs_operator=operator,
                by=", ".join(a.name for a, _ in failures),
            )
            self.report(self.last_failure)
            return
        self.done, self.failed_mode = mode, None
        self.retry_at, self.backoff = None, self.retry_min
        if used_fallback:
            if not self.using_fallback:
                self.primary_backoff = self.retry_min
            self.using_fallback = self.fallback_engaged = True
            self._schedule_primary_retry()
        else:
            self.using_fallback, self.primary_retry_at = False, None
        self._schedule_verify(reset=True)
        self._schedule_reassert()
        log.info(
            "zone %s: %s applied%s%s",
            self.zone,
            mode,
            " (again)" if again else "",
            " by the fallback" if used_fallback else "",
        )
        kind = OutcomeKind.FELL_BACK if used_fallback else OutcomeKind.APPLIED
        self.report(
            Outcome(self.zone, kind, mode, message, reasserted=again, needs_operator=operator)
        )

    def _schedule_primary_retry(self) -> None:
        self.primary_retry_at = self.clock.monotonic() + self.primary_backoff
        self.primary_backoff = min(self.primary_backoff * 2, self.retry_max)

    def _retry_primary(self) -> None:
        """While the fallback holds the mode, try the primary again with backoff (retried
        until it succeeds: docs/design.md#retries-and-the-refused-login-rule), so a primary
        that recovers takes over again without waiting for the next change of mode."""
        mode = self.done
        if mode is None:
            self.primary_retry_at = None
            return
        failures, abandoned = self._drive(self.primary, mode)
        if abandoned:
            return
        if failures:
            self._schedule_primary_retry()
            message = "; ".join(str(e) for _, e in failures)
            log.info("zone %s: primary still fails (%s)", self.zone, message)
            self.report(
                Outcome(
                    self.zone,
                    OutcomeKind.FELL_BACK,
                    mode,
                    message,
                    reasserted=True,
                    needs_operator=all(not e.retry_automatically for _, e in failures),
                )
            )
            return
        self.using_fallback, self.primary_retry_at = False, None
        self._schedule_reassert()
        self._schedule_verify(reset=True)
        log.info("zone %s: primary works again; fallback no longer needed", self.zone)
        self.report(Outcome(self.zone, OutcomeKind.PRIMARY_BACK, mode))

    def _active(self) -> list:
        return self.fallback if self.using_fallback else self.primary

    def _schedule_reassert(self) -> None:
        if self.reassert_s and any(a.reasserts_blind for a in self._active()):
            self.reassert_at = self.clock.monotonic() + self.reassert_s
        else:
            self.reassert_at = None

    def _reassert(self) -> None:
        """Apply the mode in force again through the actuators that cannot read the PBX
        back (many PBXs come back from their own power cut in another mode). Nothing
        changes, so nothing is reported unless it fails."""
        mode = self.done
        self._schedule_reassert()
        if mode is None or self._wanted != mode:
            return
        blind = [a for a in self._active() if a.reasserts_blind]
        failures, abandoned = self._drive(blind, mode)
        if abandoned:
            return
        if failures:
            # The ordinary apply takes it from here (fault, retry with backoff), at once.
            self.done, self.failed_mode, self.retry_at = None, None, None
            log.warning(
                "zone %s: re-asserting %s failed: %s",
                self.zone,
                mode,
                "; ".join(str(e) for _, e in failures),
            )
        else:
            log.info(
                "zone %s: %s re-asserted by %s", self.zone, mode, ", ".join(a.name for a in blind)
            )

    def _schedule_verify(self, *, reset: bool = False) -> None:
        if reset:
            self.verify_backoff = self.retry_min
        if self.check_s and any(a.can_read_back for a in self.actuators):
            self.verify_at = self.clock.monotonic() + self.check_s
        else:
            self.verify_at = None

    def _verify(self) -> None:
        """The periodic read-back: notice a PBX switched behind the appliance's back (or
        reset by a power cut). What to do about it is the controller's decision."""
        self._schedule_verify()
        mode = self.done
        if mode is None or self._wanted != mode:
            return
        now = self.clock.monotonic()
        # A maintenance account that refused our login is not asked again by a read-back
        # either: every read-back is a login.
        readers = [
            a
            for a in self._active()
            if a.can_read_back and not (a.name in self.refused and now < self.refused[a.name][0])
        ]
        if not readers:
            return
        for actuator in readers:
            try:
                seen = actuator.read_back()
            except ActuatorError as exc:
                if not exc.retry_automatically:
                    self.refused[actuator.name] = (now + self.refused_retry_s, str(exc))
                    self.report(
                        Outcome(
                            self.zone,
                            OutcomeKind.LINK_DOWN,
                            mode,
                            str(exc),
                            by=actuator.name,
                            retry_in=self.refused_retry_s,
                            needs_operator=True,
                        )
                    )
                    return
                retry_in = self.verify_backoff
                self.verify_at = now + retry_in
                self.verify_backoff = min(self.verify_backoff * 2, self.retry_max)
                self.report(
                    Outcome(
                        self.zone,
                        OutcomeKind.LINK_DOWN,
                        mode,
                        str(exc),
                        by=actuator.name,
                        retry_in=retry_in,
                    )
                )
                return
            if seen is not None and seen != mode:
                # What to do is the controller's decision (enforce or adopt): it wants
                # the mode again, or another, and this worker applies that.
                self.report(
                    Outcome(self.zone, OutcomeKind.DRIFT, mode, seen=seen, by=actuator.name)
                )
                return
        self.verify_backoff = self.retry_min
        self.report(
            Outcome(self.zone, OutcomeKind.VERIFIED, mode, by=", ".join(a.name for a in readers))
        )

    def schedule_drill(self, delay_s: float) -> None:
        """Set the next fallback drill *delay_s* seconds from now (the controller keeps
        when the last one ran, across restarts). Call before :meth:`start`."""
        if self.drill_s:
            self.drill_at = self.clock.monotonic() + max(0.0, delay_s)

    def _drill(self) -> None:
        """The fallback drill: apply the mode in force through the fallback actuators and
        read it back, without changing the mode. From then on the fallback is kept in
        step with every change (it holds the PBX now too). Put off while a change is
        pending or the fallback already holds the mode."""
        mode = self.done
        self.drill_at = self.clock.monotonic() + self.drill_s
        if mode is None or self._wanted != mode or self.using_fallback:
            self.drill_at = self.clock.monotonic() + min(self.drill_s, 3600.0)
            return
        failures, abandoned = self._drive(self.fallback, mode)
        if abandoned:
            self.drill_at = self.clock.monotonic()  # again, once the change is done
            return
        self.fallback_engaged = True
        message = "; ".join(str(e) for _, e in failures)
        log.info(
            "zone %s: fallback drill with %s: %s",
            self.zone,
            mode,
            message or "applied and read back",
        )
        self.report(
            Outcome(
                self.zone,
                OutcomeKind.DRILLED,
                mode,
                message,
                by=", ".join(a.name for a in self.fallback),
            )
        )

    # -- hardware tests ----------------------------------------------------------------
    def _run_job(self, job, future: Future) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(job())
        except BaseException as exc:  # handed to the thread that waits for it
            future.set_exception(exc)

    def relay_test(self, name: str, seconds: float, *, by: str = "installer") -> Future:
        """Show relay *name* in the state it is not in for *seconds*
        (:func:`~appliance.control.commissioning.exercise_relay`), then apply the zone's
        mode again (first by the relay's own actuator when the test may have switched the
        PBX: a toggle key's press, :meth:`~appliance.actuators.base.Actuator.relay_tested`).
        A newer wanted mode ends the test early. The future holds the
        result of ``exercise_relay`` plus ``reasserted`` (the mode applied after)."""

        def job():
            owner = next((a for a in self.actuators if name in a.relay_devices()), None)
            if owner is None:
                raise KeyError(name)
            try:
                result = exercise_relay(owner.relay_devices()[name], seconds, self.pause)
            finally:
                # A toggle key pressed by the test has switched the PBX, and the primary
                # may not undo that (a night contact already closed moves nothing): the
                # key's own actuator presses it back first. Then, whatever happened, the
                # mode is applied again as after any change.
                mode = self._wanted
                if owner.relay_tested(name) and mode in owner.modes:
                    failures, _ = self._drive([owner], mode)
                    for _, exc in failures:
                        log.warning("zone %s: after the relay test: %s", self.zone, exc)
                self.done = None
            result["reasserted"] = self._wanted
            self.report(
                Outcome(
                    self.zone, OutcomeKind.TESTED, self._wanted, describe_relay_test(result), by=by
                )
            )
            return result

        return self.submit(job)

    def dialogue_test(self, actuator, *, by: str = "installer") -> Future:
        """The PBX dialogue test of serial *actuator* (its ``test_dialogue()``) on this
        worker, the one thread that uses its port, then the zone's mode applied again (the
        test switches the PBX through its modes). The future holds the test's result plus
        ``reasserted``."""

        def job():
            try:
                result = actuator.test_dialogue()
            finally:
                self.done = None  # whatever happened, the mode is applied again
            result["reasserted"] = self._wanted
            self.report(
                Outcome(
                    self.zone,
                    OutcomeKind.TESTED,
                    self._wanted,
                    f"PBX dialogue test of {actuator.name}: "
                    + ("every step worked" if result["ok"] else "FAILED"),
                    by=by,
                )
            )
            return result

        return self.submit(job)

    def relays(self) -> dict:
        """``{name: Relay}`` of every relay of the zone's actuators."""
        found = {}
        for actuator in self.actuators:
            found.update(actuator.relay_devices())
        return found

    def release_relays(self) -> None:
        """De-energize every relay of the zone directly, from the calling thread: the
        last step of a shutdown whose worker did not stop in time."""
        for actuator in self.actuators:
            try:
                actuator.close()
            except Exception:
                log.exception("closing actuator %s", actuator.name)

    def __repr__(self) -> str:
        return (
            f"<ActuatorWorker zone={self.zone} wanted={self._wanted} done={self.done} "
            f"{'busy' if self.busy else 'idle'}"
            f"{' fallback' if self.using_fallback else ''}>"
        )


def _refused_error(message: str) -> ActuatorError:
    error = ActuatorError(message)
    error.retry_automatically = False
    return error


__all__ = ["ActuatorWorker", "REFUSED_RETRY_S", "RETRY_MAX_S", "RETRY_MIN_S"]
