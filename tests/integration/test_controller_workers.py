"""The key is never kept waiting: each zone's actuators have a worker of their own.

The controller decides and hands the wanted mode to the zone's worker; whatever a worker
is doing (a silent PBX's dialogue, a slow one, an LED test, a hung driver), a key turn is
decided at once, its LEDs show it at once, its own relays follow at once, and the newest
wanted mode is the one the PBX ends in. The PBX is the simulator on a real pty; the pins
are gpiozero's MockFactory.

"At once" is asserted by order, never by wall time: the key's relay moved (or its LEDs
showed the new mode) *while* the slow work was still in progress, which the tests hold in
place with gates they open themselves.
"""

from __future__ import annotations

import queue
import shutil
import threading
from contextlib import contextmanager
from datetime import datetime

import pytest

from appliance.actuators import build_actuator
from appliance.config import load_config_text
from appliance.control.controller import Controller
from appliance.inputs.clock import SimClock
from appliance.inputs.panel import FrontPanel
from appliance.pbx.profiles import load_profiles
from appliance.sim.pty_pbx import PbxSimulator
from appliance.store import Store
from tests.appliance_helpers import (
    BERLIN,
    MONDAY_0759,
    REPO,
    Rig,
    close_contact,
    connect,
    open_contact,
    panel_toml,
    wait_until,
)

FIXTURE_SITE = REPO / "tests" / "fixtures" / "pbx" / "site"
PASSWORD = "s3cret-Pa55"
NIGHT_2200 = datetime(2026, 3, 2, 22, 0, tzinfo=BERLIN)
MONDAY_1000 = datetime(2026, 3, 2, 10, 0, tzinfo=BERLIN)


def site_profiles(tmp_path):
    site = tmp_path / "profiles"
    site.mkdir()
    for f in FIXTURE_SITE.glob("*.toml"):
        shutil.copy(f, site / f.name)
    return site


def serial_table(name: str, port: str, zone: str | None = None) -> str:
    return (
        f'[[actuators]]\nname = "{name}"\ntype = "serial"\nprofile = "mitel-3300-login"\n'
        f'port = "{port}"\npassword = "{PASSWORD}"\n' + (f'zone = "{zone}"\n' if zone else "")
    )


def contact_table(name: str = "night-service", *, zone: str | None = None) -> str:
    return (
        f'[[actuators]]\nname = "{name}"\ntype = "contact"\npin = 17\nsettle_ms = 60\n'
        'modes = { day = "open", night = "closed" }\n'
        'sense = { pin = 24, pull_up = false, active_in = ["night"] }\n'
        + (f'zone = "{zone}"\n' if zone else "")
    )


class SerialSite:
    """A site whose zones are given as TOML, with the PBX simulator on a pty for the
    serial actuators, built as the daemon builds it."""

    def __init__(self, tmp_path, factory, tables: str, *, start=MONDAY_0759):
        self.site = site_profiles(tmp_path)
        profile = load_profiles(self.site)["mitel-3300-login"]
        (tmp_path / "links").mkdir()
        self.sim = PbxSimulator(
            profile, password=PASSWORD, link_dir=tmp_path / "links", seed=3
        ).start()
        self.port = self.sim.port_path
        text = (
            f'[site]\nname = "Workers"\ntimezone = "Europe/Berlin"\n'
            f'[profiles]\ndir = "{self.site}"\n' + tables.replace("{port}", self.port)
        )
        self.config = load_config_text(text, "workers.toml")
        connect(factory, 17, 24)
        self.clock = SimClock(start)
        self.store = Store(tmp_path / "data")
        self.actuators = [
            build_actuator(
                spec, pin_factory=factory, clock=self.clock, profiles_dir=self.config.profiles_dir
            )
            for spec in self.config.actuators
        ]
        self.panels = [
            FrontPanel(p, pin_factory=factory, clock=self.clock) for p in self.config.panels
        ]
        self.controller = Controller(
            self.config, self.store, self.clock, actuators=self.actuators, panels=self.panels
        )
        self.rig = Rig(
            factory,
            self.clock,
            self.store,
            self.config,
            tmp_path / "data",
            self.actuators,
            self.panels,
            self.controller,
        )

    def actuator(self, name):
        return next(a for a in self.actuators if a.name == name)

    def close(self):
        self.rig.close()
        self.sim.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Gate:
    """Holds a function call until the test opens it, and records what happened, in the
    order it happened, on one list shared by every gate of a test."""

    def __init__(self, log: list, name: str):
        self.log, self.name = log, name
        self.entered = threading.Event()
        self._open = threading.Event()

    def wrap(self, obj, method: str):
        real = getattr(obj, method)

        def held(*args, **kw):
            self.log.append((f"{self.name} begins", args))
            self.entered.set()
            self._open.wait(30)
            try:
                return real(*args, **kw)
            finally:
                self.log.append((f"{self.name} ends", args))

        setattr(obj, method, held)

    def open(self):
        self._open.set()


