"""Call records over the LAN, end to end: real TCP sockets on 127.0.0.1, the simulated
PBXs of appliance/sim/smdr_lan.py at their unkindest, the real intake, SQLite on disk.

Two ways in: a Panasonic KX-TDE/NCP/NS Telnet port behind a login (the appliance
connects), and IP Office, which connects to a port the appliance listens on."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from appliance.inputs.clock import SystemClock
from appliance.sim.smdr_lan import IpOfficeSmdr, TelnetSmdrPbx
from appliance.smdr.formats import load_format
from appliance.smdr.intake import SmdrIntake, build_intake
from appliance.smdr.login import load_login
from appliance.smdr.routing import Route
from appliance.smdr.sources import ListenSource, TelnetSource
from appliance.store import Store
from tests.appliance_helpers import wait_until

TZ = ZoneInfo("Europe/Berlin")
NO_SITE = "/nonexistent/nightswitch-smdr-site"
KX_TDA = load_format("panasonic-kx-tda", NO_SITE)
IP_OFFICE = load_format("avaya-ip-office", NO_SITE)
FAST = dict(read_timeout=0.05, backoff=(0.05, 0.2), idle_flush_s=0.3)
SECRET = "s3cr3t-smdr"


@pytest.fixture
def store(data_dir):
    s = Store(data_dir)
    yield s
    s.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stored_calls(store, records, zone="main"):
    start = min(r.started_at for r in records) - timedelta(hours=1)
    end = max(r.started_at for r in records) + timedelta(hours=1)
    return store.calls(zone, start, end)


def same_fields(row: dict, record) -> bool:
    """A stored row says what the record said, to the printout's resolution."""
    printed_start = record.started_at.replace(second=0)  # KX-TDA prints hh:mmAP
    return (
        row["started_at"] == printed_start.isoformat()
        and row["extension"] == record.extension
        and row["trunk"] == record.trunk
        and row["direction"] == record.direction
        and row["number"] == record.number
        and row["duration_s"] == record.duration_s
    )


def telnet_intake(pbx, store, *, password=SECRET, **options):
    smdr = {
        "port": f"telnet://127.0.0.1:{pbx.port}",
        "format": "panasonic-kx-tda",
        "zone": "main",
        "password": password,
        "settings": {},
    }
    return build_intake(
        smdr,
        store=store,
        tz=TZ,
        clock=SystemClock("always"),
        site_dir=NO_SITE,
        **{**FAST, **options},
    )


# -- Panasonic over Telnet ----------------------------------------------------------------


def test_telnet_login_then_the_records_are_stored(store, caplog):
    caplog.set_level(logging.DEBUG)
    waiting = None
    with TelnetSmdrPbx(KX_TDA, password=SECRET, prompt_char_s=0.05, tz=TZ, seed=1) as pbx:
        # Records the PBX kept while nobody was logged in come right after the password:
        # they must not be lost to the login's last wait.
        waiting = [pbx.maker.record(direction="in"), pbx.maker.record(direction="out")]
        pbx.stored = list(waiting)
        with telnet_intake(pbx, store) as intake:
            assert wait_until(lambda: intake.stats()["calls"] == 2), intake.stats()
            later = [pbx.call(direction="in"), pbx.call(direction="out")]
            assert wait_until(lambda: intake.stats()["calls"] == 4), intake.stats()
        stats = intake.stats()
    assert pbx.logins == 1 and stats["logins"] == 1 and stats["unparsed"] == 0
    rows = stored_calls(store, waiting + later)
    assert len(rows) == 4
    for record in waiting + later:
        assert any(same_fields(row, record) for row in rows), record
    # The password was echoed by the PBX: it is never stored nor logged.
    assert all(SECRET not in u["raw"] for u in store.unparsed())
    assert SECRET not in caplog.text
    assert "telnet://127.0.0.1" in stats["settings"]


