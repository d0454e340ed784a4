"""PBX faults in random sequence over a long simulated run, through the maintenance port.

The controller's thread runs against a serial actuator talking, over a real pty, to the
PBX simulator (:class:`~appliance.sim.pty_pbx.PbxSimulator`) at 9600 baud with its wire
timing. The simulator's faults are injected one after another, in an order drawn at
random: ``silence``, ``garbage``, ``slow``, ``wrong_password``, ``drop`` (the port
vanishes until cleared), a timed drop (it comes back by itself), ``cut`` (the line is cut
in the middle of a command: the PBX stays logged in with half a line typed),
``power_cut`` (the PBX comes back in another mode), and two states a cut session leaves
the terminal in without any fault (logged in with a partial line, or at the password
prompt). Each one meets the appliance either when it switches (an override) or at its
periodic read-back; the simulated clock is advanced to get there, and on through several
retry periods with the fault still in place.

The refused login is also tested on its own at the link
(:func:`test_a_refused_login_is_never_retried_at_the_link`): one login per operation
however many retries the profile allows, :exc:`~appliance.actuators.base.LoginRefused`
with ``retry_automatically = False``, and no wedge once the password fits.

For each episode:

* nothing crashes (the controller thread lives; no internal error is logged);
* a refused login (``wrong_password``) is never retried by itself within a day, by a
  switch or a read-back, so a PBX that locks its maintenance account after a few
  failures is not locked by the appliance; an operator's retry restores the mode;
* the fault is on the status page (``faults``) within 5 s of the appliance's first
  contact with the PBX after the fault began;
* once the fault clears, the very next retry (at most one retry period later, on the
  simulated clock) restores the mode the decision wants, on the PBX itself, verified;
* the audit log tells the story: a fault entry and a recovery entry (or, for the power
  cut, the drift that was found and switched back);
* a terminal left logged in or at its password prompt is found and brought to its
  command prompt at the next contact, with no fault at all.
"""

from __future__ import annotations

import logging
import random
import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from appliance.actuators import build_actuator
from appliance.config import load_config_text
from appliance.control.controller import Controller
from appliance.control.worker import REFUSED_RETRY_S
from appliance.inputs.clock import SimClock
from appliance.pbx.profiles import load_profiles
from appliance.sim.pty_pbx import PbxSimulator
from appliance.store import Store
from tests.appliance_helpers import MONDAY_0759, REPO

FIXTURE_SITE = REPO / "tests" / "fixtures" / "pbx" / "site"
PASSWORD = "s3cret-Pa55"
#: The fixture's login with timeouts short enough that a silent PBX fails within 2 s, and
#: long enough (0.6 s a step) for an answer on a machine with 4 busy loops beside the suite.
FAST_PROFILE = """\
# Reliability suite: the fixture's invented login (tests/fixtures/pbx/site) with short
# timeouts, so each failed attempt costs a fraction of a second of real time.
extends = "mitel-3300-login"
name = "mitel-3300-rel"
title = "Test fixture: mitel-3300-login with short timeouts"
verified = "Test fixture."

[methods.serial.timeouts]
step_s = 0.6
operation_s = 2.0
"""
FAULTS = (
    "silence",
    "garbage",
    "slow",
    "wrong_password",
    "drop",
    "drop_timed",
    "cut",
    "power_cut",
    "left_logged_in",
    "left_at_password",
)
#: Not faults: states a cut session leaves the terminal in, which the next contact must
#: find its way out of without a fault.
LEFT_STATES = {"left_logged_in": ("logged_in", "CP SE"), "left_at_password": ("password", "")}
SHOWN_WITHIN_S = 5.0


