"""Backups: one ``.tar.gz`` holding a database snapshot, the config file and a manifest.

The snapshot is taken with SQLite's online backup API, from a separate connection, so
it is consistent even while the daemon keeps writing. The manifest says what the file
is and carries a SHA-256 of every member, so :mod:`appliance.store.restore` can refuse
a damaged or foreign file before it touches anything::

    manifest.json      {"format": "nightswitch-backup", "format_version": 1,
                        "created_at", "nightswitch_version", "schema_version",
                        "config_path", "members": {name: {"sha256", "size"}}}
    nightswitch.db     the database (a self-contained file, no write-ahead log)
    nightswitch.toml   the installer's config, when there is one
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from appliance.store import files
from appliance.store.db import BUSY_TIMEOUT_S, DB_NAME, StoreError, quick_check, user_version

FORMAT = "nightswitch-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DB_MEMBER = DB_NAME
CONFIG_MEMBER = "nightswitch.toml"
#: A backup holds password hashes, token hashes and the PBX password from the config.
BACKUP_MODE = 0o600


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def snapshot(db_path: Path, dest: Path) -> None:
    """Copy the database at *db_path* to *dest* consistently, with the online backup API.

    *dest* appears complete or not at all, and is a single self-contained file
    (``journal_mode=DELETE``), ready to be copied or archived.

    :raises StoreError: if there is no database at *db_path* or it cannot be read.
    """
    if not db_path.is_file():
        raise StoreError(f"there is no database at {db_path}; nothing to back up "
                         "(check --data)")
    tmp = files.temp_path_beside(dest)
    try:
        # Opened read-write but never written to: a read-only connection cannot see the
        # write-ahead log of a daemon that is not running and has left none behind.
        src = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S)
        try:
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE")
            finally:
                dst.close()
        finally:
            src.close()
        files.replace_durably(tmp, dest)
    except sqlite3.Error as exc:
        raise StoreError(f"{db_path}: cannot take a snapshot: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class BackupSummary:
    """What :func:`write_backup` put in the file."""

    path: Path
    schema_version: int
    db_size: int
    config_included: bool
    manifest: dict


def write_backup(archive: Path, data_dir: Path, config_path: Path | None, *,
                 created_at: datetime, nightswitch_version: str) -> BackupSummary:
    """Write a backup of *data_dir* (and *config_path*, if it exists) to *archive*.

    The archive is written beside its final name and renamed into place, so an
    interrupted backup never leaves a file that looks complete.

    :raises StoreError: when there is no database, or it is damaged (a backup of a
        damaged database would only fail later, at restore time).
    """
    archive = Path(archive)
    if archive.is_dir():
        raise StoreError(f"{archive} is a directory; give the backup file's name, such as "
                         f"{archive / 'nightswitch-backup.tar.gz'}")
    if not archive.parent.is_dir():
        raise StoreError(f"{archive.parent} does not exist; create it or choose another place")
    db_path = Path(data_dir) / DB_NAME
    with tempfile.TemporaryDirectory(prefix=".nightswitch-backup-", dir=archive.parent) as work:
        snap = Path(work) / DB_MEMBER
        snapshot(db_path, snap)
        conn = sqlite3.connect(snap)
        try:
            problems = quick_check(conn)
            schema = user_version(conn)
        except sqlite3.DatabaseError as exc:
            problems, schema = [str(exc)], 0
        finally:
            conn.close()
        if problems:
            raise StoreError(f"{db_path} is damaged ({'; '.join(problems[:3])}); a backup of it "
                             "would not restore. Restart the daemon, which sets a damaged "
                             "database aside, and restore an earlier backup")
        members = {DB_MEMBER: {"sha256": sha256_file(snap), "size": snap.stat().st_size}}
        config_bytes = None
        if config_path is not None and Path(config_path).is_file():
            try:
                config_bytes = Path(config_path).read_bytes()
            except OSError as exc:
                raise StoreError(f"cannot read the config {config_path}: "
                                 f"{exc.strerror or exc}") from None
            members[CONFIG_MEMBER] = {"sha256": hashlib.sha256(config_bytes).hexdigest(),
                                      "size": len(config_bytes)}
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": created_at.isoformat(),
            "nightswitch_version": nightswitch_version,
            "schema_version": schema,
            "config_path": str(config_path) if config_bytes is not None else None,
            "members": members,
        }
        tmp = files.temp_path_beside(archive)
        try:
            mtime = int(created_at.timestamp())
            with tarfile.open(tmp, "w:gz") as tar:
                # The manifest goes first so a reader learns what it holds before the rest.
                _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2).encode() + b"\n", mtime)
                info = tar.gettarinfo(snap, arcname=DB_MEMBER)
                _normalize(info, mtime)
                with open(snap, "rb") as fh:
                    tar.addfile(info, fh)
                if config_bytes is not None:
                    _add_bytes(tar, CONFIG_MEMBER, config_bytes, mtime)
            files.replace_durably(tmp, archive, mode=BACKUP_MODE)
        except OSError as exc:
            raise StoreError(f"cannot write {archive}: {exc.strerror or exc}") from None
        finally:
            tmp.unlink(missing_ok=True)
    return BackupSummary(archive, schema, members[DB_MEMBER]["size"], config_bytes is not None,
                         manifest)


def _normalize(info: tarfile.TarInfo, mtime: int) -> None:
    info.mtime = mtime
    info.mode = BACKUP_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    _normalize(info, mtime)
    tar.addfile(info, io.BytesIO(data))

