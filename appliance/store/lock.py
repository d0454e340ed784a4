"""One process at a time owns a data directory: ``fcntl.flock`` on ``DIR/.lock``.

The daemon holds the lock for as long as it runs. Offline commands that would pull
the database out from under it (``restore``) check it first and refuse. An ``flock``
is released by the kernel when its holder dies, so a crash or power cut never leaves a
stale lock behind, unlike a PID file.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from appliance.store import files

LOCK_NAME = ".lock"


class DataDirLock:
    """An exclusive lock on a data directory.

    ::

        lock = DataDirLock("/var/lib/nightswitch")
        if not lock.acquire():
            sys.exit("another nightswitch is running on this data directory")

    It is also a context manager, which blocks until the lock is free.

    :param data_dir:
        The data directory; it is created (mode 0750) if missing.
    """

    def __init__(self, data_dir):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self, blocking: bool = False) -> bool:
        """Take the lock; returns False if another holder has it and *blocking* is False."""
        if self._fd is not None:
            return True
        try:
            files.ensure_dir(self.data_dir)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            # --data naming a file, a read-only card: one line of error, no traceback
            from appliance.errors import StoreError

            raise StoreError(
                f"cannot use {self.data_dir} as the data directory: "
                f"{exc.strerror or exc}; pass --data DIR (a directory)"
            ) from None
        files.adopt_owner(self.data_dir, self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        # Who holds it, for a person looking at the directory; the lock is the flock.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return True

    def release(self) -> None:
        """Let go of the lock (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> DataDirLock:
        self.acquire(blocking=True)
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<DataDirLock {self.path} {'held' if self.held else 'not held'}>"


def is_held_elsewhere(data_dir) -> bool:
    """True if some other lock holder (another process, or another :class:`DataDirLock`
    in this one) has *data_dir* locked. Never creates anything."""
    path = Path(data_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def held_by_another_process(data_dir) -> bool:
    """True if a *different* process (normally the daemon) holds *data_dir*'s lock.

    The holder writes its PID into the lock file, which tells this process's own lock
    apart from another's.
    """
    if not is_held_elsewhere(data_dir):
        return False
    try:
        pid = int((Path(data_dir) / LOCK_NAME).read_text().strip() or 0)
    except (OSError, ValueError):
        return True
    return pid != os.getpid()
