"""Issue 13, findings 4 and 6: what a backup may carry, and what a restore refuses.

Finding 4: the web session key was a row in the database, so every backup could sign a
cookie for any user. Now it is a 0600 file no backup holds, sessions are left out, and a
restore ends every session and makes the next start create a new key.

Finding 6: a restore trusted the backup's database completely: a trigger ``AFTER INSERT
ON audit`` made users admin on the first audit write, and a 300 KB archive expanded to a
301 MiB database. Now ``sqlite_master`` must match the schema exactly, and members are
capped before they are unpacked.
"""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
import tarfile
from datetime import datetime, timedelta, timezone

import pytest

from appliance.accounts.keyfile import KEY_FILE, session_key
from appliance.store import Store
from tests.integration.test_backup import (  # noqa: F401  (fixtures)
    backup,
    config_file,
    db_bytes_with,
    members_of,
    run,
    site,
    site_files,
    site_template,
    write_archive,
)

NOW = datetime.now(timezone.utc)


@pytest.fixture
def logged_in_site(site, data_dir):
    """The site with a session key file and an open web session."""
    key = session_key(data_dir)
    with Store(data_dir) as s:
        s.create_session("a-live-session-id", "anna", at=NOW, expires=NOW + timedelta(days=1))
    return key


@pytest.fixture
def live_backup(logged_in_site, data_dir, config_file, tmp_path, capsys):
    archive = tmp_path / "live.tar.gz"
    code, out, err = run(
        capsys, "backup", str(archive), "--data", str(data_dir), "--config", str(config_file)
    )
    assert code == 0, err
    return archive


# -- finding 4 --------------------------------------------------------------------------------


def test_f4_a_backup_holds_neither_the_session_key_nor_the_sessions(
    live_backup, logged_in_site, tmp_path
):
    key = logged_in_site
    members = members_of(live_backup)
    assert KEY_FILE not in members
    for name, data in members.items():
        assert key.encode() not in data, name
    db = tmp_path / "inside.db"
    db.write_bytes(members["nightswitch.db"])
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone() == (0,)
    assert b"a-live-session-id" not in members["nightswitch.db"]


def test_f4_a_restore_ends_every_session_and_renews_the_key(
    live_backup, data_dir, config_file, logged_in_site, capsys
):
    with Store(data_dir) as s:  # a session opened after the backup was taken
        s.create_session("after-the-backup", "ben", at=NOW, expires=NOW + timedelta(days=1))
    code, out, err = run(
        capsys, "restore", str(live_backup), "--data", str(data_dir), "--config", str(config_file)
    )
    assert code == 0, err
    assert "web sessions: all ended" in out
    assert not (data_dir / KEY_FILE).exists()
    with Store(data_dir) as s:
        assert s.session("a-live-session-id", at=NOW) is None
        assert s.session("after-the-backup", at=NOW) is None
        event = s.security_log(event="restore")[0]
        assert event["who"].startswith("cli:") and "new session key" in event["detail"]
    assert session_key(data_dir) != logged_in_site


# -- finding 6 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql, named",
    [
        (
            "CREATE TRIGGER promote AFTER INSERT ON audit BEGIN "
            "UPDATE users SET role = 'admin'; END;",
            "a trigger 'promote' (on audit)",
        ),
        ("CREATE VIEW everyone AS SELECT name, password_hash FROM users;", "a view 'everyone'"),
        ("CREATE TABLE extra (x);", "a table 'extra'"),
        ("CREATE INDEX sneaky ON users (role);", "an index 'sneaky'"),
        ("DROP INDEX audit_at;", "lacks the index 'audit_at'"),
    ],
)
def test_f6_a_database_that_is_more_than_data_is_refused(
    backup, data_dir, config_file, tmp_path, capsys, sql, named
):
    members = members_of(backup)
    members["nightswitch.db"] = db_bytes_with(tmp_path, members["nightswitch.db"], sql)
    forged = write_archive(tmp_path / "forged.tar.gz", members)  # sums fixed: anyone can
    before = (data_dir / "nightswitch.db").read_bytes()
    code, out, err = run(
        capsys, "restore", str(forged), "--data", str(data_dir), "--config", str(config_file)
    )
    assert code == 2 and out == ""
    assert named in err and "a backup whose database was altered is refused" in err
    assert (data_dir / "nightswitch.db").read_bytes() == before


