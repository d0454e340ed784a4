"""Restoring a backup: check everything first, then swap files in atomically.

A restore is what an installer reaches for on a bad day, so it must not make the day
worse. Every check runs before anything in the data directory or ``/etc`` is touched,
and all problems are reported together: the manifest, the checksums, the database's
``integrity_check``, its schema version, every stored schedule, the site's PBX profiles
and SMDR formats, and the config (against those profiles and formats). Only a backup
that passes all of them is installed: each file is written beside its target, fsynced
and renamed over it, and the previous database is kept as
``nightswitch.db.before-restore`` (the previous config as ``<config>.before-restore``,
a replaced site file as ``NAME.toml.before-restore``, which the loaders do not read).

Site files are checked as they will be after the restore: the backup's files laid over
the ones already beside the config, in a scratch directory. Files the backup does not
have are left where they are, never deleted: the restore says which they are.

The daemon must be stopped: it holds the data directory's lock, and pulling its
database away would leave it writing to a deleted file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import tomllib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING

from appliance.backup.archive import (
    CONFIG_MEMBER,
    DB_MEMBER,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MAX_SITE_FILE,
    MAX_SITE_FILES,
    SITE_DIRS,
    SITE_MEMBER_RE,
    check_site_files,
    site_dir_of,
    snapshot,
)
from appliance.backup.schema_check import differences
from appliance.errors import FieldError, NightswitchError, StoreError, ValidationError
from appliance.store import files
from appliance.store.db import DB_NAME, SIDECARS, set_aside, user_version
from appliance.store.lock import DataDirLock
from appliance.store.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from appliance.config import Config
    from appliance.decision.schedule import Schedule

MAX_MANIFEST = 256 * 1024
MAX_CONFIG = 1024 * 1024
#: The largest database a restore unpacks. Three years of call records at a busy site
#: are tens of MB; a member declaring more is refused before a byte of it is written
#: (a 300 KB archive once expanded to 301 MiB). ``restore --max-db-mib`` raises it.
MAX_DB_BYTES = 256 * 1024 * 1024
#: Free space a restore leaves on the data directory's disk, beyond the database.
SPARE_BYTES = 64 * 1024 * 1024
_MEMBERS = (MANIFEST, DB_MEMBER, CONFIG_MEMBER)
#: The first format version whose backups hold the site's profiles and formats.
SITE_FILES_SINCE = 2


def _is_member(name: str) -> bool:
    return name in _MEMBERS or SITE_MEMBER_RE.fullmatch(name) is not None


class DaemonRunning(NightswitchError):
    """The data directory is locked by a running daemon."""


@dataclass
class CheckedBackup:
    """A backup that passed every check, with its database unpacked beside the target."""

    manifest: dict
    db_tmp: Path
    config_bytes: bytes | None
    problems: list[FieldError] = field(default_factory=list)
    #: ``profiles/NAME.toml`` / ``smdr/NAME.toml`` -> contents, checked.
    site_files: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class RestoreResult:
    """What :func:`restore` did.

    :attr site_dir: where the site's ``profiles/`` and ``smdr/`` are (None when no config
        path was given, and site files were left alone).
    :attr site_included: whether the backup records site files at all (format 2 on).
    :attr site_written: site files written, new or changed.
    :attr site_previous: the ``.before-restore`` copies of the changed ones.
    :attr site_unchanged: site files already as the backup has them.
    :attr site_left: site files the backup does not have, left as they were.
    """

    manifest: dict
    db_path: Path
    previous_db: Path | None
    config_path: Path | None
    previous_config: Path | None
    schema_before: int
    schema_after: int
    site_dir: Path | None = None
    site_included: bool = False
    site_written: tuple[Path, ...] = ()
    site_previous: tuple[Path, ...] = ()
    site_unchanged: tuple[Path, ...] = ()
    site_left: tuple[Path, ...] = ()


def _problem(where: str, message: str) -> FieldError:
    return FieldError(where, message)


def _read_manifest(raw: bytes, problems: list[FieldError]) -> dict | None:
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(_problem(MANIFEST, f"is not valid JSON ({exc})"))
        return None
    if not isinstance(manifest, dict):
        problems.append(_problem(MANIFEST, "must be a JSON object"))
        return None
    if manifest.get("format") != FORMAT:
        problems.append(
            _problem(
                f"{MANIFEST}.format",
                f"must be {FORMAT!r} (got "
                f"{manifest.get('format')!r}); this is not a nightswitch backup",
            )
        )
        return None
    version = manifest.get("format_version")
    if (
        isinstance(version, bool)
        or not isinstance(version, int)
        or not 1 <= version <= FORMAT_VERSION
    ):
        problems.append(
            _problem(
                f"{MANIFEST}.format_version",
                f"must be 1 to {FORMAT_VERSION} (got {version!r}); a newer "
                "nightswitch made this backup",
            )
        )
        return None
    schema = manifest.get("schema_version")
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
        problems.append(
            _problem(f"{MANIFEST}.schema_version", f"must be a whole number >= 1 (got {schema!r})")
        )
    members = manifest.get("members")
    ok = (
        isinstance(members, dict)
        and DB_MEMBER in members
        and all(
            isinstance(v, dict) and isinstance(v.get("sha256"), str) and len(v["sha256"]) == 64
            for v in members.values()
        )
    )
    if not ok or not isinstance(members, dict):
        problems.append(
            _problem(
                f"{MANIFEST}.members",
                f"must list {DB_MEMBER} (and "
                f"{CONFIG_MEMBER} and site files if included), each with its "
                "sha256",
            )
        )
        return None
    site_ok = version >= SITE_FILES_SINCE
    unknown = sorted(
        n
        for n in members
        if n not in (DB_MEMBER, CONFIG_MEMBER) and not (site_ok and SITE_MEMBER_RE.fullmatch(n))
    )
    if unknown:
        problems.append(
            _problem(
                f"{MANIFEST}.members",
                f"lists unknown files {', '.join(unknown)}"
                + (
                    ""
                    if site_ok
                    else f" (format version {version} holds only the database and the config)"
                ),
            )
        )
    site = [n for n in members if SITE_MEMBER_RE.fullmatch(n)]
    if len(site) > MAX_SITE_FILES:
        problems.append(
            _problem(
                f"{MANIFEST}.members",
                f"lists {len(site)} site files; a backup holds up to {MAX_SITE_FILES}",
            )
        )
    return manifest


def _reader(tar: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    """The contents of member *info*, a regular file (the others are refused when the
    members are listed)."""
    src = tar.extractfile(info)
    if src is None:
        raise ValidationError([_problem(info.name, "is not a regular file")])
    return src


def _extract_checked(
    tar: tarfile.TarFile, info: tarfile.TarInfo, dest, expected: str, problems: list[FieldError]
) -> None:
    h = hashlib.sha256()
    src = _reader(tar, info)
    for block in iter(lambda: src.read(1 << 16), b""):
        h.update(block)
        dest.write(block)
    if h.hexdigest() != expected:
        problems.append(
            _problem(
                info.name,
                "does not match its sha256 in the manifest; the backup is damaged or was altered",
            )
        )


def _config_loader() -> Callable[..., Config] | None:
    """:func:`appliance.config.load_config_text`, or None without the config module."""
    try:
        from appliance.config import load_config_text
    except ImportError:
        return None
    return load_config_text


def _schedule_parser() -> Callable[..., Schedule] | None:
    """:func:`appliance.decision.schedule.parse_schedule`, or None without that module."""
    try:
        from appliance.decision.schedule import parse_schedule
    except ImportError:
        return None
    return parse_schedule


def _check_config(text: str, problems: list[FieldError], site_dir: Path | None = None):
    """Parse the config the way the daemon will; returns the config object or None.

    :param site_dir: where its ``profiles/`` and ``smdr/`` are (the scratch copy of what
        the restore will leave beside it); None for the defaults.
    """
    load_config_text = _config_loader()
    try:
        if load_config_text is None:
            tomllib.loads(text)  # without the config module, at least the syntax
            return None
        return load_config_text(text, CONFIG_MEMBER, site_dir=site_dir)
    except ValidationError as exc:
        problems.extend(
            FieldError(
                f"{CONFIG_MEMBER}: {e.field}" if e.field else CONFIG_MEMBER,
                _unstage(e.message, site_dir),
            )
            for e in exc.errors
        )
    except tomllib.TOMLDecodeError as exc:
        problems.append(_problem(CONFIG_MEMBER, f"is not valid TOML: {exc}"))
    except Exception as exc:  # a config the checker chokes on is not one to install
        problems.append(_problem(CONFIG_MEMBER, f"cannot be checked: {exc}"))
    return None


def _allowed_modes(config, zone):
    if config is None or not hasattr(config, "zone_modes"):
        return None
    try:
        return config.zone_modes(zone)
    except Exception:
        return None  # a zone the config lacks: check the schedule's own consistency only


def _check_database(path: Path, manifest: dict, config, problems: list[FieldError]) -> None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        problems.append(_problem(DB_MEMBER, f"cannot be opened: {exc}"))
        return
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if rows != ["ok"]:
            problems.append(
                _problem(DB_MEMBER, "fails SQLite's integrity check: " + "; ".join(rows[:5]))
            )
            return
        version = user_version(conn)
        if version > SCHEMA_VERSION:
            problems.append(
                _problem(
                    DB_MEMBER,
                    f"has schema version {version}, newer than this "
                    f"nightswitch understands ({SCHEMA_VERSION}); "
                    "install the nightswitch that made it",
                )
            )
            return
        if version < 1:
            problems.append(_problem(DB_MEMBER, "is not a nightswitch database (no schema)"))
            return
        if manifest.get("schema_version") != version:
            problems.append(
                _problem(
                    f"{MANIFEST}.schema_version",
                    f"says {manifest.get('schema_version')!r} but the database has {version}",
                )
            )
        # Nothing but nightswitch's own tables: no trigger, view or table slipped in.
        shape = differences(conn, version)
        if shape:
            problems.extend(
                _problem(DB_MEMBER, f"{p}; a backup whose database was altered is refused")
                for p in shape
            )
            return
        _check_schedules(conn, config, problems)
    except sqlite3.DatabaseError as exc:
        problems.append(_problem(DB_MEMBER, f"cannot be read: {exc}"))
    finally:
        conn.close()


def _check_schedules(conn: sqlite3.Connection, config, problems: list[FieldError]) -> None:
    parse_schedule = _schedule_parser()
    for zone, number, text in conn.execute(
        "SELECT zone, version, data FROM schedules ORDER BY zone, version"
    ):
        where = f"{DB_MEMBER}: schedule {zone} version {number}"
        try:
            data = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            problems.append(_problem(where, f"is not JSON: {exc}"))
            continue
        if parse_schedule is None:
            if not isinstance(data, dict):
                problems.append(_problem(where, "is not a JSON object"))
            continue
        try:
            parse_schedule(data, allowed_modes=_allowed_modes(config, zone))
        except ValidationError as exc:
            problems.extend(FieldError(f"{where}: {e.field}", e.message) for e in exc.errors)


def _unstage(message: str, stage: Path | None) -> str:
    """*message* with the scratch directory's path turned back into member names
    (``profiles/x.toml``), which is what the installer can find in the backup."""
    if stage is None:
        return message
    return message.replace(f"{stage}{os.sep}", "").replace(str(stage), "the backup")


def _live_site_files(site_dir: Path | None) -> dict[str, Path]:
    """The profile and format files beside the config now, by member name."""
    found: dict[str, Path] = {}
    if site_dir is None:
        return found
    for sub in SITE_DIRS:
        try:
            paths = sorted(p for p in (site_dir / sub).glob("*.toml") if p.is_file())
        except OSError:
            continue
        for path in paths:
            found[f"{sub}/{path.name}"] = path
    return found


def _stage_site(stage: Path, site_dir: Path | None, site_files: dict[str, bytes]) -> None:
    """Lay out in *stage* what the site directories will hold after the restore: the files
    there now, with the backup's written over them."""
    for sub in SITE_DIRS:
        (stage / sub).mkdir()
    for name, path in _live_site_files(site_dir).items():
        if name in site_files:
            continue
        try:
            shutil.copyfile(path, stage / name)
        except OSError:
            # Unreadable here: it stays as it is, and a config that needs it is told the
            # profile is missing, which is what the daemon would find too.
            continue
    for name, data in site_files.items():
        (stage / name).write_bytes(data)


