"""Users, API tokens and the security log (admin): ``/api/v1/users``, ``/tokens``,
``/security-log``."""

from __future__ import annotations

from flask import jsonify

from appliance.errors import FieldError, ValidationError
from appliance.store.validate import Checker
from web.api.common import (
    bp,
    json_body,
    local_iso,
    only_keys,
    query_int,
    who,
)
from web.auth import require, store
from web.errors import ApiError
from web.sessions import accounts, client_address, token_owner


@bp.route("/users", methods=["GET"])
@require("admin")
def users_list():
    return jsonify(store().list_users())


@bp.route("/users", methods=["POST"])
@require("admin")
def users_add():
    data = json_body()
    only_keys(data, ("name", "role", "password"))
    # The admin chose the password: its owner replaces it at the first login.
    accounts().add_user(
        data.get("name"),
        data.get("role"),
        data.get("password"),
        by=who(),
        address=client_address(),
        must_change=True,
    )
    return jsonify(store().get_user(data["name"])), 201


@bp.route("/users/<name>", methods=["PATCH"])
@require("admin")
def users_change(name):
    data = json_body()
    only_keys(data, ("role", "password"))
    if not data:
        raise ValidationError([FieldError("", "send role and/or password to change")])
    db = store()
    if db.get_user(name) is None:
        raise ApiError(404, f"there is no user named {name!r}")
    # Check both before changing either: a refused request changes nothing.
    check = Checker()
    if "role" in data:
        check.role("role", data["role"])
    if "password" in data:
        check.password("password", data["password"], name)
    check.done()
    if "role" in data:  # may refuse demoting the only admin
        accounts().set_role(name, data["role"], by=who(), address=client_address())
    if "password" in data:
        accounts().reset_password(name, data["password"], by=who(), address=client_address())
    return jsonify(store().get_user(name))


@bp.route("/users/<name>", methods=["DELETE"])
@require("admin")
def users_delete(name):
    db = store()
    if db.get_user(name) is None:
        raise ApiError(404, f"there is no user named {name!r}")
    ended = accounts().delete_user(name, by=who(), address=client_address())
    return jsonify(
        {"deleted": name, "sessions_ended": ended["sessions"], "tokens_revoked": ended["tokens"]}
    )


@bp.route("/tokens", methods=["GET"])
@require("admin")
def tokens_list():
    return jsonify(
        [
            dict(
                t,
                created_at=local_iso(t.get("created_at")),
                expires_at=local_iso(t.get("expires_at")),
                last_used_at=local_iso(t.get("last_used_at")),
            )
            for t in accounts().tokens()
        ]
    )


def create_token(role, label, expires_days=None) -> dict:
    created = accounts().create_token(
        role,
        label=label,
        by=who(),
        owner=token_owner(),
        expires_days=expires_days,
        address=client_address(),
    )
    return dict(created, expires_at=local_iso(created["expires_at"]))


@bp.route("/tokens", methods=["POST"])
@require("admin")
def tokens_create():
    data = json_body()
    only_keys(data, ("role", "label", "expires_days"))
    return jsonify(
        create_token(data.get("role"), data.get("label", ""), data.get("expires_days"))
    ), 201


@bp.route("/tokens/<token_id>", methods=["DELETE"])
@require("admin")
def tokens_revoke(token_id):
    # isascii: "¹".isdigit() is True but int("¹") fails
    if not (token_id.isascii() and token_id.isdigit()) or len(token_id) > 18:
        raise ApiError(404, f"there is no token with id {token_id!r}")
    accounts().revoke_token(int(token_id), by=who(), address=client_address())
    return jsonify({"revoked": int(token_id)})


@bp.route("/security-log", methods=["GET"])
@require("admin")
def security_log():
    limit = query_int("limit", 50, 1, 500)
    offset = query_int("offset", 0, 0, 10**9)
    rows = store().security_log(limit=limit, offset=offset)
    return jsonify(
        {
            "limit": limit,
            "offset": offset,
            "entries": [dict(r, at=local_iso(r["at"])) for r in rows],
        }
    )
