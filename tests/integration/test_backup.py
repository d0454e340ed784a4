"""``nightswitch backup`` / ``restore``: round trips, and damaged backups refused untouched."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import stat
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.config import find_pinmap, load_config
from appliance.decision.schedule import default_schedule_json
from appliance.smdr.record import CallRecord
from appliance.store import DataDirLock, Store
from appliance.store.schema import MIGRATIONS, SCHEMA_VERSION

UTC = timezone.utc
T0 = datetime(2026, 12, 24, 17, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
SITE_PROFILE = REPO / "tests" / "fixtures" / "pbx" / "site" / "mitel-3300-login.toml"
SHIPPED_FORMAT = REPO / "appliance" / "smdr" / "formats" / "panasonic-kx-td.toml"
#: A config that needs the site's own profile and SMDR format to load.
USES_SITE_FILES = """
[[actuators]]
name = "maint-port"
type = "serial"
zone = "main"
role = "fallback"
profile = "mitel-3300-login"
port = "/dev/ttyUSB1"
password = "1234"
modes = { day = "day", night = "night" }

[smdr]
port = "/dev/ttyUSB0"
format = "acme-kx"
zone = "main"
"""


def site_format(name: str) -> str:
    return SHIPPED_FORMAT.read_text().replace('name = "panasonic-kx-td"', f'name = "{name}"')


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "etc" / "nightswitch.toml"
    path.parent.mkdir()
    path.write_text(
        find_pinmap().read_text(encoding="utf-8")
        + '\n[site]\nname = "Test office"\ntimezone = "Europe/Berlin"\n'
    )
    path.chmod(0o640)
    return path


@pytest.fixture(scope="module")
def site_template(tmp_path_factory):
    """A data directory with something of every kind in it, built once per module
    (password hashing is slow on purpose) and copied for each test."""
    data_dir = tmp_path_factory.mktemp("template") / "data"
    with Store(data_dir) as s:
        s.add_user("anna", "admin", "correct horse")
        s.add_user("ben", "operator", "battery staple")
        token = s.create_token("viewer", label="wallboard", by="anna", at=T0)
        week = default_schedule_json()
        s.save_schedule("main", week, by="anna", at=T0)
        s.save_schedule("main", dict(week, default_mode="night"), by="ben", at=T0 + timedelta(1))
        s.rollback_schedule("main", 1, by="anna", at=T0 + timedelta(2))
        s.set_override("main", "day", T0 + timedelta(hours=2), by="ben", at=T0)
        for i in range(5):
            s.add_audit(
                "main",
                at=T0 + timedelta(minutes=i),
                who="key",
                source="key",
                old_mode="night",
                new_mode="day",
                reason=f"turn {i}",
            )
        s.set_applied("main", "night", at=T0 - timedelta(hours=10))
        s.set_applied("main", "day", at=T0)
        s.add_call(
            "main",
            CallRecord(
                started_at=T0,
                duration_s=60,
                extension="201",
                trunk="1",
                direction="in",
                answered=True,
                ring_s=3,
                number="0301234",
                fmt="panasonic-kx-td",
                raw="12/24/26 05:00PM 201 01 ...",
            ),
        )
        s.add_unparsed(at=T0, fmt="panasonic-kx-td", raw="garbled", reason="no date")
        s.set_setting("web.secret_key", "s3cret")
    return data_dir, {"token": token}


@pytest.fixture
def site_files(config_file):
    """The site's own profile and SMDR format beside the config, which the config uses."""
    etc = config_file.parent
    (etc / "profiles").mkdir()
    (etc / "smdr").mkdir()
    shutil.copy(SITE_PROFILE, etc / "profiles" / "mitel-3300-login.toml")
    (etc / "smdr" / "acme-kx.toml").write_text(site_format("acme-kx"))
    (etc / "profiles" / "README").write_text("not a profile: left out of backups")
    config_file.write_text(config_file.read_text() + USES_SITE_FILES)
    return {
        "profiles/mitel-3300-login.toml": SITE_PROFILE.read_bytes(),
        "smdr/acme-kx.toml": site_format("acme-kx").encode(),
    }


@pytest.fixture
def site(site_template, data_dir, config_file, site_files):
    template, info = site_template
    shutil.copy2(template / "nightswitch.db", data_dir / "nightswitch.db")
    return info


