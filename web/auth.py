"""Who is asking, and what they may do.

A request is made by a person with a browser session (the login form) or by a program
with ``Authorization: Bearer TOKEN``. Roles rank ``viewer`` < ``operator`` < ``admin``
(SPEC 8): viewers read, operators also override, admins also edit the schedule, users,
tokens and run hardware tests. The user is read from the store on every request, so a
deleted user or a changed role takes effect at once.

There are no default passwords. The first admin comes from ``nightswitch user add`` or
from :func:`setup`, a page that answers only to the appliance itself (localhost) and only
while no user exists.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from dataclasses import dataclass

from flask import (
    Blueprint, Flask, abort, current_app, flash, g, redirect, render_template, request,
    session, url_for,
)

from appliance.errors import ValidationError
from appliance.store.validate import ROLE_RANK
from web.errors import ApiError, wants_json
from web.security import csrf_token, csrf_valid, limiter, sent_csrf_token

bp = Blueprint("auth", __name__)

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: Full pages (not the fragments the page's script polls): loading one refreshes the session.
_FULL_PAGES = {"pages.status", "pages.schedule", "pages.log", "pages.calls", "pages.installer",
               "pages.users", "pages.panel", "auth.account"}


@dataclass(frozen=True)
class Identity:
    """The one making this request.

    :param str name: the user name, ``token:LABEL`` for an API token, or ``public``.
    :param str role: ``viewer``, ``operator`` or ``admin``; None for the public status.
    :param str via: ``session``, ``token`` or ``public``.
    """

    name: str
    role: str | None
    via: str

    def may(self, role: str) -> bool:
        return self.role is not None and ROLE_RANK[self.role] >= ROLE_RANK[role]


def appliance():
    """The running appliance's :class:`~appliance.control.facade.ApplianceFacade` (503
    while it starts)."""
    facade = current_app.extensions.get("nightswitch")
    if facade is None:
        raise ApiError(503, "the appliance is starting; try again in a moment")
    return facade


def store():
    """The :class:`~appliance.store.Store`: users, tokens, the audit log, call records."""
    found = current_app.extensions.get("nightswitch.store")
    if found is None:
        raise ApiError(503, "the appliance is starting; try again in a moment")
    return found


def _load_identity() -> None:
    g.identity = None
    if current_app.extensions.get("nightswitch.store") is None:
        return
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            g.auth_error = "the Authorization header must be 'Bearer TOKEN'"
            return
        found = store().check_token(token.strip())
        if found is None:
            g.auth_error = "the bearer token is not valid (mistyped or revoked)"
            return
        label = found.get("label") or f"#{found['id']}"
        g.identity = Identity(f"token:{label}"[:128], found["role"], "token")
        return
    name = session.get("user")
    if name:
        user = store().get_user(name)
        if user is None:
            session.pop("user", None)      # deleted since: log them out
            return
        g.identity = Identity(user["name"], user["role"], "session")
        # Slide the two-week session along, once a day, on a page load.
        day = int(time.time() // 86400)
        if request.method == "GET" and session.get("day") != day and not request.path.startswith(
                "/api/") and request.endpoint in _FULL_PAGES:
            session["day"] = day


def _check_csrf() -> None:
    """Unsafe requests made with a cookie must carry this session's CSRF token."""
    if request.method not in UNSAFE_METHODS:
        return
    identity = g.get("identity")
    if identity is not None and identity.via == "token":
        return
    if request.path.startswith("/api/") and identity is None:
        return      # not logged in at all: the view answers 401
    if not csrf_valid(sent_csrf_token()):
        raise ApiError(400, "the form has expired or did not come from this appliance's page "
                            "(CSRF token missing or wrong); reload the page and try again")


def _before() -> None:
    if request.endpoint == "static":
        return
    _load_identity()
    if request.routing_exception is None:     # 404 and 405 answer for themselves
        _check_csrf()


def _inject() -> dict:
    return {"identity": g.get("identity"), "csrf_token": csrf_token}


def public_status_allowed() -> bool:
    facade = current_app.extensions.get("nightswitch")
    return bool(facade is not None and facade.site.public_status)


