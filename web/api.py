"""The HTTP API v1 (docs/API.md): JSON in, JSON out, under ``/api/v1``.

Every zone-scoped endpoint exists twice: ``/api/v1/status`` acts on the first zone and
``/api/v1/zones/NAME/status`` on zone NAME. Errors are ``{"error": ...}`` (plus
``"errors"`` for validation) with 400, 401, 403, 404, 405, 409, 413 or 415; docs/API.md
lists every endpoint with a curl example.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, g, jsonify, request

from appliance.decision import until as until_rules
from appliance.errors import FieldError, ValidationError
from appliance.smdr import report
from appliance.store.validate import Checker
from web.auth import appliance, require, store
from web.errors import ApiError
from web.sessions import accounts, client_address, token_owner

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: The longest span of call records one request may ask for.
MAX_CALL_DAYS = 400
#: How far before a report's start the mode history is read, so a night that began
#: before the start gets its true label (appliance.smdr.report).
HISTORY_LEAD = timedelta(days=31)


# -- helpers shared with the pages -------------------------------------------------------

def site_tz() -> ZoneInfo:
    return appliance().site.tz


def now():
    return appliance().now()


def resolve_zone(zone: str | None) -> str:
    """The zone's name; 404 for a zone the site does not have."""
    names = appliance().zone_names()
    if zone is None:
        return names[0]
    if zone not in names:
        raise ApiError(404, f"there is no zone {zone!r}; zones are " + ", ".join(names))
    return zone


def json_body(*, required: bool = True) -> dict:
    """The request's JSON object.

    An empty body is ``{}`` when *required* is False. A body that is not JSON gets 415,
    JSON that is not an object 400.
    """
    raw = request.get_data(cache=True)
    if not raw:
        if required:
            raise ApiError(400, "the request needs a JSON object as its body")
        return {}
    if not request.is_json:
        raise ApiError(415, "send the body as JSON with 'Content-Type: application/json'")
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text; send JSON in UTF-8") from None
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "the body is nested too deeply to be a nightswitch document") \
            from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object, such as {\"mode\": \"day\"}")
    return data


def only_keys(data: dict, allowed: tuple[str, ...]) -> None:
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise ValidationError([FieldError(str(k), "unknown key; allowed keys are "
                                                  + ", ".join(allowed)) for k in unknown])


def query_date(name: str, default: date | None) -> date | None:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationError([FieldError(name, f"{value[:40]!r} is not a date; use "
                                                "YYYY-MM-DD")]) from None
    if not 1970 <= day.year <= 2199:
        # Far dates overflow when they become instants; nothing is stored out there.
        raise ValidationError([FieldError(name, f"{day} is out of range; use a date in the "
                                                "years 1970 to 2199")])
    return day


def query_int(name: str, default: int, low: int, high: int) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value, 10)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise ValidationError([FieldError(name, f"{value[:40]!r} is not allowed; use a whole "
                                                f"number from {low} to {high}")])
    return number


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz)


def check_order(first: date | None, last: date | None) -> None:
    """Refuse a ``to`` before ``from`` (an empty answer would look like "nothing
    happened")."""
    if first is not None and last is not None and last < first:
        raise ValidationError([FieldError("to", f"{last} is before from {first}; to must be "
                                                "on or after from")])


def date_span(default_days: int) -> tuple[date, date]:
    """``from`` and ``to`` (local dates, inclusive) from the query, checked."""
    today = now().astimezone(site_tz()).date()
    last = query_date("to", today) or today
    first = query_date("from", last - timedelta(days=default_days - 1)) or last
    check_order(first, last)
    errors = []
    if (last - first).days >= MAX_CALL_DAYS:
        errors.append(FieldError("from", f"the span is {(last - first).days + 1} days; at most "
                                         f"{MAX_CALL_DAYS} are allowed"))
    if errors:
        raise ValidationError(errors)
    return first, last


def who() -> str:
    return g.identity.name


def source() -> str:
    return {"token": "api", "local": "cli"}.get(g.identity.via, "web")


def zone_route(rule: str, **options):
    """Register a view at ``/api/v1RULE`` (first zone) and ``/api/v1/zones/NAME RULE``."""

    def decorator(view):
        bp.add_url_rule(rule, view_func=view, defaults={"zone": None}, **options)
        bp.add_url_rule(f"/zones/<zone>{rule}", view_func=view, **options)
        return view

    return decorator


def local_iso(value) -> str | None:
    if value is None:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return when.astimezone(site_tz()).isoformat(timespec="seconds")


# -- status and overrides ---------------------------------------------------------------