def state(data_dir) -> dict:
    """Everything a restore must bring back, read through the store."""
    with Store(data_dir) as s:
        return {
            "users": s.list_users(),
            "tokens": s.list_tokens(),
            "history": s.schedule_history("main"),
            "schedule": s.get_schedule("main"),
            "override": s.get_override("main"),
            "audit": s.audit(limit=100),
            "applied": s.get_applied("main"),
            "modes": s.mode_history("main", T0 - timedelta(days=1), T0 + timedelta(days=1)),
            "calls": s.calls("main", T0 - timedelta(days=1), T0 + timedelta(days=1)),
            "unparsed": s.unparsed(),
            "secret": s.get_setting("web.secret_key"),
        }


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def members_of(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def write_archive(
    path: Path, members: dict[str, bytes], manifest: dict | None = None, fix_sums: bool = True
) -> Path:
    """An archive with *members*; the manifest's sums are recomputed unless told not to."""
    if manifest is None:
        manifest = json.loads(members["manifest.json"])
    if fix_sums:
        manifest["members"] = {
            n: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
            for n, b in members.items()
            if n != "manifest.json"
        }
    members = dict(members, **{"manifest.json": json.dumps(manifest).encode()})
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def db_bytes_with(tmp_path: Path, original: bytes, sql: str) -> bytes:
    path = tmp_path / "edit.db"
    path.write_bytes(original)
    conn = sqlite3.connect(path)
    conn.executescript(sql)
    conn.close()
    return path.read_bytes()


@pytest.fixture
def backup(site, data_dir, config_file, tmp_path, capsys):
    archive = tmp_path / "nightswitch-backup.tar.gz"
    code, out, err = run(
        capsys, "backup", str(archive), "--data", str(data_dir), "--config", str(config_file)
    )
    assert (code, err) == (0, "")
    assert out.startswith(f"backup written to {archive}: database (schema {SCHEMA_VERSION},")
    assert f"config {config_file}" in out
    assert (
        f"site files from {config_file.parent}: 1 PBX profile "
        "(profiles/mitel-3300-login.toml) and 1 SMDR format (smdr/acme-kx.toml)"
    ) in out
    return archive


# -- what a backup holds -------------------------------------------------------------------


def test_backup_holds_manifest_db_config_and_site_files(backup, config_file, site_files):
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    members = members_of(backup)
    assert list(members) == [
        "manifest.json",
        "nightswitch.db",
        "nightswitch.toml",
        "profiles/mitel-3300-login.toml",
        "smdr/acme-kx.toml",
    ]
    manifest = json.loads(members["manifest.json"])
    assert manifest["format"] == "nightswitch-backup" and manifest["format_version"] == 2
    assert manifest["schema_version"] == SCHEMA_VERSION and manifest["nightswitch_version"]
    assert manifest["site_dir"] == str(config_file.parent)
    assert datetime.fromisoformat(manifest["created_at"]).tzinfo is not None
    assert set(manifest["members"]) == set(members) - {"manifest.json"}
    for name in manifest["members"]:
        assert manifest["members"][name]["sha256"] == hashlib.sha256(members[name]).hexdigest()
        assert manifest["members"][name]["size"] == len(members[name])
    assert members["nightswitch.toml"] == config_file.read_bytes()
    for name, data in site_files.items():
        assert members[name] == data
    assert not list(backup.parent.glob(".nightswitch-backup*"))  # no temporaries left


def test_backup_takes_a_broken_site_file_but_warns(site, data_dir, config_file, tmp_path, capsys):
    # The backup records the site as it is; the warning says the restore would refuse it.
    broken = config_file.parent / "smdr" / "half-done.toml"
    broken.write_text('name = "half-done"\n')
    archive = tmp_path / "b.tar.gz"
    code, out, err = run(
        capsys, "backup", str(archive), "--data", str(data_dir), "--config", str(config_file)
    )
    assert code == 0 and "2 SMDR formats (smdr/acme-kx.toml, smdr/half-done.toml)" in out
    assert members_of(archive)["smdr/half-done.toml"] == broken.read_bytes()
    assert "nightswitch: warning: smdr/half-done.toml: " in err
    assert "restore refuses a backup with a site file that does not load" in err


def test_backup_sees_writes_still_in_the_write_ahead_log(data_dir, tmp_path, capsys):
    # The daemon keeps its connection open: recent changes live in the -wal file, which a
    # plain file copy would miss. The online backup API must include them.
    live = Store(data_dir)
    try:
        live.add_user("anna", "admin", "correct horse")
        assert (data_dir / "nightswitch.db-wal").stat().st_size > 0
        archive = tmp_path / "live.tar.gz"
        code, _, _ = run(
            capsys,
            "backup",
            str(archive),
            "--data",
            str(data_dir),
            "--config",
            str(tmp_path / "none.toml"),
        )
        assert code == 0
        assert "nightswitch.toml" not in members_of(archive)
    finally:
        live.close()
    restored = tmp_path / "restored"
    assert (
        run(
            capsys,
            "restore",
            str(archive),
            "--data",
            str(restored),
            "--config",
            str(tmp_path / "none.toml"),
        )[0]
        == 0
    )
    with Store(restored) as s:
        assert s.check_password("anna", "correct horse")["role"] == "admin"


def test_backup_without_database_or_with_bad_target_is_one_line(tmp_path, data_dir, capsys, site):
    empty = tmp_path / "empty"
    code, _, err = run(capsys, "backup", str(tmp_path / "b.tar.gz"), "--data", str(empty))
    assert code == 1 and err.count("\n") == 1 and "no database at" in err
    code, _, err = run(
        capsys, "backup", str(tmp_path / "nowhere" / "b.tar.gz"), "--data", str(data_dir)
    )
    assert code == 1 and err.count("\n") == 1 and "does not exist" in err
    code, _, err = run(capsys, "backup", str(tmp_path), "--data", str(data_dir))
    assert code == 1 and err.count("\n") == 1 and "is a directory" in err


# -- round trip ------------------------------------------------------------------------


def test_restore_brings_everything_back(backup, site, data_dir, config_file, capsys):
    before = state(data_dir)
    original_config = config_file.read_bytes()
    # A bad afternoon: a user deleted, the schedule changed, history pruned, config edited.
    with Store(data_dir) as s:
        s.delete_user("ben")
        s.revoke_token(1)
        s.save_schedule("main", {"oops": True}, by="ben", at=T0 + timedelta(3))
        s.prune_audit(T0 + timedelta(days=1))
        s.prune_calls(T0 + timedelta(days=1))
        s.set_setting("web.secret_key", "changed")
    config_file.write_text(original_config.decode() + "\n# edited\n")
    changed = state(data_dir)
    assert changed != before

    code, out, err = run(
        capsys, "restore", str(backup), "--data", str(data_dir), "--config", str(config_file)
    )
    assert (code, err) == (0, "")
    assert out.splitlines()[0].startswith(f"restored {backup} (made ")
    assert f"the previous one is {data_dir / 'nightswitch.db.before-restore'}" in out
    assert (
        "site files already as in the backup: profiles/mitel-3300-login.toml, smdr/acme-kx.toml"
    ) in out
    assert state(data_dir) == before
    with Store(data_dir) as s:
        assert s.check_password("ben", "battery staple")["role"] == "operator"
        assert s.check_token(site["token"])["label"] == "wallboard"
    assert config_file.read_bytes() == original_config
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o640
    assert (
        (config_file.parent / "nightswitch.toml.before-restore").read_text().endswith("# edited\n")
    )
    # The database as it was just before the restore is kept.
    previous = data_dir / "nightswitch.db.before-restore"
    conn = sqlite3.connect(previous)
    try:
        assert conn.execute("SELECT name FROM users").fetchall() == [("anna",)]
    finally:
        conn.close()
    assert not list(data_dir.glob(".nightswitch.db.*"))  # no temporaries left


def test_restore_into_a_new_data_directory(backup, tmp_path, data_dir, site_files, capsys):
    fresh = tmp_path / "new-pi" / "data"
    config = tmp_path / "new-pi" / "etc" / "nightswitch.toml"
    code, out, _ = run(
        capsys, "restore", str(backup), "--data", str(fresh), "--config", str(config)
    )
    assert code == 0 and "before-restore" not in out
    assert state(fresh) == state(data_dir)
    assert config.is_file() and stat.S_IMODE(config.stat().st_mode) == 0o640
    # The config names a profile and a format that only the backup's site files have.
    assert (
        f"site files written in {config.parent}: profiles/mitel-3300-login.toml, smdr/acme-kx.toml"
    ) in out
    for name, data in site_files.items():
        assert (config.parent / name).read_bytes() == data
        assert stat.S_IMODE((config.parent / name).stat().st_mode) == 0o640
    cfg = load_config(config)
    assert cfg.smdr["format"] == "acme-kx"
    assert [a["profile"] for a in cfg.actuators if a["type"] == "serial"] == ["mitel-3300-login"]
    assert not [p for p in config.parent.rglob("*") if p.name.startswith(".")]  # no temporaries


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="only root can hand files to another group, as sudo restore does",
)
def test_restore_as_root_keeps_the_service_group_on_what_it_writes(backup, tmp_path, capsys):
    # install.sh makes /etc/nightswitch root:nightswitch 0750 and the config 0640: the
    # service reads them through the group, so files written by sudo must keep it.
    service_gid = 4242
    etc = tmp_path / "pi" / "etc"
    etc.mkdir(parents=True)
    os.chown(etc, 0, service_gid)
    config = etc / "nightswitch.toml"
    config.write_text("# the installer's first config\n")
    os.chown(config, 0, service_gid)
    config.chmod(0o640)
    code, _, err = run(
        capsys,
        "restore",
        str(backup),
        "--data",
        str(tmp_path / "pi" / "data"),
        "--config",
        str(config),
    )
    assert (code, err) == (0, "")
    for path in (
        config,
        etc / "nightswitch.toml.before-restore",
        etc / "profiles",
        etc / "profiles" / "mitel-3300-login.toml",
        etc / "smdr" / "acme-kx.toml",
    ):
        assert path.stat().st_gid == service_gid, path
    assert stat.S_IMODE((etc / "profiles").stat().st_mode) == 0o750