def _members(tar: tarfile.TarFile, max_db: int, problems: list[FieldError]):
    """The archive's members, read header by header; stops at a member larger than any
    backup holds, or at too many members, before its data is unpacked."""
    limits = {MANIFEST: MAX_MANIFEST, DB_MEMBER: max_db, CONFIG_MEMBER: MAX_CONFIG}
    found = []
    for info in tar:
        limit = limits.get(info.name, MAX_SITE_FILE)
        if info.size > limit:
            problems.append(
                _problem(
                    info.name,
                    f"is {info.size // (1024 * 1024)} MiB, more "
                    f"than a backup holds (at most "
                    f"{limit // (1024 * 1024) or 1} MiB)"
                    + (
                        "; restore --max-db-mib N allows a larger database"
                        if info.name == DB_MEMBER
                        else ""
                    ),
                )
            )
            break
        found.append(info)
        if len(found) > MAX_SITE_FILES + len(limits):
            problems.append(
                _problem(
                    "",
                    f"holds more than {MAX_SITE_FILES + len(limits)} "
                    "files; no backup has that many",
                )
            )
            break
    return found


def _db_fits(
    info: tarfile.TarInfo, listed: dict, data_dir: Path, problems: list[FieldError]
) -> bool:
    """Whether the database member matches its manifest size and fits on the disk."""
    size = listed.get("size")
    if size is not None and size != info.size:
        problems.append(
            _problem(
                DB_MEMBER,
                f"is {info.size} bytes but the manifest says "
                f"{size}; the backup is damaged or was altered",
            )
        )
        return False
    free = shutil.disk_usage(data_dir).free
    if info.size + SPARE_BYTES > free:
        problems.append(
            _problem(
                DB_MEMBER,
                f"needs {info.size // (1024 * 1024) + 1} MiB and "
                f"{SPARE_BYTES // (1024 * 1024)} MiB to spare, but "
                f"{data_dir} has {free // (1024 * 1024)} MiB free",
            )
        )
        return False
    return True


