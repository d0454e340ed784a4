"""``nightswitch check``'s stale-schedule lines, read from the database without writing.

``check`` may run beside the daemon and as a user who must not create files, so the
review record and the schedule's authors are read through a read-only connection (the
same way ``check`` reads the saved schedules).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime
from pathlib import Path

from appliance.decision.staleness import stale_warnings
from appliance.outputs.alerts.review import MACHINE_AUTHORS, review_key
from appliance.outputs.alerts.settings import AlertsConfig


def _read_review(db: Path, zone: str) -> tuple[datetime | None, str | None]:
    live = all(Path(f"{db}{suffix}").exists() for suffix in ("-wal", "-shm"))
    conn = sqlite3.connect(f"file:{db}?{'mode=ro' if live else 'immutable=1'}", uri=True, timeout=5)
    try:
        best: tuple[datetime | None, str | None] = (None, None)
        row = conn.execute(
            "SELECT value FROM settings WHERE key = ?", (review_key(zone),)
        ).fetchone()
        if row:
            try:
                data = json.loads(row[0])
                best = (datetime.fromisoformat(data["at"]), str(data["by"]))
            except (ValueError, KeyError, TypeError):
                pass
        rows = conn.execute(
            "SELECT saved_at, saved_by FROM schedules WHERE zone = ? ORDER BY version DESC", (zone,)
        ).fetchall()
    finally:
        conn.close()
    for saved_at, by in rows:
        if by not in MACHINE_AUTHORS:
            saved = datetime.fromisoformat(saved_at)
            if best[0] is None or saved > best[0]:
                best = (saved, by)
            break
    if best[0] is None and rows:
        best = (datetime.fromisoformat(rows[-1][0]), None)
    return best


def stale_warning_lines(config, zone: str, parsed, db: Path, where: str, today: date) -> list[str]:
    """``warning: <where>: <field>: <message>`` for each stale-schedule warning."""
    settings = getattr(config, "alerts", None) or AlertsConfig()
    try:
        reviewed_at, reviewed_by = _read_review(Path(db), zone)
    except (OSError, sqlite3.Error) as exc:
        return [f"warning: {where}: the review date was not read ({exc})"]
    found = stale_warnings(
        parsed,
        today,
        closures_by=settings.closures_by,
        reviewed_at=reviewed_at,
        reviewed_by=reviewed_by,
        review_months=settings.review_months,
    )
    return [f"warning: {where}: {w.field}: {w.message}" for w in found]