def record(obj, method: str, log: list, name: str):
    """Wrap *method* to append ``(name, args)`` to *log* when it is called."""
    real = getattr(obj, method)

    def recorded(*args, **kw):
        log.append((name, args))
        return real(*args, **kw)

    setattr(obj, method, recorded)


def turn_key(rig: Rig, position: str) -> None:
    inputs = rig.panel.inputs
    for name, closed in (("key_day", position == "day"), ("key_night", position == "night")):
        (close_contact if closed else open_contact)(inputs[name])
    rig.clock.advance(0.05)  # the debounce time, on the simulated clock


@contextmanager
def day_site_with_a_key(factory, data_dir):
    """A started rig at 10:00 on a Monday (day: a key turn to NIGHT changes the mode)
    with the key switch, its LEDs and a sensed night-service contact, past its lamp
    test."""
    from tests.appliance_helpers import build_rig, config, contact_toml

    with build_rig(
        factory,
        data_dir,
        config(panel_toml(), contact_toml()),
        wires={17: 24},
        start=MONDAY_1000,
    ) as rig:
        rig.start()
        rig.clock.advance(2)
        rig.settle()
        yield rig


ZONES = """
[[zones]]
name = "main"
[[zones]]
name = "sales"
"""


def test_a_key_turn_on_a_relay_zone_while_another_zones_pbx_is_silent(tmp_path, mock_factory):
    tables = (
        ZONES
        + panel_toml()
        + contact_table(zone="main")
        + serial_table("sales-port", "{port}", zone="sales")
    )
    with SerialSite(tmp_path, mock_factory, tables, start=MONDAY_1000) as site:
        rig = site.rig
        rig.start()
        rig.settle()
        assert rig.status("sales")["verified"] and rig.pin(17).state is False  # day
        log: list = []
        record(site.actuator("night-service"), "apply", log, "main relay")
        # Sales' PBX falls silent, and the schedule asks sales for night: its worker
        # is now stuck waiting for a login prompt that never comes.
        site.sim.inject("silence")
        sales_busy = threading.Event()
        sales = rig.controller.zones["sales"].worker
        real_apply = site.actuator("sales-port").apply

        def sales_apply(mode):
            log.append(("sales dialogue begins", (mode,)))
            sales_busy.set()
            try:
                return real_apply(mode)
            finally:
                log.append(("sales dialogue ends", (mode,)))

        site.actuator("sales-port").apply = sales_apply
        rig.controller.set_override("sales", "night", None, by="test")
        assert sales_busy.wait(10) and sales.busy
        # Reception turns the key on main.
        turn_key(rig, "night")
        wait_until(
            lambda: rig.pin(17).state is True,
            timeout=10,
            message="main's relay did not follow the key",
        )
        names = [name for name, _ in log]
        # main's relay moved while sales' dialogue was still waiting for its PBX
        assert names.index("main relay") > names.index("sales dialogue begins")
        assert "sales dialogue ends" not in names[: names.index("main relay")]
        assert rig.status("main")["key"] == "night"
        # the silent PBX then shows as a fault of sales alone
        wait_until(lambda: rig.status("sales")["faults"], timeout=20)
        assert [f["kind"] for f in rig.status("sales")["faults"]] == ["actuator"]
        assert rig.status("main")["faults"] == [] and rig.status("main")["verified"]