def test_restore_puts_site_files_back_and_keeps_what_it_replaces(
    backup, data_dir, config_file, site_files, capsys
):
    etc = config_file.parent
    profile = etc / "profiles" / "mitel-3300-login.toml"
    edited = profile.read_text().replace("pacing_ms = 1", "pacing_ms = 5")
    profile.write_text(edited)
    profile.chmod(0o644)
    (etc / "smdr" / "acme-kx.toml").unlink()
    # Added after the backup: the restore must not delete it, and must say it is there.
    (etc / "profiles" / "later.toml").write_text(
        SITE_PROFILE.read_text().replace('name = "mitel-3300-login"', 'name = "later"')
    )

    code, out, err = run(
        capsys, "restore", str(backup), "--data", str(data_dir), "--config", str(config_file)
    )
    assert (code, err) == (0, "")
    assert f"site files written in {etc}: profiles/mitel-3300-login.toml, smdr/acme-kx.toml" in out
    assert (
        "site files replaced, the previous ones kept as: "
        "profiles/mitel-3300-login.toml.before-restore"
    ) in out
    assert (
        "site files not in the backup, left as they are (remove them if the site no "
        "longer needs them): profiles/later.toml"
    ) in out
    for name, data in site_files.items():
        assert (etc / name).read_bytes() == data
    assert (etc / "profiles" / "mitel-3300-login.toml.before-restore").read_text() == edited
    assert stat.S_IMODE(profile.stat().st_mode) == 0o644  # the mode it had
    assert (etc / "profiles" / "later.toml").is_file()
    assert (etc / "profiles" / "README").is_file()
    assert not (etc / "smdr" / "acme-kx.toml.before-restore").exists()


