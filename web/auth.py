"""Who is asking, and what they may do.

A request is made by a person with a browser session (the login form) or by a program
with ``Authorization: Bearer TOKEN``. Roles rank ``viewer`` < ``operator`` < ``admin``
(docs/API.md): viewers read, operators also override, admins also edit the schedule, users,
tokens and run hardware tests. The session (:mod:`web.sessions`) and the user are read
from the store on every request, so a logout, a deleted user, a changed role or
password takes effect at once. The command line (``nightswitch status``, ``night``...)
reaches the same app over a Unix socket that only root and the ``nightswitch`` group
may open (:mod:`web.serving`); it is the operator ``cli:<login name>``, with no token.

There are no default passwords. The first admin comes from ``nightswitch user add`` or
from :func:`setup`, a page that answers only to the appliance itself (localhost) and only
while no user exists.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from dataclasses import dataclass

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from appliance.errors import ValidationError
from appliance.store.validate import ROLE_RANK
from web import hosts, sessions
from web.errors import ApiError, wants_json
from web.redirects import safe_local_path
from web.security import csrf_token, csrf_valid, limiter, sent_csrf_token

bp = Blueprint("auth", __name__)

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: What a person who must change their password may still reach.
_BEFORE_NEW_PASSWORD = {
    "auth.account",
    "auth.logout",
    "auth.login",
    "static",
    "pages.health",
    "api.health",
}
#: The role of the command line on the Unix socket: status and overrides, nothing more.
CLI_ROLE = "operator"


@dataclass(frozen=True)
class Identity:
    """The one making this request.

    :param str name: the user name, ``token:LABEL`` for an API token, or ``public``.
    :param str role: ``viewer``, ``operator`` or ``admin``; None for the public status.
    :param str via: ``session``, ``token``, ``local`` (the CLI's Unix socket) or ``public``.
    :param bool must_change_password: a session whose password must be changed first.
    """

    name: str
    role: str | None
    via: str
    must_change_password: bool = False

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
    peer = request.environ.get(hosts.LOCAL_SOCKET)
    if peer is not None:
        g.identity = Identity(f"cli:{peer['user']}"[:128], CLI_ROLE, "local")
        return
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            g.auth_error = "the Authorization header must be 'Bearer TOKEN'"
            return
        found = sessions.accounts().check_token(token.strip())
        if found is None:
            g.auth_error = "the bearer token is not valid (mistyped, expired or revoked)"
            return
        label = found.get("label") or ""
        if not label.isprintable():  # a label saved before labels were checked
            label = ""
        g.identity = Identity(
            f"token:{label or '#' + str(found['id'])}"[:128], found["role"], "token"
        )
        g.token_owner = found.get("owner")
        return
    found = sessions.current()
    if found is not None:
        g.identity = Identity(
            found["user"], found["role"], "session", found["must_change_password"]
        )


def _require_new_password():
    """A person whose password was set by someone else (or printed by install.sh) must
    choose their own before anything else."""
    identity = g.get("identity")
    if (
        identity is None
        or not identity.must_change_password
        or request.endpoint in _BEFORE_NEW_PASSWORD
    ):
        return None
    if wants_json():
        raise ApiError(
            403, "change your password first: it was set by someone else; use the Account page"
        )
    flash("Choose your own password before you go on: this one was set by someone else.", "error")
    return redirect(url_for("auth.account"))


def _check_csrf() -> None:
    """Unsafe requests made with a cookie must carry this session's CSRF token."""
    if request.method not in UNSAFE_METHODS:
        return
    identity = g.get("identity")
    if identity is not None and identity.via in ("token", "local"):
        return
    if request.path.startswith("/api/") and identity is None:
        return  # not logged in at all: the view answers 401
    if not csrf_valid(sent_csrf_token()):
        raise ApiError(
            400,
            "the form has expired or did not come from this appliance's page "
            "(CSRF token missing or wrong); reload the page and try again",
        )


def _before():
    hosts.check_host()
    if request.endpoint == "static":
        return None
    _load_identity()
    if request.routing_exception is None:  # 404 and 405 answer for themselves
        _check_csrf()
        return _require_new_password()
    return None


def _inject() -> dict:
    return {"identity": g.get("identity"), "csrf_token": csrf_token}


def public_status_allowed() -> bool:
    facade = current_app.extensions.get("nightswitch")
    return bool(facade is not None and facade.site.public_status)


def _deny_anonymous():
    if wants_json():
        raise ApiError(
            401,
            g.get("auth_error")
            or "log in first: send 'Authorization: Bearer TOKEN' (nightswitch token "
            "create) or use the login page",
        )
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
            appliance()  # 503 while the appliance is starting
            identity = g.get("identity")
            if identity is None:
                if public and public_status_allowed() and not g.get("auth_error"):
                    g.identity = Identity("public", None, "public")
                    return view(*args, **kwargs)
                return _deny_anonymous()
            if not identity.may(role):
                raise ApiError(
                    403,
                    f"this needs the {role} role; {identity.name} is "
                    f"{identity.role or 'not logged in'}",
                )
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
    return safe_local_path(target) or url_for("pages.status")


def client_address() -> str:
    return sessions.client_address()


@bp.route("/login", methods=["GET", "POST"])
def login():
    no_users = not store().list_users()
    next_url = _safe_next(request.values.get("next"))
    error = None
    status = 200
    headers = {}
    if request.method == "POST":
        name = request.form.get("name", "")
        password = request.form.get("password", "")
        accounts = sessions.accounts()
        address = client_address()
        attempt = limiter().begin(limiter().address_key(request.remote_addr), f"user:{name[:64]}")
        if not attempt.allowed:
            wait = math.ceil(attempt.wait)
            error = f"Too many failed logins. Try again in {wait} seconds."
            status = 429
            headers["Retry-After"] = str(wait)
        else:
            started = accounts.login(name, password, address=address)
            if started is not None:
                limiter().succeeded(attempt)
                sessions.begin(started[0])
                if started[1] and started[1]["must_change_password"]:
                    return redirect(url_for("auth.account"))
                return redirect(next_url)
            for key in attempt.locked:
                accounts.record(
                    "lockout",
                    who="anonymous",
                    address=address,
                    target=key.split(":", 1)[1][:64],
                    detail=f"{limiter().free} failed logins; further attempts wait",
                )
            error = "That user name and password do not match."
            status = 401
    return (
        render_template(
            "login.html",
            error=error,
            next_url=next_url,
            no_users=no_users,
            local=is_local_request(),
        ),
        status,
        headers,
    )


@bp.route("/logout", methods=["POST"])
def logout():
    identity = g.get("identity")
    sessions.end(identity.name if identity is not None else "anonymous")
    return redirect(url_for("auth.login"))


@bp.route("/logout/everywhere", methods=["POST"])
@require("viewer")
def logout_everywhere():
    """End every session of this person, on every device, this one included."""
    identity = g.identity
    if identity.via != "session":
        abort(404)
    sessions.accounts().logout_everywhere(identity.name, address=client_address())
    session.clear()
    flash("You were logged out on every device.")
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
                sessions.accounts().add_user(
                    name, "admin", password, by="setup (localhost)", address=client_address()
                )
            except ValidationError as exc:
                errors = {e.field: e.message for e in exc.errors}
        if not errors:
            sessions.begin(sessions.accounts().start_session(name, address=client_address()))
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
        attempt = limiter().begin(
            limiter().address_key(request.remote_addr), f"user:{identity.name}"
        )
        if not attempt.allowed:
            errors["current"] = "Too many wrong passwords; try again later."
        elif store().check_password(identity.name, current) is None:
            errors["current"] = "That is not your current password."
        elif new != request.form.get("password2", ""):
            limiter().succeeded(attempt)
            errors["password2"] = "The two new passwords differ."
        else:
            limiter().succeeded(attempt)
            if new == current:
                errors["password"] = "Choose a password other than the current one."
            else:
                try:
                    sessions.accounts().change_own_password(
                        identity.name,
                        new,
                        session_id=sessions.current_id(),
                        address=client_address(),
                    )
                except ValidationError as exc:
                    errors = {e.field: e.message for e in exc.errors}
        if not errors:
            flash("Your password was changed; your other sessions were logged out.")
            return redirect(url_for("auth.account"))
    return render_template("account.html", errors=errors), 400 if errors else 200


def init_app(app: Flask) -> None:
    sessions.init_app(app)
    hosts.init_app(app)
    app.before_request(_before)
    app.context_processor(_inject)


__all__ = ["Identity", "appliance", "bp", "store", "require", "init_app", "is_local_request"]
