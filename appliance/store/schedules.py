"""Schedule versions per zone: append-only history, rollback as a new version.

The store does not understand schedules; :func:`appliance.decision.schedule.parse_schedule` does,
and callers validate before saving. The store keeps the JSON as canonical text (sorted
keys, no spaces) so two equal schedules are equal bytes and an export is stable.
"""

from __future__ import annotations

import json
import sqlite3

from appliance.errors import FieldError, ValidationError
from appliance.store.validate import Checker

MAX_HISTORY = 1000


def canonical_json(data: dict) -> str:
    """*data* as canonical JSON text; raises ValidationError if it is not JSON."""
    if not isinstance(data, dict):
        raise ValidationError(
            [FieldError("schedule", f"must be a JSON object, not {type(data).__name__}")]
        )
    try:
        return json.dumps(
            data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise ValidationError([FieldError("schedule", f"is not plain JSON data: {exc}")]) from None


def _row_dict(row) -> dict:
    out = {"version": row[0], "saved_at": row[1], "by": row[2]}
    if row[3] is not None:
        out["restored_from"] = row[3]
    return out


def latest(conn: sqlite3.Connection, zone) -> dict | None:
    check = Checker()
    zone = check.zone("zone", zone)
    check.done()
    row = conn.execute(
        "SELECT data FROM schedules WHERE zone = ? ORDER BY version DESC LIMIT 1", (zone,)
    ).fetchone()
    return json.loads(row[0]) if row else None


def version(conn: sqlite3.Connection, zone, number) -> dict | None:
    check = Checker()
    zone = check.zone("zone", zone)
    number = check.count("version", number, minimum=1)
    check.done()
    row = conn.execute(
        "SELECT data FROM schedules WHERE zone = ? AND version = ?", (zone, number)
    ).fetchone()
    return json.loads(row[0]) if row else None


def _insert(conn, zone, text, by, at, restored_from=None) -> int:
    (top,) = conn.execute(
        "SELECT COALESCE(MAX(version), 0) FROM schedules WHERE zone = ?", (zone,)
    ).fetchone()
    conn.execute(
        "INSERT INTO schedules (zone, version, data, saved_at, saved_by, restored_from) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (zone, top + 1, text, at, by, restored_from),
    )
    return top + 1


def save(conn: sqlite3.Connection, zone, data, *, by, at) -> int:
    check = Checker()
    zone = check.zone("zone", zone)
    by = check.who("by", by)
    at = check.instant("at", at)
    check.done()
    return _insert(conn, zone, canonical_json(data), by, at)


def history(conn: sqlite3.Connection, zone, limit=20) -> list[dict]:
    check = Checker()
    zone = check.zone("zone", zone)
    limit = check.count("limit", limit, minimum=1, maximum=MAX_HISTORY)
    check.done()
    rows = conn.execute(
        "SELECT version, saved_at, saved_by, restored_from FROM schedules "
        "WHERE zone = ? ORDER BY version DESC LIMIT ?",
        (zone, limit),
    )
    return [_row_dict(r) for r in rows]


def rollback(conn: sqlite3.Connection, zone, number, *, by, at, fits=None) -> int:
    check = Checker()
    zone = check.zone("zone", zone)
    number = check.count("version", number, minimum=1)
    by = check.who("by", by)
    at = check.instant("at", at)
    check.done()
    row = conn.execute(
        "SELECT data FROM schedules WHERE zone = ? AND version = ?", (zone, number)
    ).fetchone()
    if row is None:
        (top,) = conn.execute(
            "SELECT MAX(version) FROM schedules WHERE zone = ?", (zone,)
        ).fetchone()
        have = f"versions 1 to {top} exist" if top else "it has no saved schedule yet"
        raise ValidationError(
            [FieldError("version", f"zone {zone!r} has no schedule version {number}; {have}")]
        )
    if fits is not None:
        fits(json.loads(row[0]))  # raising rolls the transaction back
    return _insert(conn, zone, row[0], by, at, restored_from=number)


def zones(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT DISTINCT zone FROM schedules ORDER BY zone")]