def test_restore_over_a_damaged_database_sets_it_aside(backup, data_dir, config_file, capsys):
    expected = state(data_dir)
    (data_dir / "nightswitch.db").write_bytes(b"scribbled" * 1000)
    code, _, err = run(
        capsys, "restore", str(backup), "--data", str(data_dir), "--config", str(config_file)
    )
    assert (code, err) == (0, "")
    assert state(data_dir) == expected
    assert (data_dir / "nightswitch.db.before-restore").read_bytes() == b"scribbled" * 1000


def test_restore_of_an_older_schema_migrates_it(tmp_path, data_dir, capsys):
    old = tmp_path / "v1.db"
    conn = sqlite3.connect(old)
    for statement in MIGRATIONS[0].statements:
        conn.execute(statement)
    conn.execute("INSERT INTO users VALUES ('anna', 'admin', 'scrypt:32768:8:1$x$y')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    manifest = {
        "format": "nightswitch-backup",
        "format_version": 1,
        "schema_version": 1,
        "created_at": T0.isoformat(),
        "nightswitch_version": "0.0.9",
    }
    archive = write_archive(tmp_path / "old.tar.gz", {"nightswitch.db": old.read_bytes()}, manifest)
    code, out, err = run(
        capsys,
        "restore",
        str(archive),
        "--data",
        str(data_dir),
        "--config",
        str(tmp_path / "none.toml"),
    )
    assert (code, err) == (0, "")
    assert f"migrated from schema 1 to {SCHEMA_VERSION}" in out
    assert "the backup has none" in out and not (tmp_path / "none.toml").exists()
    assert (
        f"site files: this backup (format 1) holds no profiles or SMDR formats; "
        f"{tmp_path / 'profiles'} and {tmp_path / 'smdr'} were left as they are"
    ) in out
    with Store(data_dir) as s:
        assert s.list_users() == [{"name": "anna", "role": "admin"}]
        assert s.unparsed_count() == 0


