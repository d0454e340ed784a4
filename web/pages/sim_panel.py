"""The virtual front panel of ``nightswitch simulate``: its key, its clock, and the
simulated PBX behind it.

Everyone who may read the status sees the panel; turning the key and moving the clock
take an operator (as overriding does), switching the PBX behind the appliance's back and
its faults take an admin (the installer). Those who may not are told why instead of
being shown buttons that refuse.
"""

from __future__ import annotations

import math

from flask import (
    abort,
    current_app,
    flash,
    g,
    redirect,
    request,
    url_for,
)

from appliance import timetext as timefmt
from appliance.errors import FieldError, ValidationError
from appliance.sim.pbx_view import FAULT_NAMES, FAULT_WORDS
from web import api
from web.auth import appliance, require
from web.pages.frame import bp, render, site_now, site_tz
from web.redirects import safe_local_path


def virtual_panel():
    """The virtual front panel of ``simulate``, or None."""
    return current_app.extensions.get("nightswitch.virtual_panel")


def panel_view():
    sim = virtual_panel()
    if sim is None:
        return None
    snap = sim.snapshot()
    panel = getattr(sim, "panel", None)
    kind = getattr(panel, "kind", "none") if panel is not None else "none"
    positions = sim.positions()
    tz = site_tz()
    now = timefmt.to_local(snap.get("now"), tz) if snap.get("now") else site_now().astimezone(tz)
    status = appliance().status(getattr(panel, "zone", None) if panel is not None else None)
    identity = g.get("identity")
    return {
        "snap": snap,
        "kind": kind,
        "positions": positions,
        "mode": status["mode"],
        "verified": status["verified"],
        "now_text": timefmt.stamp(now, tz),
        "now_value": f"{now:%Y-%m-%dT%H:%M}",
        "api": url_for("api.sim_panel"),
        "may_turn": identity is not None and identity.may("operator"),
        "may_pbx": identity is not None and identity.may("admin"),
        "role": getattr(identity, "role", None),
        "pbx": snap.get("pbx"),
        "fault_names": FAULT_NAMES,
    }


@bp.route("/panel", methods=["GET"])
@require("viewer")
def panel():
    """The virtual front panel alone (simulate)."""
    if panel_view() is None:
        abort(404)
    return render("panel.html", panel=panel_view())


@bp.route("/panel/fragment", methods=["GET"])
@require("viewer")
def panel_fragment():
    if panel_view() is None:
        abort(404)
    return render("_panel.html", panel=panel_view())


def _back():
    return redirect(safe_local_path(request.form.get("next")) or url_for("pages.status"))


@bp.route("/sim/key", methods=["POST"])
@require("operator")
def sim_key():
    panel = api.sim()
    try:
        panel.set_key(request.form.get("position", ""))
    except ValidationError as exc:
        flash("; ".join(e.message for e in exc.errors), "error")
    else:
        snap = panel.snapshot()
        flash(f"Key turned to {snap['key'].upper()}: the phones are in {snap['mode'].upper()}.")
    return _back()


@bp.route("/sim/pbx", methods=["POST"])
@require("admin")
def sim_pbx():
    """Switch the simulated PBX behind the appliance's back, or start or clear a fault."""
    pbx = api.sim_pbx()
    form = request.form
    if form.get("mode"):
        data = {"mode": form["mode"]}
    elif form.get("clear"):
        data = {"fault": "clear", "actuator": None}
    else:
        # One choice names the part and its fault: "maintenance-port:silence".
        actuator, _, fault = form.get("fault", "").rpartition(":")
        data = {"fault": fault, "actuator": actuator or None}
    try:
        snap = api.work_pbx(pbx, data)
    except ValidationError as exc:
        flash("; ".join(e.message for e in exc.errors), "error")
        return _back()
    if "mode" in data:
        flash(
            f"The simulated PBX was switched to {snap['mode'].upper()} at its own console. "
            "The appliance finds out at its next read-back."
        )
    elif data["fault"] == "clear":
        flash("Every fault of the simulated PBX is cleared.")
    else:
        where = f" on {data['actuator']}" if data["actuator"] not in (None, "pbx") else ""
        flash(f"Fault started{where}: {FAULT_WORDS[data['fault']]}.")
    return _back()


@bp.route("/sim/clock", methods=["POST"])
@require("operator")
def sim_clock():
    panel = api.sim()
    try:
        if request.form.get("advance_s"):
            text = request.form["advance_s"]
            seconds = float(text) if len(text) < 20 else math.nan
            if not math.isfinite(seconds):
                raise ValidationError([FieldError("advance_s", "must be a number of seconds")])
            api.move_clock(panel, {"advance_s": seconds})
        else:
            api.move_clock(panel, {"now": request.form.get("now", "")})
    except ValueError as exc:
        errors = (
            exc.errors
            if isinstance(exc, ValidationError)
            else [FieldError("advance_s", "must be a number of seconds")]
        )
        flash("; ".join(e.message for e in errors), "error")
    return _back()