def test_telnet_asks_for_the_user_smdr_when_the_pbx_prompts_for_it(store):
    with (
        TelnetSmdrPbx(KX_TDA, password=SECRET, login_prompt=True, tz=TZ, seed=2) as pbx,
        telnet_intake(pbx, store) as intake,
    ):
        assert wait_until(lambda: pbx.logins == 1), intake.stats()
        record = pbx.call(direction="in")
        assert wait_until(lambda: intake.stats()["calls"] == 1)
    assert same_fields(stored_calls(store, [record])[0], record)


def test_telnet_drop_in_the_middle_of_a_record_reconnects(store):
    with (
        TelnetSmdrPbx(KX_TDA, password=SECRET, tz=TZ, seed=3) as pbx,
        telnet_intake(pbx, store) as intake,
    ):
        assert wait_until(lambda: pbx.logged_in)
        first = pbx.call()
        assert wait_until(lambda: intake.stats()["calls"] == 1)
        pbx.drop(mid_record=True)
        assert wait_until(lambda: pbx.logins == 2 and pbx.logged_in), intake.stats()
        second = pbx.call()
        assert wait_until(lambda: intake.stats()["calls"] == 2), intake.stats()
        stats = intake.stats()
    assert stats["opens"] == 2 and stats["unparsed"] == 1
    # The half record is kept as unparsed, not glued to the next session's first line.
    half = store.unparsed()[0]
    assert half["raw"] and "does not match" in half["reason"]
    assert len(stored_calls(store, [first, second])) == 2


def test_telnet_garbage_is_kept_as_junk_and_the_records_still_read(store):
    with (
        TelnetSmdrPbx(KX_TDA, password=SECRET, tz=TZ, seed=4) as pbx,
        telnet_intake(pbx, store) as intake,
    ):
        assert wait_until(lambda: pbx.logged_in)
        pbx.send_raw(bytes(range(1, 256)) * 3 + b"\r\n")
        pbx.send_raw(b"\xff\xfb\x01\xff\xfd\x18")  # late Telnet negotiation: no junk
        record = pbx.call(direction="in")
        assert wait_until(lambda: intake.stats()["calls"] == 1), intake.stats()
        stats = intake.stats()
    assert stats["unparsed"] >= 1
    assert same_fields(stored_calls(store, [record])[0], record)


def test_a_refused_password_is_not_retried_soon(store, caplog):
    caplog.set_level(logging.DEBUG)
    with (
        TelnetSmdrPbx(KX_TDA, password="the-right-one", tz=TZ, seed=5) as pbx,
        telnet_intake(pbx, store, password=SECRET) as intake,
    ):
        assert wait_until(lambda: "refused" in (intake.stats()["last_error"] or ""))
        time.sleep(1.5)  # ten times the backoff: a retry would show by now
        stats = intake.stats()
    assert pbx.login_attempts == 1 and pbx.logins == 0
    assert "check smdr.password" in stats["last_error"]
    assert "Not retried for 60 min" in stats["last_error"]
    assert stats["connected"] is False
    assert SECRET not in caplog.text and SECRET not in stats["last_error"]


def test_after_a_refusal_the_next_try_waits_the_refusal_interval(store):
    with (
        TelnetSmdrPbx(KX_TDA, password="the-right-one", tz=TZ, seed=6) as pbx,
        telnet_intake(pbx, store, password=SECRET, auth_retry_s=0.5) as intake,
    ):
        assert wait_until(lambda: pbx.login_attempts >= 2), intake.stats()
        assert pbx.logins == 0


def test_connections_refused_then_the_pbx_comes_back(store):
    with TelnetSmdrPbx(KX_TDA, password=SECRET, tz=TZ, seed=7) as pbx:
        pbx.refuse_connections()
        with telnet_intake(pbx, store) as intake:
            assert wait_until(lambda: "cannot connect" in (intake.stats()["last_error"] or ""))
            pbx.accept_connections()
            assert wait_until(lambda: pbx.logged_in), intake.stats()
            record = pbx.call()
            assert wait_until(lambda: intake.stats()["calls"] == 1)
    assert stored_calls(store, [record])