# -- refusals: nothing may change --------------------------------------------------------


def snapshot_of(data_dir: Path, config_file: Path) -> dict:
    return {
        "db": (data_dir / "nightswitch.db").read_bytes(),
        # .lock is where restore and the daemon meet (restore takes it while it
        # checks); it holds no data.
        "files": sorted(p.name for p in data_dir.iterdir() if p.name != ".lock"),
        "config": config_file.read_bytes(),
        # the config, the site's profiles and formats, and anything else beside them
        "etc": {
            str(p.relative_to(config_file.parent)): p.read_bytes()
            for p in sorted(config_file.parent.rglob("*"))
            if p.is_file()
        },
    }


def refused(capsys, archive, data_dir, config_file, *fragments, code=2):
    before = snapshot_of(data_dir, config_file)
    got, out, err = run(
        capsys, "restore", str(archive), "--data", str(data_dir), "--config", str(config_file)
    )
    assert got == code, err
    assert out == "" and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    assert snapshot_of(data_dir, config_file) == before
    return err


def test_restore_refuses_a_bad_checksum(backup, data_dir, config_file, tmp_path, capsys):
    members = members_of(backup)
    db = bytearray(members["nightswitch.db"])
    db[-100] ^= 0xFF
    bad = write_archive(
        tmp_path / "bad.tar.gz", dict(members, **{"nightswitch.db": bytes(db)}), fix_sums=False
    )
    refused(
        capsys,
        bad,
        data_dir,
        config_file,
        "nightswitch.db: does not match its sha256 in the manifest",
    )


