"""The installer page: wiring, the PBX link, hardware tests and commissioning reports."""

from __future__ import annotations

import re

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
from web.serving import waiting


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
        actuators.append(
            {
                "spec": spec,
                "live": live,
                "faults": [
                    f
                    for f in st.get("faults", [])
                    if f["kind"] in ("link", "actuator", "fallback", "auth")
                ],
            }
        )
    intake = current_app.config.get("NIGHTSWITCH_INTAKE")
    stats = None
    if intake is not None:
        try:
            stats = intake.stats()
        except Exception as exc:  # the page must show, even if the intake misbehaves
            stats = {"error": str(exc)}
    db = store()
    return render(
        "installer.html",
        zone=zone,
        statuses=statuses,
        actuators=actuators,
        events_url=url_for("sse.events"),
        **key_live_view(zone, statuses),
        relays=relay_tests(facade.relay_states()),
        smdr=facade.site.smdr,
        stats=stats,
        smdr_facts=smdr_facts(stats),
        pbx_test=pbx_test_view(),
        serial_names=[a["spec"]["name"] for a in actuators if a["spec"].get("type") == "serial"],
        unparsed_count=db.unparsed_count(),
        unparsed=db.unparsed(limit=10),
        config_text=info["config_text"],
        config_source=info["config_source"],
        panel=panel_view(),
        verify=info["verify"],
        quarantined=getattr(db, "quarantined", None),
        tz=site_tz(),
        timefmt=timefmt,
        now=site_now(),
        report=facade.last_commissioning_report(),
    )


def key_live_view(zone: str, statuses: dict | None = None) -> dict:
    """What "Key switch, live" shows: the zone's key as the controller has it, and each
    contact's raw reading (commissioning shows the wiring rather than what it means)."""
    facade = appliance()
    try:
        key_test = facade.read_key()
    except (NightswitchError, TimeoutError) as exc:
        key_test = {"error": str(exc)}
    status = (statuses or {}).get(zone) or facade.status(zone)
    now = site_now().astimezone(site_tz())
    return {"key_test": key_test, "key_now": status["key"], "read_at": f"{now:%H:%M:%S}"}


@bp.route("/installer/key", methods=["GET"])
@require("admin")
def installer_key():
    """The key switch as it reads now (the Installer page's live part)."""
    zone = page_zone()
    g.zone = zone
    return render("_key_live.html", zone=zone, **key_live_view(zone))


def relay_tests(states: dict[str, str]) -> list[dict]:
    """Each relay's test button: what the test will show, from the state it is in (a
    relay that is closed now is opened, so the installer sees it move)."""
    out = []
    for name, state in states.items():
        other = "open" if state == "closed" else "close"
        out.append(
            {
                "name": name,
                "state": state,
                "label": f"{other.capitalize()} relay {name} for 1 s",
                "question": f"Relay {name} is {state} now. {other.capitalize()} it for "
                "one second, then put the mode in force back? The PBX may "
                "switch briefly.",
            }
        )
    return out


#: The call-record reader's counts, in the order and the words the page shows them.
SMDR_COUNTS = (
    ("lines", "Lines read"),
    ("calls", "Calls recorded"),
    ("unparsed", "Lines no format could read"),
    ("headers", "Page headers skipped"),
    ("overlong", "Lines too long, cut"),
    ("opens", "Times the port was opened"),
    ("store_errors", "Calls that could not be saved"),
    ("pending_store", "Calls waiting to be saved"),
    ("lost", "Calls lost (the queue was full)"),
)


def smdr_facts(stats: dict | None) -> list[tuple[str, str]]:
    """The call-record reader's state in plain words: ``[(label, text), ...]``, times
    in the site's zone, no Python values."""
    if not stats or "error" in stats and len(stats) == 1:
        return []
    tz = site_tz()
    facts = [
        (
            "State",
            "port open, reading"
            if stats.get("connected")
            else "port not open: waiting for it (tried again by itself)",
        )
    ]
    for key, label in SMDR_COUNTS:
        if stats.get(key) is not None:
            facts.append((label, f"{stats[key]:,}".replace(",", " ")))
    for key, label in (("last_line_at", "Last line"), ("last_call_at", "Last call")):
        if key in stats:
            facts.append((label, timefmt.stamp(stats[key], tz) if stats[key] else "none yet"))
    if stats.get("last_error"):
        at = timefmt.stamp(stats.get("last_error_at"), tz)
        facts.append(("Last error", str(stats["last_error"]) + (f" ({at})" if at else "")))
    else:
        facts.append(("Last error", "none"))
    return facts


def pbx_test_view() -> dict | None:
    """The last PBX dialogue test, for the page (its time in the site's zone)."""
    result = appliance().last_pbx_test()
    if result is None:
        return None
    # The walk's own lines are numbered ("3. the PBX reports ..."); the lines before them
    # describe the profile, and the last ones count bytes and give the verdict.
    about: list[str] = []
    steps: list[str] = []
    for line in result["steps"]:
        (steps if steps or re.match(r"\d+\. ", line) else about).append(line)
    return dict(
        result, at_text=timefmt.stamp(result.get("at"), site_tz()), about=about, steps=steps
    )


#: The commissioning report is self-contained (its styles inline) and has no script.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@bp.route("/installer/report/<name>", methods=["GET"])
@require("admin")
def installer_report(name):
    """A commissioning report of ``nightswitch test all``, as written."""
    path = appliance().commissioning_report_file(name)
    if path is None:
        abort(404)
    try:
        body = path.read_bytes()  # a few dozen kB, written once
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
            result = waiting(facade.test_leds, seconds, by=g.identity.name)
        elif kind == "relay":
            if name is None:
                raise ValidationError([FieldError("name", "choose a relay")])
            result = waiting(facade.test_relay, name, seconds, by=g.identity.name)
        elif kind == "key":
            result = facade.read_key()
        elif kind == "pbx":
            if name is None:
                raise ValidationError([FieldError("name", "choose a PBX actuator")])
            result = waiting(facade.test_pbx, name, by=g.identity.name)
        else:
            raise ValidationError(
                [FieldError("kind", f"{kind[:20]!r} is not a test; use leds, relay, key or pbx")]
            )
    except (ValidationError, Refused) as exc:
        errors = exc.errors if isinstance(exc, ValidationError) else [FieldError("kind", str(exc))]
        flash("; ".join(e.message for e in errors), "error")
        return redirect(zurl("pages.installer", zone))
    except TimeoutError:
        flash(
            "The test did not end within its time; the appliance goes on switching. See "
            "the log for what happened.",
            "error",
        )
        return redirect(zurl("pages.installer", zone))
    if kind == "leds":
        flash(
            "LED test done: "
            + (", ".join(result.get("tested", [])) or "no LEDs are wired")
            + (" (ended early: the key was turned)." if result.get("interrupted") else ".")
        )
    elif kind == "relay":
        flash(
            commissioning.describe_relay_test(result).capitalize()
            + f"; then the mode in force ({result.get('reasserted')}) was applied again."
        )
    elif kind == "pbx":
        flash(
            f"PBX dialogue test of {name}: "
            + ("every step worked." if result["ok"] else "it FAILED; see the steps below."),
            "message" if result["ok"] else "error",
        )
        return redirect(zurl("pages.installer", zone) + "#pbx-test")
    else:
        flash(
            "Key switch read: "
            + ", ".join(f"{z}: {v['position'].upper()}" for z, v in result.get("zones", {}).items())
        )
    return redirect(zurl("pages.installer", zone))