def test_a_key_turn_during_its_own_zones_slow_dialogue(tmp_path, mock_factory):
    """The LEDs show each wanted mode the moment it is decided; the dialogue stops at its
    next safe point; the PBX ends in the newest mode and never gets a stale one."""
    with SerialSite(
        tmp_path, mock_factory, panel_toml() + serial_table("pbx-port", "{port}"), start=NIGHT_2200
    ) as site:
        rig = site.rig
        rig.start()
        rig.clock.advance(2)  # past the lamp test
        rig.settle()
        assert site.sim.model.mode == "night"
        link = site.actuator("pbx-port").link
        log: list = []
        gate = Gate(log, "login")
        gate.wrap(link, "login")
        commands: list = []
        worker = rig.controller.zones["main"].worker
        real_command = link.command

        def command(d, mode, deadline):
            commands.append((mode, worker._wanted))  # what it sends, what was wanted
            return real_command(d, mode, deadline)

        link.command = command

        turn_key(rig, "day")  # the worker starts a dialogue for day ...
        assert gate.entered.wait(10)  # ... and is held in its login
        rig.controller.sync()
        assert rig.panel.leds.patterns == {"day": "fast", "night": "off", "fault": "off"}
        turn_key(rig, "night")  # changed her mind: night ...
        rig.controller.sync()
        assert rig.panel.leds.patterns == {"day": "off", "night": "fast", "fault": "off"}
        turn_key(rig, "day")  # ... no: day after all
        rig.controller.sync()
        assert rig.panel.leds.patterns == {"day": "fast", "night": "off", "fault": "off"}
        assert ("login ends", ()) not in [(n, ()) for n, _ in log]  # still in the login
        gate.open()
        wait_until(lambda: rig.status()["verified"], timeout=20)
        rig.settle()
        assert site.sim.model.mode == "day" and rig.status()["mode"] == "day"
        # every command sent was for the mode wanted when it was sent: day, once
        assert commands == [("day", "day")]
        assert rig.panel.leds.patterns == {"day": "slow", "night": "off", "fault": "off"}
        keys = [a["reason"] for a in rig.audit() if a["source"] == "key"]
        assert len(keys) == 3


def test_an_override_answers_before_a_silent_pbx_has(tmp_path, mock_factory):
    """The API's override returns once the decision is stored: switching, not yet
    confirmed; the confirmation (or the fault) follows in the status."""
    with SerialSite(
        tmp_path, mock_factory, serial_table("pbx-port", "{port}"), start=MONDAY_1000
    ) as site:
        rig = site.rig
        rig.start()
        rig.settle()
        site.sim.inject("silence")
        answer = rig.controller.set_override(None, "night", None, by="script")
        assert answer["mode"] == "night" and answer["switching"] is True
        assert answer["verified"] is False
        assert rig.store.get_override("main")["mode"] == "night"
        wait_until(lambda: rig.status()["faults"], timeout=20)
        site.sim.clear()


