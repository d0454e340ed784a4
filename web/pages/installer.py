"""The installer page: wiring, the PBX link, hardware tests and commissioning reports."""

from __future__ import annotations

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
from appliance.control import commissioning
from appliance.errors import FieldError, NightswitchError, Refused, ValidationError
from web.auth import appliance, require, store
from web.pages.frame import bp, page_zone, render, site_now, site_tz, zurl
from web.pages.sim_panel import panel_view


@bp.route("/installer", methods=["GET"])
@require("admin")
def installer():
    zone = page_zone()
    g.zone = zone
    facade = appliance()
    info = facade.installer_info()
    statuses = {name: facade.status(name) for name in facade.zone_names()}
    actuators = []
    for spec in info["actuators"]:
        st = statuses.get(spec.get("zone"), {})
        live = next((a for a in st.get("actuators", []) if a["name"] == spec.get("name")), {})
        actuators.append({"spec": spec, "live": live,
                          "faults": [f for f in st.get("faults", [])
                                     if f["kind"] in ("link", "actuator", "fallback", "auth")]})
    intake = current_app.config.get("NIGHTSWITCH_INTAKE")
    stats = None
    if intake is not None:
        try:
            stats = intake.stats()
        except Exception as exc:  # the page must show, even if the intake misbehaves
            stats = {"error": str(exc)}
    db = store()
    try:
        key_test = facade.read_key()
    except (NightswitchError, TimeoutError) as exc:
        key_test = {"error": str(exc)}
    return render("installer.html", zone=zone, statuses=statuses, actuators=actuators,
                  events_url=url_for("sse.events"),
                  relays=facade.relay_states(), key_test=key_test, smdr=facade.site.smdr,
                  stats=stats, unparsed_count=db.unparsed_count(),
                  unparsed=db.unparsed(limit=10), config_text=info["config_text"],
                  config_source=info["config_source"], panel=panel_view(),
                  verify=info["verify"],
                  quarantined=getattr(db, "quarantined", None), tz=site_tz(), timefmt=timefmt,
                  now=site_now(), report=facade.last_commissioning_report())


#: The commissioning report is self-contained (its styles inline) and has no script.
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


@bp.route("/installer/report/<name>", methods=["GET"])
@require("admin")
def installer_report(name):
    """A commissioning report of ``nightswitch test all``, as written."""
    path = appliance().commissioning_report_file(name)
    if path is None:
        abort(404)
    try:
        body = path.read_bytes()        # a few dozen kB, written once
    except OSError:
        abort(404)
    response = current_app.response_class(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = REPORT_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/installer/test", methods=["POST"])
@require("admin")
def installer_test():
    zone = page_zone()
    kind = request.form.get("kind", "")
    name = request.form.get("name") or None
    facade = appliance()
    seconds = float(current_app.config["NIGHTSWITCH_TEST_SECONDS"])
    try:
        if kind == "leds":
            result = facade.test_leds(seconds, by=g.identity.name)
        elif kind == "relay":
            if name is None:
                raise ValidationError([FieldError("name", "choose a relay")])
            result = facade.test_relay(name, seconds, by=g.identity.name)
        elif kind == "key":
            result = facade.read_key()
        else:
            raise ValidationError([FieldError("kind", f"{kind[:20]!r} is not a test; use "
                                                      "leds, relay or key")])
    except (ValidationError, Refused) as exc:
        errors = exc.errors if isinstance(exc, ValidationError) else [FieldError("kind", str(exc))]
        flash("; ".join(e.message for e in errors), "error")
        return redirect(zurl("pages.installer", zone))
    if kind == "leds":
        flash("LED test done: " + (", ".join(result.get("tested", [])) or "no LEDs are wired")
              + (" (ended early: the key was turned)." if result.get("interrupted") else "."))
    elif kind == "relay":
        flash(commissioning.describe_relay_test(result).capitalize()
              + f"; then the mode {result.get('reasserted')} was applied again.")
    else:
        flash("Key switch read: " + ", ".join(f"{z}: {v['position'].upper()}"
                                              for z, v in result.get("zones", {}).items()))
    return redirect(zurl("pages.installer", zone))


