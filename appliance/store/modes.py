"""Overrides per zone, the mode last applied per zone, and the history of applied modes.

The history answers "which mode was the PBX in at 21:14 last Tuesday?", which is what
makes a call after-hours (docs/design.md#after-hours-calls-smdr): the history, not the
schedule, because keys and overrides count. Only *changes* are appended: the controller
may report the same mode after every verification, and an SD card should not pay for
that.
"""

from __future__ import annotations

import sqlite3

from appliance.store.validate import Checker


def get_override(conn: sqlite3.Connection, zone) -> dict | None:
    check = Checker()
    zone = check.zone("zone", zone)
    check.done()
    row = conn.execute(
        "SELECT mode, until, set_by, set_at FROM overrides WHERE zone = ?", (zone,)
    ).fetchone()
    if row is None:
        return None
    return {"mode": row[0], "until": row[1], "by": row[2], "set_at": row[3]}


def set_override(conn: sqlite3.Connection, zone, mode, until, *, by, at) -> None:
    check = Checker()
    zone = check.zone("zone", zone)
    mode = check.mode("mode", mode)
    until = check.instant("until", until, optional=True)
    by = check.who("by", by)
    at = check.instant("at", at)
    check.done()
    conn.execute(
        "INSERT INTO overrides (zone, mode, until, set_by, set_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (zone) DO UPDATE SET mode = excluded.mode, until = excluded.until, "
        "set_by = excluded.set_by, set_at = excluded.set_at",
        (zone, mode, until, by, at),
    )


def clear_override(conn: sqlite3.Connection, zone) -> bool:
    check = Checker()
    zone = check.zone("zone", zone)
    check.done()
    return conn.execute("DELETE FROM overrides WHERE zone = ?", (zone,)).rowcount > 0


def get_applied(conn: sqlite3.Connection, zone) -> dict | None:
    check = Checker()
    zone = check.zone("zone", zone)
    check.done()
    row = conn.execute("SELECT mode, at FROM applied WHERE zone = ?", (zone,)).fetchone()
    return {"mode": row[0], "at": row[1]} if row else None


def set_applied(conn: sqlite3.Connection, zone, mode, *, at) -> bool:
    """Record *mode* as applied; returns True if it differs from the mode applied before.

    Applying the mode already in force changes nothing: ``at`` keeps saying since when
    that mode has been in force.
    """
    check = Checker()
    zone = check.zone("zone", zone)
    mode = check.mode("mode", mode)
    at = check.instant("at", at)
    check.done()
    row = conn.execute("SELECT mode FROM applied WHERE zone = ?", (zone,)).fetchone()
    if row is not None and row[0] == mode:
        return False
    conn.execute(
        "INSERT INTO applied (zone, mode, at) VALUES (?, ?, ?) ON CONFLICT (zone) "
        "DO UPDATE SET mode = excluded.mode, at = excluded.at",
        (zone, mode, at),
    )
    conn.execute("INSERT INTO mode_history (zone, at, mode) VALUES (?, ?, ?)", (zone, at, mode))
    return True


def mode_history(conn: sqlite3.Connection, zone, start, end) -> list[dict]:
    """``[{at, mode}]``: the entry in force at *start*, then every change in (*start*, *end*).

    The first entry's ``at`` is when that mode was applied, which may be long before
    *start*; the list is empty only when nothing had been applied before *end*.
    """
    check = Checker()
    zone = check.zone("zone", zone)
    start = check.instant("start", start)
    end = check.instant("end", end)
    check.done()
    out = []
    first = conn.execute(
        "SELECT at, mode FROM mode_history WHERE zone = ? AND at <= ? "
        "ORDER BY at DESC, id DESC LIMIT 1",
        (zone, start),
    ).fetchone()
    if first is not None:
        out.append({"at": first[0], "mode": first[1]})
    rows = conn.execute(
        "SELECT at, mode FROM mode_history WHERE zone = ? AND at > ? AND at < ? ORDER BY at, id",
        (zone, start, end),
    )
    out.extend({"at": at, "mode": mode} for at, mode in rows)
    return out


def prune_mode_history(conn: sqlite3.Connection, before) -> int:
    """Delete history older than *before*, keeping per zone the entry in force at *before*."""
    check = Checker()
    before = check.instant("before", before)
    check.done()
    return conn.execute(
        "DELETE FROM mode_history WHERE at < ? AND id NOT IN ("
        " SELECT (SELECT h2.id FROM mode_history h2 WHERE h2.zone = h.zone AND h2.at <= ?"
        "         ORDER BY h2.at DESC, h2.id DESC LIMIT 1)"
        " FROM (SELECT DISTINCT zone FROM mode_history) h)",
        (before, before),
    ).rowcount
