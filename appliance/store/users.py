"""Users of the web page and their roles; passwords as werkzeug hashes.

Hashing is slow on purpose (scrypt), so it happens outside the store's lock: the
façade hashes first and then calls :func:`insert` or :func:`update_hash`, and fetches
the hash with :func:`password_hash` before calling :func:`verify`.
"""

from __future__ import annotations

import sqlite3

from werkzeug.security import check_password_hash, generate_password_hash

from appliance.errors import FieldError, ValidationError
from appliance.store.validate import Checker

# A login attempt for an unknown name costs as much as one for a known name, so timing
# does not tell which user names exist. Computed once, on first need.
_dummy_hash: str | None = None


def check_new(name, role, password) -> tuple[str, str, str]:
    check = Checker()
    name = check.user_name("name", name)
    role = check.role("role", role)
    password = check.password("password", password)
    check.done()
    return name, role, password


def check_name(name) -> str:
    check = Checker()
    name = check.user_name("name", name)
    check.done()
    return name


def check_password_value(password) -> str:
    check = Checker()
    password = check.password("password", password)
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


def insert(conn: sqlite3.Connection, name: str, role: str, password_hash: str) -> None:
    if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
        raise ValidationError([FieldError("name", f"a user named {name!r} already exists; "
                                                  "use 'user passwd' or 'user role' to change it")])
    conn.execute("INSERT INTO users (name, role, password_hash) VALUES (?, ?, ?)",
                 (name, role, password_hash))


def get(conn: sqlite3.Connection, name) -> dict | None:
    name = check_name(name)
    row = conn.execute("SELECT name, role FROM users WHERE name = ?", (name,)).fetchone()
    return {"name": row[0], "role": row[1]} if row else None


def password_hash(conn: sqlite3.Connection, name) -> tuple[dict | None, str | None]:
    """The user and their hash, or ``(None, None)``; a bad *name* is just "no such user"."""
    if not isinstance(name, str) or not name or len(name) > 64:
        return None, None
    row = conn.execute("SELECT name, role, password_hash FROM users WHERE name = ?",
                       (name,)).fetchone()
    if row is None:
        return None, None
    return {"name": row[0], "role": row[1]}, row[2]


def list_all(conn: sqlite3.Connection) -> list[dict]:
    return [{"name": n, "role": r} for n, r in
            conn.execute("SELECT name, role FROM users ORDER BY name")]


def _refuse_last_admin(conn: sqlite3.Connection, name: str, doing: str) -> None:
    row = conn.execute("SELECT role FROM users WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise _unknown(name)
    if row[0] != "admin":
        return
    (admins,) = conn.execute("SELECT COUNT(*) FROM users WHERE role = 'admin'").fetchone()
    if admins <= 1:
        raise ValidationError([FieldError(
            "name", f"{name!r} is the only admin; {doing} would leave nobody able to manage "
                    "users, tokens and the schedule. Add another admin first")])


def delete(conn: sqlite3.Connection, name) -> None:
    name = check_name(name)
    _refuse_last_admin(conn, name, "deleting them")
    conn.execute("DELETE FROM users WHERE name = ?", (name,))


def update_hash(conn: sqlite3.Connection, name: str, password_hash: str) -> None:
    if conn.execute("UPDATE users SET password_hash = ? WHERE name = ?",
                    (password_hash, name)).rowcount == 0:
        raise _unknown(name)


def set_role(conn: sqlite3.Connection, name, role) -> None:
    check = Checker()
    name = check.user_name("name", name)
    role = check.role("role", role)
    check.done()
    if role != "admin":
        _refuse_last_admin(conn, name, f"making them {role}")
    if conn.execute("UPDATE users SET role = ? WHERE name = ?", (role, name)).rowcount == 0:
        raise _unknown(name)
