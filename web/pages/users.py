"""The users page: accounts, roles, API tokens and the security log."""

from __future__ import annotations

from flask import (
    flash,
    g,
    redirect,
    request,
    url_for,
)

from appliance import timetext as timefmt
from appliance.errors import FieldError, ValidationError
from web import api
from web.auth import require, store
from web.pages.frame import bp, render, site_now, site_tz
from web.sessions import accounts, client_address


def users_page(status: int = 200, *, new_token=None, errors=None, form=None):
    db = store()
    tz, now = site_tz(), site_now()
    tokens = [
        dict(
            t,
            created=timefmt.stamp(t.get("created_at"), tz),
            expires=timefmt.stamp(t["expires_at"], tz) if t.get("expires_at") else "",
            last_used=timefmt.stamp(t["last_used_at"], tz) if t.get("last_used_at") else "",
        )
        for t in accounts().tokens()
    ]
    events = [dict(e, when=timefmt.stamp(e["at"], tz)) for e in db.security_log(limit=30)]
    return render(
        "users.html",
        status=status,
        users=accounts().overview(),
        tokens=tokens,
        new_token=new_token,
        errors=errors or {},
        form=form or {},
        events=events,
        roles=("viewer", "operator", "admin"),
        now=now,
    )


@bp.route("/users", methods=["GET"])
@require("admin")
def users():
    return users_page()


def _user_action(fn, done: str):
    try:
        fn()
    except ValidationError as exc:
        return users_page(
            400, errors={"user": "; ".join(e.message for e in exc.errors)}, form=request.form
        )
    flash(done)
    return redirect(url_for("pages.users"))


def _by() -> dict:
    return {"by": g.identity.name, "address": client_address()}


@bp.route("/users/add", methods=["POST"])
@require("admin")
def users_add():
    name = request.form.get("name", "").strip()
    if name and store().get_user(name) is not None:
        # Said for this page: the rows above have the buttons (issue 16).
        return users_page(
            400,
            errors={
                "user": f"a user named {name!r} already exists: "
                "use Set role or Set password in their row "
                "above, or choose another name"
            },
            form=request.form,
        )
    return _user_action(
        lambda: accounts().add_user(
            name,
            request.form.get("role"),
            request.form.get("password", ""),
            must_change=True,
            **_by(),
        ),
        f"User {name} added; they choose their own password at their first login.",
    )


@bp.route("/users/role", methods=["POST"])
@require("admin")
def users_role():
    name, role = request.form.get("name", ""), request.form.get("role", "")
    return _user_action(
        lambda: accounts().set_role(name, role, **_by()),
        f"{name} is now {role}; their sessions were logged out.",
    )


@bp.route("/users/password", methods=["POST"])
@require("admin")
def users_password():
    name = request.form.get("name", "")
    if name == g.identity.name:
        return users_page(
            400,
            errors={"user": "change your own password on the Account page, with your current one"},
        )
    return _user_action(
        lambda: accounts().reset_password(name, request.form.get("password", ""), **_by()),
        f"Password of {name} set; they choose their own at their next login.",
    )


@bp.route("/users/delete", methods=["POST"])
@require("admin")
def users_delete():
    name = request.form.get("name", "")
    if name == g.identity.name:
        return users_page(400, errors={"user": "you cannot delete yourself; ask another admin"})
    return _user_action(
        lambda: accounts().delete_user(name, **_by()),
        f"User {name} deleted; their sessions and tokens ended.",
    )


@bp.route("/tokens/create", methods=["POST"])
@require("admin")
def tokens_create():
    days = request.form.get("expires_days", "").strip()
    try:
        if days and not (days.isascii() and days.isdigit() and len(days) < 6):
            raise ValidationError(
                [FieldError("expires_days", f"{days[:20]!r} is not a number of days")]
            )
        created = api.create_token(
            request.form.get("role"), request.form.get("label", ""), int(days) if days else None
        )
    except ValidationError as exc:
        return users_page(
            400, errors={"token": "; ".join(e.message for e in exc.errors)}, form=request.form
        )
    # Shown in this answer only (not flashed: the session cookie is readable).
    return users_page(201, new_token=created)


@bp.route("/tokens/revoke", methods=["POST"])
@require("admin")
def tokens_revoke():
    token_id = request.form.get("id", "")
    if not (token_id.isascii() and token_id.isdigit()) or len(token_id) > 18:
        return users_page(400, errors={"token": f"{token_id[:20]!r} is not a token id"})
    return _user_action(
        lambda: accounts().revoke_token(int(token_id), **_by()), f"Token #{token_id} revoked."
    )
