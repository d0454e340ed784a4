"""Follow-up (issue 15): the morning callback list, the schedule review, the alert test
and ``/metrics``.

* the Calls page's callback list (``_callbacks.html``) and its "called back" ticks,
  audited with who and when; ``GET/POST /api/v1/calls/callbacks``;
* the stale-schedule notice on the status page (``_stale.html``) and its "reviewed,
  still right" button; ``POST /api/v1/schedule/reviewed``;
* the Installer page's alert targets, recent deliveries and test button
  (``_alerts_installer.html``); ``POST /api/v1/alerts/test``;
* ``GET /metrics`` in Prometheus' text format.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, Response, current_app, flash, g, jsonify, redirect, request, url_for

from appliance import timetext as timefmt
from appliance.errors import FieldError, ValidationError
from appliance.smdr import callbacks as cb
from appliance.smdr import report
from web import api
from web.auth import appliance, require, store
from web.serving import waiting

bp = Blueprint("followup", __name__)


# -- shared views ---------------------------------------------------------------------------


def stale_view(zone: str) -> list[dict]:
    """The zone's stale-schedule warnings as dicts ``{field, message}``."""
    try:
        return [w.as_dict() for w in appliance().stale_warnings(zone)]
    except Exception:  # noqa: BLE001 - a failing store is shown as its own fault
        current_app.logger.exception("stale-schedule warnings")
        return []


def _night_param(value, zone: str) -> date | None:
    if value:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                [FieldError("night", f"{value[:20]!r} is not a date; use YYYY-MM-DD")]
            ) from None
    tz = api.site_tz()
    now = api.now()
    history = store().mode_history(zone, now - timedelta(days=40), now)
    return cb.latest_night(history, tz, now)


def callback_data(zone: str, night: date | None) -> dict:
    """The callback list of *night* (the latest night when None)."""
    if night is None:
        return {
            "night": None,
            "began": None,
            "ended": None,
            "calls": 0,
            "unanswered": 0,
            "numbers": [],
        }
    tz = api.site_tz()
    db = store()
    now = api.now()
    start = api.local_midnight(night, tz)
    history = db.mode_history(zone, start - report.HISTORY_LEAD, now + timedelta(seconds=1))
    span = cb.night_span(history, tz, night)
    calls = []
    if span is not None:
        # the night's own calls, however long it ran (a long weekend is one night)
        calls = db.calls(zone, span[0], (span[1] or now) + timedelta(seconds=1))
    return cb.callback_list(calls, history, tz, night, db.callbacks(zone, night.isoformat()))


@bp.app_context_processor
def followup_context() -> dict:
    return {"stale_view": stale_view, "callbacks_view": callbacks_view}


def callbacks_view(zone: str) -> dict:
    """What the Calls page's callback section shows."""
    errors = []
    try:
        night = _night_param(request.args.get("night"), zone)
    except ValidationError as exc:
        errors = [str(e) for e in exc.errors]
        night = _night_param(None, zone)
    data = callback_data(zone, night)
    tz = api.site_tz()
    for group in data["numbers"]:
        for call in group["calls"]:
            call["time_text"] = f"{timefmt.to_local(call['started_at'], tz):%a %H:%M}"
        if group["called_back"]:
            group["called_back"]["when"] = timefmt.stamp(group["called_back"]["at"], tz)
    # Issue 16: the night's end with its date, and no "0 not answered" where the call
    # records do not say.
    began = timefmt.to_local(data.get("began"), tz)
    span = report.span_text(began, timefmt.to_local(data.get("ended"), tz)) if began else ""
    answers = [c.get("answered") for n in data["numbers"] for c in n["calls"]]
    unknown = answers.count(None)
    if unknown and unknown == len(answers):
        answered_text = "whether they were answered is not known"
    else:
        answered_text = f"{data['unanswered']} not answered" + (
            f", {unknown} not known" if unknown else ""
        )
    st = appliance().status(zone)
    return {
        "data": data,
        "errors": errors,
        "span_text": span,
        "answered_text": answered_text,
        "night_text": (f"{night:%a} {night.day} {night:%b}" if night else None),
        "prev": (night - timedelta(days=1)).isoformat() if night else None,
        "next": (night + timedelta(days=1)).isoformat() if night else None,
        "smdr_faults": [f for f in st.get("faults", []) if f["kind"] == "smdr"],
        "can_tick": g.identity is not None and g.identity.may("operator"),
    }


def _tick(zone: str, night_text, number, done) -> bool:
    if not isinstance(night_text, str):
        raise ValidationError([FieldError("night", "is required: the night's date, YYYY-MM-DD")])
    try:
        night = date.fromisoformat(night_text)
    except ValueError:
        raise ValidationError(
            [FieldError("night", f"{night_text[:20]!r} is not a date; use YYYY-MM-DD")]
        ) from None
    if not isinstance(number, str) or not number.strip():
        raise ValidationError(
            [FieldError("number", "is required: the caller's number as the list shows it")]
        )
    if not isinstance(done, bool):
        raise ValidationError([FieldError("done", "must be true (called back) or false")])
    listed = {g_["number"] for g_ in callback_data(zone, night)["numbers"] if g_["number"]}
    if number not in listed:
        raise ValidationError(
            [
                FieldError(
                    "number", f"{number[:40]!r} is not on the callback list of the night of {night}"
                )
            ]
        )
    db = store()
    changed = db.set_callback(
        zone, night.isoformat(), number, done=done, by=api.who(), at=api.now()
    )
    if changed:
        db.add_audit(
            zone,
            at=api.now(),
            who=api.who(),
            source="callback",
            old_mode=None,
            new_mode=None,
            reason=(
                f"called back {number} (night of {night})"
                if done
                else f"call-back of {number} (night of {night}) ticked off again"
            ),
        )
    return changed