def test_a_key_turn_during_an_led_test_ends_the_test(mock_factory, data_dir):
    with day_site_with_a_key(mock_factory, data_dir) as rig:
        assert rig.pin(17).state is False
        test = rig.controller.test_leds(10.0, by="installer")  # 30 s in all
        wait_until(
            lambda: (
                rig.panel.leds.patterns["day"] == "on" and rig.panel.leds.patterns["night"] == "off"
            ),
            timeout=10,
        )
        # What the worker had been handed when the test's audit row was written: the
        # row (an fsync) must come after the key's mode reached the worker, not before.
        wanted_at_test_row = []
        add_audit = rig.controller.store.add_audit

        def recording_add_audit(zone, **row):
            if row["source"] == "test":
                wanted_at_test_row.append(rig.controller.zones["main"].wanted_mode)
            return add_audit(zone, **row)

        rig.controller.store.add_audit = recording_add_audit
        turn_key(rig, "night")
        result = test.result(10)  # long before the 30 s are up
        assert result == {"tested": ["main:day"], "interrupted": True}
        assert wanted_at_test_row == ["night"]
        rig.settle()
        assert rig.pin(17).state is True
        assert rig.panel.leds.patterns == {"day": "off", "night": "slow", "fault": "off"}
        reasons = [a["reason"] for a in rig.audit() if a["source"] == "test"]
        assert reasons == ["LED test: main:day lit for 10 s each (ended early: the key was turned)"]


def test_a_relay_test_yields_to_a_key_turn(mock_factory, data_dir):
    with day_site_with_a_key(mock_factory, data_dir) as rig:
        assert rig.pin(17).state is False  # day: open
        test = rig.controller.test_relay("night-service", 10.0, by="installer")
        wait_until(lambda: rig.pin(17).state is True, timeout=10)  # closed for the test
        turn_key(rig, "night")
        result = test.result(10)
        assert result["interrupted"] is True and result["shown"] == "closed"
        rig.settle()
        assert rig.pin(17).state is True and rig.status()["mode"] == "night"
        assert rig.status()["verified"]


def test_shutdown_releases_the_relays_of_a_worker_stuck_mid_sequence(
    mock_factory, data_dir, caplog
):
    """A keypad hung with the phone off-hook and a key held (a driver that never returns):
    the shutdown waits a bounded time, then de-energizes every relay itself."""
    from tests.appliance_helpers import build_rig, config

    keypad = (
        '[[actuators]]\nname = "feature-code"\ntype = "keypad"\nhook_pin = 20\n'
        'keys = { "7" = 21, "1" = 12, "8" = 18, "2" = 16 }\n'
        'sequences = { day = "718 2", night = "718 1" }\n'
    )
    hung = threading.Event()
    never = threading.Event()

    def sleep(seconds):
        if seconds == 0.15 and hung.is_set():  # a key press: hang with the key held
            never.wait(60)

    with build_rig(mock_factory, data_dir, config(keypad), start=NIGHT_2200, sleep=sleep) as rig:
        rig.start()
        rig.settle()
        hung.set()
        rig.controller.set_override(None, "day", None, by="test")
        relays = [rig.pin(p) for p in (20, 21, 12, 18, 16)]
        wait_until(lambda: rig.pin(20).state and rig.pin(21).state, timeout=10)
        rig.controller.close()  # the test's thread; bounded wait inside
        assert all(pin.state is False for pin in relays)
        assert "did not stop within 2 s; releasing its relays directly" in caplog.text
    never.set()


@pytest.mark.parametrize("during", ["retry", "verify"])
def test_the_controller_is_never_the_thread_that_waits(mock_factory, data_dir, during):
    """Whatever the worker waits for, the controller answers a call at once."""
    from tests.appliance_helpers import build_rig, config, contact_toml

    cfg = config(panel_toml(), contact_toml(), "[verify]\ncheck_minutes = 1")
    with build_rig(mock_factory, data_dir, cfg, wires={17: 24}, start=MONDAY_1000) as rig:
        rig.start()
        rig.settle()
        log: list = []
        gate = Gate(log, during)
        gate.wrap(rig.actuators[0], "read_back" if during == "verify" else "apply")
        if during == "verify":
            rig.clock.advance(60)
        else:
            rig.controller.set_override(None, "night", None, by="test")
        assert gate.entered.wait(10)
        # the worker is held; the controller still decides, publishes and answers
        assert rig.controller.call(lambda: "answered", timeout=5) == "answered"
        turn_key(rig, "day")
        rig.controller.sync()
        assert rig.status()["key"] == "day"
        gate.open()
        rig.settle()
        assert rig.status()["mode"] == "day" and rig.pin(17).state is False


