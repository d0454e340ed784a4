"""The audit trail: who changed which zone's mode, from where, and why.

Rows are only added and, after the retention period, pruned; they are never edited.
Queries are newest first and paged, filterable by zone, who, source and a time range
``[since, until)``.
"""

from __future__ import annotations

import sqlite3

from appliance.store.db import inserted_id
from appliance.store.validate import Checker

MAX_PAGE = 1000

_COLUMNS = ("id", "zone", "at", "who", "source", "old_mode", "new_mode", "reason")


def add(conn: sqlite3.Connection, zone, *, at, who, source, old_mode, new_mode, reason) -> int:
    check = Checker()
    zone = check.zone("zone", zone)
    at = check.instant("at", at)
    who = check.who("who", who)
    source = check.word("source", source, what="an audit source")
    old_mode = check.mode("old_mode", old_mode, optional=True)
    new_mode = check.mode("new_mode", new_mode, optional=True)
    reason = check.text("reason", reason if reason is not None else "")
    check.done()
    cur = conn.execute(
        "INSERT INTO audit (zone, at, who, source, old_mode, new_mode, reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (zone, at, who, source, old_mode, new_mode, reason),
    )
    return inserted_id(cur)


def _where(zone, who, source, since, until):
    check = Checker()
    clauses, params = [], []
    if zone is not None:
        clauses.append("zone = ?")
        params.append(check.zone("zone", zone))
    if who is not None:
        clauses.append("who = ?")
        params.append(check.who("who", who))
    if source is not None:
        clauses.append("source = ?")
        params.append(check.word("source", source, what="an audit source"))
    if since is not None:
        clauses.append("at >= ?")
        params.append(check.instant("since", since))
    if until is not None:
        clauses.append("at < ?")
        params.append(check.instant("until", until))
    return check, (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def query(
    conn: sqlite3.Connection,
    zone=None,
    *,
    limit=50,
    offset=0,
    who=None,
    source=None,
    since=None,
    until=None,
) -> list[dict]:
    check, where, params = _where(zone, who, source, since, until)
    limit = check.count("limit", limit, minimum=1, maximum=MAX_PAGE)
    offset = check.count("offset", offset, minimum=0)
    check.done()
    rows = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM audit{where} "
        "ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return [dict(zip(_COLUMNS, row)) for row in rows]


def count(
    conn: sqlite3.Connection, zone=None, *, who=None, source=None, since=None, until=None
) -> int:
    check, where, params = _where(zone, who, source, since, until)
    check.done()
    return conn.execute(f"SELECT COUNT(*) FROM audit{where}", params).fetchone()[0]


def prune(conn: sqlite3.Connection, before) -> int:
    check = Checker()
    before = check.instant("before", before)
    check.done()
    return conn.execute("DELETE FROM audit WHERE at < ?", (before,)).rowcount