# -- the Calls page's ticks ------------------------------------------------------------------


@bp.route("/calls/callback", methods=["POST"])
@require("operator")
def calls_callback():
    zone = api.resolve_zone(request.form.get("zone") or None)
    night = request.form.get("night", "")
    try:
        _tick(zone, night, request.form.get("number", ""), request.form.get("done", "1") == "1")
    except ValidationError as exc:
        flash("; ".join(e.message for e in exc.errors), "error")
    values = {"night": night}
    if len(appliance().zone_names()) > 1:
        values["zone"] = zone
    return redirect(url_for("pages.calls", **values) + "#callbacks")


@api.zone_route("/calls/callbacks", methods=["GET"])
@require("viewer")
def api_callbacks(zone):
    name = api.resolve_zone(zone)
    return jsonify(callback_data(name, _night_param(request.args.get("night"), name)))


@api.zone_route("/calls/callbacks", methods=["POST"])
@require("operator")
def api_callbacks_tick(zone):
    name = api.resolve_zone(zone)
    data = api.json_body()
    api.only_keys(data, ("night", "number", "done"))
    changed = _tick(name, data.get("night"), data.get("number"), data.get("done", True))
    return jsonify(
        {"changed": changed, "list": callback_data(name, date.fromisoformat(data["night"]))}
    )


# -- the schedule review ---------------------------------------------------------------------


@bp.route("/schedule/reviewed", methods=["POST"])
@require("admin")
def schedule_reviewed():
    zone = api.resolve_zone(request.form.get("zone") or None)
    appliance().record_review(zone, by=api.who())
    flash("Thank you: the schedule is recorded as reviewed and still right.")
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return redirect(target)
    return redirect(url_for("pages.status"))


@api.zone_route("/schedule/reviewed", methods=["POST"])
@require("admin")
def api_schedule_reviewed(zone):
    name = api.resolve_zone(zone)
    api.only_keys(api.json_body(required=False), ())
    appliance().record_review(name, by=api.who())
    return jsonify(
        {
            "reviewed_by": api.who(),
            "reviewed_at": api.local_iso(api.now()),
            "warnings": stale_view(name),
        }
    )


# -- alerts: the installer's test ------------------------------------------------------------


def alert_targets() -> list:
    return appliance().alert_targets()


def _send_test(only=None) -> list[dict]:
    return waiting(appliance().send_test_alert, by=api.who(), only=only)


@bp.route("/installer/alerts-test", methods=["POST"])
@require("admin")
def installer_alerts_test():
    if not alert_targets():
        flash("No alert targets are configured: add [[alerts.targets]] to the config.", "error")
    for result in _send_test(request.form.get("target") or None):
        if result["ok"]:
            flash(f"Test sent to {result['target']}: {result['detail']}.")
        else:
            flash(f"Test to {result['target']} failed: {result['detail']}", "error")
    return redirect(url_for("pages.installer") + "#alerts")


@bp.route("/api/v1/alerts/test", methods=["POST"])
@require("admin")
def api_alerts_test():
    data = api.json_body(required=False)
    api.only_keys(data, ("target",))
    only = data.get("target")
    if only is not None and (
        not isinstance(only, str) or only not in {t.name for t in alert_targets()}
    ):
        raise ValidationError(
            [
                FieldError(
                    "target",
                    f"{str(only)[:40]!r} is not a target; "
                    "targets are " + (", ".join(t.name for t in alert_targets()) or "none"),
                )
            ]
        )
    return jsonify({"results": _send_test(only)})


def installer_alerts_view() -> dict:
    db = store()
    tz = api.site_tz()
    rows = db.outbox(limit=15)
    for row in rows:
        row["when"] = timefmt.stamp(row["done_at"] or row["created_at"], tz)
    engine = current_app.config.get("NIGHTSWITCH_ALERTS")
    return {
        "targets": alert_targets(),
        "deliveries": rows,
        "open": engine.open_alerts() if engine is not None else [],
    }


@bp.app_context_processor
def installer_context() -> dict:
    return {"installer_alerts_view": installer_alerts_view}


# -- metrics ------------------------------------------------------------------------------------


def metrics_object():
    metrics = current_app.config.get("NIGHTSWITCH_METRICS")
    if metrics is None:
        metrics = appliance().metrics(
            intake=current_app.config.get("NIGHTSWITCH_INTAKE"),
            engine=current_app.config.get("NIGHTSWITCH_ALERTS"),
        )
    return metrics


@bp.route("/metrics", methods=["GET"])
def metrics():
    """A scraper is no browser: without a token it gets 401, never the login page (a
    redirect it would follow and fail to parse). Public like the status when
    ``web.public_status`` says so."""
    from prometheus_client import CONTENT_TYPE_LATEST

    from web.auth import public_status_allowed
    from web.errors import ApiError

    appliance()  # 503 while the appliance is starting
    identity = g.get("identity")
    if identity is None and not (public_status_allowed() and not g.get("auth_error")):
        raise ApiError(
            401,
            g.get("auth_error")
            or "send 'Authorization: Bearer TOKEN' (a "
            "viewer token from nightswitch token create), or set "
            "web.public_status = true",
        )
    if identity is not None and not identity.may("viewer"):
        raise ApiError(403, "this needs the viewer role")
    return Response(
        metrics_object().scrape(), mimetype=None, headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