def _deny_anonymous():
    if wants_json():
        raise ApiError(401, g.get("auth_error") or
                       "log in first: send 'Authorization: Bearer TOKEN' (nightswitch token "
                       "create) or use the login page")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def require(role: str, *, public: bool = False):
    """Let the view run for *role* or higher.

    Anonymous requests get 401 (the API) or the login page; too low a role gets 403.

    :param str role: ``viewer``, ``operator`` or ``admin``.
    :param bool public: also let anyone read when the config says
        ``web.public_status = true`` (a wall display without a login).
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            appliance()             # 503 while the appliance is starting
            identity = g.get("identity")
            if identity is None:
                if public and public_status_allowed() and not g.get("auth_error"):
                    g.identity = Identity("public", None, "public")
                    return view(*args, **kwargs)
                return _deny_anonymous()
            if not identity.may(role):
                raise ApiError(403, f"this needs the {role} role; {identity.name} is "
                                    f"{identity.role or 'not logged in'}")
            return view(*args, **kwargs)

        wrapped.required_role = role
        return wrapped

    return decorator


def is_local_request() -> bool:
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _safe_next(target) -> str:
    # Only a path on this appliance: never an open redirect to another host.
    if (isinstance(target, str) and target.startswith("/") and not target.startswith("//")
            and "\\" not in target and "\n" not in target and "\r" not in target):
        return target
    return url_for("pages.status")


@bp.route("/login", methods=["GET", "POST"])
def login():
    no_users = not store().list_users()
    next_url = _safe_next(request.values.get("next"))
    error = None
    status = 200
    if request.method == "POST":
        name = request.form.get("name", "")
        password = request.form.get("password", "")
        keys = (f"ip:{request.remote_addr}", f"user:{name[:64]}")
        wait = limiter().wait_for(*keys)
        if wait > 0:
            error = (f"Too many failed logins. Try again in {math.ceil(wait)} seconds.")
            status = 429
        elif store().check_password(name, password) is not None:
            limiter().succeeded(*keys)
            session.clear()
            session.permanent = True
            session["user"] = name
            csrf_token()
            return redirect(next_url)
        else:
            limiter().failed(*keys)
            error = "That user name and password do not match."
            status = 401
    return render_template("login.html", error=error, next_url=next_url, no_users=no_users,
                           local=is_local_request()), status


@bp.route("/logout", methods=["POST"])
def logout():
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """The first admin, from the appliance itself, while there is no user at all."""
    if store().list_users() or not is_local_request():
        abort(404)
    errors = {}
    name = ""
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        password = request.form.get("password", "")
        if password != request.form.get("password2", ""):
            errors["password2"] = "The two passwords differ."
        else:
            try:
                store().add_user(name, "admin", password)
            except ValidationError as exc:
                errors = {e.field: e.message for e in exc.errors}
        if not errors:
            session.clear()
            session.permanent = True
            session["user"] = name
            csrf_token()
            flash(f"Welcome, {name}. You are the admin of this appliance.")
            return redirect(url_for("pages.status"))
    return render_template("setup.html", errors=errors, name=name), 400 if errors else 200


@bp.route("/account", methods=["GET", "POST"])
@require("viewer")
def account():
    """Change one's own password."""
    identity = g.identity
    errors = {}
    if identity.via != "session":
        abort(404)
    if request.method == "POST":
        current = request.form.get("current", "")
        new = request.form.get("password", "")
        keys = (f"ip:{request.remote_addr}", f"user:{identity.name}")
        if limiter().wait_for(*keys) > 0:
            errors["current"] = "Too many wrong passwords; try again later."
        elif store().check_password(identity.name, current) is None:
            limiter().failed(*keys)
            errors["current"] = "That is not your current password."
        elif new != request.form.get("password2", ""):
            errors["password2"] = "The two new passwords differ."
        else:
            try:
                store().set_password(identity.name, new)
            except ValidationError as exc:
                errors = {e.field: e.message for e in exc.errors}
        if not errors:
            flash("Your password was changed.")
            return redirect(url_for("auth.account"))
    return render_template("account.html", errors=errors), 400 if errors else 200


def init_app(app: Flask) -> None:
    app.before_request(_before)
    app.context_processor(_inject)


__all__ = ["Identity", "bp", "appliance", "store", "require", "init_app", "is_local_request"]
