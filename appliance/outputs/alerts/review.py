"""The schedule review ("reviewed, still right") and each zone's stale-schedule warnings,
as the status page, ``/api/v1/status``, the metrics and the alert engine read them.

A review is kept in the settings table as ``schedule.reviewed.<zone>`` (JSON ``{by, at}``)
and audited. A save of the schedule by a person counts as a review too: whoever saved
it looked at it.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

from appliance.decision.staleness import stale_warnings
from appliance.outputs.alerts.settings import AlertsConfig

#: Who saves a schedule without a person looking at it.
MACHINE_AUTHORS = {"nightswitch"}


def review_key(zone: str) -> str:
    return f"schedule.reviewed.{zone}"


def last_review(store, zone: str) -> tuple[datetime | None, str | None]:
    """When and by whom *zone*'s schedule was last confirmed or saved by a person; by
    None (and the first save's time) when no person ever did."""
    best: tuple[datetime | None, str | None] = (None, None)
    raw = store.get_setting(review_key(zone))
    if raw:
        try:
            data = json.loads(raw)
            best = (datetime.fromisoformat(data["at"]), str(data["by"]))
        except (ValueError, KeyError, TypeError):
            pass
    history = store.schedule_history(zone, limit=200)
    for row in history:
        if row.get("by") not in MACHINE_AUTHORS:
            saved = datetime.fromisoformat(row["saved_at"])
            if best[0] is None or saved > best[0]:
                best = (saved, row["by"])
            break
    if best[0] is None and history:
        # Never looked at by a person: the months count from the day it was set up.
        best = (datetime.fromisoformat(history[-1]["saved_at"]), None)
    return best


def record_review(store, zone: str, *, by: str, at: datetime) -> None:
    """Record that *by* confirmed *zone*'s schedule at *at*, and audit it."""
    store.set_setting(review_key(zone), json.dumps({"by": by, "at": at.isoformat()}))
    store.add_audit(
        zone,
        at=at,
        who=by,
        source="review",
        old_mode=None,
        new_mode=None,
        reason="schedule reviewed: still right",
    )


class StaleCache:
    """The warnings of each zone, worked out again only when the schedule, the date or
    the review changed (the status page asks on every refresh)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._cache: dict[str, tuple] = {}

    def warnings(self, controller, zone: str) -> list:
        """:class:`~appliance.decision.staleness.StaleWarning` list of *zone*."""
        config = controller.config
        settings = getattr(config, "alerts", None) or AlertsConfig()
        state = controller.resolve_zone(zone)
        today = controller.clock.now().astimezone(ZoneInfo(config.timezone)).date()
        reviewed_at, reviewed_by = last_review(controller.store, zone)
        schedule = state.schedule
        key = (id(schedule), today, reviewed_at, reviewed_by)
        with self._lock:
            hit = self._cache.get(zone)
            if hit is not None and hit[0] == key:
                return hit[1]
        found = stale_warnings(
            schedule,
            today,
            closures_by=settings.closures_by,
            reviewed_at=reviewed_at,
            reviewed_by=reviewed_by,
            review_months=settings.review_months,
        )
        with self._lock:
            # the schedule object is kept with the key, so its id cannot be reused
            self._cache[zone] = (key, found, schedule)
        return found


_shared = StaleCache()


def zone_warnings(controller, zone: str) -> list:
    """The stale-schedule warnings of *zone* (one cache for the whole process)."""
    return _shared.warnings(controller, zone)
