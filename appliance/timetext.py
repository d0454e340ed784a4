"""Times for people, in the site's time zone, written one way everywhere: the status
page, the override buttons and their questions, the logs and the command line all say
``"Thu 3 Dec 08:00"`` (:func:`when`), and records ``"Thu 3 Dec 2026 08:00:05"``
(:func:`stamp`). JSON keeps ISO-8601, which is right for machines.

Also the one reader of a time of day as people type it (:func:`parse_time_of_day`).

Pure: the caller passes ``now``. Every end of an override is shown as a concrete local
time (docs/design.md#overrides-and-their-ends), never as "until next change" alone.
"""

from __future__ import annotations

import re
from datetime import datetime, time, tzinfo
from typing import overload

from appliance.errors import FieldError, ValidationError


@overload
def to_local(value: None, tz: tzinfo | None) -> None: ...
@overload
def to_local(value: datetime | str, tz: tzinfo | None) -> datetime: ...
def to_local(value, tz: tzinfo | None) -> datetime | None:
    """An aware datetime (or ISO-8601 text) in the site's time zone *tz*. With *tz* None
    the value keeps its own offset: the API already gives local times (the CLI, which has
    no config, shows them as they come)."""
    if value is None:
        return None
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz)
    return at.astimezone(tz) if tz is not None else at


def day(value, now: datetime | None = None, tz: tzinfo | None = None) -> str:
    """A date as people read it: ``"Thu 3 Dec"``, with the year when it is not *now*'s
    (``"Fri 24 Dec 2027"``) or when there is no *now*. *value* is a date or a datetime."""
    if isinstance(value, datetime) or isinstance(value, str):
        value = to_local(value, tz).date()
    text = f"{value:%a} {value.day} {value:%b}"
    this_year = now.astimezone(tz).year if now is not None else None
    return text if value.year == this_year else f"{text} {value.year}"


def when(value, now: datetime | None, tz: tzinfo | None) -> str:
    """A moment, the one way people read it everywhere: ``"Thu 3 Dec 08:00"`` in the
    site's time zone, with the year when it is not *now*'s (``"Fri 24 Dec 2027 17:00"``;
    always with the year when *now* is None).

    Never "today" or "tomorrow": at 01:00 "tomorrow 08:00" is read both ways, and the
    same end must read the same on a button, in a question and in the status line.
    """
    at = to_local(value, tz)
    if at is None:
        return "never"
    return f"{day(at.date(), now, tz)} {at:%H:%M}"


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


def stamp(value, tz: tzinfo | None, *, seconds: bool = True) -> str:
    """When something happened, for logs, histories and tables: ``"Mon 2 Mar 2026
    18:00:05"`` local, always with the year (a record is read years later); without
    *seconds* ``"Mon 2 Mar 2026 18:00"``. Empty for None."""
    at = to_local(value, tz)
    if at is None:
        return ""
    return f"{day(at.date())} {at:%H:%M:%S}" if seconds else f"{day(at.date())} {at:%H:%M}"


#: How people may type a time of day, for error messages.
TIME_OF_DAY_FORMS = "a time of day from 00:00 to 23:59, such as 8:00, 08:00, 0800 or 17.30"

# ASCII digits only: str.isdigit() and \d take other scripts' digits too.
_TIME_OF_DAY = re.compile(r"(?P<h>[0-9]{1,2})(?: *[:.h] *(?P<m>[0-9]{2})|(?P<m2>[0-9]{2}))?")


def read_clock(text, *, end_of_day: bool = False) -> tuple[int, int] | None:
    """The hour and minute in *text* as people type a clock time, or None when *text*
    is not one.

    Accepts ``8``, ``8:00``, ``08:00``, ``0800``, ``800``, ``17.30`` and ``17h30``, with
    hours 0 to 23. With *end_of_day* ``24:00`` (``2400``, ``24``) is read too: a
    schedule's range may end at the end of the day, which is no time of day.

    :param str text: what was typed; surrounding spaces are ignored.
    """
    if not isinstance(text, str):
        return None
    match = _TIME_OF_DAY.fullmatch(text.strip())
    if match is None:
        return None
    hour, minute = int(match["h"]), int(match["m"] or match["m2"] or 0)
    if minute > 59 or hour > 24 or hour == 24 and (minute or not end_of_day):
        return None
    return hour, minute


def read_time_of_day(text) -> time | None:
    """The time of day in *text* as people type it (see :func:`read_clock`), or None
    when *text* is not one; ``24:00`` is not (it is tomorrow's ``00:00``). For callers
    that try other readings next (an override's ``until``); :func:`parse_time_of_day`
    says what is wrong instead.
    """
    found = read_clock(text)
    return time(*found) if found is not None else None


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


__all__ = [
    "TIME_OF_DAY_FORMS",
    "to_local",
    "day",
    "when",
    "duration",
    "stamp",
    "read_clock",
    "read_time_of_day",
    "parse_time_of_day",
]
