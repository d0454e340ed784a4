"""Small key/value settings in the database, such as the time of the last fallback drill."""

from __future__ import annotations

import sqlite3

from appliance.store.validate import MAX_SETTING, Checker


def get(conn: sqlite3.Connection, key) -> str | None:
    check = Checker()
    key = check.setting_key("key", key)
    check.done()
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def set_(conn: sqlite3.Connection, key, value) -> None:
    check = Checker()
    key = check.setting_key("key", key)
    value = check.text("value", value, max_len=MAX_SETTING)
    check.done()
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
