"""Accounts, sessions and API tokens, with their rules and their record.

:class:`Accounts` is what the web page, the API and the command line call to change an
account or to ask who is logged in; it keeps the rules in one place:

* a session has an absolute lifetime (:data:`SESSION_LIFETIME`, never slid along), is
  kept on the appliance, and ends at logout, "log out everywhere", a password change or
  reset, a role change and the user's deletion (the store ends them in the same
  transaction as the change);
* a token may expire, remembers when it was last used, is capped at its owner's
  current role and is revoked with its owner;
* every change to an account, every token made or revoked, every failed login and
  lockout goes to the security log (who, from where) and to the journal.

Times come from the real clock (UTC), never from the appliance's clock, which
``simulate`` lets anyone move: an expiry must not be movable from the front panel.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta, timezone

from appliance.errors import FieldError, ValidationError
from appliance.store.validate import ROLE_RANK

#: Account and security events go to one named channel, so an admin can follow them in
#: the journal (``journalctl -u nightswitch | grep nightswitch.security``) whichever
#: module saw them: the one deliberate exception to ``getLogger(__name__)``.
log = logging.getLogger("nightswitch.security")

#: How long a login lasts, from the moment of login, however much it is used.
SESSION_LIFETIME = timedelta(days=14)
#: How often a session's "last seen" is written.
SEEN_EVERY = timedelta(minutes=5)
#: The longest expiry a token may be given (a year and a day: next year's renewal).
MAX_TOKEN_DAYS = 366
#: Events worth a warning in the journal rather than a note.
_WARN = {"login_failed", "lockout"}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Accounts:
    """The account rules around a :class:`~appliance.store.Store`.

    :param store: the store.
    :param now: a function giving the current aware UTC time; the real clock by default
        (tests pass their own).
    """

    def __init__(self, store, *, now=None):
        self.store = store
        self.now = now or utc_now

    # -- the record ------------------------------------------------------------------------
    def record(
        self, event: str, *, who: str, address: str = "", target: str = "", detail: str = ""
    ) -> None:
        """Write *event* to the security log and the journal.

        A failure to write propagates: the caller's request fails rather than leave an
        account change unrecorded.
        """
        where = f" from {address}" if address else ""
        what = f" {target}" if target else ""
        more = f": {detail}" if detail else ""
        log.log(
            logging.WARNING if event in _WARN else logging.INFO,
            "%s by %s%s%s%s",
            event.replace("_", " "),
            who,
            where,
            what,
            more,
        )
        self.store.add_security_event(
            at=self.now(),
            event=event,
            who=_printable(who),
            address=address or "",
            target=_printable(target),
            detail=detail,
        )

    # -- users -----------------------------------------------------------------------------
    def add_user(
        self, name, role, password, *, by: str, address: str = "", must_change: bool = False
    ) -> None:
        self.store.add_user(name, role, password, must_change=must_change)
        self.record(
            "user_added",
            who=by,
            address=address,
            target=name,
            detail=f"role {role}"
            + ("; must change the password at the first login" if must_change else ""),
        )

    def delete_user(self, name, *, by: str, address: str = "") -> dict:
        ended = self.store.delete_user(name)
        self.record(
            "user_deleted",
            who=by,
            address=address,
            target=name,
            detail=f"{ended['sessions']} session(s) ended, {ended['tokens']} token(s) revoked",
        )
        return ended

    def set_role(self, name, role, *, by: str, address: str = "") -> str:
        before = self.store.set_role(name, role)
        if before != role:
            self.record(
                "role_changed",
                who=by,
                address=address,
                target=name,
                detail=f"{before} to {role}; their sessions ended",
            )
        return before

    def reset_password(
        self, name, password, *, by: str, address: str = "", must_change: bool = True
    ) -> int:
        """Another person sets *name*'s password: every session of *name* ends and, by
        default, the password must be changed at the next login."""
        ended = self.store.set_password(name, password, must_change=must_change)
        self.record(
            "password_reset",
            who=by,
            address=address,
            target=name,
            detail=f"{ended} session(s) ended"
            + ("; to be changed at the next login" if must_change else ""),
        )
        return ended

    def change_own_password(
        self, name, password, *, session_id: str | None, address: str = ""
    ) -> int:
        """*name* changes their own password: their other sessions end, this one stays."""
        ended = self.store.set_password(name, password, keep_session=session_id)
        self.record(
            "password_changed",
            who=name,
            address=address,
            target=name,
            detail=f"{ended} other session(s) ended",
        )
        return ended

    def overview(self) -> list[dict]:
        """Every user with ``must_change_password`` and their open ``sessions``."""
        change = self.store.users_to_change_password()
        counts = self.store.session_counts(at=self.now())
        return [
            dict(u, must_change_password=u["name"] in change, sessions=counts.get(u["name"], 0))
            for u in self.store.list_users()
        ]

    # -- sessions --------------------------------------------------------------------------
    def login(self, name, password, *, address: str = "") -> tuple[str, dict] | None:
        """Check the password; on success start a session and return ``(session id,
        session)``. A failure is recorded (the caller counts it for the rate limit)."""
        user = self.store.check_password(name, password)
        if user is None:
            shown = name if isinstance(name, str) and name.isprintable() else repr(name)
            self.record("login_failed", who="anonymous", address=address, target=str(shown)[:64])
            return None
        session_id = self.start_session(user["name"], address=address)
        return session_id, self.store.session(session_id, at=self.now())

    def start_session(self, name: str, *, address: str = "", event: str = "login") -> str:
        now = self.now()
        session_id = secrets.token_urlsafe(32)
        self.store.create_session(
            session_id, name, at=now, expires=now + SESSION_LIFETIME, address=address
        )
        self.record(event, who=name, address=address)
        return session_id

    def session(self, session_id) -> dict | None:
        """The valid session's ``{user, role, must_change_password, expires_at, ...}`` or
        None (ended, expired, or its user gone)."""
        if not session_id:
            return None
        now = self.now()
        found = self.store.session(session_id, at=now)
        if found is not None and datetime.fromisoformat(found["last_seen_at"]) < now - SEEN_EVERY:
            self.store.touch_session(session_id, at=now)
        return found

    def logout(self, session_id, *, who: str, address: str = "") -> None:
        if session_id and self.store.end_session(session_id):
            self.record("logout", who=who, address=address)

    def logout_everywhere(self, name: str, *, address: str = "") -> int:
        ended = self.store.end_sessions(name)
        self.record(
            "logout_everywhere",
            who=name,
            address=address,
            target=name,
            detail=f"{ended} session(s) ended",
        )
        return ended

    # -- tokens ----------------------------------------------------------------------------
    def create_token(
        self, role, *, label, by: str, owner: str | None, expires_days=None, address: str = ""
    ) -> dict:
        """A new token; the plaintext is in the answer's ``token``, this once.

        :param owner: the user who makes it (capped at their role, revoked with them);
            None on the command line.
        :param expires_days: whole days until it stops working, or None: never.
        """
        now = self.now()
        expires = None
        if expires_days is not None:
            if (
                isinstance(expires_days, bool)
                or not isinstance(expires_days, int)
                or not 1 <= expires_days <= MAX_TOKEN_DAYS
            ):
                raise ValidationError(
                    [
                        FieldError(
                            "expires_days",
                            f"{expires_days!r} is not allowed; give whole days from 1 "
                            f"to {MAX_TOKEN_DAYS}, or leave it empty for a token that "
                            "never expires",
                        )
                    ]
                )
            expires = now + timedelta(days=expires_days)
        token = self.store.create_token(
            role, label=label, by=by, at=now, expires=expires, owner=owner
        )
        found = self.store.check_token(token)
        self.record(
            "token_created",
            who=by,
            address=address,
            target=f"#{found['id']}",
            detail=f"role {found['role']}, label {found['label']!r}"
            + (f", expires {expires:%Y-%m-%d %H:%M} UTC" if expires else ""),
        )
        return {
            "id": found["id"],
            "role": found["role"],
            "label": found["label"],
            "expires_at": found["expires_at"],
            "token": token,
        }

    def check_token(self, token) -> dict | None:
        """The token's ``{id, role, label, owner, ...}`` if it may be used now, else None;
        its last use is noted."""
        now = self.now()
        found = self.store.check_token(token, at=now)
        if found is not None:
            self.store.token_used(found["id"], at=now)
        return found

    def revoke_token(self, token_id: int, *, by: str, address: str = "") -> None:
        token = self.store.get_token(token_id)
        self.store.revoke_token(token_id)
        self.record(
            "token_revoked",
            who=by,
            address=address,
            target=f"#{token_id}",
            detail=f"role {token['role']}, label {token['label']!r}" if token else "",
        )

    def tokens(self) -> list[dict]:
        """Every token with ``expired`` and, for an owned one, ``effective_role``."""
        now = self.now()
        roles = {u["name"]: u["role"] for u in self.store.list_users()}
        out = []
        for t in self.store.list_tokens():
            expired = t["expires_at"] is not None and datetime.fromisoformat(t["expires_at"]) <= now
            role = t["role"]
            if t["owner"] in roles and ROLE_RANK[roles[t["owner"]]] < ROLE_RANK[role]:
                role = roles[t["owner"]]
            out.append(dict(t, expired=expired, effective_role=role))
        return out


def _printable(text) -> str:
    text = "" if text is None else str(text)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


__all__ = ["Accounts", "SESSION_LIFETIME", "MAX_TOKEN_DAYS", "utc_now"]
