"""API tokens: shown once, stored only as a SHA-256.

A token is ``ns_`` followed by 32 random bytes in URL-safe base64. With that much
randomness a plain SHA-256 is enough (no salt or slow hash needed, unlike passwords),
and a stolen database or backup yields nothing that opens the API.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3

from appliance.errors import FieldError, ValidationError
from appliance.store.validate import Checker

PREFIX = "ns_"
MAX_TOKEN = 128


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(conn: sqlite3.Connection, role, *, label, by, at) -> str:
    check = Checker()
    role = check.role("role", role)
    label = check.text("label", label, max_len=100, optional=True) or ""
    by = check.who("by", by)
    at = check.instant("at", at)
    check.done()
    token = new_token()
    conn.execute("INSERT INTO tokens (token_sha256, role, label, created_at, created_by) "
                 "VALUES (?, ?, ?, ?, ?)", (digest(token), role, label, at, by))
    return token


def check(conn: sqlite3.Connection, token) -> dict | None:
    """The token's ``{id, role, label}``, or None.

    Every stored digest is compared with :func:`hmac.compare_digest`, none skipped, so
    the answer takes the same time whichever token (if any) matches.
    """
    if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > MAX_TOKEN:
        return None
    wanted = digest(token)
    found = None
    for id_, stored, role, label in conn.execute(
            "SELECT id, token_sha256, role, label FROM tokens"):
        if hmac.compare_digest(stored, wanted):
            found = {"id": id_, "role": role, "label": label}
    return found


def list_all(conn: sqlite3.Connection) -> list[dict]:
    return [{"id": i, "label": lab, "role": r, "created_at": at, "created_by": by}
            for i, lab, r, at, by in conn.execute(
                "SELECT id, label, role, created_at, created_by FROM tokens ORDER BY id")]


def revoke(conn: sqlite3.Connection, token_id) -> None:
    c = Checker()
    token_id = c.count("id", token_id, minimum=1)
    c.done()
    if conn.execute("DELETE FROM tokens WHERE id = ?", (token_id,)).rowcount == 0:
        raise ValidationError([FieldError("id", f"there is no token with id {token_id}; "
                                                "'nightswitch token list' shows them")])
