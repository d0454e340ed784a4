"""The SMDR intake end to end: a real pseudo-terminal, the real framing and parser, and
SQLite on disk. The PBX side is the pty's master, written the way a PBX prints."""

from __future__ import annotations

import os
import pty
import threading
import time
import tty
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from appliance.errors import ValidationError
from appliance.inputs.clock import SimClock, SystemClock
from appliance.smdr.formats import load_format
from appliance.smdr.intake import SmdrIntake, build_intake, check, next_backoff
from appliance.smdr.record import CallRecord
from appliance.store import Store
from tests.appliance_helpers import wait_until

TZ = ZoneInfo("Europe/Berlin")
NO_SITE = "/nonexistent/nightswitch-smdr-site"
SAMSUNG = load_format("samsung-dcs", NO_SITE)
FAST = dict(read_timeout=0.05, backoff=(0.05, 0.2))


class Pty:
    """A pseudo-terminal whose slave is the 'serial port' and whose master is the PBX."""

    def __init__(self):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)  # no echo, no CR/LF translation, like a raw port
        self.path = os.ttyname(self.slave)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view) :]

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def port():
    p = Pty()
    yield p
    p.close()


@pytest.fixture
def store(data_dir):
    s = Store(data_dir)
    yield s
    s.close()


def recent_call(minutes_ago: int, **fields) -> CallRecord:
    start = (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).replace(microsecond=0)
    values = dict(
        duration_s=42,
        extension="201",
        trunk="701",
        direction="out",
        answered=None,
        ring_s=None,
        number="0301234567",
    )
    values.update(fields)
    return CallRecord(start, fmt="samsung-dcs", raw="", **values)


def test_lines_from_the_port_end_up_in_sqlite(port, store):
    calls = [
        recent_call(30),
        recent_call(20, direction="in", number="13055553426", answered=False, extension=None),
    ]
    wire = (
        b"\x0cSMDR REPORT FOR [STA Office] Mar/02/2026 09:00\r\n"
        b"T EXT AUTH TRK MM/DD STT.TIME DURATION FG DIALED DIGIT ACCOUNT CODE\r\n"
        + b"".join(SAMSUNG.render(c, TZ).encode() + b"\r\n\x00" for c in calls)
        + b"!! line noise !!\r\n"
    )
    with SmdrIntake(port.path, SAMSUNG, store, "main", TZ, SystemClock("always"), **FAST) as intake:
        assert wait_until(lambda: intake.stats()["connected"])
        port.write(wire)
        assert wait_until(lambda: intake.stats()["lines"] == 5)
    stats = intake.stats()
    assert (stats["calls"], stats["headers"], stats["unparsed"]) == (2, 2, 1)
    assert not intake.running and stats["connected"] is False
    stored = store.calls(
        "main", calls[0].started_at - timedelta(hours=1), calls[1].started_at + timedelta(hours=1)
    )
    assert [(c["started_at"], c["direction"], c["answered"], c["number"]) for c in stored] == [
        (calls[0].started_at.isoformat(), "out", None, "0301234567"),
        (calls[1].started_at.isoformat(), "in", False, "13055553426"),
    ]
    assert all(c["fmt"] == "samsung-dcs" and c["zone"] == "main" for c in stored)
    assert store.unparsed_count() == 1
    assert store.unparsed()[0]["raw"] == "!! line noise !!"
    assert store.unparsed()[0]["reason"] == "does not match the samsung-dcs layout"


def test_routes_give_each_zone_its_own_calls(port, store):
    """A call is judged by its zone's history (docs/design.md#after-hours-calls-smdr), so
    a multi-zone site's calls must land in their zones: by extension or trunk, first route
    first, the rest in smdr.zone."""
    from appliance.smdr.routing import Route

    routes = [Route("sales", extensions=("2*",)), Route("service", trunks=("70[5-9]",))]
    calls = [
        recent_call(30, extension="201", trunk="701"),  # sales by extension
        recent_call(25, extension="301", trunk="706"),  # service by trunk
        recent_call(20, extension="301", trunk="701"),  # nobody's: main
        recent_call(15, extension="205", trunk="706"),
    ]  # both: first route wins
    with SmdrIntake(
        port.path, SAMSUNG, store, "main", TZ, SystemClock("always"), routes=routes, **FAST
    ) as intake:
        assert wait_until(lambda: intake.stats()["connected"])
        port.write(b"".join(SAMSUNG.render(c, TZ).encode() + b"\r\n" for c in calls))
        assert wait_until(lambda: intake.stats()["calls"] == 4)
    window = (calls[0].started_at - timedelta(hours=1), calls[-1].started_at + timedelta(hours=1))
    by_zone = {
        zone: [(c["extension"], c["trunk"]) for c in store.calls(zone, *window)]
        for zone in ("main", "sales", "service")
    }
    assert by_zone == {
        "sales": [("201", "701"), ("205", "706")],
        "service": [("301", "706")],
        "main": [("301", "701")],
    }


