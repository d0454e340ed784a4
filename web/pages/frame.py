"""The frame every page shares: the blueprint, the navigation, the zone and rendering.

Every action is a plain HTML form (POST, then a redirect), so the pages work without
JavaScript; ``static/nightswitch.js`` only adds live updates, confirmation dialogs and
the schedule preview that follows the form as it is typed.

On a multi-zone site a ``zone`` query or form field picks the zone; a single-zone site
never shows the word.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    url_for,
)

from appliance import timetext as timefmt
from web import api, charts, schedule_form
from web.auth import appliance

bp = Blueprint("pages", __name__)


NAV = (
    ("pages.status", "Status", "viewer"),
    ("pages.schedule", "Schedule", "viewer"),
    ("pages.log", "Log", "viewer"),
    ("pages.calls", "Calls", "viewer"),
    ("pages.installer", "Installer", "admin"),
    ("pages.users", "Users", "admin"),
)


def page_zone() -> str:
    """The zone this page is about (404 for one the site does not have)."""
    return api.resolve_zone(request.values.get("zone") or None)


def site_tz():
    return api.site_tz()


def zurl(endpoint: str, zone: str | None = None, **values) -> str:
    """``url_for`` that keeps the zone on a multi-zone site."""
    names = appliance().zone_names()
    if len(names) > 1:
        values["zone"] = zone or g.get("zone") or names[0]
    return url_for(endpoint, **values)


@bp.app_context_processor
def base_context() -> dict:
    """What every page's frame needs: the site, its zones, the navigation."""
    facade = current_app.extensions.get("nightswitch")
    if facade is None:
        return {
            "site_name": "Nightswitch",
            "zones": [],
            "multi_zone": False,
            "nav": [],
            "simulate": False,
            "zurl": url_for,
            "mode_class": charts.mode_class,
            "timefmt": timefmt,
        }
    names = facade.zone_names()
    labels = dict(facade.site.zones)
    zone = g.get("zone") or names[0]
    identity = g.get("identity")
    return dict(
        site_name=facade.site.name,
        zones=[(n, labels.get(n, n)) for n in names],
        multi_zone=len(names) > 1,
        zone=zone,
        zone_label=labels.get(zone, zone),
        simulate=current_app.extensions.get("nightswitch.virtual_panel") is not None,
        nav=[item for item in NAV if identity is not None and identity.may(item[2])],
        zurl=zurl,
        mode_class=charts.mode_class,
        dom_id=schedule_form.dom_id,
        timefmt=timefmt,
        field_label=schedule_form.field_label,
    )


def render(template: str, status: int = 200, **values):
    if values.get("zone"):
        g.zone = values["zone"]
    return render_template(template, **values), status


def site_now():
    return appliance().now()


@bp.route("/health", methods=["GET"])
def health():
    body, code = api.health_report()
    return jsonify(body), code
