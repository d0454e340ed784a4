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
        "faults": [
            {"kind": f.get("kind"), "message": f.get("message"), "since": f.get("since")}
            for f in faults
        ],
        "fault_kinds": sorted({f.get("kind") for f in faults if f.get("kind")}),
        "after_hours_last_night": after_hours,
        "updated": snapshot.get("now"),
    }


def site_status(
    *,
    site_id: str,
    site_name: str,
    zones: dict[str, dict],
    closures: dict,
    at: datetime,
    tz: tzinfo,
) -> dict:
    """The site's summary: one line of ``nightswitch fleet status``.

    :param dict zones: zone name to :func:`zone_state`.
    :param dict closures: ``{"version", "applied_at", "refused"}`` of the company set.
    """
    return {
        "site": site_id,
        "name": site_name,
        "software": __version__,
        "at": at.astimezone(tz).isoformat(timespec="seconds"),
        "zones": {
            name: {
                "mode": z["mode"],
                "source": z["source"],
                "key": z["key"],
                "verified": z["verified"],
                "override": z["override"],
                "faults": z["fault_kinds"],
            }
            for name, z in zones.items()
        },
        "closures": closures,
    }


#: How far back :func:`last_night_window` reads: a closure between the years is a night
#: of two weeks.
NIGHT_WINDOW_DAYS = 14


def last_night(summary: dict, today: date) -> dict:
    """The after-hours calls of "last night" from :func:`appliance.smdr.report.summary`.

    A night is labelled with the local date its after-hours span began
    (docs/design.md#after-hours-calls-smdr), so a weekend without day service is one
    night, Friday's. "Last night" is the latest night that
    began before *today*: on Tuesday, Monday evening to Tuesday morning; on Monday, the
    whole weekend since Friday's closing; and it stays that night until a night begins
    after today's midnight.
    """
    nights = [n for n in summary.get("per_night", ()) if n["night"] < today.isoformat()]
    if not nights:
        return {
            "night": None,
            "began": None,
            "ended": None,
            "calls": 0,
            "answered": 0,
            "unanswered": 0,
            "unknown": 0,
        }
    night = max(nights, key=lambda n: n["night"])
    return {
        key: night[key]
        for key in ("night", "began", "ended", "calls", "answered", "unanswered", "unknown")
    }


def last_night_window(now: datetime, tz: tzinfo) -> tuple[datetime, datetime, date]:
    """``(start, end, today)``: the calls and nights to read for :func:`last_night`."""
    today = now.astimezone(tz).date()
    start = datetime.combine(today - timedelta(days=NIGHT_WINDOW_DAYS), time(0), tz)
    return start, now, today


__all__ = ["AUTO", "FAULT_KINDS", "last_night", "last_night_window", "site_status", "zone_state"]
