"""SMDR call records per zone, and the raw lines no format could parse.

Records arrive as :class:`appliance.smdr.record.CallRecord` objects, but the store only
reads their attributes, so it never imports the SMDR or serial code. Unparseable lines
are kept and counted, never dropped silently (docs/design.md#after-hours-calls-smdr).
"""

from __future__ import annotations

import sqlite3

from appliance.store.db import inserted_id
from appliance.store.validate import DIRECTIONS, MAX_RAW, Checker

MAX_PAGE = 1000

_FIELDS = (
    "started_at",
    "duration_s",
    "extension",
    "trunk",
    "direction",
    "answered",
    "ring_s",
    "number",
    "fmt",
    "raw",
)
_MISSING = object()


def _record_values(check: Checker, record) -> tuple:
    got = {}
    for name in _FIELDS:
        got[name] = getattr(record, name, _MISSING)
        if got[name] is _MISSING:
            check.err(f"record.{name}", "is missing; a call record needs " + ", ".join(_FIELDS))
    if check.errors:
        return ()
    return (
        check.instant("record.started_at", got["started_at"]),
        check.count("record.duration_s", got["duration_s"], optional=True),
        check.text("record.extension", got["extension"], max_len=64, optional=True),
        check.text("record.trunk", got["trunk"], max_len=64, optional=True),
        check.choice("record.direction", got["direction"], DIRECTIONS, optional=True),
        check.flag("record.answered", got["answered"], optional=True),
        check.count("record.ring_s", got["ring_s"], optional=True),
        check.text("record.number", got["number"], max_len=64, optional=True),
        check.text("record.fmt", got["fmt"], max_len=64, allow_empty=False),
        check.text("record.raw", got["raw"], max_len=MAX_RAW),
    )


def add(conn: sqlite3.Connection, zone, record) -> int:
    check = Checker()
    zone = check.zone("zone", zone)
    values = _record_values(check, record)
    check.done()
    cur = conn.execute(
        f"INSERT INTO calls (zone, {', '.join(_FIELDS)}) "
        f"VALUES (?, {', '.join('?' * len(_FIELDS))})",
        (zone, *values),
    )
    return inserted_id(cur)


def _call_dict(row) -> dict:
    out = {"id": row[0], "zone": row[1]}
    out.update(zip(_FIELDS, row[2:]))
    if out["answered"] is not None:
        out["answered"] = bool(out["answered"])
    return out


def between(conn: sqlite3.Connection, zone, start, end) -> list[dict]:
    """Calls of *zone* that started in ``[start, end)``, oldest first."""
    check = Checker()
    zone = check.zone("zone", zone)
    start = check.instant("start", start)
    end = check.instant("end", end)
    check.done()
    rows = conn.execute(
        f"SELECT id, zone, {', '.join(_FIELDS)} FROM calls WHERE zone = ? "
        "AND started_at >= ? AND started_at < ? ORDER BY started_at, id",
        (zone, start, end),
    )
    return [_call_dict(r) for r in rows]


def after_id(conn: sqlite3.Connection, after_id, limit=1000) -> list[dict]:
    """Calls of every zone with an id above *after_id*, oldest first."""
    rows = conn.execute(
        f"SELECT id, zone, {', '.join(_FIELDS)} FROM calls WHERE id > ? ORDER BY id LIMIT ?",
        (int(after_id), int(limit)),
    )
    return [_call_dict(r) for r in rows]


def add_unparsed(conn: sqlite3.Connection, *, at, fmt, raw, reason) -> int:
    check = Checker()
    at = check.instant("at", at)
    fmt = check.text("fmt", fmt, max_len=64, allow_empty=False)
    raw = check.text("raw", raw, max_len=MAX_RAW)
    reason = check.text("reason", reason, max_len=500, allow_empty=False)
    check.done()
    cur = conn.execute(
        "INSERT INTO unparsed (at, fmt, raw, reason) VALUES (?, ?, ?, ?)", (at, fmt, raw, reason)
    )
    return inserted_id(cur)


def unparsed_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM unparsed").fetchone()[0]


def unparsed(conn: sqlite3.Connection, *, limit=50, offset=0) -> list[dict]:
    check = Checker()
    limit = check.count("limit", limit, minimum=1, maximum=MAX_PAGE)
    offset = check.count("offset", offset, minimum=0)
    check.done()
    rows = conn.execute(
        "SELECT id, at, fmt, raw, reason FROM unparsed ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return [dict(zip(("id", "at", "fmt", "raw", "reason"), r)) for r in rows]


def prune(conn: sqlite3.Connection, before) -> int:
    """Delete calls started, and unparsed lines received, before *before*."""
    check = Checker()
    before = check.instant("before", before)
    check.done()
    n = conn.execute("DELETE FROM calls WHERE started_at < ?", (before,)).rowcount
    return n + conn.execute("DELETE FROM unparsed WHERE at < ?", (before,)).rowcount