@zone_route("/status", methods=["GET"])
@require("viewer", public=True)
def status(zone):
    from web.followup import stale_view

    name = resolve_zone(zone)
    # issue 15: the stale-schedule warnings beside the controller's snapshot
    return jsonify(dict(appliance().status(name), warnings=stale_view(name)))


def checked_until(value):
    """An override's end as the controller takes it, from the request's ``until``."""
    return until_rules.checked_until(value, site_tz(), now())


@zone_route("/override", methods=["POST"])
@require("operator")
def override_set(zone):
    name = resolve_zone(zone)
    data = json_body()
    only_keys(data, ("mode", "until"))
    if "mode" not in data:
        raise ValidationError([FieldError("mode", "is required: the mode to force, such as "
                                                  "\"day\" or \"night\"")])
    until = checked_until(data.get("until", "next"))
    return jsonify(appliance().set_override(name, data["mode"], until, by=who(),
                                             source=source()))


@zone_route("/override", methods=["DELETE"])
@require("operator")
def override_cancel(zone):
    name = resolve_zone(zone)
    json_body(required=False)
    return jsonify(appliance().cancel_override(name, by=who(), source=source()))


@zone_route("/retry", methods=["POST"])
@require("operator")
def retry(zone):
    """Try the zone's actuators again now (after a fault; a refused PBX login included,
    which is otherwise tried again only after a day). Answers at once with the status;
    the outcome follows in it."""
    name = resolve_zone(zone)
    only_keys(json_body(required=False), ())
    return jsonify(appliance().retry(name, by=who(), source=source()))


# -- schedule ------------------------------------------------------------------------------

@zone_route("/schedule", methods=["GET"])
@require("viewer")
def schedule_get(zone):
    return jsonify(appliance().get_schedule(resolve_zone(zone)))


@zone_route("/schedule", methods=["PUT"])
@require("admin")
def schedule_put(zone):
    name = resolve_zone(zone)
    data = json_body()
    return jsonify(appliance().put_schedule(name, data, by=who()))


@zone_route("/schedule/history", methods=["GET"])
@require("viewer")
def schedule_history(zone):
    name = resolve_zone(zone)
    limit = query_int("limit", 20, 1, 200)
    rows = store().schedule_history(name, limit)
    return jsonify([dict(row, saved_at=local_iso(row.get("saved_at"))) for row in rows])


def rollback(zone_name: str, version, by: str) -> dict:
    """Make an old *version* the schedule in force again, through the controller, so
    the decision and the audit follow at once. The history keeps every version."""
    # SQLite integers are 64-bit: a larger number is no version (and must not overflow).
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2**63:
        raise ValidationError([FieldError("version", f"{version!r} is not a version number; "
                                                     "see the schedule's history")])
    return appliance().rollback_schedule(zone_name, version, by=by)


@zone_route("/schedule/rollback", methods=["POST"])
@require("admin")
def schedule_rollback(zone):
    name = resolve_zone(zone)
    data = json_body()
    only_keys(data, ("version",))
    return jsonify(rollback(name, data.get("version"), who()))


@zone_route("/preview", methods=["GET"])
@require("viewer")
def preview(zone):
    name = resolve_zone(zone)
    start = query_date("from", now().astimezone(site_tz()).date())
    days = query_int("days", 14, 1, 3660)
    return jsonify(appliance().preview(name, start, days))


# -- audit and calls -------------------------------------------------------------------------

def audit_query(zone_name: str | None, *, limit: int, offset: int, who_filter, source_filter,
                first: date | None, last: date | None) -> tuple[list[dict], int]:
    check_order(first, last)
    tz = site_tz()
    since = local_midnight(first, tz) if first else None
    until = local_midnight(last + timedelta(days=1), tz) if last else None
    db = store()
    filters = dict(who=who_filter or None, source=source_filter or None, since=since,
                   until=until)
    rows = db.audit(zone_name, limit=limit, offset=offset, **filters)
    total = db.audit_count(zone_name, **filters)
    return [dict(row, at=local_iso(row["at"])) for row in rows], total


@zone_route("/audit", methods=["GET"])
@require("viewer")
def audit(zone):
    name = resolve_zone(zone)
    limit = query_int("limit", 50, 1, 1000)
    offset = query_int("offset", 0, 0, 10**9)
    first, last = query_date("from", None), query_date("to", None)
    rows, total = audit_query(name, limit=limit, offset=offset,
                              who_filter=request.args.get("who"),
                              source_filter=request.args.get("source"), first=first, last=last)
    return jsonify({"total": total, "limit": limit, "offset": offset, "entries": rows})