def test_f6_the_trigger_would_have_made_everyone_admin(tmp_path):
    # the attack of the report, shown on its own: why the check matters
    db = tmp_path / "x.db"
    with Store(tmp_path):
        pass
    conn = sqlite3.connect(tmp_path / "nightswitch.db")
    conn.executescript(
        "CREATE TRIGGER promote AFTER INSERT ON audit BEGIN UPDATE users SET role = 'admin'; END;"
    )
    conn.close()
    with Store(tmp_path) as s:
        s.add_user("visitor", "viewer", "visitor password")
        s.add_audit(
            "main", at=NOW, who="key", source="key", old_mode=None, new_mode="day", reason="x"
        )
        assert s.get_user("visitor")["role"] == "admin"
    from appliance.backup.schema_check import differences

    with sqlite3.connect(tmp_path / "nightswitch.db") as conn:
        from appliance.store.schema import SCHEMA_VERSION

        assert differences(conn, SCHEMA_VERSION) == [
            "has a trigger 'promote' (on audit) that nightswitch never makes"
        ]
    assert not db.exists()


def bomb(path, declared: int) -> None:
    """A backup whose database member declares *declared* bytes (zeros: it compresses to
    almost nothing), written straight through gzip without holding it in memory."""
    manifest = {
        "format": "nightswitch-backup",
        "format_version": 2,
        "created_at": NOW.isoformat(),
        "nightswitch_version": "0",
        "schema_version": 3,
        "config_path": None,
        "site_dir": None,
        "members": {"nightswitch.db": {"sha256": "0" * 64, "size": declared}},
    }
    with gzip.open(path, "wb", compresslevel=9) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("nightswitch.db")
        info.size = declared

        class Zeros(io.RawIOBase):
            left = declared

            def readable(self):
                return True

            def readinto(self, buffer):
                n = min(len(buffer), self.left)
                buffer[:n] = bytes(n)
                self.left -= n
                return n

        tar.addfile(info, io.BufferedReader(Zeros(), 1 << 20))


def test_f6_a_small_archive_holding_a_301_mib_database_is_refused_unpacked(
    data_dir, config_file, tmp_path, capsys
):
    archive = tmp_path / "bomb.tar.gz"
    bomb(archive, 301 * 1024 * 1024)
    assert archive.stat().st_size < 1024 * 1024  # the report's was 300 KB
    code, out, err = run(
        capsys, "restore", str(archive), "--data", str(data_dir), "--config", str(config_file)
    )
    assert code == 2
    assert "nightswitch.db: is 301 MiB, more than a backup holds (at most 256 MiB)" in err
    assert "--max-db-mib" in err
    # nothing was unpacked into the data directory
    leftovers = [p for p in data_dir.iterdir() if p.stat().st_size > 1024 * 1024]
    assert leftovers == []


def test_f6_the_manifest_size_must_match(backup, data_dir, config_file, tmp_path, capsys):
    members = members_of(backup)
    manifest = json.loads(members["manifest.json"])
    manifest["members"]["nightswitch.db"]["size"] += 1
    forged = write_archive(tmp_path / "size.tar.gz", members, manifest, fix_sums=False)
    code, out, err = run(
        capsys, "restore", str(forged), "--data", str(data_dir), "--config", str(config_file)
    )
    assert code == 2 and "but the manifest says" in err


def test_f6_a_larger_database_may_be_allowed_on_purpose(backup, data_dir, config_file, capsys):
    code, _, err = run(
        capsys,
        "restore",
        str(backup),
        "--data",
        str(data_dir),
        "--config",
        str(config_file),
        "--max-db-mib",
        "0",
    )
    assert code == 2 and "--max-db-mib: must be a whole number of MiB, 1 or more" in err