def test_a_silent_pbx_times_the_login_out_and_is_tried_again(store):
    with TelnetSmdrPbx(KX_TDA, password=SECRET, tz=TZ, seed=8) as pbx:
        pbx.silent = True
        login = replace(load_login("panasonic-telnet"), timeout_s=0.5)
        source = TelnetSource("127.0.0.1", pbx.port, login, password=SECRET, read_timeout=0.05)
        with SmdrIntake(
            source.url, KX_TDA, store, "main", TZ, SystemClock("always"), source=source, **FAST
        ) as intake:
            assert wait_until(lambda: pbx.connections >= 2), intake.stats()
            assert "no login prompt" in intake.stats()["last_error"]
            pbx.silent = False
            assert wait_until(lambda: pbx.logged_in, timeout=20), intake.stats()


# -- IP Office connects to us ----------------------------------------------------------------


def listen_intake(store, port, *, allow=None, routes=()):
    smdr = {
        "port": f"listen://127.0.0.1:{port}",
        "format": "avaya-ip-office",
        "zone": "main",
        "settings": {},
        "routes": routes,
    }
    if allow is not None:
        smdr["allow"] = allow
    return build_intake(
        smdr, store=store, tz=TZ, clock=SystemClock("always"), site_dir=NO_SITE, **FAST
    )


def ipo_same(row: dict, record) -> bool:
    return (
        row["started_at"] == record.started_at.isoformat()
        and row["extension"] == record.extension
        and row["trunk"] == record.trunk
        and row["direction"] == record.direction
        and row["number"] == record.number
        and row["duration_s"] == record.duration_s
        and row["ring_s"] == record.ring_s
    )


def test_ip_office_connects_and_each_call_goes_to_its_zone(store):
    port = free_port()
    routes = [Route("sales", extensions=("2*",))]
    with (
        listen_intake(store, port, routes=routes) as intake,
        IpOfficeSmdr(IP_OFFICE, "127.0.0.1", port, tz=TZ, seed=10) as pbx,
    ):
        main = pbx.call(direction="in", extension="301")
        sales = pbx.call(direction="out", extension="201")
        assert wait_until(lambda: intake.stats()["calls"] == 2), intake.stats()
        stats = intake.stats()
    assert stats["accepted"] == 1 and stats["peer"].startswith("127.0.0.1:")
    assert ipo_same(stored_calls(store, [main])[0], main)
    assert ipo_same(stored_calls(store, [sales], zone="sales")[0], sales)


def test_records_buffered_while_the_collector_was_away_arrive(store):
    port = free_port()
    with IpOfficeSmdr(IP_OFFICE, "127.0.0.1", port, tz=TZ, seed=11) as pbx:
        early = [pbx.call() for _ in range(5)]
        assert wait_until(lambda: pbx.refused >= 2)  # nobody listening yet
        with listen_intake(store, port) as intake:
            assert wait_until(lambda: intake.stats()["calls"] == 5), intake.stats()
    assert len(stored_calls(store, early)) == 5


def test_a_record_cut_by_a_drop_is_junk_and_the_link_comes_back(store):
    port = free_port()
    with (
        listen_intake(store, port) as intake,
        IpOfficeSmdr(IP_OFFICE, "127.0.0.1", port, tz=TZ, seed=12) as pbx,
    ):
        first = pbx.call()
        assert wait_until(lambda: intake.stats()["calls"] == 1)
        pbx.drop_mid_record()
        pbx.call()  # this one is cut in half
        assert wait_until(lambda: pbx.connects == 2)
        last = pbx.call()
        assert wait_until(lambda: intake.stats()["calls"] == 2), intake.stats()
        assert wait_until(lambda: intake.stats()["unparsed"] == 1), intake.stats()
    assert len(stored_calls(store, [first, last])) == 2


