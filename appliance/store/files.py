"""File-system habits that keep the data directory whole through power cuts and sudo.

Two problems an appliance meets in its first week in a cupboard:

* power is cut half-way through a write. Whole files are therefore replaced, never
  rewritten in place: write a temporary file in the same directory, ``fsync`` it,
  :func:`os.replace` it over the old one, then ``fsync`` the directory so the rename
  itself is on the card (docs/raspberry-pi.md#sqlite-durability-on-sd-cards);
* an installer runs ``sudo nightswitch user add ...`` before the daemon (which runs as
  its own user) ever started, and the database is created owned by root, so the
  daemon cannot open it. When running as root in a data directory owned by someone
  else, new files are handed to the directory's owner.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: Files in the data directory carry user password hashes and token hashes.
DATA_FILE_MODE = 0o640
DATA_DIR_MODE = 0o750


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in *directory* durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(directory: Path) -> bool:
    """Create *directory* (and parents) with mode 0750 if it is missing.

    :returns: True if it was created. An existing directory keeps the mode the
        installer gave it.
    """
    if directory.is_dir():
        return False
    directory.mkdir(parents=True, exist_ok=True)
    # mkdir's mode is filtered through the umask; the data directory must not be
    # world-readable whatever the umask of the shell that created it.
    os.chmod(directory, DATA_DIR_MODE)
    return True


def adopt_owner(directory: Path, *paths: Path) -> None:
    """Give *paths* to the owner of *directory* when root created them there.

    Only acts when this process runs as root and the directory belongs to another
    user (the service account); otherwise it does nothing.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    try:
        st = os.stat(directory)
    except OSError:
        return
    if st.st_uid == 0:
        return
    for path in paths:
        try:
            if os.stat(path).st_uid == 0:
                os.chown(path, st.st_uid, st.st_gid)
        except FileNotFoundError:
            continue


def temp_path_beside(path: Path, suffix: str = ".tmp") -> Path:
    """A fresh, private (0600) temporary file in the directory of *path*.

    It is in the same directory so :func:`os.replace` onto *path* is an atomic rename
    on one file system.
    """
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(tmp: Path, path: Path, *, mode: int | None = None) -> None:
    """Move the finished file *tmp* onto *path* atomically and durably.

    :param tmp: a file in the same directory as *path*, completely written.
    :param path: the file to replace (it need not exist).
    :param mode: permission bits for the result; by default those of the file being
        replaced, or :data:`DATA_FILE_MODE` when there is none.
    """
    if mode is None:
        try:
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            mode = DATA_FILE_MODE
    os.chmod(tmp, mode)
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_durably(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace *path* with *data*: temporary file, fsync, rename, fsync the directory."""
    tmp = temp_path_beside(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        replace_durably(tmp, path, mode=mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
