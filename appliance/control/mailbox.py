"""The controller's thread and its mailbox.

Everything the controller hears arrives here: a function to run on its thread
(:meth:`Mailbox.call`, which waits for the answer; the answer comes once the step that
ran it has published, so a caller sees what it did in the status), an
:class:`~appliance.control.outcomes.Outcome` from a zone's worker, a step of an LED test.
One thread takes them in order and runs the controller's step; nothing here decides
anything.

The thread survives a failing step (a full or read-only disk makes the store raise): the
fault is shown and the loop goes on, so the key switch still works. If every step keeps
failing, or a worker hangs, the watchdog keep-alive stops and systemd restarts the
service.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING

from appliance.control.commissioning import LedTest
from appliance.control.outcomes import Outcome
from appliance.errors import StoreError
from appliance.vocabulary import FaultKind

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from appliance.control.parts import ControllerParts


class Mailbox:
    """The :class:`~appliance.control.controller.Controller`'s thread and mailbox (a part
    of it, in a module of its own)."""

    _thread: threading.Thread | None

    @property
    def running(self: ControllerParts) -> bool:
        return self._thread is not None

    def start(self: ControllerParts) -> None:
        """Start the controller thread and the zones' workers. The controller does a lamp
        test, then asserts every zone's mode (relays came up off, so the mode in force must
        be put back)."""
        if self._thread is not None:
            return
        for zone in self.zones.values():
            zone.worker.start()
        thread = threading.Thread(target=self._run, name="controller", daemon=True)
        self._thread = thread
        thread.start()

    def stop(self: ControllerParts, timeout: float = 10.0) -> None:
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self: ControllerParts) -> None:
        self._wake.set()

    def _run(self: ControllerParts) -> None:
        self._lamp_test()
        self._guarded_step()
        while not self._stop.is_set():
            self.clock.wait(self._wake, self._next_timeout())
            self._wake.clear()
            if self._stop.is_set():
                break
            self._guarded_step()

    def _guarded_step(self: ControllerParts) -> None:
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
                    self._fault(
                        zone,
                        FaultKind.STORE,
                        f"the database cannot be written: "
                        f"{exc}; switching goes on, but "
                        "changes may not be kept",
                    )
                else:
                    self._fault(
                        zone,
                        FaultKind.INTERNAL,
                        f"the controller hit an error and carries on: {type(exc).__name__}: {exc}",
                    )
            try:
                self._publish()
            except Exception:
                log.exception("publishing the status failed")
            # Real seconds, whatever the clock: this only keeps a persistent error from
            # spinning the CPU.
            self._stop.wait(1.0)

    def _workers_alive(self: ControllerParts) -> bool:
        """False when a worker has been busy longer than any dialogue may take: then the
        watchdog keep-alive (sent from :attr:`on_tick`) stops and systemd restarts us."""
        for zone in self.zones.values():
            stuck = zone.worker.stuck_for()
            if stuck > self.worker_stuck_s:
                log.error(
                    "zone %s: the actuator worker has been busy for %.0f s; stopping "
                    "the watchdog keep-alive so systemd restarts the service",
                    zone.name,
                    stuck,
                )
                return False
        return True

    def _run_workers_inline(self: ControllerParts) -> None:
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

    def _drain_inbox(self: ControllerParts) -> None:
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

    def _answer_calls(self: ControllerParts) -> None:
        """Hand back the results of this step's calls, once the step has published: a
        caller that gets its answer then sees everything the step did in the status."""
        answers = list(self._answers)
        self._answers.clear()
        for future, result, exc in answers:
            if exc is None:
                future.set_result(result)
            else:
                future.set_exception(exc)

    def call(self: ControllerParts, fn, *args, timeout: float = 60.0, **kwargs):
        """Run ``fn(*args, **kwargs)`` on the controller thread and return its result (or
        raise its exception) here. Without a running thread it runs a step inline."""
        future: Future = Future()
        self._inbox.put((lambda: fn(*args, **kwargs), future))
        if self._thread is None or threading.current_thread() is self._thread:
            self.step()
        else:
            self.wake()
        return future.result(timeout)

    def sync(self: ControllerParts, timeout: float = 30.0) -> None:
        """Return once every step that was running or due when this was called has
        finished: a key edge or clock change that woke the controller has been decided,
        its LEDs set and its status published. (One :meth:`call` is not enough: it is
        answered at the start of the next step, before that step looks at the panel.)"""
        self.call(lambda: None, timeout=timeout)
        self.call(lambda: None, timeout=timeout)

    def _post(self: ControllerParts, item) -> None:
        self._inbox.put(item)
        self.wake()

    def _post_outcome(self: ControllerParts, outcome: Outcome) -> None:
        """The workers' report: handled on the controller thread."""
        self._post(outcome)

    def wait_idle(self: ControllerParts, timeout: float = 30.0) -> None:
        """Block until every worker has finished what is wanted now and the controller
        has handled its outcomes (a retry or read-back due later is not waited for).
        For tests and commissioning, which must look at the relays after a change."""

        deadline = time.monotonic() + timeout
        while True:
            self.call(lambda: None, timeout=max(0.1, deadline - time.monotonic()))
            if all(z.worker.idle() for z in self.zones.values()) and self._inbox.empty():
                self.call(lambda: None, timeout=max(0.1, deadline - time.monotonic()))
                if all(z.worker.idle() for z in self.zones.values()) and self._inbox.empty():
                    return
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"the workers are still busy after {timeout} s: "
                    + ", ".join(repr(z.worker) for z in self.zones.values())
                )
            time.sleep(0.002)