def test_a_half_open_connection_is_replaced_by_the_new_one(store):
    """A PBX that rebooted never closes its old connection: the collector must take the
    new one instead of waiting on the dead one for ever."""
    port = free_port()
    with (
        listen_intake(store, port) as intake,
        IpOfficeSmdr(IP_OFFICE, "127.0.0.1", port, tz=TZ, seed=13) as pbx,
    ):
        pbx.call()
        assert wait_until(lambda: intake.stats()["calls"] == 1)
        pbx.abandon_connection()
        after = pbx.call()
        assert wait_until(lambda: intake.stats()["calls"] == 2), intake.stats()
        stats = intake.stats()
    assert pbx.connects == 2 and stats["accepted"] == 2
    assert stored_calls(store, [after])


class _AbandonWhileSending:
    """The lock the simulated PBX's sender takes to look at its buffer: once *armed*, the
    first time the sender takes it with a record waiting, the connection is abandoned
    right then, as abandon_connection() from another thread could."""

    def __init__(self, pbx):
        self.inner = threading.RLock()
        self.pbx = pbx
        self.armed = False

    def __enter__(self):
        self.inner.acquire()
        if self.armed and self.pbx.buffer and threading.current_thread().name == "sim-ipo-smdr":
            self.armed = False
            self.pbx.abandon_connection()
        return self

    def __exit__(self, *exc):
        self.inner.release()


def test_a_connection_abandoned_while_a_record_is_sent_does_not_stop_the_pbx():
    """mypy found it: the sender checked its socket, then used the attribute again after
    abandon_connection() had set it to None, and died of an AttributeError; no record was
    ever sent again. It now sends on a new connection."""
    port = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen(8)  # the kernel accepts; nobody needs to read
        pbx = IpOfficeSmdr(IP_OFFICE, "127.0.0.1", port, tz=TZ, seed=15)
        pbx._lock = _AbandonWhileSending(pbx)
        with pbx:
            assert wait_until(lambda: pbx.connected)
            pbx._lock.armed = True
            record = pbx.call()
            assert wait_until(lambda: len(pbx.sent) == 1, message=str(pbx.connects))
            assert pbx.connects == 2 and len(pbx.abandoned) == 1
            assert record.extension in pbx.sent[0]


def test_garbage_from_the_pbx_is_junk_and_calls_still_read(store):
    port = free_port()
    with (
        listen_intake(store, port) as intake,
        IpOfficeSmdr(IP_OFFICE, "127.0.0.1", port, tz=TZ, seed=14) as pbx,
    ):
        pbx.send_raw(bytes(range(256)) * 4 + b"\r\n")
        record = pbx.call()
        assert wait_until(lambda: intake.stats()["calls"] == 1), intake.stats()
        assert intake.stats()["unparsed"] >= 1
    assert stored_calls(store, [record])


def test_only_the_allowed_addresses_may_connect(store):
    port = free_port()
    with listen_intake(store, port, allow=["127.0.0.2"]) as intake:
        with IpOfficeSmdr(IP_OFFICE, "127.0.0.1", port, tz=TZ, seed=15) as stranger:
            stranger.call()
            assert wait_until(lambda: intake.stats()["refused_connections"] >= 1)
        assert intake.stats()["calls"] == 0
        with IpOfficeSmdr(
            IP_OFFICE, "127.0.0.1", port, source_address="127.0.0.2", tz=TZ, seed=16
        ) as pbx:
            record = pbx.call()
            assert wait_until(lambda: intake.stats()["calls"] == 1), intake.stats()
    assert stored_calls(store, [record])


def test_a_port_already_taken_is_an_error_and_retried(store):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        source = ListenSource("127.0.0.1", port, read_timeout=0.05)
        with SmdrIntake(
            source.url, IP_OFFICE, store, "main", TZ, SystemClock("always"), source=source, **FAST
        ) as intake:
            assert wait_until(lambda: intake.stats()["open_attempts"] >= 2)
            assert "cannot listen on listen://127.0.0.1" in intake.stats()["last_error"]
