"""Restoring a backup: check everything first, then swap files in atomically.

A restore is what an installer reaches for on a bad day, so it must not make the day
worse. Every check runs before anything in the data directory or ``/etc`` is touched,
and all problems are reported together: the manifest, the checksums, the database's
``integrity_check``, its schema version, every stored schedule, and the config. Only a
backup that passes all of them is installed: each file is written beside its target,
fsynced and renamed over it, and the previous database is kept as
``nightswitch.db.before-restore`` (the previous config as ``<config>.before-restore``).

The daemon must be stopped: it holds the data directory's lock, and pulling its
database away would leave it writing to a deleted file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tarfile
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from appliance.errors import FieldError, NightswitchError, ValidationError
from appliance.store import files
from appliance.store.backup import (CONFIG_MEMBER, DB_MEMBER, FORMAT, FORMAT_VERSION, MANIFEST,
                                    snapshot)
from appliance.store.db import DB_NAME, SIDECARS, StoreError, set_aside, user_version
from appliance.store.lock import DataDirLock
from appliance.store.schema import SCHEMA_VERSION

MAX_MANIFEST = 64 * 1024
MAX_CONFIG = 1024 * 1024
_MEMBERS = (MANIFEST, DB_MEMBER, CONFIG_MEMBER)


class DaemonRunning(NightswitchError):
    """The data directory is locked by a running daemon."""


@dataclass
class CheckedBackup:
    """A backup that passed every check, with its database unpacked beside the target."""

    manifest: dict
    db_tmp: Path
    config_bytes: bytes | None
    problems: list[FieldError] = field(default_factory=list)


@dataclass(frozen=True)
class RestoreResult:
    manifest: dict
    db_path: Path
    previous_db: Path | None
    config_path: Path | None
    previous_config: Path | None
    schema_before: int
    schema_after: int


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
        problems.append(_problem(f"{MANIFEST}.format", f"must be {FORMAT!r} (got "
                                 f"{manifest.get('format')!r}); this is not a nightswitch backup"))
        return None
    version = manifest.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        problems.append(_problem(f"{MANIFEST}.format_version",
                                 f"must be 1 to {FORMAT_VERSION} (got {version!r}); a newer "
                                 "nightswitch made this backup"))
        return None
    schema = manifest.get("schema_version")
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
        problems.append(_problem(f"{MANIFEST}.schema_version",
                                 f"must be a whole number >= 1 (got {schema!r})"))
    members = manifest.get("members")
    ok = isinstance(members, dict) and DB_MEMBER in members and all(
        isinstance(v, dict) and isinstance(v.get("sha256"), str) and len(v["sha256"]) == 64
        for v in members.values())
    if not ok:
        problems.append(_problem(f"{MANIFEST}.members", f"must list {DB_MEMBER} (and "
                                 f"{CONFIG_MEMBER} if included), each with its sha256"))
        return None
    unknown = sorted(set(members) - {DB_MEMBER, CONFIG_MEMBER})
    if unknown:
        problems.append(_problem(f"{MANIFEST}.members",
                                 f"lists unknown files {', '.join(unknown)}"))
    return manifest


def _extract_checked(tar: tarfile.TarFile, info: tarfile.TarInfo, dest, expected: str,
                     problems: list[FieldError]) -> None:
    h = hashlib.sha256()
    src = tar.extractfile(info)
    for block in iter(lambda: src.read(1 << 16), b""):
        h.update(block)
        dest.write(block)
    if h.hexdigest() != expected:
        problems.append(_problem(info.name, "does not match its sha256 in the manifest; the "
                                            "backup is damaged or was altered"))


def _check_config(text: str, problems: list[FieldError]):
    """Parse the config the way the daemon will; returns the config object or None."""
    try:
        from appliance.config import load_config_text
    except ImportError:
        load_config_text = None
    try:
        if load_config_text is None:
            tomllib.loads(text)     # without the config module, at least the syntax
            return None
        return load_config_text(text)
    except ValidationError as exc:
        problems.extend(FieldError(f"{CONFIG_MEMBER}: {e.field}" if e.field else CONFIG_MEMBER,
                                   e.message) for e in exc.errors)
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
        return None     # a zone the config lacks: check the schedule's own consistency only


def _check_database(path: Path, manifest: dict, config, problems: list[FieldError]) -> None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        problems.append(_problem(DB_MEMBER, f"cannot be opened: {exc}"))
        return
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if rows != ["ok"]:
            problems.append(_problem(DB_MEMBER, "fails SQLite's integrity check: "
                                                + "; ".join(rows[:5])))
            return
        version = user_version(conn)
        if version > SCHEMA_VERSION:
            problems.append(_problem(DB_MEMBER, f"has schema version {version}, newer than this "
                                                f"nightswitch understands ({SCHEMA_VERSION}); "
                                                "install the nightswitch that made it"))
            return
        if version < 1:
            problems.append(_problem(DB_MEMBER, "is not a nightswitch database (no schema)"))
            return
        if manifest.get("schema_version") != version:
            problems.append(_problem(f"{MANIFEST}.schema_version",
                                     f"says {manifest.get('schema_version')!r} but the "
                                     f"database has {version}"))
        _check_schedules(conn, config, problems)
    except sqlite3.DatabaseError as exc:
        problems.append(_problem(DB_MEMBER, f"cannot be read: {exc}"))
    finally:
        conn.close()


def _check_schedules(conn: sqlite3.Connection, config, problems: list[FieldError]) -> None:
    try:
        from appliance.schedule import parse_schedule
    except ImportError:
        parse_schedule = None
    for zone, number, text in conn.execute(
            "SELECT zone, version, data FROM schedules ORDER BY zone, version"):
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


def check_backup(archive: Path, data_dir: Path) -> CheckedBackup:
    """Run every check on *archive*; unpack its database to a temporary file in *data_dir*.

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
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                infos = tar.getmembers()       # reads to the end: finds truncation now
                by_name: dict[str, tarfile.TarInfo] = {}
                for info in infos:
                    if info.name not in _MEMBERS:
                        problems.append(_problem(info.name, "is not part of a nightswitch backup"))
                    elif info.name in by_name:
                        problems.append(_problem(info.name, "appears twice"))
                    elif not info.isreg():
                        problems.append(_problem(info.name, "is not a regular file"))
                    else:
                        by_name[info.name] = info
                if MANIFEST not in by_name:
                    problems.append(_problem(MANIFEST, "is missing; this is not a nightswitch "
                                                       "backup"))
                elif by_name[MANIFEST].size > MAX_MANIFEST:
                    problems.append(_problem(MANIFEST, "is too large to be a manifest"))
                else:
                    manifest = _read_manifest(tar.extractfile(by_name[MANIFEST]).read(), problems)
                if manifest is not None:
                    members = manifest["members"]
                    for name in (DB_MEMBER, CONFIG_MEMBER):
                        if name in members and name not in by_name:
                            problems.append(_problem(name, "is listed in the manifest but "
                                                           "missing from the file"))
                        elif name in by_name and name not in members:
                            problems.append(_problem(name, "is in the file but not in the "
                                                           "manifest"))
                    if DB_MEMBER in by_name and DB_MEMBER in members:
                        with open(db_tmp, "wb") as out:
                            _extract_checked(tar, by_name[DB_MEMBER], out,
                                             members[DB_MEMBER]["sha256"], problems)
                    if CONFIG_MEMBER in by_name and CONFIG_MEMBER in members:
                        info = by_name[CONFIG_MEMBER]
                        if info.size > MAX_CONFIG:
                            problems.append(_problem(CONFIG_MEMBER, "is larger than 1 MiB"))
                        else:
                            config_bytes = tar.extractfile(info).read()
                            if (hashlib.sha256(config_bytes).hexdigest()
                                    != members[CONFIG_MEMBER]["sha256"]):
                                problems.append(_problem(
                                    CONFIG_MEMBER, "does not match its sha256 in the manifest; "
                                                   "the backup is damaged or was altered"))
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            problems.append(_problem("", f"cannot be read as a nightswitch backup (.tar.gz): "
                                         f"{exc}; the file is truncated, damaged or of "
                                         "another kind"))
        if manifest is not None and not problems:
            config = None
            if config_bytes is not None:
                try:
                    text = config_bytes.decode("utf-8")
                except UnicodeDecodeError:
                    problems.append(_problem(CONFIG_MEMBER, "is not UTF-8 text"))
                else:
                    config = _check_config(text, problems)
            _check_database(db_tmp, manifest, config, problems)
        if problems:
            raise ValidationError(problems, source=source)
    except BaseException:
        db_tmp.unlink(missing_ok=True)
        raise
    return CheckedBackup(manifest, db_tmp, config_bytes)


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