def check_backup(
    archive: Path, data_dir: Path, site_dir: Path | None = None, *, max_db: int = MAX_DB_BYTES
) -> CheckedBackup:
    """Run every check on *archive*; unpack its database to a temporary file in *data_dir*.

    :param site_dir: the directory the config and its ``profiles/`` and ``smdr/`` will be
        in; the backup's site files and config are checked together with the site files
        already there (which stay). None checks them on their own.
    :raises ValidationError: listing every problem found (nothing is left behind).
    """
    archive = Path(archive)
    source = str(archive)
    if not archive.is_file():
        raise ValidationError([FieldError("FILE", f"{archive}: no such file")])
    problems: list[FieldError] = []
    files.ensure_dir(data_dir)
    db_tmp = files.temp_path_beside(Path(data_dir) / DB_NAME, ".restore")
    manifest = None
    config_bytes = None
    site_files: dict[str, bytes] = {}
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                infos = _members(tar, max_db, problems)  # to the end: finds truncation now
                by_name: dict[str, tarfile.TarInfo] = {}
                for info in infos:
                    if not _is_member(info.name):
                        problems.append(_problem(info.name, "is not part of a nightswitch backup"))
                    elif info.name in by_name:
                        problems.append(_problem(info.name, "appears twice"))
                    elif not info.isreg():
                        problems.append(_problem(info.name, "is not a regular file"))
                    else:
                        by_name[info.name] = info
                if MANIFEST not in by_name:
                    problems.append(
                        _problem(MANIFEST, "is missing; this is not a nightswitch backup")
                    )
                elif by_name[MANIFEST].size > MAX_MANIFEST:
                    problems.append(_problem(MANIFEST, "is too large to be a manifest"))
                else:
                    manifest = _read_manifest(_reader(tar, by_name[MANIFEST]).read(), problems)
                if manifest is not None:
                    members = {
                        n: v
                        for n, v in manifest["members"].items()
                        if _is_member(n) and n != MANIFEST
                    }
                    names = sorted((set(members) | set(by_name)) - {MANIFEST})
                    for name in names:
                        if name in members and name not in by_name:
                            problems.append(
                                _problem(
                                    name, "is listed in the manifest but missing from the file"
                                )
                            )
                        elif name in by_name and name not in members:
                            problems.append(
                                _problem(name, "is in the file but not in the manifest")
                            )
                    site = [
                        n
                        for n in names
                        if SITE_MEMBER_RE.fullmatch(n) and n in members and n in by_name
                    ]
                    for name in site if len(site) <= MAX_SITE_FILES else ():
                        data = _read_small(
                            tar, by_name[name], members[name]["sha256"], MAX_SITE_FILE, problems
                        )
                        if data is not None:
                            site_files[name] = data
                    if (
                        DB_MEMBER in by_name
                        and DB_MEMBER in members
                        and _db_fits(by_name[DB_MEMBER], members[DB_MEMBER], data_dir, problems)
                    ):
                        with open(db_tmp, "wb") as out:
                            _extract_checked(
                                tar, by_name[DB_MEMBER], out, members[DB_MEMBER]["sha256"], problems
                            )
                    if CONFIG_MEMBER in by_name and CONFIG_MEMBER in members:
                        config_bytes = _read_small(
                            tar,
                            by_name[CONFIG_MEMBER],
                            members[CONFIG_MEMBER]["sha256"],
                            MAX_CONFIG,
                            problems,
                        )
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            problems.append(
                _problem(
                    "",
                    f"cannot be read as a nightswitch backup (.tar.gz): "
                    f"{exc}; the file is truncated, damaged or of "
                    "another kind",
                )
            )
        if manifest is not None and not problems:
            with tempfile.TemporaryDirectory(prefix="nightswitch-restore-") as scratch:
                stage = Path(scratch)
                _stage_site(stage, site_dir, site_files)
                problems.extend(
                    FieldError(p.field, _unstage(p.message, stage))
                    for p in check_site_files(stage, site_files)
                )
                config = None
                if config_bytes is not None:
                    try:
                        text = config_bytes.decode("utf-8")
                    except UnicodeDecodeError:
                        problems.append(_problem(CONFIG_MEMBER, "is not UTF-8 text"))
                    else:
                        config = _check_config(text, problems, stage)
            _check_database(db_tmp, manifest, config, problems)
        if problems or manifest is None:  # no manifest has put its problem
            raise ValidationError(problems, source=source)
    except BaseException:
        db_tmp.unlink(missing_ok=True)
        raise
    return CheckedBackup(manifest, db_tmp, config_bytes, site_files=site_files)


