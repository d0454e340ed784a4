"""The last good copy of each subscribed calendar (issue 17).

A feed that fails (404, timeout, refused credentials, junk) must never reopen the
office: the copy fetched last time it worked stays in force. It is kept here, as the
feed's own iCalendar bytes, so a restart while the source is down still has it and
re-expands it for the dates ahead.
"""

from __future__ import annotations

import sqlite3

from appliance.store.validate import Checker

#: The largest copy kept (the fetcher refuses more long before this).
MAX_COPY_BYTES = 16 * 1024 * 1024
MAX_KEY = 200


def save(conn: sqlite3.Connection, key, body, *, source, at) -> None:
    check = Checker()
    key = check.text("key", key, max_len=MAX_KEY, allow_empty=False)
    source = check.text("source", source, max_len=MAX_KEY)
    at = check.instant("at", at)
    if not isinstance(body, (bytes, bytearray)) or len(body) > MAX_COPY_BYTES:
        check.err("body", f"must be the feed's bytes, at most {MAX_COPY_BYTES} bytes")
    check.done()
    conn.execute(
        "INSERT INTO calendar_copies (key, body, source, fetched_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
        "body = excluded.body, source = excluded.source, "
        "fetched_at = excluded.fetched_at",
        (key, bytes(body), source, at),
    )


def get(conn: sqlite3.Connection, key) -> dict | None:
    check = Checker()
    key = check.text("key", key, max_len=MAX_KEY, allow_empty=False)
    check.done()
    row = conn.execute(
        "SELECT body, source, fetched_at FROM calendar_copies WHERE key = ?", (key,)
    ).fetchone()
    if row is None:
        return None
    return {"body": bytes(row[0]), "source": row[1], "fetched_at": row[2]}


def keys(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT key FROM calendar_copies ORDER BY key")]
