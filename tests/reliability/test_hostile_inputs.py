"""Hostile input on the wires and in the files.

* A megabyte of random bytes from the PBX's maintenance port while the appliance tries
  to switch and read back: the switch fails with a clear fault, the controller lives,
  and it recovers when the PBX talks sense again.
* A megabyte of random bytes on the SMDR line: the intake keeps reading, keeps junk raw
  within its hourly limit, and a real call record after the noise is stored.
* Malformed configs, PBX profiles and SMDR formats (hypothesis mutates the shipped files,
  structurally and byte by byte): each is accepted or refused with errors that name a
  field; nothing else ever escapes, and a refused file changes nothing stored.
"""

from __future__ import annotations

import os
import pty
import random
import shutil
import threading
import time
import tomllib
import tty
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.actuators import build_actuator
from appliance.config import load_config_text
from appliance.control.controller import Controller
from appliance.errors import NightswitchError, ValidationError
from appliance.inputs.clock import SimClock
from appliance.pbx.profiles import SHIPPED_DIR, load_profiles
from appliance.smdr.formats import load_format
from appliance.smdr.intake import SmdrIntake
from appliance.smdr.record import CallRecord
from appliance.store import Store
from tests.appliance_helpers import MONDAY_0759, REPO
from tests.reliability.daemon_rig import PINMAP
from tests.reliability.relhelp import db_fingerprint, rss_kb
from tests.reliability.test_pbx_faults import FAST_PROFILE, FIXTURE_SITE, PASSWORD

MEGABYTE = 1024 * 1024
BERLIN = ZoneInfo("Europe/Berlin")


class NoisyLine:
    """A pty whose far end sends random bytes as fast as the reader takes them."""

    def __init__(self, total: int, seed: int = 5, *, discard: bool = True):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.total = total
        self.discard = discard
        self.sent = 0
        self.rng = random.Random(seed)
        self._stop = threading.Event()
        os.set_blocking(self.master, False)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        while self.sent < self.total and not self._stop.is_set():
            chunk = self.rng.randbytes(min(4096, self.total - self.sent))
            try:
                self.sent += os.write(self.master, chunk)
            except BlockingIOError:
                if not self.discard:
                    self._stop.wait(0.001)  # the reader is busy: wait for it
                    continue
                # Nobody is reading: the line's buffer is full. Throw away what waits
                # on our own slave end, as a PBX talking to nobody would.
                os.set_blocking(self.slave, False)
                try:
                    os.read(self.slave, 65536)
                except BlockingIOError:
                    pass
                os.set_blocking(self.slave, True)
                self._stop.wait(0.001)

    @property
    def done(self) -> bool:
        return self.sent >= self.total

    def write(self, data: bytes):
        os.set_blocking(self.master, True)
        os.write(self.master, data)

    def close(self):
        self._stop.set()
        self.thread.join(5)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def serial_controller(tmp_path, port: str):
    site = tmp_path / "profiles"
    site.mkdir()
    for f in FIXTURE_SITE.glob("*.toml"):
        shutil.copy(f, site / f.name)
    (site / "mitel-3300-rel.toml").write_text(FAST_PROFILE)
    text = f"""
[site]
name = "Noise"
timezone = "Europe/Berlin"
[profiles]
dir = "{site}"
[[actuators]]
name = "pbx-port"
type = "serial"
profile = "mitel-3300-rel"
port = "{port}"
password = "{PASSWORD}"
modes = {{ day = "day", night = "night" }}
"""
    config = load_config_text(text, "noise.toml")
    clock = SimClock(MONDAY_0759)
    store = Store(tmp_path / "data")
    actuators = [
        build_actuator(spec, clock=clock, profiles_dir=config.profiles_dir)
        for spec in config.actuators
    ]
    return Controller(config, store, clock, actuators=actuators), store, clock, site