def _read_small(
    tar: tarfile.TarFile,
    info: tarfile.TarInfo,
    expected: str,
    limit: int,
    problems: list[FieldError],
) -> bytes | None:
    """A small member's bytes, if it is within *limit* and matches its checksum."""
    if info.size > limit:
        problems.append(_problem(info.name, f"is larger than {limit // 1024 // 1024} MiB"))
        return None
    data = _reader(tar, info).read()
    if hashlib.sha256(data).hexdigest() != expected:
        problems.append(
            _problem(
                info.name,
                "does not match its sha256 in the manifest; the backup is damaged or was altered",
            )
        )
        return None
    return data


def _keep_previous_db(db_path: Path) -> Path | None:
    """Copy the current database to ``.before-restore`` and clear its sidecars."""
    if not db_path.exists():
        return None
    keep = db_path.with_name(db_path.name + ".before-restore")
    try:
        snapshot(db_path, keep)
        conn = sqlite3.connect(db_path)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except (StoreError, sqlite3.Error):
        # The current file is damaged: no copy can be made, so move it aside whole.
        return set_aside(db_path, ".before-restore")
    for s in SIDECARS:
        # The copy above holds everything; a log left here would be replayed into the
        # restored file, so it goes.
        db_path.with_name(db_path.name + s).unlink(missing_ok=True)
    files.adopt_owner(db_path.parent, keep)
    return keep


