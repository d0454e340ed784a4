"""What a site publishes about itself: pure functions from the controller's snapshots.

:func:`zone_state` turns one zone's status snapshot (``controller.status(zone)``, the
same dict as ``GET /api/v1/status``) into the retained payload of
``PREFIX/SITE/zones/ZONE/state``; Home Assistant's entities read their fields with value
templates (:mod:`.discovery`). :func:`site_status` is the site's summary on
``PREFIX/SITE/status``, which ``nightswitch fleet status`` reads and which carries the
acknowledgement of the company closure set in force.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

from appliance import __version__

#: The fault kinds the controller raises (docs/API.md), each a problem binary sensor in
#: Home Assistant; a kind not listed here still shows in ``fault_kinds`` and turns on
#: the zone's general problem sensor.
FAULT_KINDS = {
    "link": "PBX link",
    "actuator": "Actuator",
    "fallback": "Fallback in use",
    "clock": "Clock not synchronized",
    "config": "Configuration",
    "wiring": "Key switch wiring",
    "store": "Database",
    "smdr": "Call records (SMDR)",
    "calendar": "Calendar subscription",
    "internal": "Internal error",
}
#: What the override select shows and accepts for "no override: follow the schedule".
AUTO = "auto"


def zone_state(snapshot: dict, *, after_hours: dict | None = None) -> dict:
    """The retained state of one zone.

    :param dict snapshot: the controller's status of the zone.
    :param after_hours: :func:`last_night` of the zone's calls, or None without SMDR.
    """
    override = snapshot.get("override")
    next_change = snapshot.get("next_change")
    faults = snapshot.get("faults") or []
    return {
        "zone": snapshot.get("zone"),
        "label": snapshot.get("label"),
        "mode": snapshot.get("mode"),
        "source": snapshot.get("source"),
        "reason": snapshot.get("reason"),
        "key": snapshot.get("key"),
        "override": override,
        "override_mode": override["mode"] if override else AUTO,
        "next_change": next_change,
        "next_change_at": next_change["at"] if next_change else None,
        "next_mode": next_change["mode"] if next_change else None,
        "verified": bool(snapshot.get("verified")),
        "switching": bool(snapshot.get("switching")),
        "faults": [{"kind": f.get("kind"), "message": f.get("message"),
                    "since": f.get("since")} for f in faults],
        "fault_kinds": sorted({f.get("kind") for f in faults if f.get("kind")}),
        "after_hours_last_night": after_hours,
        "updated": snapshot.get("now"),
    }


def site_status(*, site_id: str, site_name: str, zones: dict[str, dict], closures: dict,
                at: datetime, tz: tzinfo) -> dict:
    """The site's summary: one line of ``nightswitch fleet status``.

    :param dict zones: zone name to :func:`zone_state`.
    :param dict closures: ``{"version", "applied_at", "refused"}`` of the company set.
    """
    return {
        "site": site_id,
        "name": site_name,
        "software": __version__,
        "at": at.astimezone(tz).isoformat(timespec="seconds"),
        "zones": {name: {"mode": z["mode"], "source": z["source"], "key": z["key"],
                         "verified": z["verified"], "override": z["override"],
                         "faults": z["fault_kinds"]}
                  for name, z in zones.items()},
        "closures": closures,
    }


def last_night(summary: dict, today: date) -> dict:
    """The after-hours calls of last night from :func:`appliance.smdr.report.summary`.

    "Last night" is the night that began on the day before *today* (SPEC 6 labels a
    night by the local date it began), so at 07:00 on Tuesday it is Monday evening to
    Tuesday morning, and all of Tuesday it stays the same night.
    """
    label = (today - timedelta(days=1)).isoformat()
    for night in summary.get("per_night", ()):
        if night["night"] == label:
            return {"night": label, "calls": night["calls"], "answered": night["answered"],
                    "unanswered": night["unanswered"], "unknown": night["unknown"]}
    return {"night": label, "calls": 0, "answered": 0, "unanswered": 0, "unknown": 0}


def last_night_window(now: datetime, tz: tzinfo) -> tuple[datetime, datetime, date]:
    """``(start, end, today)``: the calls to read for :func:`last_night` (from the
    midnight that began yesterday to *now*)."""
    today = now.astimezone(tz).date()
    start = datetime.combine(today - timedelta(days=1), time(0), tz)
    return start, now, today


__all__ = ["AUTO", "FAULT_KINDS", "last_night", "last_night_window", "site_status",
           "zone_state"]
