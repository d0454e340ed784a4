"""The zones and the health check: ``/api/v1/zones`` and ``/api/v1/health``."""

from __future__ import annotations

from flask import current_app, jsonify

from web.api.common import (
    bp,
)
from web.auth import appliance, require


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
        zones_out[name] = {"mode": st["mode"], "verified": st["verified"], "faults": st["faults"]}
        faults += [dict(f, zone=name) for f in st["faults"]]
        if not st["verified"] and not st["faults"]:
            faults.append(
                {
                    "zone": name,
                    "kind": "unverified",
                    "message": "the mode is being switched and not yet verified",
                }
            )
    ok = not faults
    return {"ok": ok, "zones": zones_out, "faults": faults}, 200 if ok else 503


@bp.route("/health", methods=["GET"])
def health():
    body, code = health_report()
    return jsonify(body), code