def calls_data(zone_name: str, first: date, last: date) -> tuple[list[dict], list[dict],
                                                                 datetime, datetime]:
    """The calls of ``[first, last]`` (local dates) and the mode history around them: from
    a while before (a night that began earlier gets its true label) up to now (a night
    that ended after ``last`` says when it did, rather than seeming to run on)."""
    tz = site_tz()
    start, end = local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)
    db = store()
    calls = db.calls(zone_name, start, end)
    history = db.mode_history(zone_name, start - HISTORY_LEAD, max(end, now()))
    return calls, history, start, end


@zone_route("/calls", methods=["GET"])
@require("viewer")
def calls(zone):
    name = resolve_zone(zone)
    first, last = date_span(7)
    rows, history, _, _ = calls_data(name, first, last)
    after = {c["id"] for c in report.after_hours_calls(rows, history)}
    out = []
    for call in rows:
        item = {k: v for k, v in call.items() if k != "zone"}
        item["started_at"] = local_iso(call["started_at"])
        item["after_hours"] = call["id"] in after
        out.append(item)
    return jsonify({"from": first.isoformat(), "to": last.isoformat(), "calls": out})


@zone_route("/calls/summary", methods=["GET"])
@require("viewer")
def calls_summary(zone):
    name = resolve_zone(zone)
    first, last = date_span(7)
    rows, history, start, end = calls_data(name, first, last)
    # The local dates asked for, as GET /calls answers them.
    return jsonify(dict(report.summary(rows, history, site_tz(), start, end),
                        **{"from": first.isoformat(), "to": last.isoformat()}))


@zone_route("/calls.csv", methods=["GET"])
@require("viewer")
def calls_csv(zone):
    name = resolve_zone(zone)
    first, last = date_span(7)
    rows, history, _, _ = calls_data(name, first, last)
    return csv_response(report.to_csv(rows, history, site_tz()), name, first, last)


def csv_response(text: str, zone_name: str, first: date, last: date) -> Response:
    filename = f"after-hours-{zone_name}-{first}-{last}.csv"
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# -- zones and health ---------------------------------------------------------------------------

@bp.route("/zones", methods=["GET"])
@require("viewer", public=True)
def zones():
    facade = appliance()
    out = []
    for name in facade.zone_names():
        st = facade.status(name)
        out.append({"name": name, "label": st.get("label", name), "status": st})
    return jsonify({"zones": out})


def health_report() -> tuple[dict, int]:
    facade = current_app.extensions.get("nightswitch")
    if facade is None:
        starting = {"kind": "starting", "message": "the appliance is starting"}
        return {"ok": False, "zones": {}, "faults": [starting]}, 503
    zones_out, faults = {}, []
    for name in facade.zone_names():
        st = facade.status(name)
        zones_out[name] = {"mode": st["mode"], "verified": st["verified"],
                           "faults": st["faults"]}
        faults += [dict(f, zone=name) for f in st["faults"]]
        if not st["verified"] and not st["faults"]:
            faults.append({"zone": name, "kind": "unverified",
                           "message": "the mode is being switched and not yet verified"})
    ok = not faults
    return {"ok": ok, "zones": zones_out, "faults": faults}, 200 if ok else 503


@bp.route("/health", methods=["GET"])
def health():
    body, code = health_report()
    return jsonify(body), code


# -- users and tokens (admin) -------------------------------------------------------------------

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
    accounts().add_user(data.get("name"), data.get("role"), data.get("password"), by=who(),
                        address=client_address(), must_change=True)
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
    if "role" in data:          # may refuse demoting the only admin
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
    return jsonify({"deleted": name, "sessions_ended": ended["sessions"],
                    "tokens_revoked": ended["tokens"]})


@bp.route("/tokens", methods=["GET"])
@require("admin")
def tokens_list():
    return jsonify([dict(t, created_at=local_iso(t.get("created_at")),
                         expires_at=local_iso(t.get("expires_at")),
                         last_used_at=local_iso(t.get("last_used_at")))
                    for t in accounts().tokens()])


def create_token(role, label, expires_days=None) -> dict:
    created = accounts().create_token(role, label=label, by=who(), owner=token_owner(),
                                      expires_days=expires_days, address=client_address())
    return dict(created, expires_at=local_iso(created["expires_at"]))


@bp.route("/tokens", methods=["POST"])
@require("admin")
def tokens_create():
    data = json_body()
    only_keys(data, ("role", "label", "expires_days"))
    return jsonify(create_token(data.get("role"), data.get("label", ""),
                                data.get("expires_days"))), 201


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
    return jsonify({"limit": limit, "offset": offset,
                    "entries": [dict(r, at=local_iso(r["at"])) for r in rows]})