class PbxRig:
    """A controller, a serial actuator and the simulated PBX on a pty."""

    def __init__(self, tmp_path: Path, *, check_minutes: int = 15, seed: int = 7):
        site = tmp_path / "profiles"
        site.mkdir()
        for f in FIXTURE_SITE.glob("*.toml"):
            shutil.copy(f, site / f.name)
        (site / "mitel-3300-rel.toml").write_text(FAST_PROFILE)
        profile = load_profiles(site)["mitel-3300-rel"]
        self.clock = SimClock(MONDAY_0759)
        self.sim = PbxSimulator(
            profile, password=PASSWORD, link_dir=tmp_path / "links", seed=seed, now=self.clock.now
        )
        (tmp_path / "links").mkdir()
        self.sim.start()
        text = f"""
[site]
name = "PBX faults"
timezone = "Europe/Berlin"
[profiles]
dir = "{site}"
[verify]
check_minutes = {check_minutes}
drift = "enforce"
[[actuators]]
name = "pbx-port"
type = "serial"
profile = "mitel-3300-rel"
port = "{self.sim.port_path}"
password = "{PASSWORD}"
modes = {{ day = "day", night = "night" }}
"""
        self.config = load_config_text(text, "pbx-faults.toml")
        self.store = Store(tmp_path / "data")
        self.actuators = [
            build_actuator(spec, clock=self.clock, profiles_dir=self.config.profiles_dir)
            for spec in self.config.actuators
        ]
        self.controller = Controller(self.config, self.store, self.clock, actuators=self.actuators)
        self.zone = self.controller.zones["main"]
        # Every session the actuator opens with the PBX (a login), in order.
        self.operations: list[str] = []
        link = self.actuators[0].link
        real_operation = link._operation
        link._operation = lambda name, body: (
            self.operations.append(name),
            real_operation(name, body),
        )[1]

    def start(self):
        self.controller.start()
        self.wait(lambda: self.status()["verified"], 10, "the first switch")

    def status(self):
        return self.controller.status()

    def idle(self):
        """Wait until the controller and the zone's worker have nothing to do now;
        returns the worker's pending deadlines then."""
        self.controller.wait_idle()
        worker = self.zone.worker
        return (worker.retry_due_at(), worker.verify_at, self.clock.monotonic(), worker.backoff)

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what}: not within {timeout} s; status {self.status()}; sim {self.sim!r}"
                )
            time.sleep(0.01)

    def advance_to_next_attempt(self) -> float:
        """Advance the simulated clock to the controller's next contact with the PBX
        (a retry or the read-back); returns how far that was."""
        retry_at, verify_at, mono, _ = self.idle()
        due = [t for t in (retry_at, verify_at) if t is not None]
        assert due, "the controller has no next contact with the PBX armed"
        step = max(0.0, min(due) - mono)
        self.clock.advance(step)
        return step

    def close(self):
        self.controller.close()
        self.store.close()
        self.sim.close()


def fault_kinds(status) -> set[str]:
    return {f["kind"] for f in status["faults"]}


@pytest.fixture
def internal_errors(caplog):
    """Log records that say something crashed inside the appliance or the simulator."""
    caplog.set_level(logging.WARNING)

    def errors():
        return [
            r
            for r in caplog.records
            if r.exc_info or (r.levelno >= logging.ERROR and "crash" in r.getMessage())
        ]

    return errors


