"""Backups: one ``.tar.gz`` holding a database snapshot, the config, the site's own
PBX profiles and SMDR formats, and a manifest.

What a backup holds is as good as an admin login: the users and their password hashes,
the API tokens' hashes, the schedule and audit, and the config with the PBX's
maintenance password. It never holds the web session key (``web-session.key`` beside
the database, :mod:`appliance.accounts.keyfile`) nor the sessions. The checksums find
damage, not tampering: anyone who can write a backup can write its manifest.

The snapshot is taken with SQLite's online backup API, from a separate connection, so
it is consistent even while the daemon keeps writing. The manifest says what the file
is and carries a SHA-256 of every member, so :mod:`appliance.backup.restore` can refuse
a damaged or foreign file before it touches anything::

    manifest.json      {"format": "nightswitch-backup", "format_version": 2,
                        "created_at", "nightswitch_version", "schema_version",
                        "config_path", "site_dir", "members": {name: {"sha256", "size"}}}
    nightswitch.db     the database (a self-contained file, no write-ahead log)
    nightswitch.toml   the installer's config, when there is one
    profiles/NAME.toml the site's PBX profiles (``profiles/`` beside the config)
    smdr/NAME.toml     the site's SMDR formats (``smdr/`` beside the config)

Format version 1 (before site files were included) had no ``profiles/`` or ``smdr/``
members and no ``site_dir``; restore still reads it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypedDict

from appliance.errors import FieldError, StoreError
from appliance.store import files
from appliance.store.db import DB_NAME, quick_check, snapshot, user_version

FORMAT = "nightswitch-backup"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
DB_MEMBER = DB_NAME
CONFIG_MEMBER = "nightswitch.toml"
#: The directories beside the config whose ``*.toml`` files are the site's own data,
#: as the loaders find them (``appliance.config.validate_config(site_dir=...)``).
SITE_DIRS = ("profiles", "smdr")
#: A site file's member name: one of :data:`SITE_DIRS`, then a plain file name. Nothing
#: that could climb out of its directory (no ``/``, no control characters).
SITE_MEMBER_RE = re.compile(r"(profiles|smdr)/([^/\\\x00-\x1f\x7f]{1,200}\.toml)")
#: Guards against a file that is not what it claims: a site profile or format is a page
#: or two of TOML, and a site has a handful.
MAX_SITE_FILE = 1024 * 1024
MAX_SITE_FILES = 500
#: A backup holds password hashes, token hashes and the PBX password from the config.
BACKUP_MODE = 0o600


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def site_dir_of(config_path: Path) -> Path:
    """The directory holding the site's ``profiles/`` and ``smdr/``: the config's own, as
    :func:`appliance.config.load_config` finds it (through a symlinked config)."""
    return Path(config_path).resolve().parent


def read_site_files(site_dir: Path) -> dict[str, bytes]:
    """The site's profile and format files under *site_dir*, by member name.

    Every ``*.toml`` the loaders would read is taken as it is, broken or not: a backup
    records the site, and :func:`check_site_files` says what would stop it restoring.

    :raises StoreError: when a file cannot be read (run as root), naming it.
    """
    found: dict[str, bytes] = {}
    for sub in SITE_DIRS:
        directory = Path(site_dir) / sub
        try:
            paths = sorted(p for p in directory.glob("*.toml") if p.is_file())
        except OSError as exc:
            raise StoreError(f"cannot list {directory}: {exc.strerror or exc}") from None
        for path in paths:
            name = f"{sub}/{path.name}"
            if not SITE_MEMBER_RE.fullmatch(name):
                raise StoreError(
                    f"{path}: a file name the backup cannot hold; rename it "
                    "(letters, digits, '-', '_' and '.', ending .toml)"
                )
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise StoreError(
                    f"cannot read {path}: {exc.strerror or exc} (run the backup with sudo)"
                ) from None
            if len(data) > MAX_SITE_FILE:
                raise StoreError(
                    f"{path} is larger than 1 MiB; it is no profile or format. "
                    "Move it out of the directory"
                )
            found[name] = data
    if len(found) > MAX_SITE_FILES:
        raise StoreError(
            f"{site_dir} holds {len(found)} profile and format files; a backup "
            f"takes up to {MAX_SITE_FILES}"
        )
    return found


def check_site_files(site_dir: Path, names) -> list[FieldError]:
    """Load the profiles and formats under *site_dir* as the daemon will, and return the
    problems of the files called *names* (member names such as ``profiles/x.toml``).

    Other files in the directories are loaded too (a profile may extend one of them) but
    not judged: they are not the caller's to answer for.
    """
    from appliance.pbx.profiles import load_profiles
    from appliance.smdr.formats import load_all

    names = set(names)
    problems: list[FieldError] = []
    profiles_dir = Path(site_dir) / "profiles"
    for exc in load_profiles(profiles_dir).problems:
        source = Path(exc.source)
        member = f"profiles/{source.name}"
        if source.parent == profiles_dir and member in names:
            problems.extend(_member_error(member, e) for e in exc.errors)
        elif source == profiles_dir and any(n.startswith("profiles/") for n in names):
            problems.extend(_member_error("profiles/", e) for e in exc.errors)
    _, bad = load_all(Path(site_dir) / "smdr")
    for name, exc in sorted(bad.items()):
        member = f"smdr/{name}.toml"
        if member in names:
            problems.extend(_member_error(member, e) for e in exc.errors)
    return problems


def _member_error(member: str, error: FieldError) -> FieldError:
    return FieldError(f"{member}: {error.field}" if error.field else member, error.message)


def _profiles_elsewhere(config_bytes: bytes | None, site_dir: Path) -> str | None:
    """The ``[profiles] dir`` of a config that keeps its profiles away from *site_dir*."""
    if config_bytes is None:
        return None
    try:
        data = tomllib.loads(config_bytes.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # the restore's check will name what is wrong with it
    profiles = data.get("profiles")
    other = profiles.get("dir") if isinstance(profiles, dict) else None
    if not isinstance(other, str) or not other:
        return None
    try:
        same = Path(other).resolve() == (site_dir / "profiles").resolve()
    except OSError:
        same = False
    return None if same else other


class MemberEntry(TypedDict):
    """A member's line in the manifest."""

    sha256: str
    size: int


