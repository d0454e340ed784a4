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
from datetime import datetime, timedelta

from appliance.errors import FieldError, ValidationError
from appliance.store.validate import ROLE_RANK, Checker, to_utc_text

PREFIX = "ns_"
MAX_TOKEN = 128
#: How often ``last_used_at`` is written at most.
USED_EVERY_S = 300


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(conn: sqlite3.Connection, role, *, label, by, at, expires=None, owner=None) -> str:
    """A new token. *owner* (a user name, or None for the command line) must exist and
    hold at least *role*: a token never has more rights than the one who made it."""
    check = Checker()
    role = check.role("role", role)
    label = check.label("label", label)
    by = check.who("by", by)
    at = check.instant("at", at)
    expires = check.instant("expires", expires, optional=True)
    owner = check.user_name("owner", owner) if owner is not None else None
    check.done()
    if expires is not None and expires <= at:
        raise ValidationError(
            [
                FieldError(
                    "expires",
                    "is not in the future; give a later "
                    "date, or none for a token that never "
                    "expires",
                )
            ]
        )
    if owner is not None:
        found = conn.execute("SELECT role FROM users WHERE name = ?", (owner,)).fetchone()
        if found is None:
            raise ValidationError([FieldError("owner", f"there is no user named {owner!r}")])
        if ROLE_RANK[role] > ROLE_RANK[found[0]]:
            raise ValidationError(
                [
                    FieldError(
                        "role",
                        f"{owner} is {found[0]}; a token cannot be {role}, more than its maker",
                    )
                ]
            )
    token = new_token()
    conn.execute(
        "INSERT INTO tokens (token_sha256, role, label, created_at, created_by, "
        "expires_at, owner) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (digest(token), role, label, at, by, expires, owner),
    )
    return token


def check(conn: sqlite3.Connection, token, now: datetime | None = None) -> dict | None:
    """The token's ``{id, role, label, owner, expires_at, last_used_at}``, or None.

    The role is the lower of the token's own and its owner's current role (an admin
    made viewer has only viewer tokens from then on). A token past its expiry, or whose
    owner no longer exists, is None. Every stored digest is compared with
    :func:`hmac.compare_digest`, none skipped, so the answer takes the same time
    whichever token (if any) matches.
    """
    if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > MAX_TOKEN:
        return None
    wanted = digest(token)
    found = None
    for id_, stored, role, label, owner, expires, used in conn.execute(
        "SELECT id, token_sha256, role, label, owner, expires_at, last_used_at FROM tokens"
    ):
        if hmac.compare_digest(stored, wanted):
            found = {
                "id": id_,
                "role": role,
                "label": label,
                "owner": owner,
                "expires_at": expires,
                "last_used_at": used,
            }
    if found is None:
        return None
    if (
        now is not None
        and found["expires_at"] is not None
        and found["expires_at"] <= to_utc_text(now)
    ):
        return None
    if found["owner"] is not None:
        row = conn.execute("SELECT role FROM users WHERE name = ?", (found["owner"],)).fetchone()
        if row is None:
            return None
        if ROLE_RANK[row[0]] < ROLE_RANK[found["role"]]:
            found["role"] = row[0]
    return found


def mark_used(
    conn: sqlite3.Connection, token_id: int, now: datetime, every_s: int = USED_EVERY_S
) -> bool:
    """Record that the token was used at *now*, at most once per *every_s* seconds (a
    write per request would wear the SD card); returns whether it wrote."""
    earlier = to_utc_text(now - timedelta(seconds=every_s))
    return (
        conn.execute(
            "UPDATE tokens SET last_used_at = ? WHERE id = ? AND "
            "(last_used_at IS NULL OR last_used_at < ?)",
            (to_utc_text(now), token_id, earlier),
        ).rowcount
        > 0
    )


def list_all(conn: sqlite3.Connection) -> list[dict]:
    return [
        {
            "id": i,
            "label": lab,
            "role": r,
            "created_at": at,
            "created_by": by,
            "owner": owner,
            "expires_at": exp,
            "last_used_at": used,
        }
        for i, lab, r, at, by, owner, exp, used in conn.execute(
            "SELECT id, label, role, created_at, created_by, owner, expires_at, "
            "last_used_at FROM tokens ORDER BY id"
        )
    ]


def get(conn: sqlite3.Connection, token_id: int) -> dict | None:
    return next((t for t in list_all(conn) if t["id"] == token_id), None)


def revoke(conn: sqlite3.Connection, token_id) -> None:
    c = Checker()
    token_id = c.count("id", token_id, minimum=1)
    c.done()
    if conn.execute("DELETE FROM tokens WHERE id = ?", (token_id,)).rowcount == 0:
        raise ValidationError(
            [
                FieldError(
                    "id",
                    f"there is no token with id {token_id}; 'nightswitch token list' shows them",
                )
            ]
        )


def revoke_owner(conn: sqlite3.Connection, owner: str) -> int:
    """Revoke every token *owner* made; returns how many (called when they are deleted)."""
    return conn.execute("DELETE FROM tokens WHERE owner = ?", (owner,)).rowcount