# -- hardware tests (admin) ---------------------------------------------------------------------

def test_seconds(data: dict) -> float:
    """How long each LED or relay is held in a test: 0.05 to 10 s, 1 s by default."""
    seconds = data.get("seconds", 1.0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not 0.05 <= seconds <= 10:
        raise ValidationError([FieldError("seconds", "must be a number of seconds from 0.05 "
                                                     "to 10")])
    return float(seconds)


@bp.route("/test/leds", methods=["POST"])
@require("admin")
def test_leds():
    data = json_body(required=False)
    only_keys(data, ("seconds",))
    return jsonify(appliance().test_leds(test_seconds(data), by=who()))


@bp.route("/test/relay", methods=["POST"])
@require("admin")
def test_relay():
    data = json_body()
    only_keys(data, ("name", "seconds"))
    name = data.get("name")
    if not isinstance(name, str):
        raise ValidationError([FieldError("name", "is required: the relay's name; relays are "
                                                  + ", ".join(appliance().relay_names()))])
    return jsonify(appliance().test_relay(name, test_seconds(data), by=who()))


@bp.route("/test/key", methods=["GET", "POST"])
@require("admin")
def test_key():
    if request.method == "POST":
        only_keys(json_body(required=False), ())
    return jsonify(appliance().read_key())


# -- the simulator (simulate only) --------------------------------------------------------------

def sim():
    panel = current_app.extensions.get("nightswitch.virtual_panel")
    if panel is None:
        raise ApiError(404, "the simulator endpoints exist only in 'nightswitch simulate'")
    return panel


@bp.route("/sim/panel", methods=["GET"])
@require("viewer")
def sim_panel():
    return jsonify(sim().snapshot())


@bp.route("/sim/key", methods=["POST"])
@require("operator")
def sim_key():
    panel = sim()
    data = json_body()
    only_keys(data, ("position",))
    position = data.get("position")
    if not isinstance(position, str):
        raise ValidationError([FieldError("position", "is required: auto, day or night")])
    panel.set_key(position)
    return jsonify(panel.snapshot())


def parse_instant(value, field: str) -> datetime:
    if not isinstance(value, str):
        raise ValidationError([FieldError(field, "must be an ISO-8601 time with its offset, "
                                                 "such as 2026-12-24T17:00:00+01:00")])
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError([FieldError(field, f"{value[:40]!r} is not an ISO-8601 time, "
                                                 "such as 2026-12-24T17:00:00+01:00")]) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=site_tz())
    if not 1970 <= when.year <= 2199:
        raise ValidationError([FieldError(field, "must be in the years 1970 to 2199")])
    return when


def move_clock(panel, data: dict) -> None:
    only_keys(data, ("advance_s", "now"))
    if ("advance_s" in data) == ("now" in data):
        raise ValidationError([FieldError("", "send either advance_s (seconds) or now "
                                              "(an ISO-8601 time), not both or neither")])
    if "advance_s" in data:
        panel.advance(data["advance_s"])
    else:
        panel.set_now(parse_instant(data["now"], "now"))


@bp.route("/sim/clock", methods=["POST"])
@require("operator")
def sim_clock():
    panel = sim()
    move_clock(panel, json_body())
    return jsonify(panel.snapshot())


def sim_pbx():
    """The simulated PBX (:class:`~appliance.sim.pbx_view.PbxView`); 404 without one."""
    pbx = sim().pbx
    if pbx is None:
        raise ApiError(404, "this simulation has no simulated PBX (no actuators)")
    return pbx


def work_pbx(pbx, data: dict) -> dict:
    """Switch the simulated PBX behind the appliance's back (``mode``) or start one of its
    faults (``fault``, on ``actuator``); the page's form and the API share this."""
    only_keys(data, ("mode", "fault", "actuator"))
    if ("mode" in data) == ("fault" in data):
        raise ValidationError([FieldError("", "send either mode (switch the PBX at its own "
                                              "console) or fault (with actuator), not both "
                                              "or neither")])
    if "mode" in data:
        return pbx.set_mode(data["mode"])
    return pbx.inject(data["fault"], data.get("actuator"))


@bp.route("/sim/pbx", methods=["GET"])
@require("viewer")
def sim_pbx_get():
    return jsonify(sim_pbx().snapshot())


@bp.route("/sim/pbx", methods=["POST"])
@require("admin")
def sim_pbx_post():
    return jsonify(work_pbx(sim_pbx(), json_body()))


__all__ = ["bp", "json_body", "resolve_zone", "site_tz", "now", "health_report"]
