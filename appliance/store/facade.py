"""The :class:`Store`: the one object the rest of nightswitch uses for persistent data.

Each method checks its arguments, takes the store's lock and runs one transaction,
delegating the SQL to one module per kind of data (:mod:`.schedules`, :mod:`.modes`,
:mod:`.users`, :mod:`.tokens`, :mod:`.audit`, :mod:`.calls`, :mod:`.settings`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from appliance.backup.archive import snapshot
from appliance.errors import StoreError
from appliance.store import alerts as _alerts
from appliance.store import audit as _audit
from appliance.store import calendars as _calendars
from appliance.store import calls as _calls
from appliance.store import files
from appliance.store import key_values as _key_values
from appliance.store import modes as _modes
from appliance.store import schedules as _schedules
from appliance.store import security_log as _security_log
from appliance.store import sessions as _sessions
from appliance.store import tokens as _tokens
from appliance.store import users as _users
from appliance.store.db import DB_NAME, Database

#: How long the daemon keeps the audit log, call records and mode history (the design sets
#: no figure: docs/design.md#storage-and-config). Three years: this season against the last
#: two, and an audit that still covers a dispute from the year before last; a few MB on the
#: card.
RETENTION_DAYS = 3 * 366


class Store:
    """Nightswitch's data in SQLite at ``data_dir/nightswitch.db``.

    Opening creates the directory (mode 0750) and the database, sets write-ahead
    logging with ``synchronous=FULL`` (a change acknowledged is a change that survives
    a power cut), and migrates an older schema. A damaged file is renamed to
    ``nightswitch.db.corrupt-YYYYmmddTHHMMSS`` and a fresh database is started, so the
    daemon keeps running; :attr:`quarantined` then names the file set aside, for the web
    page to show. A database written by a newer nightswitch raises
    :exc:`~appliance.store.db.SchemaTooNewError`.

    The store never reads the clock: methods that record an instant take ``at`` (a
    timezone-aware :class:`~datetime.datetime`). Instants come back as ISO-8601 text in
    UTC (``2026-12-24T17:00:00+00:00``). Every method may be called from any thread.
    Arguments a person could have got wrong raise
    :exc:`~appliance.errors.ValidationError` naming the argument; trouble with the
    disk raises :exc:`~appliance.store.db.StoreError`.

    ::

        with Store("/var/lib/nightswitch") as store:
            store.set_applied("main", "night", at=clock.now())

    :param data_dir:
        The data directory.
    :param clock:
        Optional; its ``now()`` names a quarantined file. Without one the system clock
        is read for that name, and for nothing else.
    """

    def __init__(self, data_dir, *, clock=None):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        created = _ensure_dir(self.data_dir)
        self._db = Database(self.path, stamp=lambda: _stamp(clock))
        if created:
            files.adopt_owner(self.data_dir.parent, self.data_dir)

    @property
    def quarantined(self) -> Path | None:
        """The damaged file moved aside when this store was opened, or None."""
        return self._db.quarantined

    @property
    def schema_version(self) -> int:
        return self._db.schema_version

    def close(self) -> None:
        """Close the database (idempotent). Later calls raise StoreError."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {self.path}>"

    # -- schedule ------------------------------------------------------------------

    def get_schedule(self, zone) -> dict | None:
        """The newest saved schedule of *zone* (the JSON of docs/API.md#schedule), or None."""
        with self._db.read() as conn:
            return _schedules.latest(conn, zone)

    def get_schedule_version(self, zone, version) -> dict | None:
        """One version from the history of *zone*, or None if there is no such version."""
        with self._db.read() as conn:
            return _schedules.version(conn, zone, version)

    def save_schedule(self, zone, data: dict, *, by, at) -> int:
        """Save *data*, already validated by :func:`appliance.decision.schedule.parse_schedule`,
        as the newest version of *zone*'s schedule.

        :returns: the new version number (1 for the first).
        """
        with self._db.write() as conn:
            return _schedules.save(conn, zone, data, by=by, at=at)

    def schedule_history(self, zone, limit=20) -> list[dict]:
        """Newest first: ``{version, saved_at, by}``, plus ``restored_from`` for rollbacks."""
        with self._db.read() as conn:
            return _schedules.history(conn, zone, limit)

    def rollback_schedule(self, zone, version, *, by, at, fits=None) -> int:
        """Save a copy of an old *version* as the newest; the history is never rewritten.

        :param fits: called with the old version's JSON inside the transaction, before
            anything is written; whatever it raises (a schedule that no longer fits the
            config) leaves the history as it was.
        :returns: the new version number.
        """
        with self._db.write() as conn:
            return _schedules.rollback(conn, zone, version, by=by, at=at, fits=fits)

    def schedule_zones(self) -> list[str]:
        """The zones that have a saved schedule."""
        with self._db.read() as conn:
            return _schedules.zones(conn)

    # -- overrides -----------------------------------------------------------------

    def get_override(self, zone) -> dict | None:
        """``{mode, until, by, set_at}`` (``until`` ISO text or None), or None."""
        with self._db.read() as conn:
            return _modes.get_override(conn, zone)

    def set_override(self, zone, mode, until: datetime | None, *, by, at) -> None:
        with self._db.write() as conn:
            _modes.set_override(conn, zone, mode, until, by=by, at=at)

    def clear_override(self, zone) -> bool:
        """Remove *zone*'s override; returns whether there was one."""
        with self._db.write() as conn:
            return _modes.clear_override(conn, zone)

    # -- users ---------------------------------------------------------------------
    # Changing an account ends its sessions in the same transaction (store.sessions), so
    # the web page, the API and the command line cannot differ on it.

    def add_user(self, name, role, password, *, must_change: bool = False) -> None:
        """Add a user; *must_change*: the password is to be changed at the first login."""
        name, role, password = _users.check_new(name, role, password)
        password_hash = _users.hash_password(password)  # slow: outside the lock
        with self._db.write() as conn:
            _users.insert(conn, name, role, password_hash, must_change=must_change)

    def get_user(self, name) -> dict | None:
        """``{name, role}`` or None; the hash never leaves the store."""
        with self._db.read() as conn:
            return _users.get(conn, name)

    def list_users(self) -> list[dict]:
        with self._db.read() as conn:
            return _users.list_all(conn)

    def users_to_change_password(self) -> set[str]:
        """The users who must change their password at their next login."""
        with self._db.read() as conn:
            return _users.must_change(conn)

    def delete_user(self, name) -> dict:
        """Delete a user, end their sessions and revoke the tokens they made; refused for
        the only admin. Returns ``{"sessions": n, "tokens": n}``."""
        with self._db.write() as conn:
            return _users.delete(conn, name)

    def set_password(
        self, name, password, *, must_change: bool = False, keep_session: str | None = None
    ) -> int:
        """Set a password and end the user's sessions (but *keep_session*); returns how
        many ended. *must_change*: to be changed at the next login (a reset)."""
        name = _users.check_name(name)
        password = _users.check_password_value(password, name)
        password_hash = _users.hash_password(password)
        with self._db.write() as conn:
            return _users.update_hash(
                conn, name, password_hash, must_change=must_change, keep_session=keep_session
            )

    def set_role(self, name, role) -> str:
        """Change a user's role and end their sessions; demoting the only admin is
        refused. Returns the previous role."""
        with self._db.write() as conn:
            return _users.set_role(conn, name, role)

    def check_password(self, name, password) -> dict | None:
        """The user ``{name, role}`` if *password* is theirs, else None."""
        with self._db.read() as conn:
            user, password_hash = _users.password_hash(conn, name)
        return user if _users.verify(password_hash, password) else None

    # -- sessions ------------------------------------------------------------------

    def create_session(self, session_id, user, *, at, expires, address="") -> None:
        """Record a new web session (only the id's SHA-256 is kept)."""
        with self._db.write() as conn:
            _sessions.create(conn, session_id, user, at=at, expires=expires, address=address)

    def session(self, session_id, *, at) -> dict | None:
        """``{user, role, must_change_password, created_at, expires_at, last_seen_at}`` of
        a session valid at *at*, else None."""
        with self._db.read() as conn:
            return _sessions.lookup(conn, session_id, at)

    def touch_session(self, session_id, *, at) -> None:
        with self._db.write() as conn:
            _sessions.touch(conn, session_id, at)

    def end_session(self, session_id) -> bool:
        with self._db.write() as conn:
            return _sessions.revoke(conn, session_id)

    def end_sessions(self, user, *, keep: str | None = None) -> int:
        """End every session of *user* but *keep* (a session id); returns how many."""
        with self._db.write() as conn:
            return _sessions.revoke_user(conn, user, keep=keep)

    def end_all_sessions(self) -> int:
        with self._db.write() as conn:
            return _sessions.revoke_all(conn)

    def session_counts(self, *, at) -> dict[str, int]:
        """Open sessions per user."""
        with self._db.read() as conn:
            return _sessions.count_by_user(conn, at)

    def prune_sessions(self, *, at) -> int:
        with self._db.write() as conn:
            return _sessions.prune(conn, at)

    # -- API tokens ----------------------------------------------------------------

    def create_token(self, role, *, label, by, at, expires=None, owner=None) -> str:
        """A new token for *role*. The plaintext is returned once; only its SHA-256 is kept.

        :param expires: when it stops working (aware datetime), or None: never.
        :param owner: the user whose current role caps it and whose deletion revokes it;
            None for a token made on the command line.
        """
        with self._db.write() as conn:
            return _tokens.create(
                conn, role, label=label, by=by, at=at, expires=expires, owner=owner
            )

    def check_token(self, token, *, at=None) -> dict | None:
        """``{id, role, label, owner, expires_at, last_used_at}`` for a valid token, else
        None (constant time). The role is capped at the owner's current role. With *at*
        an expired token is None; without it expiry is not checked (the web always
        passes it)."""
        with self._db.read() as conn:
            return _tokens.check(conn, token, at)

    def token_used(self, token_id, *, at) -> bool:
        """Note the token's last use (at most one write per 5 minutes)."""
        with self._db.write() as conn:
            return _tokens.mark_used(conn, token_id, at)

    def get_token(self, token_id) -> dict | None:
        with self._db.read() as conn:
            return _tokens.get(conn, token_id)

    def list_tokens(self) -> list[dict]:
        """``{id, label, role, created_at, created_by, owner, expires_at, last_used_at}``;
        never the token."""
        with self._db.read() as conn:
            return _tokens.list_all(conn)

    def revoke_token(self, id) -> None:  # noqa: A002 (the contract's name)
        with self._db.write() as conn:
            _tokens.revoke(conn, id)

    # -- security log --------------------------------------------------------------

    def add_security_event(self, *, at, event, who, address="", target="", detail="") -> int:
        """Append a row to the security log (accounts, logins, tokens, restores)."""
        with self._db.write() as conn:
            return _security_log.add(
                conn, at=at, event=event, who=who, address=address, target=target, detail=detail
            )

    def security_log(self, *, limit=50, offset=0, event=None) -> list[dict]:
        """Newest first: ``{id, at, event, who, address, target, detail}``."""
        with self._db.read() as conn:
            return _security_log.query(conn, limit=limit, offset=offset, event=event)

    def prune_security_log(self, before) -> int:
        with self._db.write() as conn:
            return _security_log.prune(conn, before)

    # -- audit ---------------------------------------------------------------------

    def add_audit(self, zone, *, at, who, source, old_mode, new_mode, reason) -> int:
        """Append an audit row; returns its id. Modes may be None (nothing before)."""
        with self._db.write() as conn:
            return _audit.add(
                conn,
                zone,
                at=at,
                who=who,
                source=source,
                old_mode=old_mode,
                new_mode=new_mode,
                reason=reason,
            )

    def audit(
        self, zone=None, *, limit=50, offset=0, who=None, source=None, since=None, until=None
    ) -> list[dict]:
        """Audit rows, newest first, in ``[since, until)``; every filter is optional.

        Each row: ``{id, zone, at, who, source, old_mode, new_mode, reason}``.
        """
        with self._db.read() as conn:
            return _audit.query(
                conn,
                zone,
                limit=limit,
                offset=offset,
                who=who,
                source=source,
                since=since,
                until=until,
            )

    def audit_count(self, zone=None, *, who=None, source=None, since=None, until=None) -> int:
        """How many rows :meth:`audit` would page through with these filters."""
        with self._db.read() as conn:
            return _audit.count(conn, zone, who=who, source=source, since=since, until=until)

    def prune_audit(self, before) -> int:
        """Delete audit rows older than *before*; returns how many (the daemon keeps
        :data:`RETENTION_DAYS`)."""
        with self._db.write() as conn:
            return _audit.prune(conn, before)

    # -- applied mode --------------------------------------------------------------

    def get_applied(self, zone) -> dict | None:
        """``{mode, at}``: the mode last applied to *zone* and since when, or None."""
        with self._db.read() as conn:
            return _modes.get_applied(conn, zone)

    def set_applied(self, zone, mode, *, at) -> bool:
        """Record that *mode* is now applied; a change is appended to the mode history.

        :returns: True if the mode changed (the same mode again records nothing).
        """
        with self._db.write() as conn:
            return _modes.set_applied(conn, zone, mode, at=at)

    def mode_history(self, zone, start, end) -> list[dict]:
        """``[{at, mode}]``: the entry in force at *start*, then each change before *end*."""
        with self._db.read() as conn:
            return _modes.mode_history(conn, zone, start, end)

    def prune_mode_history(self, before) -> int:
        """Delete mode history before *before*, keeping each zone's entry in force then."""
        with self._db.write() as conn:
            return _modes.prune_mode_history(conn, before)

    # -- settings ------------------------------------------------------------------

    def get_setting(self, key) -> str | None:
        with self._db.read() as conn:
            return _key_values.get(conn, key)

    def set_setting(self, key, value) -> None:
        with self._db.write() as conn:
            _key_values.set_(conn, key, value)

    # -- SMDR ----------------------------------------------------------------------

    def add_call(self, zone, record) -> int:
        """Store a call record (any object with the attributes of
        :class:`appliance.smdr.record.CallRecord`); returns its id."""
        with self._db.write() as conn:
            return _calls.add(conn, zone, record)

    def calls(self, zone, start, end) -> list[dict]:
        """Calls of *zone* started in ``[start, end)``, oldest first."""
        with self._db.read() as conn:
            return _calls.between(conn, zone, start, end)

    def add_unparsed(self, *, at, fmt, raw, reason) -> int:
        """Keep a line no SMDR format could parse, with why."""
        with self._db.write() as conn:
            return _calls.add_unparsed(conn, at=at, fmt=fmt, raw=raw, reason=reason)

    def unparsed_count(self) -> int:
        with self._db.read() as conn:
            return _calls.unparsed_count(conn)

    def unparsed(self, *, limit=50, offset=0) -> list[dict]:
        """The most recent unparsed lines: ``{id, at, fmt, raw, reason}``, newest first."""
        with self._db.read() as conn:
            return _calls.unparsed(conn, limit=limit, offset=offset)

    def prune_calls(self, before) -> int:
        """Delete calls and unparsed lines older than *before*; returns how many."""
        with self._db.write() as conn:
            return _calls.prune(conn, before)

    # -- calendar subscriptions ------------------------------------------------------

    def save_calendar_copy(self, key, body: bytes, *, source, at) -> None:
        """Keep *body* as the last good copy of calendar *key* (``zone/name``)."""
        with self._db.write() as conn:
            _calendars.save(conn, key, body, source=source, at=at)

    def get_calendar_copy(self, key) -> dict | None:
        """``{body, source, fetched_at}`` of calendar *key*, or None."""
        with self._db.read() as conn:
            return _calendars.get(conn, key)

    # -- alerts (issue 15) -----------------------------------------------------------

    def alert_states(self) -> dict[str, dict]:
        """The open alerts: ``{key: {key, zone, event, message, since, started_at,
        last_notice_at}}``."""
        with self._db.read() as conn:
            return _alerts.states(conn)

    def alert_transition(self, *, upsert=(), delete=(), messages=(), at) -> list[int]:
        """Change the alert state and queue the messages it causes, in one transaction;
        returns the new outbox ids."""
        with self._db.write() as conn:
            return _alerts.apply_changes(
                conn, upsert=upsert, delete=delete, messages=messages, at=at
            )

    def outbox_add(self, messages, *, at) -> list[int]:
        """Queue messages (dicts: target, zone, event, phase, subject, body, payload)."""
        with self._db.write() as conn:
            return _alerts.enqueue(conn, messages, at=at)

    def outbox_pending(self, target, *, limit=20) -> list[dict]:
        """*target*'s pending messages, oldest first."""
        with self._db.read() as conn:
            return _alerts.pending(conn, target, limit=limit)

    def outbox_next_due(self, target) -> str | None:
        with self._db.read() as conn:
            return _alerts.next_due(conn, target)

    def outbox_sent(self, id, *, at) -> None:  # noqa: A002
        with self._db.write() as conn:
            _alerts.mark_sent(conn, id, at=at)

    def outbox_failed(self, id, *, error, retry_at, at) -> None:  # noqa: A002
        with self._db.write() as conn:
            _alerts.mark_failed(conn, id, error=error, retry_at=retry_at, at=at)

    def outbox(self, *, limit=50, status=None) -> list[dict]:
        with self._db.read() as conn:
            return _alerts.outbox(conn, limit=limit, status=status)

    def prune_outbox(self, before) -> int:
        with self._db.write() as conn:
            return _alerts.prune(conn, before)

    def set_callback(self, zone, night, number, *, done, by, at) -> bool:
        with self._db.write() as conn:
            return _alerts.set_callback(conn, zone, night, number, done=done, by=by, at=at)

    def callbacks(self, zone, night) -> dict[str, dict]:
        with self._db.read() as conn:
            return _alerts.callbacks(conn, zone, night)

    def calls_after_id(self, after_id, limit=1000) -> list[dict]:
        """Calls of every zone with an id above *after_id*, oldest first (the metrics'
        running count of after-hours calls)."""
        with self._db.read() as conn:
            return _calls.after_id(conn, after_id, limit)

    def last_call_id(self) -> int:
        """The highest call id stored (0 when none)."""
        with self._db.read() as conn:
            return conn.execute("SELECT COALESCE(MAX(id), 0) FROM calls").fetchone()[0]

    # -- backup --------------------------------------------------------------------

    def backup_to(self, path) -> None:
        """Write a consistent copy of the database to *path* with SQLite's online
        backup API; safe while other threads and processes keep writing."""
        with self._db.read():
            pass  # a closed store raises StoreError here, as every other method does
        snapshot(self.path, Path(path))


def _ensure_dir(path: Path) -> bool:
    try:
        return files.ensure_dir(path)
    except OSError as exc:
        raise StoreError(
            f"cannot create the data directory {path}: {exc.strerror or exc}; "
            "run as the nightswitch user or with sudo, or pass --data DIR"
        ) from None


def _stamp(clock) -> str:
    # Only names the quarantined file; a wrong clock gives a wrong name, nothing worse.
    now = clock.now() if clock is not None else datetime.now(timezone.utc)
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S")
