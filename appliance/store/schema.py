"""The database schema as an ordered list of migration steps.

``PRAGMA user_version`` holds the number of steps applied. Opening a database applies
the missing steps in order, each in its own transaction together with the bump of
``user_version``, so a power cut mid-migration leaves the database at the previous
version, never half-way. A step is never edited once released: a change to the schema
is a new step at the end. A database whose version is higher than ``len(MIGRATIONS)``
was written by a newer nightswitch and is refused rather than guessed at.

Instants are ISO-8601 text in UTC (see :func:`appliance.store.validate.to_utc_text`), so
the ``(zone, at)`` indices serve the time-range queries.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """One step of the schema.

    :param int version:
        The ``user_version`` the database has after this step.
    :param str summary:
        What the step adds, for the log line written when it is applied.
    :param tuple statements:
        The SQL statements, run one by one inside one transaction.
    """

    version: int
    summary: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "schedules, overrides, users, tokens, audit, applied mode, settings",
        (
            """CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL)""",
            # Schedule history is append-only: a rollback is a new version that copies an
            # old one, so "who changed the hours, when" can always be answered.
            """CREATE TABLE schedules (
            zone TEXT NOT NULL,
            version INTEGER NOT NULL CHECK (version >= 1),
            data TEXT NOT NULL,
            saved_at TEXT NOT NULL,
            saved_by TEXT NOT NULL,
            restored_from INTEGER,
            PRIMARY KEY (zone, version))""",
            """CREATE TABLE overrides (
            zone TEXT PRIMARY KEY,
            mode TEXT NOT NULL,
            until TEXT,
            set_by TEXT NOT NULL,
            set_at TEXT NOT NULL)""",
            """CREATE TABLE users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
            password_hash TEXT NOT NULL)""",
            """CREATE TABLE tokens (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            token_sha256 TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
            label TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL)""",
            """CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            zone TEXT NOT NULL,
            at TEXT NOT NULL,
            who TEXT NOT NULL,
            source TEXT NOT NULL,
            old_mode TEXT,
            new_mode TEXT,
            reason TEXT NOT NULL DEFAULT '')""",
            "CREATE INDEX audit_zone_at ON audit (zone, at)",
            "CREATE INDEX audit_at ON audit (at)",
            """CREATE TABLE applied (
            zone TEXT PRIMARY KEY,
            mode TEXT NOT NULL,
            at TEXT NOT NULL)""",
            """CREATE TABLE mode_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            zone TEXT NOT NULL,
            at TEXT NOT NULL,
            mode TEXT NOT NULL)""",
            "CREATE INDEX mode_history_zone_at ON mode_history (zone, at)",
        ),
    ),
    # SMDR came with issue 6: call records and the lines no format could parse.
    Migration(
        2,
        "SMDR call records and unparsed lines",
        (
            """CREATE TABLE calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            zone TEXT NOT NULL,
            started_at TEXT NOT NULL,
            duration_s INTEGER CHECK (duration_s IS NULL OR duration_s >= 0),
            extension TEXT,
            trunk TEXT,
            direction TEXT CHECK (direction IS NULL OR direction IN ('in', 'out', 'internal')),
            answered INTEGER CHECK (answered IS NULL OR answered IN (0, 1)),
            ring_s INTEGER CHECK (ring_s IS NULL OR ring_s >= 0),
            number TEXT,
            fmt TEXT NOT NULL,
            raw TEXT NOT NULL)""",
            "CREATE INDEX calls_zone_started ON calls (zone, started_at)",
            "CREATE INDEX calls_started ON calls (started_at)",
            """CREATE TABLE unparsed (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            fmt TEXT NOT NULL,
            raw TEXT NOT NULL,
            reason TEXT NOT NULL)""",
            "CREATE INDEX unparsed_at ON unparsed (at)",
        ),
    ),
    # Calendar subscriptions came with issue 17: the last good copy of each feed.
    Migration(
        3,
        "last good copy of each subscribed calendar",
        (
            """CREATE TABLE calendar_copies (
            key TEXT PRIMARY KEY,
            body BLOB NOT NULL,
            source TEXT NOT NULL DEFAULT '',
            fetched_at TEXT NOT NULL)""",
        ),
    ),
    # Alerts (issue 15): the outbox that survives a reboot, the state of each alert (so
    # a restart neither repeats a "started" nor forgets a "resolved"), and the morning
    # callback list's ticks.
    Migration(
        4,
        "alert outbox, alert state and call-back ticks",
        (
            """CREATE TABLE alert_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            target TEXT NOT NULL,
            zone TEXT NOT NULL,
            event TEXT NOT NULL,
            phase TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL,
            next_attempt_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'failed')),
            last_error TEXT,
            done_at TEXT)""",
            "CREATE INDEX alert_outbox_due ON alert_outbox (status, target, next_attempt_at)",
            """CREATE TABLE alert_state (
            key TEXT PRIMARY KEY,
            zone TEXT NOT NULL,
            event TEXT NOT NULL,
            message TEXT NOT NULL,
            since TEXT NOT NULL,
            started_at TEXT NOT NULL,
            last_notice_at TEXT NOT NULL)""",
            """CREATE TABLE callbacks (
            zone TEXT NOT NULL,
            night TEXT NOT NULL,
            number TEXT NOT NULL,
            done_by TEXT NOT NULL,
            done_at TEXT NOT NULL,
            PRIMARY KEY (zone, night, number))""",
        ),
    ),
    # Accounts hardened with issue 13: sessions kept on the appliance (so they can be
    # revoked), the security log, tokens that expire and answer to their owner's role,
    # passwords that must be changed at the next login. The session signing key leaves
    # the database for a file of its own (backups must not carry it), and the daemon's
    # old command-line token goes: the CLI uses a Unix socket now.
    Migration(
        5,
        "sessions, security log, token expiry and owner, forced password change",
        (
            """CREATE TABLE sessions (
            id_sha256 TEXT PRIMARY KEY,
            user TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            address TEXT NOT NULL DEFAULT '')""",
            "CREATE INDEX sessions_user ON sessions (user)",
            """CREATE TABLE security_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            event TEXT NOT NULL,
            who TEXT NOT NULL,
            address TEXT NOT NULL DEFAULT '',
            target TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '')""",
            "CREATE INDEX security_log_at ON security_log (at)",
            "ALTER TABLE tokens ADD COLUMN expires_at TEXT",
            "ALTER TABLE tokens ADD COLUMN last_used_at TEXT",
            # The user whose current role caps the token and whose deletion revokes it;
            # NULL for tokens made on the command line (by root, who is above every role).
            "ALTER TABLE tokens ADD COLUMN owner TEXT",
            "UPDATE tokens SET owner = created_by WHERE created_by IN (SELECT name FROM users)",
            "DELETE FROM tokens WHERE created_by = 'nightswitch' "
            "AND label = 'local CLI (created by the daemon)'",
            "ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0 "
            "CHECK (must_change_password IN (0, 1))",
            "DELETE FROM settings WHERE key = 'web.secret_key'",
        ),
    ),
)

#: The schema version this code writes and understands.
SCHEMA_VERSION = MIGRATIONS[-1].version

# A broken list (gap, duplicate, wrong order) must fail on import, in every test run,
# rather than on an installer's Pi.
assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