def test_a_megabyte_of_noise_from_the_pbx_port(tmp_path, figures):
    line = NoisyLine(MEGABYTE).start()
    controller, store, clock, site = serial_controller(tmp_path, line.path)
    rss_before = rss_kb()
    attempts = 0
    try:
        started = time.monotonic()
        while not line.done:
            attempts += 1
            t0 = time.monotonic()
            controller.step()  # apply (fails on the noise), or the retry
            took = time.monotonic() - t0
            # login retries once on a fresh port: two operations of at most 2 s each
            assert took < 2 * 2.0 + 1.0, f"one attempt took {took:.1f} s"
            status = controller.status()
            assert not status["verified"]
            assert {f["kind"] for f in status["faults"]} & {"actuator", "link"}, status
            clock.advance(controller.zones["main"].worker.backoff)
            assert time.monotonic() - started < 120, f"only {line.sent} bytes taken in 2 min"
        # Bounded memory: the dialogue keeps 16 KB of what it reads, not a megabyte.
        assert rss_kb() - rss_before < 20 * 1024
        message = controller.status()["faults"][0]["message"]
        assert "pbx-port" in message and len(message) < 2000
        fault_rows = [a for a in store.audit() if a["source"] == "fault"]
        assert fault_rows and len(fault_rows) <= attempts
    finally:
        line.close()
    # The line talks sense again: the real simulator on a fresh pty, same controller.
    from appliance.sim.pty_pbx import PbxSimulator

    profile = load_profiles(site)["mitel-3300-rel"]
    (tmp_path / "links").mkdir()
    with PbxSimulator(profile, password=PASSWORD, link_dir=tmp_path / "links") as sim:
        for actuator in controller.zones["main"].actuators:
            actuator.link.url = sim.port_path
        clock.advance(controller.zones["main"].worker.backoff)
        controller.step()
        status = controller.status()
        assert status["verified"] and not status["faults"], status
        assert sim.model.mode == status["mode"] == "night"
    controller.close()
    store.close()
    figures.add(
        "serial_noise_bytes",
        line.sent,
        "bytes",
        f"random bytes from the PBX port over {attempts} failed attempts; then recovered",
    )


def test_a_megabyte_of_noise_on_the_smdr_line(tmp_path, figures):
    fmt = load_format("panasonic-kx-tda")
    store = Store(tmp_path / "data")
    clock = SimClock(datetime(2026, 3, 2, 20, 0, tzinfo=BERLIN))
    before = db_fingerprint(store.path)
    line = NoisyLine(MEGABYTE, seed=9, discard=False)
    intake = SmdrIntake(
        line.path, fmt, store, "main", BERLIN, clock, read_timeout=0.05, idle_flush_s=0.2
    )
    try:
        intake.start()
        # pyserial empties the line when it opens the port: start the noise after that.
        deadline = time.monotonic() + 10
        while not intake.stats()["connected"]:
            assert time.monotonic() < deadline, intake.stats()
            time.sleep(0.01)
        line.start()
        deadline = time.monotonic() + 120
        while intake.stats()["bytes"] < MEGABYTE:
            assert time.monotonic() < deadline, intake.stats()
            assert intake.running, "the SMDR intake thread died"
            time.sleep(0.05)
        # A real record after the noise still counts (after a line end to resync).
        record = CallRecord(
            started_at=datetime(2026, 3, 2, 19, 55, tzinfo=BERLIN),
            duration_s=42,
            extension="101",
            trunk="01",
            direction="in",
            answered=True,
            ring_s=4,
            number="0301234567",
            fmt=fmt.name,
            raw="",
        )
        line.write(b"\r\n" + (fmt.render(record, BERLIN) + "\r\n").encode("latin-1"))
        deadline = time.monotonic() + 10
        while not [
            c
            for c in store.calls(
                "main", clock.now() - timedelta(days=1), clock.now() + timedelta(days=1)
            )
            if c["number"] == "0301234567"
        ]:
            assert time.monotonic() < deadline, (
                f"the record after the noise was not stored: {intake.stats()}"
            )
            time.sleep(0.05)
        stats = intake.stats()
        assert intake.running and stats["bytes"] >= MEGABYTE
        assert stats["lost"] == 0 and stats["store_errors"] == 0
        # Junk is kept raw, within the hourly limit, and counted beyond it.
        kept = store.unparsed_count()
        assert kept <= intake.unparsed_per_hour + 2
        assert stats["unparsed"] + stats["overlong"] >= 1
        after = db_fingerprint(store.path)
        for table in ("schedules", "overrides", "users", "tokens", "settings", "audit"):
            assert after[table] == before[table], table
    finally:
        intake.stop()
        line.close()
        store.close()
    figures.add(
        "smdr_noise_bytes",
        stats["bytes"],
        "bytes",
        f"{stats['lines']} lines framed, {kept} kept raw, "
        f"{stats['unparsed_not_kept']} counted only, the call after it stored",
    )