def _owner_root_only(path: Path, like: os.stat_result) -> None:
    """Give *path* the owner and group of *like* when running as root.

    A file written by ``sudo nightswitch restore`` would otherwise be root's alone, and the
    service account (the group of ``/etc/nightswitch``) could no longer read it.
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.chown(path, like.st_uid, like.st_gid)


def _install_file(path: Path, data: bytes, *, like: Path | None = None) -> None:
    """Write *data* to *path* atomically (temp file, fsync, rename, fsync the directory).

    :param like: a file whose mode and owner the result takes (the one it replaces);
        without one, mode 0640 and the owner of the directory, as install.sh sets them.
    """
    ref = os.stat(like) if like is not None and like.exists() else None
    tmp = files.temp_path_beside(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _owner_root_only(tmp, ref or os.stat(path.parent))
        files.replace_durably(
            tmp, path, mode=(ref.st_mode & 0o777) if ref else files.DATA_FILE_MODE
        )
    finally:
        tmp.unlink(missing_ok=True)


def _ensure_site_subdir(directory: Path) -> None:
    if directory.is_dir():
        return
    directory.mkdir(mode=0o750)
    os.chmod(directory, 0o750)  # whatever the umask
    _owner_root_only(directory, os.stat(directory.parent))
    files.fsync_dir(directory.parent)


def _install_config(config_path: Path, data: bytes) -> Path | None:
    """Write the config; returns the ``.before-restore`` copy of the one replaced.

    A symlinked config is written through the link, into the directory whose
    ``profiles/`` and ``smdr/`` the daemon reads (:func:`site_dir_of`).
    """
    config_path = config_path.resolve()
    config_path.parent.mkdir(parents=True, exist_ok=True)
    previous = None
    if config_path.exists():
        previous = config_path.with_name(config_path.name + ".before-restore")
        # The config holds the PBX password: the copy keeps its mode (never wider).
        _install_file(previous, config_path.read_bytes(), like=config_path)
    _install_file(config_path, data, like=config_path)
    return previous


def _install_site(site_dir: Path, site_files: dict[str, bytes]):
    """Write the backup's site files under *site_dir*, keeping any file they replace.

    :returns: (written, previous copies, unchanged), as paths.
    """
    written, previous, unchanged = [], [], []
    for name, data in sorted(site_files.items()):
        target = site_dir / name
        _ensure_site_subdir(target.parent)
        if target.is_file():
            old = target.read_bytes()
            if old == data:
                unchanged.append(target)
                continue
            # NAME.toml.before-restore: no longer *.toml, so no loader picks it up.
            keep = target.with_name(target.name + ".before-restore")
            _install_file(keep, old, like=target)
            previous.append(keep)
        _install_file(target, data, like=target)
        written.append(target)
    return tuple(written), tuple(previous), tuple(unchanged)


def restore(
    archive, data_dir, config_path=None, *, max_db: int = MAX_DB_BYTES, by: str = "restore"
) -> RestoreResult:
    """Check *archive* and, if it is sound, install its database, config and site files.

    :param archive: a file made by :func:`appliance.backup.archive.write_backup`.
    :param data_dir: the data directory to restore into.
    :param config_path: where the config goes; the site's ``profiles/`` and ``smdr/``
        are beside it. None leaves any config and site files alone.
    :raises DaemonRunning: while a daemon holds the data directory's lock.
    :raises ValidationError: listing every problem with the backup; nothing changes.
    """
    data_dir = Path(data_dir)
    site_dir = site_dir_of(config_path) if config_path is not None else None
    lock = DataDirLock(data_dir)
    if not lock.acquire(blocking=False):
        raise DaemonRunning(
            f"the nightswitch daemon is running on {data_dir}; stop the "
            "service first: systemctl stop nightswitch"
        )
    try:
        checked = check_backup(Path(archive), data_dir, site_dir, max_db=max_db)
        db_path = data_dir / DB_NAME
        try:
            previous_db = _keep_previous_db(db_path)
            files.replace_durably(checked.db_tmp, db_path, mode=files.DATA_FILE_MODE)
        finally:
            checked.db_tmp.unlink(missing_ok=True)
        files.adopt_owner(data_dir, db_path)
        site_included = checked.manifest["format_version"] >= SITE_FILES_SINCE
        written: tuple[Path, ...] = ()
        previous: tuple[Path, ...] = ()
        unchanged: tuple[Path, ...] = ()
        left: tuple[Path, ...] = ()
        if site_dir is not None:
            if checked.site_files:
                site_dir.mkdir(parents=True, exist_ok=True)
            # Profiles before the config that names them: a cut here leaves the old config
            # with profiles it may not need, not a new config without its profiles.
            written, previous, unchanged = _install_site(site_dir, checked.site_files)
            if site_included:
                left = tuple(
                    path
                    for name, path in _live_site_files(site_dir).items()
                    if name not in checked.site_files
                )
        previous_config = written_config = None
        if checked.config_bytes is not None and config_path is not None:
            config_path = Path(config_path)
            previous_config = _install_config(config_path, checked.config_bytes)
            written_config = config_path
        schema_before = user_version_of(db_path)
        # Open it once as the daemon will, so an older schema is migrated now, with the
        # installer watching, rather than at the next start.
        from appliance.accounts.keyfile import discard
        from appliance.store.facade import Store

        with Store(data_dir) as store:
            schema_after = store.schema_version
            # Nothing of the web's logins survives a restore: the sessions the backup
            # holds end, and the next start signs cookies with a new key.
            ended = store.end_all_sessions()
            store.add_security_event(
                at=datetime.now(timezone.utc),
                event="restore",
                who=by,
                target=Path(archive).name[:200],
                detail=f"made {checked.manifest.get('created_at')}; "
                f"{ended} session(s) ended, new session key",
            )
        discard(data_dir)
        return RestoreResult(
            checked.manifest,
            db_path,
            previous_db,
            written_config,
            previous_config,
            schema_before,
            schema_after,
            site_dir,
            site_included,
            written,
            previous,
            unchanged,
            left,
        )
    except OSError as exc:
        raise StoreError(f"restore failed while writing: {exc}") from None
    finally:
        lock.release()


def user_version_of(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return user_version(conn)
    finally:
        conn.close()