def restore(archive, data_dir, config_path=None) -> RestoreResult:
    """Check *archive* and, if it is sound, install its database and config.

    :param archive: a file made by :func:`appliance.store.backup.write_backup`.
    :param data_dir: the data directory to restore into.
    :param config_path: where the config goes; None leaves any config alone.
    :raises DaemonRunning: while a daemon holds the data directory's lock.
    :raises ValidationError: listing every problem with the backup; nothing changes.
    """
    data_dir = Path(data_dir)
    lock = DataDirLock(data_dir)
    if not lock.acquire(blocking=False):
        raise DaemonRunning(f"the nightswitch daemon is running on {data_dir}; stop the "
                            "service first: systemctl stop nightswitch")
    try:
        checked = check_backup(Path(archive), data_dir)
        db_path = data_dir / DB_NAME
        try:
            previous_db = _keep_previous_db(db_path)
            files.replace_durably(checked.db_tmp, db_path, mode=files.DATA_FILE_MODE)
        finally:
            checked.db_tmp.unlink(missing_ok=True)
        files.adopt_owner(data_dir, db_path)
        previous_config = written_config = None
        if checked.config_bytes is not None and config_path is not None:
            config_path = Path(config_path)
            config_path.parent.mkdir(parents=True, exist_ok=True)
            mode = None
            if config_path.exists():
                previous_config = config_path.with_name(config_path.name + ".before-restore")
                mode = config_path.stat().st_mode & 0o777
                files.write_durably(previous_config, config_path.read_bytes(), mode=mode)
            # The config holds the PBX password: never world-readable.
            files.write_durably(config_path, checked.config_bytes,
                                mode=mode if mode is not None else files.DATA_FILE_MODE)
            written_config = config_path
        schema_before = user_version_of(db_path)
        # Open it once as the daemon will, so an older schema is migrated now, with the
        # installer watching, rather than at the next start.
        from appliance.store.facade import Store
        with Store(data_dir) as store:
            schema_after = store.schema_version
        return RestoreResult(checked.manifest, db_path, previous_db, written_config,
                             previous_config, schema_before, schema_after)
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
