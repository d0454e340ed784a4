"""Web sessions, kept on the appliance so they can be ended.

A browser holds a random session id in its (signed) cookie; the database keeps only the
id's SHA-256, the user, and when the session began, ends and was last seen. A session
is valid while its row exists, its ``expires_at`` (fixed at login: an absolute lifetime,
never slid along) is in the future and its user exists. Logging out deletes the row;
:func:`revoke_user` deletes every row of a user, which :mod:`.users` calls in the same
transaction as a password change, a role change or a deletion, so no path that changes
an account (web page, API, command line) can leave an old session alive. A user name
created again later finds no session of the old one.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime

from appliance.store.validate import Checker, to_utc_text

#: How often ``last_seen_at`` is written (a write per request would wear the SD card).
SEEN_EVERY_S = 300


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def create(conn: sqlite3.Connection, session_id, user, *, at, expires, address) -> None:
    check = Checker()
    session_id = check.text("session_id", session_id, max_len=128, allow_empty=False)
    user = check.user_name("user", user)
    at = check.instant("at", at)
    expires = check.instant("expires", expires)
    address = check.text("address", address or "", max_len=64)
    check.done()
    conn.execute(
        "INSERT INTO sessions (id_sha256, user, created_at, expires_at, last_seen_at, "
        "address) VALUES (?, ?, ?, ?, ?, ?)",
        (digest(session_id), user, at, expires, at, address),
    )


def lookup(conn: sqlite3.Connection, session_id, now: datetime) -> dict | None:
    """The session's ``{user, role, must_change_password, created_at, expires_at,
    last_seen_at}`` if it is valid at *now*, else None."""
    if not isinstance(session_id, str) or not session_id or len(session_id) > 128:
        return None
    row = conn.execute(
        "SELECT s.user, u.role, u.must_change_password, s.created_at, s.expires_at, "
        "s.last_seen_at FROM sessions s JOIN users u ON u.name = s.user "
        "WHERE s.id_sha256 = ? AND s.expires_at > ?",
        (digest(session_id), to_utc_text(now)),
    ).fetchone()
    if row is None:
        return None
    return {
        "user": row[0],
        "role": row[1],
        "must_change_password": bool(row[2]),
        "created_at": row[3],
        "expires_at": row[4],
        "last_seen_at": row[5],
    }


def touch(conn: sqlite3.Connection, session_id, now: datetime) -> None:
    conn.execute(
        "UPDATE sessions SET last_seen_at = ? WHERE id_sha256 = ?",
        (to_utc_text(now), digest(session_id)),
    )


def revoke(conn: sqlite3.Connection, session_id) -> bool:
    if not isinstance(session_id, str):
        return False
    return (
        conn.execute("DELETE FROM sessions WHERE id_sha256 = ?", (digest(session_id),)).rowcount > 0
    )


def revoke_user(conn: sqlite3.Connection, user: str, *, keep: str | None = None) -> int:
    """End every session of *user* (but *keep*, a session id, if given); returns how many."""
    if keep:
        return conn.execute(
            "DELETE FROM sessions WHERE user = ? AND id_sha256 != ?", (user, digest(keep))
        ).rowcount
    return conn.execute("DELETE FROM sessions WHERE user = ?", (user,)).rowcount


def revoke_all(conn: sqlite3.Connection) -> int:
    return conn.execute("DELETE FROM sessions").rowcount


def count_by_user(conn: sqlite3.Connection, now: datetime) -> dict[str, int]:
    return dict(
        conn.execute(
            "SELECT user, COUNT(*) FROM sessions WHERE expires_at > ? GROUP BY user",
            (to_utc_text(now),),
        )
    )


def prune(conn: sqlite3.Connection, now: datetime) -> int:
    return conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (to_utc_text(now),)).rowcount
