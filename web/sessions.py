"""The browser's side of a login: a session id in a signed cookie, the session itself
on the appliance (:class:`appliance.accounts.Accounts`).

Flask's cookie still carries the CSRF token and the flashed messages; what makes a
person logged in is only ``sid``, a random id whose session must exist in the store. So
logging out, "log out everywhere", a password change, a role change or the user's
deletion end a session at once, a cookie replayed after logout opens nothing, and a
session lasts :data:`~appliance.accounts.SESSION_LIFETIME` from its login however much
it is used.

Over HTTPS (the TLS front, :mod:`web.hosts`) the cookie is marked ``Secure``.
"""

from __future__ import annotations

from flask import current_app, flash, request, session
from flask.sessions import SecureCookieSessionInterface

from appliance.accounts import SESSION_LIFETIME, Accounts

SESSION_ID = "sid"


def accounts() -> Accounts:
    return current_app.extensions["nightswitch.accounts"]


def client_address() -> str:
    return (request.remote_addr or "")[:64]


def begin(session_id: str) -> None:
    """Put a new session id into a fresh cookie (never reuse the old cookie's contents:
    a session fixed by someone else before the login must not survive it)."""
    from web.security import csrf_token

    session.clear()
    session.permanent = True
    session[SESSION_ID] = session_id
    csrf_token()


def current_id() -> str | None:
    value = session.get(SESSION_ID)
    return value if isinstance(value, str) else None


def current() -> dict | None:
    """The valid session of this request, or None. A cookie whose session has ended
    (logout elsewhere, password change, expiry) is cleared, with a word for the person."""
    session_id = current_id()
    if session_id is None:
        return None
    found = accounts().session(session_id)
    if found is None:
        session.clear()
        if request.method == "GET" and not request.path.startswith("/api/"):
            flash(
                "Your session has ended (logged out, expired, or the account was changed). "
                "Log in again.",
                "error",
            )
    return found


def end(who: str) -> None:
    """Log this browser out: the session ends on the appliance too."""
    accounts().logout(current_id(), who=who, address=client_address())
    session.clear()


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, ``Secure`` whenever the request came over HTTPS."""

    def get_cookie_secure(self, app) -> bool:
        try:
            return bool(request.is_secure) or super().get_cookie_secure(app)
        except RuntimeError:  # outside a request
            return super().get_cookie_secure(app)


def init_app(app) -> None:
    store = app.extensions.get("nightswitch.store")
    if store is not None and "nightswitch.accounts" not in app.extensions:
        app.extensions["nightswitch.accounts"] = Accounts(
            store, now=app.config.get("NIGHTSWITCH_ACCOUNT_CLOCK")
        )
    app.session_interface = SessionInterface()
    app.permanent_session_lifetime = SESSION_LIFETIME


__all__ = [
    "accounts",
    "begin",
    "client_address",
    "current",
    "current_id",
    "end",
    "init_app",
    "SESSION_ID",
]


def token_owner() -> str | None:
    """Whose rights a token made in this request answers to: the logged-in person, or the
    owner of the token making it (None for a token made from a command-line token)."""
    from flask import g

    identity = g.get("identity")
    if identity is None:
        return None
    if identity.via == "session":
        return identity.name
    return g.get("token_owner")