def test_close_is_bounded_and_idempotent_with_idle_workers(mock_factory, data_dir):
    from tests.appliance_helpers import build_rig, config, contact_toml

    with build_rig(
        mock_factory, data_dir, config(contact_toml(sense_pin=None)), start=NIGHT_2200
    ) as rig:
        rig.start()
        rig.settle()
        assert rig.pin(17).state is True
        rig.controller.close()
        assert rig.pin(17).state is False
        assert all(not z.worker.threaded for z in rig.controller.zones.values())
        rig.controller.close()  # idempotent


def test_status_subscribers_are_woken_after_the_worker_takes_up_the_key(mock_factory, data_dir):
    """The live streams' threads must not crowd the worker on its way to the relay: after
    handing a mode to an idle worker, the controller waits (a bounded time) for the worker
    to take it up before it wakes the subscribers."""
    from appliance.control.controller import HANDOFF_WAIT_S

    with day_site_with_a_key(mock_factory, data_dir) as rig:
        events: list[tuple] = []
        worker = rig.controller.zones["main"].worker
        real_wait_taken = worker.wait_taken

        def wait_taken(timeout):
            taken = real_wait_taken(timeout)
            events.append(("waited", timeout, taken))
            return taken

        worker.wait_taken = wait_taken

        class Subscriber(queue.Queue):
            def put_nowait(self, item):
                events.append(("published", item["mode"]))
                super().put_nowait(item)

        subscriber = Subscriber()
        with rig.controller._snapshot_lock:
            rig.controller._subscribers.append(subscriber)
        turn_key(rig, "night")
        rig.settle()
        assert rig.pin(17).state is True
        first_night = events.index(("published", "night"))
        # (Whether the worker made it within the wait depends on the machine's load.)
        waits = [e[:2] for e in events[:first_night] if e[0] == "waited"]
        assert waits == [("waited", HANDOFF_WAIT_S)], events
        assert HANDOFF_WAIT_S <= 0.005  # the status is late by this at most


def test_a_relay_zone_counts_as_taken_only_once_its_relay_has_moved(mock_factory, data_dir):
    """What the controller waits for before it wakes the live streams is the relay's
    drive, not the worker's first look at the change: between the two the crowd would
    still stand between the worker and its relay. A drive held back shows it."""
    with day_site_with_a_key(mock_factory, data_dir) as rig:
        worker = rig.controller.zones["main"].worker
        relay = worker.primary[0].relay_devices()["night-service"]
        release, reached = threading.Event(), threading.Event()
        real_on = relay.device.on

        def slow_on():
            reached.set()
            assert release.wait(10), "the test never let the relay move"
            real_on()

        relay.device.on = slow_on
        try:
            worker.want("night")
            assert reached.wait(10), "the worker never came to the relay"
            # The worker has taken the change up and stands at the relay: not taken yet.
            assert worker.wait_taken(0.05) is False
            assert rig.pin(17).state is False
        finally:
            release.set()
        assert worker.wait_taken(10) is True
        assert rig.pin(17).state is True


def test_a_change_that_moves_no_relay_is_taken_when_the_apply_ends(mock_factory, data_dir):
    """A wanted mode the actuator refuses (a mode it has no position for) moves nothing,
    and must not leave the controller waiting for a drive that never comes."""
    with day_site_with_a_key(mock_factory, data_dir) as rig:
        worker = rig.controller.zones["main"].worker
        worker.want("lunch")
        assert worker.wait_taken(10) is True
        assert rig.pin(17).state is False
