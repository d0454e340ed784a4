"""Opening the SQLite file: pragmas, quarantine of a corrupt file, migrations, locking.

This is the only module that calls :func:`sqlite3.connect` on the live database. It
follows Home Assistant's ``Store`` habit: data is versioned and migrated on load, and a
file that cannot be read is *renamed aside* with a loud log line and replaced by a fresh
one, so a bad SD-card sector never leaves the daemon crash-looping in a cupboard. A file
written by a *newer* nightswitch is a different matter: it is refused, because guessing
at it could destroy data that a reinstall of the newer version would read fine.

One connection serves every thread, behind a re-entrant lock. The daemon's write rate
(a mode change, an audit row, an SMDR line) is tiny, SQLite serializes writers anyway,
and one connection means no per-thread connections to leak from waitress's threads.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.errors import SchemaTooNewError, StoreError
from appliance.store import files
from appliance.store.lock import held_by_another_process
from appliance.store.schema import MIGRATIONS, Migration

log = logging.getLogger(__name__)

DB_NAME = "nightswitch.db"
#: How long a writer waits for another process (the CLI beside the daemon) to finish.
BUSY_TIMEOUT_S = 10.0
#: SQLite's own sidecar files; they belong to the main file and move with it.
SIDECARS = ("-wal", "-shm")

_CORRUPTION_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


def inserted_id(cur: sqlite3.Cursor) -> int:
    """The row id of the row *cur* has just inserted (an INSERT on a rowid table always
    sets it; None would mean the statement was no such INSERT)."""
    if cur.lastrowid is None:
        raise StoreError("the insert gave no row id")
    return cur.lastrowid


class _CorruptDatabase(Exception):
    """Raised internally when ``quick_check`` finds damage."""


def is_corruption(exc: BaseException) -> bool:
    """True if *exc* says the file is damaged or not a database at all.

    Only these lead to quarantine. "Unable to open" (permissions, a missing
    directory) and "database is locked" are not damage, and renaming a good
    database aside because of them would lose everything.
    """
    if isinstance(exc, _CorruptDatabase):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _CORRUPTION_CODES


def connect(path: Path) -> sqlite3.Connection:
    """Open *path* with the pragmas every nightswitch connection uses.

    ``journal_mode=WAL`` with ``synchronous=FULL``: a committed change survives a power
    cut (docs/raspberry-pi.md#sqlite-durability-on-sd-cards), and readers (the web page)
    never wait for the writer.
    Transactions are managed explicitly (``isolation_level=None``).
    """
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(
                f"{path}: SQLite refused write-ahead logging (journal_mode is "
                f"{mode!r}); keep the data directory on a local file system"
            )
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def user_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def quick_check(conn: sqlite3.Connection) -> list[str]:
    """SQLite's ``quick_check``: an empty list when the file is sound."""
    rows = [row[0] for row in conn.execute("PRAGMA quick_check")]
    return [] if rows == ["ok"] else rows


def set_aside(path: Path, suffix: str) -> Path:
    """Rename *path* and its ``-wal``/``-shm`` to ``<name><suffix>``, never overwriting.

    The sidecars go too: a stale write-ahead log left beside a fresh database would be
    replayed into it.
    """
    target = path.with_name(path.name + suffix)
    n = 1
    while any(target.with_name(target.name + s).exists() for s in ("", *SIDECARS)):
        n += 1
        target = path.with_name(f"{path.name}{suffix}.{n}")
    for s in SIDECARS:
        side = path.with_name(path.name + s)
        if side.exists():
            side.rename(target.with_name(target.name + s))
    if path.exists():
        path.rename(target)
    files.fsync_dir(path.parent)
    return target


def migrate(
    conn: sqlite3.Connection, path: Path, migrations: tuple[Migration, ...] = MIGRATIONS
) -> tuple[int, int]:
    """Apply the steps the database lacks, each in one transaction.

    :returns: the version before and after.
    :raises SchemaTooNewError: when the file is newer than *migrations* knows.
    """
    latest = migrations[-1].version
    before = user_version(conn)
    if before > latest:
        raise SchemaTooNewError(
            f"{path} has schema version {before}, but this nightswitch understands up to "
            f"version {latest}; install the newer nightswitch again, or restore a backup "
            "made by this version"
        )
    if 0 < before < latest:
        # An old database about to change shape: keep a copy a person can go back to.
        keep = path.with_name(f"{path.name}.before-migration-v{before}")
        if not keep.exists():
            copy = sqlite3.connect(keep)
            try:
                conn.backup(copy)
            finally:
                copy.close()
            files.adopt_owner(path.parent, keep)
    for step in migrations:
        if step.version <= before:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in step.statements:
                conn.execute(statement)
            # PRAGMA takes no parameters; the version is our own integer.
            conn.execute(f"PRAGMA user_version = {int(step.version)}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if before:
            log.warning("%s: migrated schema to version %d (%s)", path, step.version, step.summary)
    return before, user_version(conn)


SQLITE_HEADER = b"SQLite format 3\x00"


def _open_sound(path: Path) -> sqlite3.Connection:
    # Look before SQLite does: given a file that is not a database, SQLite deletes the
    # -wal beside it on close, and that log may be what a person wants to recover.
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        head = b""
    if head and head != SQLITE_HEADER:
        raise _CorruptDatabase("file is not a database (no SQLite header)")
    conn = connect(path)
    try:
        problems = quick_check(conn)
        if problems:
            raise _CorruptDatabase("; ".join(problems[:5]))
    except BaseException:
        conn.close()
        raise
    return conn


class Database:
    """The open database file: one connection, one lock, explicit transactions.

    :param Path path:
        The database file (its directory must exist).
    :param stamp:
        Returns the ``YYYYmmddTHHMMSS`` text used to name a quarantined file. The store
        never reads the clock itself.
    """

    def __init__(self, path: Path, *, stamp: Callable[[], str]):
        self.path = path
        self.quarantined: Path | None = None
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = self._open(stamp)
        except StoreError:
            raise
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the database: {exc}") from None
        except OSError as exc:
            raise StoreError(f"{path}: cannot open the database: {exc.strerror or exc}") from None
        self._adopt()

    def _open(self, stamp: Callable[[], str]) -> sqlite3.Connection:
        try:
            conn = _open_sound(self.path)
        except (sqlite3.DatabaseError, _CorruptDatabase) as exc:
            if not is_corruption(exc):
                raise
            if held_by_another_process(self.path.parent):
                # Renaming the file under a running daemon would split the data between
                # the file it keeps writing and a new one; the daemon sets it aside itself.
                raise StoreError(
                    f"{self.path} is damaged ({exc}); restart the service so "
                    "it sets the file aside: systemctl restart nightswitch"
                ) from None
            self.quarantined = set_aside(self.path, f".corrupt-{stamp()}")
            log.critical(
                "%s is damaged (%s); moved it aside to %s and started a fresh, empty "
                "database. Users, schedule and audit must be restored from a backup "
                "(nightswitch restore FILE).",
                self.path,
                exc,
                self.quarantined,
            )
            conn = _open_sound(self.path)
        try:
            migrate(conn, self.path)
        except BaseException:
            conn.close()
            raise
        return conn

    def _adopt(self) -> None:
        created = [self.path, *(self.path.with_name(self.path.name + s) for s in SIDECARS)]
        files.adopt_owner(self.path.parent, *created)
        try:
            if self.path.stat().st_mode & 0o007:
                self.path.chmod(files.DATA_FILE_MODE)
        except OSError:
            pass

    @property
    def schema_version(self) -> int:
        with self.read() as conn:
            return user_version(conn)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection, for queries, while holding the lock."""
        with self._lock:
            if self._conn is None:
                raise StoreError(f"{self.path}: the store is closed")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """The connection inside ``BEGIN IMMEDIATE`` ... ``COMMIT``.

        ``IMMEDIATE`` takes the write lock at the start, so a CLI command writing beside
        the daemon waits (up to :data:`BUSY_TIMEOUT_S`) instead of failing half-way.
        Anything raised inside rolls the whole transaction back.
        """
        with self.read() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the connection (idempotent); SQLite checkpoints the log on the way out."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None
                    self._adopt()


def snapshot(db_path: Path, dest: Path) -> None:
    """Copy the database at *db_path* to *dest* consistently, with the online backup API.

    *dest* appears complete or not at all, and is a single self-contained file
    (``journal_mode=DELETE``), ready to be copied or archived.

    :raises StoreError: if there is no database at *db_path* or it cannot be read.
    """
    if not db_path.is_file():
        raise StoreError(f"there is no database at {db_path}; nothing to back up (check --data)")
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
