"""Alerts in SQLite: the outbox, the state of each open alert, and the call-back ticks.

The outbox holds one row per message per target. A row is written in the same
transaction as the alert state that caused it, so a power cut leaves either both or
neither: a restart never sends a "started" twice and never forgets a "resolved". The
sender marks each row sent, or records the failure and the time of the next attempt;
the rows are the delivery history the installer page shows.
"""

from __future__ import annotations

import sqlite3

from appliance.store.db import inserted_id
from appliance.store.validate import MAX_TEXT, Checker

PHASES = ("start", "reminder", "resolved", "test", "report")
STATUSES = ("pending", "sent", "failed")
_OUTBOX = (
    "id",
    "target",
    "zone",
    "event",
    "phase",
    "subject",
    "body",
    "payload",
    "created_at",
    "next_attempt_at",
    "attempts",
    "status",
    "last_error",
    "done_at",
)
_STATE = ("key", "zone", "event", "message", "since", "started_at", "last_notice_at")
MAX_BODY = 200_000  # a callback list of a busy night is long; a megabyte is not mail


def _check_message(check: Checker, message: dict) -> tuple:
    return (
        check.text("target", message.get("target"), max_len=64, allow_empty=False),
        check.zone("zone", message.get("zone")),
        check.text("event", message.get("event"), max_len=64, allow_empty=False),
        check.choice("phase", message.get("phase"), PHASES),
        check.text("subject", message.get("subject"), max_len=500, allow_empty=False),
        check.text("body", message.get("body"), max_len=MAX_BODY),
        check.text("payload", message.get("payload"), max_len=MAX_BODY),
    )


def enqueue(conn: sqlite3.Connection, messages, *, at) -> list[int]:
    """Add *messages* (dicts with target, zone, event, phase, subject, body, payload),
    due at once."""
    check = Checker()
    at = check.instant("at", at)
    rows = [_check_message(check, m) for m in messages]
    check.done()
    ids = []
    for row in rows:
        cur = conn.execute(
            "INSERT INTO alert_outbox (target, zone, event, phase, subject, body, payload, "
            "created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*row, at, at),
        )
        ids.append(inserted_id(cur))
    return ids


def pending(conn: sqlite3.Connection, target, *, limit=20) -> list[dict]:
    """*target*'s pending messages, oldest first (the sender keeps their order)."""
    check = Checker()
    target = check.text("target", target, max_len=64, allow_empty=False)
    limit = check.count("limit", limit, minimum=1, maximum=1000)
    check.done()
    rows = conn.execute(
        f"SELECT {', '.join(_OUTBOX)} FROM alert_outbox WHERE status = "
        "'pending' AND target = ? ORDER BY id LIMIT ?",
        (target, limit),
    )
    return [dict(zip(_OUTBOX, r)) for r in rows]


def next_due(conn: sqlite3.Connection, target) -> str | None:
    """When *target*'s earliest pending message falls due (UTC text), or None."""
    row = conn.execute(
        "SELECT MIN(next_attempt_at) FROM alert_outbox WHERE status = 'pending' AND target = ?",
        (target,),
    ).fetchone()
    return row[0]


def mark_sent(conn: sqlite3.Connection, id, *, at) -> None:  # noqa: A002
    check = Checker()
    at = check.instant("at", at)
    check.done()
    conn.execute(
        "UPDATE alert_outbox SET status = 'sent', attempts = attempts + 1, "
        "done_at = ?, last_error = NULL WHERE id = ?",
        (at, int(id)),
    )


def mark_failed(conn: sqlite3.Connection, id, *, error, retry_at, at) -> None:  # noqa: A002
    """Record a failed attempt; *retry_at* None gives the message up for good."""
    check = Checker()
    error = check.text("error", error, max_len=MAX_TEXT)
    retry_at = check.instant("retry_at", retry_at, optional=True)
    at = check.instant("at", at)
    check.done()
    if retry_at is None:
        conn.execute(
            "UPDATE alert_outbox SET status = 'failed', attempts = attempts + 1, "
            "last_error = ?, done_at = ? WHERE id = ?",
            (error, at, int(id)),
        )
    else:
        conn.execute(
            "UPDATE alert_outbox SET attempts = attempts + 1, last_error = ?, "
            "next_attempt_at = ? WHERE id = ?",
            (error, retry_at, int(id)),
        )