def test_restore_refuses_a_truncated_file(backup, data_dir, config_file, tmp_path, capsys):
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(backup.read_bytes()[: backup.stat().st_size // 2])
    err = refused(capsys, cut, data_dir, config_file, "truncated, damaged or of another kind")
    assert err.count("\n") == 1


def test_restore_refuses_a_file_that_is_no_backup(data_dir, site, config_file, tmp_path, capsys):
    junk = tmp_path / "photo.tar.gz"
    junk.write_bytes(os.urandom(5000))
    refused(capsys, junk, data_dir, config_file, "cannot be read as a nightswitch backup")
    refused(
        capsys,
        tmp_path / "missing.tar.gz",
        data_dir,
        config_file,
        "FILE: " + str(tmp_path / "missing.tar.gz") + ": no such file",
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format": "someone-elses-backup"}, "manifest.json.format: must be 'nightswitch-backup'"),
        ({"format_version": 99}, "manifest.json.format_version: must be 1 to 2"),
        (
            {"schema_version": 1},
            f"manifest.json.schema_version: says 1 but the database has {SCHEMA_VERSION}",
        ),
        ({"members": "all of them"}, "manifest.json.members: must list nightswitch.db"),
    ],
)
def test_restore_refuses_a_wrong_manifest(
    backup, data_dir, config_file, tmp_path, capsys, change, message
):
    members = members_of(backup)
    manifest = json.loads(members["manifest.json"])
    manifest.update(change)
    bad = write_archive(
        tmp_path / "bad.tar.gz", members, manifest, fix_sums="members" not in change
    )
    refused(capsys, bad, data_dir, config_file, message)


def test_restore_refuses_missing_manifest_and_strange_members(
    backup, data_dir, config_file, tmp_path, capsys
):
    members = members_of(backup)
    no_manifest = tmp_path / "nm.tar.gz"
    with tarfile.open(no_manifest, "w:gz") as tar:
        info = tarfile.TarInfo("nightswitch.db")
        info.size = len(members["nightswitch.db"])
        tar.addfile(info, io.BytesIO(members["nightswitch.db"]))
    refused(capsys, no_manifest, data_dir, config_file, "manifest.json: is missing")
    evil = write_archive(tmp_path / "evil.tar.gz", dict(members, **{"../../etc/passwd": b"x"}))
    refused(
        capsys, evil, data_dir, config_file, "../../etc/passwd: is not part of a nightswitch backup"
    )
    assert not (tmp_path.parent / "etc" / "passwd").exists()


def test_restore_refuses_an_invalid_schedule_and_config_naming_both(
    backup, data_dir, config_file, tmp_path, capsys
):
    members = members_of(backup)
    bad_week = default_schedule_json()
    bad_week["weekly"]["tue"] = [{"start": "09:00", "end": "08:00", "mode": "day"}]
    db = db_bytes_with(
        tmp_path,
        members["nightswitch.db"],
        "INSERT INTO schedules VALUES ('main', 4, '"
        + json.dumps(bad_week).replace("'", "''")
        + "', '2026-12-28T00:00:00+00:00', 'x', NULL);",
    )
    bad_config = members["nightswitch.toml"] + b'\n[verify]\ndrift = "ignore"\n'
    bad = write_archive(
        tmp_path / "bad.tar.gz",
        dict(members, **{"nightswitch.db": db, "nightswitch.toml": bad_config}),
    )
    refused(
        capsys,
        bad,
        data_dir,
        config_file,
        "nightswitch.db: schedule main version 4: weekly.tue[0]",
        "nightswitch.toml: verify.drift",
    )


def test_restore_refuses_a_schedule_the_restored_config_cannot_produce(
    backup, data_dir, config_file, tmp_path, capsys
):
    members = members_of(backup)
    lunch = default_schedule_json()
    lunch["weekly"]["mon"] = [{"start": "12:00", "end": "13:00", "mode": "lunch"}]
    db = db_bytes_with(
        tmp_path,
        members["nightswitch.db"],
        "INSERT INTO schedules VALUES ('main', 4, '"
        + json.dumps(lunch)
        + "', '2026-12-28T00:00:00+00:00', 'x', NULL);",
    )
    bad = write_archive(tmp_path / "bad.tar.gz", dict(members, **{"nightswitch.db": db}))
    refused(capsys, bad, data_dir, config_file, "schedule main version 4", "lunch")


def test_restore_refuses_a_newer_schema_and_a_damaged_database(
    backup, data_dir, config_file, tmp_path, capsys
):
    members = members_of(backup)
    newer = db_bytes_with(tmp_path, members["nightswitch.db"], "PRAGMA user_version = 7;")
    manifest = json.loads(members["manifest.json"])
    manifest["schema_version"] = 7
    bad = write_archive(
        tmp_path / "newer.tar.gz", dict(members, **{"nightswitch.db": newer}), manifest
    )
    refused(capsys, bad, data_dir, config_file, "has schema version 7, newer than this")
    scrambled = bytearray(members["nightswitch.db"])
    scrambled[4096 * 3 : 4096 * 5] = os.urandom(4096 * 2)
    bad = write_archive(
        tmp_path / "damaged.tar.gz", dict(members, **{"nightswitch.db": bytes(scrambled)})
    )
    refused(capsys, bad, data_dir, config_file, "nightswitch.db:")


def test_restore_refuses_broken_site_files_naming_every_problem(
    backup, data_dir, config_file, tmp_path, capsys
):
    members = members_of(backup)
    profile = members["profiles/mitel-3300-login.toml"].replace(
        b'sample = "MAINT> "', b'sample = "READY> "'
    )
    quotes = b"'" * 3
    fmt = members["smdr/acme-kx.toml"].replace(
        b"regex = " + quotes + b"^", b"regex = " + quotes + b"^(("
    )
    # A second format whose name does not match its file.
    other = site_format("someone-else").encode()
    bad = write_archive(
        tmp_path / "bad.tar.gz",
        dict(
            members,
            **{
                "profiles/mitel-3300-login.toml": profile,
                "smdr/acme-kx.toml": fmt,
                "smdr/other.toml": other,
            },
        ),
    )
    err = refused(
        capsys,
        bad,
        data_dir,
        config_file,
        "profiles/mitel-3300-login.toml: methods.serial.login[2].sample: 'READY> ' "
        "does not match expect 'MAINT>'",
        "smdr/acme-kx.toml: layout.regex: is not a valid regular expression",
        "smdr/other.toml: name: 'someone-else' must match the file name other.toml",
        # and the config, which needs both, says so too
        "nightswitch.toml: actuators[1].profile",
        "nightswitch.toml: smdr",
    )
    assert "nightswitch-restore-" not in err  # no scratch paths, only member names


def test_restore_refuses_a_site_file_that_fails_its_checksum(
    backup, data_dir, config_file, tmp_path, capsys
):
    members = members_of(backup)
    altered = members["smdr/acme-kx.toml"].replace(b"verified = false", b"verified = true")
    assert altered != members["smdr/acme-kx.toml"]
    bad = write_archive(
        tmp_path / "bad.tar.gz", dict(members, **{"smdr/acme-kx.toml": altered}), fix_sums=False
    )
    refused(
        capsys,
        bad,
        data_dir,
        config_file,
        "smdr/acme-kx.toml: does not match its sha256 in the manifest",
    )


def test_restore_checks_the_config_against_the_site_profiles_it_will_have(
    backup, data_dir, config_file, tmp_path, capsys
):
    members = members_of(backup)
    del members["profiles/mitel-3300-login.toml"]
    without = write_archive(tmp_path / "without.tar.gz", members)
    # On a fresh Pi nothing supplies the profile the config names: refused.
    fresh = tmp_path / "new-pi"
    code, out, err = run(
        capsys,
        "restore",
        str(without),
        "--data",
        str(fresh / "data"),
        "--config",
        str(fresh / "etc" / "nightswitch.toml"),
    )
    assert code == 2 and out == ""
    assert "nightswitch.toml: actuators[1].profile: 'mitel-3300-login' is not a known PBX" in err
    assert not (fresh / "etc").exists() and not (fresh / "data" / "nightswitch.db").exists()
    # Here the site file is already beside the config and stays: accepted, and left alone.
    code, out, err = run(
        capsys, "restore", str(without), "--data", str(data_dir), "--config", str(config_file)
    )
    assert (code, err) == (0, ""), err
    assert (
        "left as they are (remove them if the site no longer needs them): "
        "profiles/mitel-3300-login.toml"
    ) in out


def test_restore_refuses_site_files_a_format_1_backup_cannot_hold(
    backup, data_dir, config_file, tmp_path, capsys
):
    members = members_of(backup)
    manifest = json.loads(members["manifest.json"])
    manifest["format_version"] = 1
    bad = write_archive(tmp_path / "v1.tar.gz", members, manifest)
    refused(
        capsys,
        bad,
        data_dir,
        config_file,
        "manifest.json.members: lists unknown files profiles/mitel-3300-login.toml, "
        "smdr/acme-kx.toml (format version 1 holds only the database and the config)",
    )
    unlisted = json.loads(members["manifest.json"])
    del unlisted["members"]["smdr/acme-kx.toml"]
    bad = write_archive(tmp_path / "unlisted.tar.gz", members, unlisted, fix_sums=False)
    refused(
        capsys,
        bad,
        data_dir,
        config_file,
        "smdr/acme-kx.toml: is in the file but not in the manifest",
    )
    evil = write_archive(
        tmp_path / "evil.tar.gz", dict(members, **{"profiles/../../x.toml": b"name = 'x'"})
    )
    refused(
        capsys,
        evil,
        data_dir,
        config_file,
        "profiles/../../x.toml: is not part of a nightswitch backup",
    )


def test_restore_refused_while_the_daemon_holds_the_lock(backup, data_dir, config_file, capsys):
    lock = DataDirLock(data_dir)
    assert lock.acquire()
    try:
        err = refused(
            capsys,
            backup,
            data_dir,
            config_file,
            "stop the service first: systemctl stop nightswitch",
            code=1,
        )
        assert err.count("\n") == 1
    finally:
        lock.release()
    assert (
        run(capsys, "restore", str(backup), "--data", str(data_dir), "--config", str(config_file))[
            0
        ]
        == 0
    )
