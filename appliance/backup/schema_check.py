"""Is a backup's database shaped exactly as nightswitch makes it?

A backup is as powerful as an admin (its holder can put any user or token in it; the
installer guide says so), but it must not carry more than data: a trigger
``AFTER INSERT ON audit`` that makes every user an admin on the first audit write, a
view or an extra table that code might one day read. So before a restore, the
database's ``sqlite_master`` (every table, index, trigger and view, with its SQL) is
compared with what the migrations of its schema version make in an empty database; any
difference refuses the backup, naming it.

SQLite's own objects (``sqlite_sequence``, ``sqlite_stat1`` and the automatic indexes)
are left out of the comparison: SQLite makes them itself, and they hold no code.
"""

from __future__ import annotations

import sqlite3

from appliance.store.schema import MIGRATIONS

Entry = tuple[str, str, str, str]  # type, name, table, normalized SQL


def _normalize(sql: str | None) -> str:
    return " ".join((sql or "").split())


def entries(conn: sqlite3.Connection) -> set[Entry]:
    """Every object in *conn*'s ``sqlite_master`` but SQLite's own."""
    found = set()
    for kind, name, table, sql in conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master"
    ):
        if str(name).startswith("sqlite_"):
            continue
        found.add((str(kind), str(name), str(table), _normalize(sql)))
    return found


def expected(version: int) -> set[Entry]:
    """What the first *version* migrations make in an empty database."""
    conn = sqlite3.connect(":memory:")
    try:
        for step in MIGRATIONS:
            if step.version > version:
                break
            for statement in step.statements:
                conn.execute(statement)
        return entries(conn)
    finally:
        conn.close()


def differences(conn: sqlite3.Connection, version: int) -> list[str]:
    """What in *conn* differs from schema *version*, one sentence each (empty: none)."""
    have, want = entries(conn), expected(version)
    problems = []
    want_by_name = {(kind, name): e for e in want for kind, name in [e[:2]]}
    have_by_name = {(kind, name): e for e in have for kind, name in [e[:2]]}
    for key in sorted(set(have_by_name) - set(want_by_name)):
        kind, name = key
        article = "an" if kind[0] in "aeiou" else "a"
        problems.append(
            f"has {article} {kind} {name!r} (on {have_by_name[key][2]}) that "
            "nightswitch never makes"
        )
    for key in sorted(set(want_by_name) - set(have_by_name)):
        kind, name = key
        problems.append(f"lacks the {kind} {name!r} of schema version {version}")
    for key in sorted(set(want_by_name) & set(have_by_name)):
        if want_by_name[key] != have_by_name[key]:
            kind, name = key
            problems.append(
                f"has the {kind} {name!r} defined differently from schema version {version}"
            )
    return problems


__all__ = ["differences", "entries", "expected"]
