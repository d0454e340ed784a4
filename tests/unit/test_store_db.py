"""Opening the database: migrations, newer schemas, quarantine, threads, the data-dir lock."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest

from appliance.errors import SchemaTooNewError, StoreError
from appliance.inputs.clock import SimClock
from appliance.store import SCHEMA_VERSION, DataDirLock, Store, is_held_elsewhere

UTC = timezone.utc
T0 = datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC)

# The schema as nightswitch released it first (user_version 1), written out by hand so
# the test does not depend on the migration list it is testing.
V1_SCHEMA = """
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE schedules (zone TEXT NOT NULL, version INTEGER NOT NULL CHECK (version >= 1),
    data TEXT NOT NULL, saved_at TEXT NOT NULL, saved_by TEXT NOT NULL, restored_from INTEGER,
    PRIMARY KEY (zone, version));
CREATE TABLE overrides (zone TEXT PRIMARY KEY, mode TEXT NOT NULL, until TEXT,
    set_by TEXT NOT NULL, set_at TEXT NOT NULL);
CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL
    CHECK (role IN ('viewer', 'operator', 'admin')), password_hash TEXT NOT NULL);
CREATE TABLE tokens (id INTEGER PRIMARY KEY AUTOINCREMENT, token_sha256 TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    label TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, created_by TEXT NOT NULL);
CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, zone TEXT NOT NULL, at TEXT NOT NULL,
    who TEXT NOT NULL, source TEXT NOT NULL, old_mode TEXT, new_mode TEXT,
    reason TEXT NOT NULL DEFAULT '');