# -- malformed files ---------------------------------------------------------------------

toml_values = st.recursive(
    st.none().map(lambda _: "")
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=True)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "night",
            "day",
            "closed",
            "open",
            "Europe/Berlin",
            "three-position",
            "contact",
            "serial",
            "/dev/ttyS0",
            "¹",
            "9" * 25,
            "lunch",
        ]
    )
    | st.datetimes(timezones=st.just(timezone.utc))
    | st.dates(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths_of(doc, prefix=()):
    """Every key path in a TOML document (tables and lists walked)."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield prefix + (k,)
            yield from paths_of(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield prefix + (i,)
            yield from paths_of(v, prefix + (i,))


@st.composite
def mutated_toml(draw, text: str):
    """*text* changed by hypothesis: values replaced, keys added or removed, or bytes
    flipped, inserted and deleted."""
    if draw(st.integers(0, 3)) == 0:
        data = bytearray(text.encode())
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, max(0, len(data) - 1)))
            op = draw(st.sampled_from(["flip", "insert", "delete"]))
            if op == "flip" and data:
                data[at] = draw(st.integers(0, 255))
            elif op == "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=8))
            elif data:
                del data[at : at + draw(st.integers(1, 20))]
        return data.decode("utf-8", errors="replace")
    doc = tomllib.loads(text)
    for _ in range(draw(st.integers(1, 4))):
        paths = list(paths_of(doc))
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if op == "replace":
            parent[path[-1]] = draw(toml_values)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(toml_values)
        else:
            parent.append(draw(toml_values))
    return tomli_w.dumps(_toml_safe(doc))


def _toml_safe(value):
    """tomli_w writes no None; TOML has no null."""
    if isinstance(value, dict):
        return {str(k): _toml_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_toml_safe(v) for v in value if v is not None]
    return value


def assert_named(exc: ValidationError, what: str):
    assert exc.errors, f"{what}: a ValidationError without errors"
    for error in exc.errors:
        assert error.message and isinstance(error.message, str), (what, error)
    text = exc.render()
    assert text.strip() and "Traceback" not in text


CONFIG_TEXT = (
    PINMAP.read_text()
    + """
[site]
name = "Hostile"
timezone = "Europe/Berlin"
[verify]
check_minutes = 15
drift = "enforce"
[smdr]
port = "/dev/ttyUSB0"
format = "panasonic-kx-td"
"""
)


def test_malformed_configs_are_refused_by_field(tmp_path, figures, fuzz_examples):
    data = tmp_path / "data"
    with Store(data) as store:
        store.save_schedule(
            "main", {"timezone": "Europe/Berlin"}, by="test", at=datetime.now(timezone.utc)
        )
    before = db_fingerprint(data / "nightswitch.db")
    tally = {"accepted": 0, "refused": 0}

    @settings(
        max_examples=fuzz_examples or 300,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(text=mutated_toml(CONFIG_TEXT))
    def fuzz(text):
        try:
            load_config_text(text, "nightswitch.toml")
            tally["accepted"] += 1
        except ValidationError as exc:
            assert_named(exc, "config")
            tally["refused"] += 1

    fuzz()
    # `nightswitch check` on a refused file: one line per problem, exit 2, nothing stored
    # changed (check never opens the data directory, and run refuses before it does).
    from tests.reliability.test_hostile_cli import run_in_process

    bad = tmp_path / "bad.toml"
    bad.write_text(
        CONFIG_TEXT.replace('timezone = "Europe/Berlin"', 'timezone = "Mars/Base"').replace(
            "pin = 17", "pin = 99"
        )
    )
    code, out, err = run_in_process(["check", "--config", str(bad)], b"")
    assert code == 2 and "site.timezone" in err and "actuators[0].pin" in err
    code, out, err = run_in_process(["run", "--config", str(bad), "--data", str(data)], b"")
    assert code == 2 and "Traceback" not in err
    assert db_fingerprint(data / "nightswitch.db") == before
    figures.add(
        "config_fuzz_inputs",
        sum(tally.values()),
        "configs",
        f"{tally['refused']} refused by field, {tally['accepted']} valid",
    )


PROFILE_TEXT = (SHIPPED_DIR / "mitel-3300.toml").read_text()


def test_malformed_profiles_are_refused_and_spare_the_others(tmp_path, figures, fuzz_examples):
    site = tmp_path / "profiles"
    site.mkdir()
    shipped = set(load_profiles(tmp_path / "none"))
    tally = {"accepted": 0, "refused": 0}

    @settings(
        max_examples=fuzz_examples or 200,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(text=mutated_toml(PROFILE_TEXT))
    def fuzz(text):
        (site / "mitel-3300.toml").write_text(text)
        profiles = load_profiles(site)
        # One bad site file never takes down the shipped profiles.
        assert shipped - {"mitel-3300"} <= set(profiles)
        for problem in profiles.problems:
            assert_named(problem, "profile")
        tally["refused" if profiles.problems else "accepted"] += 1
        if "mitel-3300" in profiles and profiles["mitel-3300"].has_serial:
            # A profile that loads is one the simulator and the checker can use.
            from appliance.actuators.serial_port import check

            errors = check(
                {
                    "name": "p",
                    "type": "serial",
                    "zone": "main",
                    "role": "primary",
                    "profile": "mitel-3300",
                    "port": "/dev/null",
                    "password": "x",
                    "username": "u",
                },
                "actuators[0]",
                profiles=profiles,
            )
            assert all(e.message for e in errors)

    fuzz()
    figures.add(
        "profile_fuzz_inputs",
        sum(tally.values()),
        "profiles",
        f"{tally['refused']} refused with named errors, {tally['accepted']} loaded",
    )


FORMAT_DIR = REPO / "appliance" / "smdr" / "formats"


def test_malformed_smdr_formats_are_refused_by_field(tmp_path, figures, fuzz_examples):
    site = tmp_path / "smdr"
    site.mkdir()
    text = (
        (FORMAT_DIR / "panasonic-kx-td.toml")
        .read_text()
        .replace('name = "panasonic-kx-td"', 'name = "hostile"')
    )
    assert 'name = "hostile"' in text
    tally = {"accepted": 0, "refused": 0}

    @settings(
        max_examples=fuzz_examples or 200,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(text=mutated_toml(text), line=st.binary(max_size=200))
    def fuzz(text, line):
        (site / "hostile.toml").write_text(text)
        try:
            fmt = load_format("hostile", site)
        except ValidationError as exc:
            assert_named(exc, "format")
            tally["refused"] += 1
            return
        except NightswitchError as exc:
            assert str(exc)
            tally["refused"] += 1
            return
        tally["accepted"] += 1
        # A format that loads parses any line without raising.
        from appliance.smdr.framing import LineFramer
        from appliance.smdr.parser import parse_line

        for framed in LineFramer(512).feed(line + b"\r\n"):
            parse_line(framed.text, fmt, tz=BERLIN, now=datetime(2026, 3, 2, tzinfo=BERLIN))

    fuzz()
    figures.add(
        "smdr_format_fuzz_inputs",
        sum(tally.values()),
        "formats",
        f"{tally['refused']} refused with named errors, {tally['accepted']} loaded",
    )


@pytest.fixture(autouse=True)
def _no_leftover_threads():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        extra = [
            t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon
        ]
        if not extra:
            return
        time.sleep(0.05)
    raise AssertionError(f"threads left running: {extra}")