@dataclass(frozen=True)
class BackupSummary:
    """What :func:`write_backup` put in the file.

    :attr site_files: the member names of the site's profiles and formats.
    :attr warnings: what the installer should fix: a site file that would stop this
        backup restoring, profiles kept where the backup does not look.
    """

    path: Path
    schema_version: int
    db_size: int
    config_included: bool
    manifest: dict
    site_files: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def write_backup(
    archive: Path,
    data_dir: Path,
    config_path: Path | None,
    *,
    created_at: datetime,
    nightswitch_version: str,
) -> BackupSummary:
    """Write a backup of *data_dir*, *config_path* (if it exists) and the site's profiles
    and SMDR formats beside it to *archive*.

    The archive is written beside its final name and renamed into place, so an
    interrupted backup never leaves a file that looks complete. A site file that does not
    load is still included (the backup records the site as it is), with a warning: the
    restore refuses it until it is fixed.

    :raises StoreError: when there is no database, or it is damaged (a backup of a
        damaged database would only fail later, at restore time), or a site file cannot
        be read.
    """
    archive = Path(archive)
    if archive.is_dir():
        raise StoreError(
            f"{archive} is a directory; give the backup file's name, such as "
            f"{archive / 'nightswitch-backup.tar.gz'}"
        )
    if not archive.parent.is_dir():
        raise StoreError(f"{archive.parent} does not exist; create it or choose another place")
    db_path = Path(data_dir) / DB_NAME
    site_dir = site_dir_of(config_path) if config_path is not None else None
    site_files = read_site_files(site_dir) if site_dir is not None else {}
    with tempfile.TemporaryDirectory(prefix=".nightswitch-backup-", dir=archive.parent) as work:
        snap = Path(work) / DB_MEMBER
        snapshot(db_path, snap)
        conn = sqlite3.connect(snap)
        try:
            _drop_sessions(conn)
            problems = quick_check(conn)
            schema = user_version(conn)
        except sqlite3.DatabaseError as exc:
            problems, schema = [str(exc)], 0
        finally:
            conn.close()
        if problems:
            raise StoreError(
                f"{db_path} is damaged ({'; '.join(problems[:3])}); a backup of it "
                "would not restore. Restart the daemon, which sets a damaged "
                "database aside, and restore an earlier backup"
            )
        members: dict[str, MemberEntry] = {
            DB_MEMBER: {"sha256": sha256_file(snap), "size": snap.stat().st_size}
        }
        config_bytes = None
        if config_path is not None and Path(config_path).is_file():
            try:
                config_bytes = Path(config_path).read_bytes()
            except OSError as exc:
                raise StoreError(
                    f"cannot read the config {config_path}: {exc.strerror or exc}"
                ) from None
            members[CONFIG_MEMBER] = {
                "sha256": hashlib.sha256(config_bytes).hexdigest(),
                "size": len(config_bytes),
            }
        for name, data in site_files.items():
            members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        broken = (
            check_site_files(site_dir, site_files) if site_dir is not None and site_files else []
        )
        warnings = [str(p) for p in broken]
        if broken:
            warnings.append(
                "restore refuses a backup with a site file that does not load: "
                "fix or remove it and back up again"
            )
        elsewhere = _profiles_elsewhere(config_bytes, site_dir) if site_dir else None
        if elsewhere is not None and site_dir is not None:
            warnings.append(
                f"the config keeps its PBX profiles in {elsewhere} ([profiles] "
                f"dir), which the backup does not include (only "
                f"{site_dir / 'profiles'}); copy them yourself"
            )
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": created_at.isoformat(),
            "nightswitch_version": nightswitch_version,
            "schema_version": schema,
            "config_path": str(config_path) if config_bytes is not None else None,
            "site_dir": str(site_dir) if site_dir is not None else None,
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
                for name, data in site_files.items():
                    _add_bytes(tar, name, data, mtime)
            files.replace_durably(tmp, archive, mode=BACKUP_MODE)
        except OSError as exc:
            raise StoreError(f"cannot write {archive}: {exc.strerror or exc}") from None
        finally:
            tmp.unlink(missing_ok=True)
    return BackupSummary(
        archive,
        schema,
        members[DB_MEMBER]["size"],
        config_bytes is not None,
        manifest,
        tuple(site_files),
        tuple(warnings),
    )


def _drop_sessions(conn: sqlite3.Connection) -> None:
    """Leave the web's sessions out of the copy: a restore ends them anyway, and what is
    not in a backup cannot leak from it (secure_delete overwrites the freed pages)."""
    if conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sessions'"
    ).fetchone():
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("DELETE FROM sessions")
        conn.commit()


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
