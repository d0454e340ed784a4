"""Times for people, in the site's time zone: "18:00 today", "08:00 tomorrow (Tue 3 Mar)".

Pure: the caller passes ``now``. Every end of an override is shown as a concrete local
time (docs/design.md#overrides-and-their-ends), never as "until next change" alone.
"""

from __future__ import annotations

import re
from datetime import datetime, time, tzinfo

from appliance.errors import FieldError, ValidationError


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


#: How people may type a time of day, for error messages.
TIME_OF_DAY_FORMS = "a time of day from 00:00 to 23:59, such as 8:00, 08:00, 0800 or 17.30"

_TIME_OF_DAY = re.compile(r"(?P<h>\d{1,2})(?:[:.h](?P<m>\d{2})|(?P<m2>\d{2}))?")


def read_time_of_day(text) -> time | None:
    """The time of day in *text* as people type it, or None when *text* is not one.

    Accepts ``8``, ``8:00``, ``08:00``, ``0800``, ``17.30`` and ``17h30``; hours 0 to 23
    (``24:00`` is not a time of day: it is tomorrow's ``00:00``). For callers that try
    other readings next (an override's ``until``); :func:`parse_time_of_day` says what
    is wrong instead.
    """
    if not isinstance(text, str):
        return None
    match = _TIME_OF_DAY.fullmatch(text.strip())
    if match is None:
        return None
    minutes = match["m"] or match["m2"]
    if minutes is None and len(match["h"]) > 2:
        return None
    hour, minute = int(match["h"]), int(minutes or 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def parse_time_of_day(text, *, field: str = "time") -> time:
    """The time of day in *text* as people type it: ``8:00``, ``08:00``, ``0800``,
    ``17.30``, ``17h30`` or ``8``.

    :param str text: what the person typed; surrounding spaces are ignored.
    :param str field: the field named in the error.
    :raises ~appliance.errors.ValidationError: one :class:`~appliance.errors.FieldError`
        on *field* saying what is wrong and what is allowed, such as ``"'25:00' is not a
        time of day: hours go from 0 to 23"``.
    """
    found = read_time_of_day(text)
    if found is not None:
        return found
    raise ValidationError([FieldError(field, _time_of_day_problem(text))])


def _time_of_day_problem(text) -> str:
    if not isinstance(text, str) or not text.strip():
        return f"is empty; give {TIME_OF_DAY_FORMS}"
    shown = repr(text.strip()[:20])
    match = _TIME_OF_DAY.fullmatch(text.strip())
    if match is not None and (match["m"] or match["m2"]):
        hour, minute = int(match["h"]), int(match["m"] or match["m2"])
        if hour == 24 and minute == 0:
            return f"{shown} is not a time of day; use 00:00 (midnight, the day after) or 23:59"
        if hour > 23:
            return f"{shown} is not a time of day: hours go from 0 to 23"
        if minute > 59:
            return f"{shown} is not a time of day: minutes go from 00 to 59"
    return f"{shown} is not a time of day; use {TIME_OF_DAY_FORMS}"


__all__ = ["TIME_OF_DAY_FORMS", "to_local", "when", "short_when", "duration", "stamp",
           "read_time_of_day", "parse_time_of_day"]
