"""What the Schedule page shows of calendar subscriptions, and its preview's date range.

The calendars come from the daemon's
:class:`~appliance.inputs.calendars.service.CalendarService` (``NIGHTSWITCH_CALENDARS``
in the app's config); a page served without one (tests, a site without
``[[calendars]]``) simply shows none.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app

from appliance import timetext as timefmt

#: The preview's default length, and the longest range the page draws.
DEFAULT_DAYS = 14
MAX_DAYS = 366


def service():
    return current_app.config.get("NIGHTSWITCH_CALENDARS")


def layers(zone: str) -> tuple:
    """The calendar layers in force for *zone* (none without a calendar service)."""
    found = service()
    return found.layers(zone) if found is not None else ()


def _when(iso: str | None, tz) -> str | None:
    if not iso:
        return None
    try:
        return timefmt.stamp(iso, tz, seconds=False)
    except ValueError:
        return iso


def calendars(zone: str, tz) -> list[dict]:
    """Each calendar of *zone*: name, source (no secrets), last refresh, the copy in
    force, the next closures it contributes, events left out, and any error."""
    found = service()
    if found is None:
        return []
    rows = []
    for item in found.status(zone):
        rows.append(
            dict(
                item,
                attempted=_when(item["attempted_at"], tz),
                fetched=_when(item["fetched_at"], tz),
            )
        )
    return rows


def preview_span(values, today: date) -> tuple[date, int, str | None]:
    """``(first date, days, problem)`` from the ``preview_from`` and ``preview_to``
    values of a request; a bad range falls back to the next 14 days, with the reason."""
    raw_from = (values.get("preview_from") or "").strip()
    raw_to = (values.get("preview_to") or "").strip()
    first, last, problem = today, today + timedelta(days=DEFAULT_DAYS - 1), None
    try:
        if raw_from:
            first = date.fromisoformat(raw_from)
        if raw_to:
            last = date.fromisoformat(raw_to)
    except ValueError:
        return (
            today,
            DEFAULT_DAYS,
            ("The preview's dates must look like 2026-12-21; showing the next 14 days."),
        )
    if not 1970 <= first.year <= 2199 or not 1970 <= last.year <= 2199:
        return today, DEFAULT_DAYS, "The preview covers the years 1970 to 2199."
    if raw_from and not raw_to:
        last = first + timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        return first, DEFAULT_DAYS, "The preview's To is before its From; showing 14 days."
    days = (last - first).days + 1
    if days > MAX_DAYS:
        return (
            first,
            MAX_DAYS,
            (
                f"The preview shows at most {MAX_DAYS} days at once; "
                f"showing {timefmt.day(first)} to "
                f"{timefmt.day(first + timedelta(days=MAX_DAYS - 1))}."
            ),
        )
    if not 1970 <= first.year <= 2199:
        return today, DEFAULT_DAYS, "The preview covers the years 1970 to 2199."
    return first, days, problem