def test_pbx_faults_in_random_sequence(tmp_path, figures, internal_errors, fuzz_examples):
    rng = random.Random(20260302)
    episodes = list(FAULTS) * 2 + [rng.choice(FAULTS) for _ in range(max(0, fuzz_examples))]
    rng.shuffle(episodes)
    rig = PbxRig(tmp_path)
    latencies, recoveries, retries_failed = [], [], 0
    sim_start = rig.clock.now()
    try:
        rig.start()
        assert rig.sim.model.mode == rig.status()["mode"] == "night"
        for _n, fault in enumerate(episodes):
            # Quiet hours between faults: schedule boundaries pass, read-backs happen.
            rig.clock.advance(rng.uniform(0, 10 * 3600))
            rig.idle()
            rig.wait(
                lambda: rig.status()["verified"] and not rig.status()["faults"],
                10,
                "healthy between faults",
            )
            first_audit = max((a["id"] for a in rig.store.audit(limit=1)), default=0)
            wanted_before = rig.status()["mode"]
            via_change = rng.random() < 0.5 and fault != "power_cut"
            events_before = len(rig.sim.terminal.events)
            if fault in LEFT_STATES:
                where, typed = LEFT_STATES[fault]
                rig.sim.put_terminal(where, pending=typed)
            elif fault == "drop_timed":
                rig.sim.inject("drop", seconds=1.5)
            elif fault == "power_cut":
                other = "day" if rig.sim.model.mode == "night" else "night"
                rig.sim.inject("power_cut", mode=other)
                assert rig.sim.model.mode == other
            else:
                rig.sim.inject(fault)

            # -- the appliance meets the fault: a switch, or the read-back
            t0 = time.monotonic()
            if via_change:
                target = "day" if wanted_before == "night" else "night"
                threading.Thread(
                    target=rig.controller.set_override,
                    args=(None, target, None),
                    kwargs={"by": "rel-test"},
                    daemon=True,
                ).start()
            else:
                rig.advance_to_next_attempt()

            if fault in LEFT_STATES:
                # Not a fault at all: the next contact finds the terminal where it was left
                # and gets it to its command prompt, with nothing for the status page.
                rig.wait(
                    lambda: "logged out" in rig.sim.terminal.events[events_before:],
                    SHOWN_WITHIN_S,
                    f"{fault} found and left",
                )
                rig.idle()
                assert rig.status()["verified"] and not rig.status()["faults"], rig.status()
                since = rig.sim.terminal.events[events_before:]
                # The half-done login at the password prompt is ended by the wake-up line
                # (one refusal, not of our password); a session left open costs none.
                assert since.count("refused: password") == (fault == "left_at_password")
                latencies.append(time.monotonic() - t0)
                figures.bump("pbx_faults_injected", unit="faults")
                continue

            if fault == "power_cut":
                # Not a fault of the link: drift, found by the read-back and put right.
                rig.wait(
                    lambda: rig.sim.model.mode == wanted_before and rig.status()["verified"],
                    SHOWN_WITHIN_S,
                    "power cut undone",
                )
                latencies.append(time.monotonic() - t0)
                drift = [a for a in rig.store.audit(source="drift") if a["id"] > first_audit]
                assert drift and f"found in {other}" in drift[0]["reason"], drift
                figures.bump("pbx_faults_injected", unit="faults")
                continue

            shown_as = {"auth"} if fault == "wrong_password" else {"actuator", "link"}
            rig.wait(lambda: fault_kinds(rig.status()) & shown_as, SHOWN_WITHIN_S, f"{fault} shown")
            latencies.append(time.monotonic() - t0)
            assert not rig.status()["verified"]

            if fault == "wrong_password":
                rig.idle()
                logins_before, waited = len(rig.operations), 0.0
                for _ in range(rng.randrange(1, 5)):  # read-backs; perhaps the day
                    waited += rig.advance_to_next_attempt()
                    rig.idle()
                    assert fault_kinds(rig.status()) & {"auth"}
                # at most one login per day of waiting, never one per retry period
                assert len(rig.operations) - logins_before <= waited // REFUSED_RETRY_S, (
                    rig.operations[logins_before:]
                )
                retries_failed += 1
                rig.sim.clear()
                rig.controller.retry(None, by="rel-test")  # the operator's Retry
                rig.wait(
                    lambda: rig.status()["verified"] and not rig.status()["faults"],
                    10,
                    "restored by the operator's retry",
                )
                assert rig.sim.model.mode == rig.status()["mode"]
                story = [a for a in rig.store.audit(limit=200) if a["id"] > first_audit]
                assert [a for a in story if a["source"] == "fault"] and [
                    a for a in story if a["source"] == "recovered"
                ], story
                figures.bump("pbx_faults_injected", unit="faults")
                continue

            # -- the long run with the fault in place: retries fail, backoff grows
            if fault != "drop_timed":
                for _ in range(rng.randrange(1, 7)):  # backoff 2 s ... 64 s
                    rig.advance_to_next_attempt()
                    rig.idle()
                    retries_failed += 1
                    assert fault_kinds(rig.status()) & {"actuator", "link"}
                rig.sim.clear()
            else:
                rig.wait(lambda: rig.sim.device is not None, 5, "the port comes back")

            # -- the fault is gone: the pending retry, at most one retry period away,
            # restores the mode (a read-back due earlier may come first)
            retry_at, verify_at, mono, backoff = rig.idle()
            period = (retry_at if retry_at is not None else verify_at) - mono
            assert period <= rig.controller.retry_max
            wanted = rig.status()["mode"]
            advanced = 0.0

            def restored():
                s = rig.status()
                if s["verified"]:
                    # Never "verified" for a mode the PBX is not in.
                    assert s["applied_mode"] == s["mode"] == rig.sim.model.mode, s
                return s["verified"] and not s["faults"]

            while not restored():
                assert advanced <= period, (
                    f"{fault}: not restored within one retry period ({period:.0f} s) after "
                    f"the fault cleared: {rig.status()}"
                )
                advanced += rig.advance_to_next_attempt()
                t1 = time.monotonic()
                rig.idle()
            recoveries.append(time.monotonic() - t1)
            assert rig.sim.model.mode == rig.status()["mode"] == wanted

            story = [a for a in rig.store.audit(limit=200) if a["id"] > first_audit]
            faults = [a["id"] for a in story if a["source"] == "fault"]
            recovered = [a["id"] for a in story if a["source"] == "recovered"]
            assert faults and recovered and min(faults) < max(recovered), (
                f"{fault} ({'a switch' if via_change else 'the read-back'}): the audit log "
                f"does not tell the story: {[(a['source'], a['reason']) for a in story]}"
            )
            figures.bump("pbx_faults_injected", unit="faults")
            assert rig.controller._thread.is_alive()
            assert not internal_errors(), internal_errors()
        # Clean up an override left by the last change, and end healthy.
        assert rig.controller._thread.is_alive()
    finally:
        rig.close()
    figures.add(
        "pbx_fault_shown_max_s",
        round(max(latencies), 2),
        "s",
        f"target {SHOWN_WITHIN_S} s after the appliance's first contact with the PBX",
    )
    figures.add(
        "pbx_recovery_max_s",
        round(max(recoveries), 2),
        "s",
        "real time from the first retry after the fault cleared to verified",
    )
    figures.add(
        "pbx_fault_simulated_days",
        round((rig.clock.now() - sim_start) / timedelta(days=1), 2),
        "days",
    )
    figures.add("pbx_failed_retries", retries_failed, "retries")


