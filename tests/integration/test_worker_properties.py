"""A property of the controller and its workers, over any interleaving of events.

Hypothesis draws a sequence of key turns, overrides and cancels, clock jumps across the
schedule's boundaries, failures of the actuator, and "the worker gets a little further"
steps, in any order; the worker's applies are held by a gate that only those steps open,
so the events land while applies are pending, running or failing. Whatever the order:

* when everything has settled, the last mode the actuator applied is what
  :func:`~appliance.decision.decide.decide` says for the final time, key and override
  (the relay agrees);
* no apply ever starts for a mode that is not the one wanted at that moment.

The controller and its worker run on their own threads, on gpiozero's mock pins and a
store on disk, as in the daemon.
"""

from __future__ import annotations

import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path

from gpiozero.pins.mock import MockFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.decision.decide import Key, Override, decide
from appliance.errors import ActuatorError, Refused
from tests.appliance_helpers import (
    MONDAY_0759,
    build_rig,
    close_contact,
    config,
    contact_toml,
    open_contact,
    panel_toml,
)

ACTIONS = st.one_of(
    st.tuples(st.just("key"), st.sampled_from(["auto", "day", "night"])),
    st.tuples(st.just("override"), st.sampled_from(["day", "night", None])),
    st.tuples(st.just("advance"), st.sampled_from([30, 600, 3600, 5 * 3600, 11 * 3600])),
    st.tuples(st.just("progress"), st.integers(1, 3)),
    st.tuples(st.just("fail_next"), st.just(True)),
)


class GatedActuator:
    """Holds each apply of *actuator* until the test grants a step; records what each
    apply was for and what the worker wanted then."""

    def __init__(self, actuator, worker):
        self.actuator, self.worker = actuator, worker
        self.permits = threading.Semaphore(0)
        self.free = threading.Event()
        self.fail_next = False
        self.started: list[tuple[str, str | None]] = []  # (mode, wanted at the start)
        self.applied: list[str] = []
        real = actuator.apply

        def apply(mode):
            self.started.append((mode, worker._wanted))
            while not self.free.is_set():
                if self.permits.acquire(timeout=0.02):
                    break
            if self.fail_next:
                self.fail_next = False
                raise ActuatorError(f"{actuator.name}: the test made this apply fail")
            real(mode)
            self.applied.append(mode)

        actuator.apply = apply


def turn(rig, position: str) -> None:
    inputs = rig.panel.inputs
    for name, closed in (("key_day", position == "day"), ("key_night", position == "night")):
        (close_contact if closed else open_contact)(inputs[name])
    rig.clock.advance(0.05)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(actions=st.lists(ACTIONS, max_size=20))
def test_the_last_mode_applied_is_the_decision_at_the_end(actions):
    factory = MockFactory()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data"
            data.mkdir()
            cfg = config(panel_toml(), contact_toml())
            rig = build_rig(
                factory, data, cfg, wires={17: 24}, retry_min=2, retry_max=8, start=MONDAY_0759
            )
            with rig:
                zone = rig.controller.zones["main"]
                gated = GatedActuator(rig.actuators[0], zone.worker)
                rig.start_without_waiting()
                key, override = "auto", None
                for action, value in actions:
                    if action == "key":
                        turn(rig, value)
                        rig.controller.sync()  # the key's event has been decided
                        key = value
                    elif action == "override":
                        try:
                            if value is None:
                                rig.controller.cancel_override(None, by="test")
                                override = None
                            else:
                                rig.controller.set_override(None, value, None, by="test")
                                override = value
                        except Refused:
                            assert key in ("day", "night")
                    elif action == "advance":
                        rig.clock.advance(value)
                    elif action == "progress":
                        for _ in range(value):
                            gated.permits.release()
                    else:
                        gated.fail_next = True
                # Let everything finish: no more failures, every apply may go through,
                # and any retry falls due.
                gated.fail_next = False
                gated.free.set()
                rig.controller.sync()
                rig.clock.advance(8)
                rig.settle()
                now = rig.clock.now()
                expected = decide(
                    now,
                    zone.schedule,
                    Override(override, None, "test", now) if override else None,
                    Key(key),
                ).mode
                assert rig.status()["mode"] == expected
                assert gated.applied and gated.applied[-1] == expected, gated.applied
                assert rig.pin(17).state is (expected == "night")
                assert rig.status()["verified"], (
                    rig.status(),
                    zone.worker,
                    gated.started,
                    gated.applied,
                )
                stale = [(mode, wanted) for mode, wanted in gated.started if mode != wanted]
                assert not stale, f"applies started for modes no longer wanted: {stale}"
    finally:
        factory.reset()


def test_the_property_sees_the_gate_hold_an_apply():
    """The gate really holds the worker (else the property above would test nothing)."""
    factory = MockFactory()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data"
            data.mkdir()
            rig = build_rig(
                factory,
                data,
                config(panel_toml(), contact_toml()),
                wires={17: 24},
                start=datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc),
            )
            with rig:
                zone = rig.controller.zones["main"]
                gated = GatedActuator(rig.actuators[0], zone.worker)
                rig.start_without_waiting()
                from tests.appliance_helpers import wait_until

                wait_until(lambda: gated.started, timeout=10)
                rig.controller.sync()
                assert zone.worker.busy and gated.applied == []
                assert rig.status()["switching"] is True
                gated.free.set()
                rig.settle()
                assert gated.applied == ["day"] and rig.status()["verified"]
    finally:
        factory.reset()