def test_the_port_vanishing_and_coming_back(tmp_path, store):
    # The intake opens a stable name (as /dev/serial/by-id/... on a Pi); the device behind
    # it goes away (adapter unplugged) and a new one appears.
    link = tmp_path / "smdr-port"
    first = Pty()
    os.symlink(first.path, link)
    intake = SmdrIntake(str(link), SAMSUNG, store, "main", TZ, SystemClock("always"), **FAST)
    intake.start()
    second = None
    try:
        assert wait_until(lambda: intake.stats()["connected"])
        first.write(SAMSUNG.render(recent_call(10), TZ).encode() + b"\r\n")
        assert wait_until(lambda: intake.stats()["calls"] == 1)
        first.close()
        assert wait_until(lambda: not intake.stats()["connected"])
        assert "SMDR port" in intake.stats()["last_error"]
        second = Pty()
        os.unlink(link)
        os.symlink(second.path, link)
        assert wait_until(lambda: intake.stats()["connected"])
        second.write(SAMSUNG.render(recent_call(5), TZ).encode() + b"\r\n")
        assert wait_until(lambda: intake.stats()["calls"] == 2)
        assert intake.stats()["opens"] == 2
        assert intake.running
    finally:
        intake.stop()
        if second is not None:
            second.close()
    assert not intake.running


def test_a_megabyte_of_garbage_then_a_good_line(port, store):
    data = os.urandom(1 << 20)
    intake = SmdrIntake(
        port.path, SAMSUNG, store, "main", TZ, SystemClock("always"), unparsed_per_hour=50, **FAST
    )
    with intake:
        assert wait_until(lambda: intake.stats()["connected"])
        writer = threading.Thread(target=port.write, args=(data + b"\r\n",))
        writer.start()
        writer.join(30)
        assert not writer.is_alive()
        good = recent_call(1)
        port.write(SAMSUNG.render(good, TZ).encode() + b"\r\n")
        assert wait_until(lambda: intake.stats()["calls"] >= 1, timeout=30)
        assert wait_until(lambda: intake.stats()["bytes"] >= len(data))
        stats = intake.stats()
    assert intake.running is False
    assert stats["lines"] > 10_000
    assert stats["unparsed"] + stats["headers"] + stats["calls"] == stats["lines"]
    assert stats["unparsed_not_kept"] == stats["unparsed"] - 50
    assert stats["hint"] is None  # a call did parse in the end
    # 50 raw lines, then one row saying how many more were counted but not kept
    assert store.unparsed_count() == 51
    summary = store.unparsed(limit=1)[0]
    assert summary["raw"] == "" and "were counted but not kept" in summary["reason"]
    assert len(store.calls("main", good.started_at, good.started_at + timedelta(seconds=1))) == 1


def test_the_installer_gets_a_hint_when_nothing_parses(port, store):
    with SmdrIntake(port.path, SAMSUNG, store, "main", TZ, SystemClock("always"), **FAST) as intake:
        assert wait_until(lambda: intake.stats()["connected"])
        port.write(b"".join(b"%d garbage at the wrong baud rate\r\n" % i for i in range(25)))
        assert wait_until(lambda: intake.stats()["unparsed"] == 25)
        assert "baud rate" in intake.stats()["hint"]


def test_a_line_without_its_end_is_taken_after_a_quiet_spell(port, store):
    intake = SmdrIntake(
        port.path, SAMSUNG, store, "main", TZ, SystemClock("always"), idle_flush_s=0.3, **FAST
    )
    with intake:
        assert wait_until(lambda: intake.stats()["connected"])
        # This PBX sends CR LF *before* each record, so the last one waits for nothing.
        port.write(b"\r\n" + SAMSUNG.render(recent_call(3), TZ).encode())
        assert wait_until(lambda: intake.stats()["calls"] == 1)


def test_spy_url_logs_the_port_in_hex(port, store, tmp_path):
    log = tmp_path / "smdr-spy.txt"
    url = f"spy://{port.path}?file={log}"
    with SmdrIntake(url, SAMSUNG, store, "main", TZ, SystemClock("always"), **FAST) as intake:
        assert wait_until(lambda: intake.stats()["connected"])
        port.write(SAMSUNG.render(recent_call(2), TZ).encode() + b"\r\n")
        assert wait_until(lambda: intake.stats()["calls"] == 1)
    assert "0D 0A" in log.read_text()


