"""The key that signs the web session cookie, in a file of its own.

It used to be a row in the database, so every backup could sign a cookie for any user.
Now it lives in ``DATA/web-session.key``, mode 0600, owned by the service: ``nightswitch
backup`` copies only the database, the config and the site files, so no backup holds
it, and :func:`discard` (called by a restore) makes the next start create a new one,
which ends every session signed with the old.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from appliance.store import files

log = logging.getLogger(__name__)

KEY_FILE = "web-session.key"
KEY_MODE = 0o600


def session_key(data_dir) -> str:
    """The key in *data_dir*, made (64 hex digits, mode 0600) if there is none.

    A key file that others may read is narrowed to 0600 with a warning: it may already
    have been copied, so the warning says to discard it.
    """
    path = Path(data_dir) / KEY_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, KEY_MODE)
            log.warning(
                "%s was readable by others (mode %o); narrowed to 0600. Delete it and "
                "restart to end every web session if it may have been copied",
                path,
                mode,
            )
        if len(text) >= 32:
            return text
        log.warning("%s is damaged; making a new one (everyone logs in again)", path)
    except FileNotFoundError:
        pass
    except UnicodeDecodeError:
        log.warning("%s is damaged; making a new one (everyone logs in again)", path)
    key = secrets.token_hex(32)
    tmp = files.temp_path_beside(path)  # created 0600 by mkstemp
    try:
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(key + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        files.replace_durably(tmp, path, mode=KEY_MODE)
    finally:
        tmp.unlink(missing_ok=True)
    files.adopt_owner(path.parent, path)
    return key


def discard(data_dir) -> bool:
    """Delete the key (the next start makes a new one); returns whether there was one."""
    path = Path(data_dir) / KEY_FILE
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    files.fsync_dir(path.parent)
    return True


__all__ = ["KEY_FILE", "discard", "session_key"]
