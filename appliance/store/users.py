"""Users of the web page and their roles; passwords as werkzeug hashes.

Hashing is slow on purpose (scrypt), so it happens outside the store's lock: the
façade hashes first and then calls :func:`insert` or :func:`update_hash`, and fetches
the hash with :func:`password_hash` before calling :func:`verify`.
"""

from __future__ import annotations

import sqlite3

from werkzeug.security import check_password_hash, generate_password_hash

from appliance.errors import FieldError, ValidationError
from appliance.store import sessions as _sessions
from appliance.store import tokens as _tokens
from appliance.store.validate import Checker

# A login attempt for an unknown name costs as much as one for a known name, so timing
# does not tell which user names exist. Computed once, on first need.
_dummy_hash: str | None = None


def check_new(name, role, password) -> tuple[str, str, str]:
    check = Checker()
    name = check.user_name("name", name)
    role = check.role("role", role)
    password = check.password("password", password, name if isinstance(name, str) else None)
    check.done()
    return name, role, password


def check_name(name) -> str:
    check = Checker()
    name = check.user_name("name", name)
    check.done()
    return name


def check_password_value(password, name: str | None = None) -> str:
    check = Checker()
    password = check.password("password", password, name)
    check.done()
    return password


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def verify(stored_hash: str | None, password) -> bool:
    """Compare *password* with *stored_hash* (or with a dummy when there is no user)."""
    global _dummy_hash
    if not isinstance(password, str) or len(password) > 1024:
        return False
    if stored_hash is None:
        if _dummy_hash is None:
            _dummy_hash = generate_password_hash("nightswitch-no-such-user")
        check_password_hash(_dummy_hash, password)
        return False
    return check_password_hash(stored_hash, password)


def _unknown(name: str) -> ValidationError:
    return ValidationError([FieldError("name", f"there is no user named {name!r}")])


def insert(
    conn: sqlite3.Connection, name: str, role: str, password_hash: str, *, must_change: bool = False
) -> None:
    if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
        raise ValidationError(
            [
                FieldError(
                    "name",
                    f"a user named {name!r} already exists; change their password or role instead",
                )
            ]
        )
    # A name used before starts clean: nothing of the old user's may apply to the new one.
    _sessions.revoke_user(conn, name)
    _tokens.revoke_owner(conn, name)
    conn.execute(
        "INSERT INTO users (name, role, password_hash, must_change_password) VALUES (?, ?, ?, ?)",
        (name, role, password_hash, int(must_change)),
    )


def get(conn: sqlite3.Connection, name) -> dict | None:
    name = check_name(name)
    row = conn.execute("SELECT name, role FROM users WHERE name = ?", (name,)).fetchone()
    return {"name": row[0], "role": row[1]} if row else None


def password_hash(conn: sqlite3.Connection, name) -> tuple[dict | None, str | None]:
    """The user and their hash, or ``(None, None)``; a bad *name* is just "no such user"."""
    if not isinstance(name, str) or not name or len(name) > 64:
        return None, None
    row = conn.execute(
        "SELECT name, role, password_hash FROM users WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        return None, None
    return {"name": row[0], "role": row[1]}, row[2]


def list_all(conn: sqlite3.Connection) -> list[dict]:
    return [
        {"name": n, "role": r}
        for n, r in conn.execute("SELECT name, role FROM users ORDER BY name")
    ]


def must_change(conn: sqlite3.Connection) -> set[str]:
    """The users who must change their password at their next login."""
    return {n for (n,) in conn.execute("SELECT name FROM users WHERE must_change_password = 1")}


def _refuse_last_admin(conn: sqlite3.Connection, name: str, doing: str) -> None:
    row = conn.execute("SELECT role FROM users WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise _unknown(name)
    if row[0] != "admin":
        return
    (admins,) = conn.execute("SELECT COUNT(*) FROM users WHERE role = 'admin'").fetchone()
    if admins <= 1:
        raise ValidationError(
            [
                FieldError(
                    "name",
                    f"{name!r} is the only admin; {doing} would leave nobody able to manage "
                    "users, tokens and the schedule. Add another admin first",
                )
            ]
        )


def delete(conn: sqlite3.Connection, name) -> dict:
    """Delete the user, end their sessions and revoke the tokens they made, in one
    transaction; returns ``{"sessions": n, "tokens": n}``."""
    name = check_name(name)
    _refuse_last_admin(conn, name, "deleting them")
    conn.execute("DELETE FROM users WHERE name = ?", (name,))
    return {
        "sessions": _sessions.revoke_user(conn, name),
        "tokens": _tokens.revoke_owner(conn, name),
    }


def update_hash(
    conn: sqlite3.Connection,
    name: str,
    password_hash: str,
    *,
    must_change: bool = False,
    keep_session: str | None = None,
) -> int:
    """Set a new password hash and end the user's sessions (but *keep_session*, the one
    that changed its own password); returns how many sessions ended."""
    if (
        conn.execute(
            "UPDATE users SET password_hash = ?, must_change_password = ? WHERE name = ?",
            (password_hash, int(must_change), name),
        ).rowcount
        == 0
    ):
        raise _unknown(name)
    return _sessions.revoke_user(conn, name, keep=keep_session)


def set_role(conn: sqlite3.Connection, name, role) -> str:
    """Change the role and end the user's sessions; returns the previous role."""
    check = Checker()
    name = check.user_name("name", name)
    role = check.role("role", role)
    check.done()
    row = conn.execute("SELECT role FROM users WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise _unknown(name)
    if role != "admin":
        _refuse_last_admin(conn, name, f"making them {role}")
    conn.execute("UPDATE users SET role = ? WHERE name = ?", (role, name))
    if row[0] != role:
        _sessions.revoke_user(conn, name)
    return row[0]