def test_a_missing_port_is_retried_with_a_growing_backoff(store, tmp_path):
    clock = SimClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
    # The intake counts an attempt before it fails, logs and starts its wait; moving the
    # clock in that gap would move the wait's deadline with it. So the test moves the clock
    # only once the clock has recorded the wait, which it does after fixing its deadline.
    waits = clock.started_waits
    intake = SmdrIntake(
        str(tmp_path / "no-such-tty"), SAMSUNG, store, "main", TZ, clock, read_timeout=0.05
    )
    intake.start()
    try:
        attempts = lambda: intake.stats()["open_attempts"]  # noqa: E731
        assert wait_until(lambda: attempts() == 1 and intake.stats()["last_error"])
        assert "cannot open the SMDR port" in intake.stats()["last_error"]
        assert wait_until(lambda: list(waits) == [1])
        clock.advance(1)  # first wait: 1 s
        assert wait_until(lambda: attempts() == 2 and list(waits) == [1, 2])
        clock.advance(1)  # second wait is 2 s: not yet
        time.sleep(0.2)
        assert attempts() == 2
        clock.advance(1)
        assert wait_until(lambda: attempts() == 3 and list(waits) == [1, 2, 4])
        clock.advance(3.5)  # third wait is 4 s
        time.sleep(0.2)
        assert attempts() == 3
        clock.advance(0.5)
        assert wait_until(lambda: attempts() == 4)
    finally:
        intake.stop()
    assert not intake.running


def test_backoff_doubles_up_to_a_minute():
    waits = [1.0]
    for _ in range(8):
        waits.append(next_backoff(waits[-1]))
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_a_failing_store_does_not_stop_the_intake(port, data_dir):
    broken = Store(data_dir)
    broken.close()  # every write now raises StoreError, as a dead disk would
    with SmdrIntake(
        port.path, SAMSUNG, broken, "main", TZ, SystemClock("always"), **FAST
    ) as intake:
        assert wait_until(lambda: intake.stats()["connected"])
        port.write(
            SAMSUNG.render(recent_call(4), TZ).encode()
            + b"\r\n"
            + SAMSUNG.render(recent_call(3), TZ).encode()
            + b"\r\n"
        )
        assert wait_until(lambda: intake.stats()["pending_store"] == 2)
        assert intake.running
        stats = intake.stats()
        assert stats["store_errors"] >= 1 and "cannot store" in stats["last_error"]
    # Stopping with records the store never took: counted as lost, never silently.
    assert intake.stats()["lost"] == 2


def test_stop_is_idempotent_and_start_is_once(port, store):
    intake = SmdrIntake(port.path, SAMSUNG, store, "main", TZ, SystemClock("always"), **FAST)
    intake.start()
    with pytest.raises(RuntimeError):
        intake.start()
    intake.stop()
    intake.stop()
    assert not intake.running
    assert "samsung-dcs" in repr(intake)


def test_config_settings_over_the_format_defaults(port, store):
    partner = load_format("avaya-partner", NO_SITE)
    intake = SmdrIntake(
        port.path, partner, store, "main", TZ, SystemClock("always"), {"baudrate": 9600}
    )
    assert (intake.settings.baudrate, intake.settings.stopbits, intake.settings.xonxoff) == (
        9600,
        2,
        True,
    )
    with pytest.raises(ValidationError) as info:
        SmdrIntake(
            port.path,
            partner,
            store,
            "main",
            TZ,
            SystemClock("always"),
            {"baudrate": 1234, "parity": "sometimes"},
        )
    assert {e.field for e in info.value.errors} == {
        "smdr.settings.baudrate",
        "smdr.settings.parity",
    }


def test_check_and_build_from_a_config_table(port, store):
    assert (
        check({"format": "panasonic-kx-td", "settings": {"baudrate": 1200}}, site_dir=NO_SITE) == []
    )
    errors = check({"format": "panasonic-kx-tx"}, site_dir=NO_SITE)
    assert errors[0].field == "smdr.format" and "panasonic-kx-td" in errors[0].message
    errors = check({"format": "samsung-dcs", "settings": {"stopbits": 3}}, site_dir=NO_SITE)
    assert errors[0].field == "smdr.settings.stopbits"
    intake = build_intake(
        {"port": port.path, "format": "samsung-dcs", "zone": "main", "settings": {}},
        store=store,
        tz=TZ,
        clock=SystemClock("always"),
        site_dir=NO_SITE,
    )
    assert intake.fmt.name == "samsung-dcs" and intake.zone == "main"
