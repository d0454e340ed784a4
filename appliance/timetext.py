"""Times for people, in the site's time zone: "18:00 today", "08:00 tomorrow (Tue 3 Mar)".

Pure: the caller passes ``now``. Every end of an override is shown as a concrete local
time (docs/design.md#overrides-and-their-ends), never as "until next change" alone.
"""

from __future__ import annotations

from datetime import datetime, tzinfo


def to_local(value, tz: tzinfo) -> datetime | None:
    """An aware datetime (or ISO-8601 text) in the site's time zone."""
    if value is None:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.astimezone(tz)


def when(value, now: datetime, tz: tzinfo) -> str:
    """``"18:00 today"``, ``"08:00 tomorrow (Tue 3 Mar)"``, ``"Thu 5 Mar 08:00"``,
    ``"24 Dec 2027 17:00"`` (another year)."""
    at = to_local(value, tz)
    if at is None:
        return "never"
    today = now.astimezone(tz).date()
    days = (at.date() - today).days
    clock = f"{at:%H:%M}"
    if days == 0:
        return f"{clock} today"
    if days == 1:
        return f"{clock} tomorrow ({at:%a} {at.day} {at:%b})"
    if days == -1:
        return f"{clock} yesterday"
    if at.year != today.year and abs(days) > 300:
        return f"{at.day} {at:%b %Y} {clock}"
    return f"{at:%a} {at.day} {at:%b} {clock}"


def short_when(value, now: datetime, tz: tzinfo) -> str:
    """Like :func:`when` but shorter, for buttons: ``"18:00"``, ``"Tue 08:00"``."""
    at = to_local(value, tz)
    if at is None:
        return "cancelled"
    days = (at.date() - now.astimezone(tz).date()).days
    if days == 0:
        return f"{at:%H:%M}"
    if 0 < days < 7:
        return f"{at:%a} {at:%H:%M}"
    return f"{at.day} {at:%b} {at:%H:%M}"


def duration(seconds: float) -> str:
    """``"45 min"``, ``"2 h"``, ``"14 h 20 min"``, ``"3 days 2 h"``."""
    minutes = int(round(seconds / 60))
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days} days" + (f" {hours} h" if hours else "")


def stamp(value, tz: tzinfo) -> str:
    """A log line's time: ``"2026-03-02 18:00:00"`` local."""
    at = to_local(value, tz)
    return "" if at is None else f"{at:%Y-%m-%d %H:%M:%S}"


__all__ = ["to_local", "when", "short_when", "duration", "stamp"]