CREATE INDEX audit_zone_at ON audit (zone, at);
CREATE INDEX audit_at ON audit (at);
CREATE TABLE applied (zone TEXT PRIMARY KEY, mode TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE mode_history (id INTEGER PRIMARY KEY AUTOINCREMENT, zone TEXT NOT NULL,
    at TEXT NOT NULL, mode TEXT NOT NULL);
CREATE INDEX mode_history_zone_at ON mode_history (zone, at);
INSERT INTO schedules VALUES ('main', 1, '{"default_mode":"night"}',
    '2025-01-01T00:00:00+00:00', 'anna', NULL);
INSERT INTO audit (zone, at, who, source, old_mode, new_mode, reason)
    VALUES ('main', '2025-01-02T08:00:00+00:00', 'key', 'key', 'night', 'day', 'key turned');
PRAGMA user_version = 1;
"""


def make_v1(data_dir, extra_sql: str = ""):
    conn = sqlite3.connect(data_dir / "nightswitch.db")
    conn.executescript(V1_SCHEMA + extra_sql)
    conn.close()


def tables(path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def version_of(path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


# -- migrations ------------------------------------------------------------------------


def test_migrates_a_v1_database_and_keeps_its_data(data_dir, caplog):
    make_v1(data_dir)
    with caplog.at_level(logging.WARNING), Store(data_dir) as store:
        assert store.schema_version == SCHEMA_VERSION >= 2
        assert store.get_schedule("main") == {"default_mode": "night"}
        assert store.audit()[0]["reason"] == "key turned"
        assert store.unparsed_count() == 0  # the v2 tables exist and work
        assert store.calls("main", T0, T0 + timedelta(days=1)) == []
    assert f"migrated schema to version {SCHEMA_VERSION}" in caplog.text
    kept = data_dir / "nightswitch.db.before-migration-v1"
    assert version_of(kept) == 1 and "calls" not in tables(kept)


def test_a_failed_migration_step_leaves_the_previous_version(data_dir):
    # A stray table that step 2's last statement also creates: the step fails part-way,
    # and none of it (not even the calls table it created first) may remain.
    make_v1(data_dir, "CREATE TABLE unparsed (x);")
    with pytest.raises(StoreError, match="unparsed already exists"):
        Store(data_dir)
    path = data_dir / "nightswitch.db"
    assert version_of(path) == 1
    assert "calls" not in tables(path)


def test_refuses_a_database_from_a_newer_nightswitch(data_dir):
    Store(data_dir).close()
    path = data_dir / "nightswitch.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(
        SchemaTooNewError, match=f"schema version 99.*up to version {SCHEMA_VERSION}"
    ):
        Store(data_dir)
    assert path.read_bytes() == before
    assert not list(data_dir.glob("*.corrupt-*"))


# -- quarantine ------------------------------------------------------------------------


def test_a_garbage_file_is_quarantined_and_a_fresh_database_started(data_dir, caplog):
    path = data_dir / "nightswitch.db"
    garbage = b"this is not SQLite, it is a power cut\x00" * 500
    path.write_bytes(garbage)
    (data_dir / "nightswitch.db-wal").write_bytes(b"stale log")
    with caplog.at_level(logging.CRITICAL), Store(data_dir, clock=SimClock(T0)) as store:
        expected = data_dir / "nightswitch.db.corrupt-20260301T093015"
        assert store.quarantined == expected
        assert expected.read_bytes() == garbage
        assert (
            data_dir / "nightswitch.db.corrupt-20260301T093015-wal"
        ).read_bytes() == b"stale log"
        store.set_setting("alive", "yes")
        assert store.get_setting("alive") == "yes"
        assert store.schema_version == SCHEMA_VERSION
    assert "is damaged" in caplog.text and str(expected) in caplog.text


def test_a_second_quarantine_in_the_same_second_does_not_overwrite(data_dir):
    path = data_dir / "nightswitch.db"
    for content in (b"first garbage" * 100, b"second garbage" * 100):
        path.unlink(missing_ok=True)
        path.write_bytes(content)
        Store(data_dir, clock=SimClock(T0)).close()
    names = sorted(p.name for p in data_dir.glob("nightswitch.db.corrupt-*"))
    assert names == [
        "nightswitch.db.corrupt-20260301T093015",
        "nightswitch.db.corrupt-20260301T093015.2",
    ]


def test_a_damaged_page_is_found_by_quick_check_and_quarantined(data_dir):
    Store(data_dir).close()
    path = data_dir / "nightswitch.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO audit (zone, at, who, source, reason) VALUES "
            "('main', '2026-03-01T09:30:15+00:00', 'x', 'web', ?)",
            [("r" * 200 + str(i),) for i in range(300)],
        )
    conn.close()
    with open(path, "r+b") as fh:  # scribble over page 3 onwards, header intact
        fh.seek(4096 * 2 + 100)
        fh.write(os.urandom(4096 * 3))
    with Store(data_dir, clock=SimClock(T0)) as store:
        assert store.quarantined is not None
        assert store.audit_count() == 0


def test_no_quarantine_under_a_running_daemon(data_dir):
    # A CLI command finding the file damaged while the daemon runs must not rename the
    # daemon's file away; the daemon (lock holder) does that at its next start.
    path = data_dir / "nightswitch.db"
    path.write_bytes(b"garbage" * 100)
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from appliance.store import DataDirLock;"
            f"DataDirLock({str(data_dir)!r}).acquire(); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match="systemctl restart nightswitch"):
            Store(data_dir)
        assert path.read_bytes() == b"garbage" * 100
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    with DataDirLock(data_dir):  # the daemon's own lock does not stop it
        with Store(data_dir, clock=SimClock(T0)) as store:
            assert store.quarantined is not None


def test_an_unopenable_path_is_an_error_not_a_quarantine(data_dir):
    (data_dir / "nightswitch.db").mkdir()
    with pytest.raises(StoreError, match="cannot open the database"):
        Store(data_dir)
    assert (data_dir / "nightswitch.db").is_dir()
    assert not list(data_dir.glob("*.corrupt-*"))


def test_an_uncreatable_data_dir_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create the data directory"):
        Store(blocker / "data")


# -- threads and processes -------------------------------------------------------------


def test_concurrent_writers_lose_nothing(data_dir):
    store = Store(data_dir)
    other = Store(data_dir)  # a second connection, as the CLI beside the daemon
    errors = []

    def writer(n, s):
        try:
            for i in range(40):
                s.add_audit(
                    "main",
                    at=T0 + timedelta(seconds=i),
                    who=f"t{n}",
                    source="web",
                    old_mode="night",
                    new_mode="day",
                    reason=f"{n}-{i}",
                )
                s.audit(limit=5)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=writer, args=(n, other if n % 3 == 0 else store)) for n in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert store.audit_count() == 320
    reasons = {r["reason"] for r in store.audit(limit=1000)}
    assert reasons == {f"{n}-{i}" for n in range(8) for i in range(40)}
    other.close()
    store.close()


# -- the data-directory lock -----------------------------------------------------------


def test_lock_acquire_release_and_held_elsewhere(data_dir):
    assert not is_held_elsewhere(data_dir)
    first, second = DataDirLock(data_dir), DataDirLock(data_dir)
    assert first.acquire() is True
    assert first.acquire() is True  # already ours
    assert "held" in repr(first)
    assert second.acquire(blocking=False) is False
    assert is_held_elsewhere(data_dir)
    first.release()
    first.release()  # idempotent
    assert not is_held_elsewhere(data_dir)
    with second:
        assert second.held and is_held_elsewhere(data_dir)
    assert not second.held
    assert (data_dir / ".lock").read_text().strip().isdigit()


def test_lock_of_a_killed_process_is_released_by_the_kernel(data_dir):
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from appliance.store import DataDirLock;"
            f"DataDirLock({str(data_dir)!r}).acquire(); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "held"
        assert is_held_elsewhere(data_dir)
        assert DataDirLock(data_dir).acquire() is False
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert not is_held_elsewhere(data_dir)


def test_is_held_elsewhere_creates_nothing(tmp_path):
    assert is_held_elsewhere(tmp_path / "missing") is False
    assert not (tmp_path / "missing").exists()


# -- ownership when root runs a command ------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files to another user")
def test_files_root_creates_go_to_the_data_dirs_owner(data_dir):
    os.chown(data_dir, 65534, 65534)
    with Store(data_dir) as store:
        store.set_setting("x", "y")
    with DataDirLock(data_dir):
        pass
    for name in ("nightswitch.db", ".lock"):
        assert (data_dir / name).stat().st_uid == 65534, name