REFUSING_PROFILE = (
    FAST_PROFILE.replace('name = "mitel-3300-rel"', 'name = "mitel-3300-refusing"')
    + "\n[methods.serial]\nretries = 5\n"
)


def test_a_refused_login_is_never_retried_at_the_link(tmp_path):
    """However many retries the profile allows for other failures, a refused login is
    one login per operation, an error that says not to retry it automatically, and no
    wedge afterwards: once the password fits, the next operation logs in from wherever
    the refusal left the terminal."""
    from appliance.errors import LoginRefused

    site = tmp_path / "profiles"
    site.mkdir()
    for f in FIXTURE_SITE.glob("*.toml"):
        shutil.copy(f, site / f.name)
    (site / "mitel-3300-refusing.toml").write_text(REFUSING_PROFILE)
    profile = load_profiles(site)["mitel-3300-refusing"]
    assert profile.serial.retries == 5
    with PbxSimulator(profile, password=PASSWORD, link_dir=tmp_path) as sim:
        actuator = build_actuator(
            {
                "name": "pbx-port",
                "type": "serial",
                "zone": "main",
                "role": "primary",
                "profile": profile.name,
                "port": sim.port_path,
                "password": PASSWORD,
                "_modes": ["day", "night"],
            },
            profiles_dir=site,
        )
        actuator.apply("night")
        sim.inject("wrong_password")
        operations = 4
        for n in range(1, operations + 1):
            with pytest.raises(LoginRefused) as caught:
                if n % 2:
                    actuator.apply("day")
                else:
                    actuator.read_back()
            assert caught.value.retry_automatically is False
            assert sim.terminal.events.count("refused: password") == n
        assert "the PBX refused the login: check the password" in str(caught.value)
        assert sim.model.mode == "night"
        sim.clear()
        actuator.apply("day")
        assert sim.model.mode == "day" and actuator.read_back() == "day"
        assert sim.terminal.events.count("refused: password") == operations