def outbox(conn: sqlite3.Connection, *, limit=50, status=None) -> list[dict]:
    """The newest messages first (the installer page's delivery history)."""
    check = Checker()
    status = check.choice("status", status, STATUSES, optional=True)
    limit = check.count("limit", limit, minimum=1, maximum=1000)
    check.done()
    where, args = ("WHERE status = ?", (status,)) if status else ("", ())
    rows = conn.execute(
        f"SELECT {', '.join(_OUTBOX)} FROM alert_outbox {where} ORDER BY id DESC LIMIT ?",
        (*args, limit),
    )
    return [dict(zip(_OUTBOX, r)) for r in rows]


def prune(conn: sqlite3.Connection, before) -> int:
    """Delete delivered or given-up messages finished before *before*."""
    check = Checker()
    before = check.instant("before", before)
    check.done()
    return conn.execute(
        "DELETE FROM alert_outbox WHERE status != 'pending' AND done_at < ?", (before,)
    ).rowcount


# -- alert state -----------------------------------------------------------------------------


def states(conn: sqlite3.Connection) -> dict[str, dict]:
    rows = conn.execute(f"SELECT {', '.join(_STATE)} FROM alert_state")
    return {r[0]: dict(zip(_STATE, r)) for r in rows}


def apply_changes(conn: sqlite3.Connection, *, upsert=(), delete=(), messages=(), at) -> list:
    """Change the alert state and queue the messages it causes, in one transaction
    (the caller's). *upsert* are state dicts; *delete* are keys."""
    check = Checker()
    rows = []
    for state in upsert:
        rows.append(
            (
                check.text("key", state.get("key"), max_len=200, allow_empty=False),
                check.zone("zone", state.get("zone")),
                check.text("event", state.get("event"), max_len=64, allow_empty=False),
                check.text("message", state.get("message"), max_len=MAX_TEXT),
                check.instant("since", state.get("since")),
                check.instant("started_at", state.get("started_at")),
                check.instant("last_notice_at", state.get("last_notice_at")),
            )
        )
    check.done()
    for row in rows:
        conn.execute(
            f"INSERT OR REPLACE INTO alert_state ({', '.join(_STATE)}) VALUES "
            f"({', '.join('?' * len(_STATE))})",
            row,
        )
    for key in delete:
        conn.execute("DELETE FROM alert_state WHERE key = ?", (str(key),))
    return enqueue(conn, messages, at=at) if messages else []


# -- call-back ticks -------------------------------------------------------------------------


def set_callback(conn: sqlite3.Connection, zone, night, number, *, done, by, at) -> bool:
    """Tick (or untick) *number* of *night* as called back; True if anything changed."""
    check = Checker()
    zone = check.zone("zone", zone)
    night = check.text("night", night, max_len=10, allow_empty=False)
    number = check.text("number", number, max_len=64, allow_empty=False)
    by = check.who("by", by)
    at = check.instant("at", at)
    check.done()
    if done:
        cur = conn.execute(
            "INSERT OR IGNORE INTO callbacks (zone, night, number, done_by, "
            "done_at) VALUES (?, ?, ?, ?, ?)",
            (zone, night, number, by, at),
        )
    else:
        cur = conn.execute(
            "DELETE FROM callbacks WHERE zone = ? AND night = ? AND number = ?",
            (zone, night, number),
        )
    return cur.rowcount > 0


def callbacks(conn: sqlite3.Connection, zone, night) -> dict[str, dict]:
    """``{number: {by, at}}`` of the numbers ticked for *night*."""
    rows = conn.execute(
        "SELECT number, done_by, done_at FROM callbacks WHERE zone = ? AND night = ?",
        (str(zone), str(night)),
    )
    return {r[0]: {"by": r[1], "at": r[2]} for r in rows}
