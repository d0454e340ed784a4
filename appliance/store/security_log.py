"""The security log: account and access events, apart from the mode audit.

The audit (:mod:`.audit`) answers "who switched the phones, and why", per zone, for
everyone with the viewer role. This log answers "who did what to the accounts, and from
where": users added, deleted, given another role or password, tokens made and revoked,
logins that failed, addresses locked out, restores. It is for admins only, so it may
hold client addresses. Rows are only added and pruned with the audit's retention.
"""

from __future__ import annotations

import re
import sqlite3

from appliance.store.db import inserted_id
from appliance.store.validate import Checker

#: What happened: the events :class:`appliance.accounts.Accounts` records.
EVENTS = (
    "login",
    "login_failed",
    "lockout",
    "logout",
    "logout_everywhere",
    "user_added",
    "user_deleted",
    "role_changed",
    "password_changed",
    "password_reset",
    "token_created",
    "token_revoked",
    "restore",
)
EVENT_RE = re.compile(r"[a-z][a-z_]*\Z")
MAX_PAGE = 500
_COLUMNS = ("id", "at", "event", "who", "address", "target", "detail")


def add(conn: sqlite3.Connection, *, at, event, who, address="", target="", detail="") -> int:
    check = Checker()
    at = check.instant("at", at)
    event = check.choice("event", event, EVENTS)
    who = check.who("who", who)
    address = check.text("address", address or "", max_len=64)
    target = check.text("target", target or "", max_len=200)
    detail = check.text("detail", detail or "")
    check.done()
    cur = conn.execute(
        "INSERT INTO security_log (at, event, who, address, target, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (at, event, who, address, target, detail),
    )
    return inserted_id(cur)


def query(conn: sqlite3.Connection, *, limit=50, offset=0, event=None) -> list[dict]:
    check = Checker()
    limit = check.count("limit", limit, minimum=1, maximum=MAX_PAGE)
    offset = check.count("offset", offset, minimum=0)
    event = check.choice("event", event, EVENTS, optional=True)
    check.done()
    where, params = ("", []) if event is None else (" WHERE event = ?", [event])
    rows = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM security_log{where} "
        "ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return [dict(zip(_COLUMNS, row)) for row in rows]


def prune(conn: sqlite3.Connection, before) -> int:
    check = Checker()
    before = check.instant("before", before)
    check.done()
    return conn.execute("DELETE FROM security_log WHERE at < ?", (before,)).rowcount
