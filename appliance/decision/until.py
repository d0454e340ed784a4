"""How long an override lasts, as people write it: the one parser of ``until``.

The API, the CLI, the web page's form, MQTT commands and the controller all take an
override's end through :func:`parse_until`, so ``19:30`` means the same everywhere: the
next 19:30 on the site's wall clock. Times of day are read as people type them
(:func:`appliance.timetext.read_time_of_day`): ``8:00``, ``08:00``, ``0800``, ``17.30``.

Pure: ``now`` and the time zone are arguments.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from appliance.errors import FieldError, ValidationError
from appliance.timetext import parse_time_of_day, read_time_of_day

#: What an ``until`` may be, for error messages.
UNTIL_FORMS = (
    '"next" (the schedule\'s next change), a time of day such as 19:30 (the '
    "next such time), a date and time such as 2026-12-24 08:00 or an ISO-8601 "
    "time, or null (until cancelled)"
)

_DATE_TIME = re.compile(r"(?P<d>\d{4}-\d{2}-\d{2})[ T](?P<t>\d{1,2}[:.]\d{2})")


def next_wall_time(
    hour: int, minute: int, tz: ZoneInfo, now: datetime, day: date | None = None
) -> datetime:
    """The instant the site's wall clock next shows *hour*:*minute* after *now* (or on
    *day*, when given). A time in the spring-forward gap comes out as the first instant
    after it, through zoneinfo's fold rules."""
    local_now = now.astimezone(tz)
    if day is not None:
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
    end = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if end <= local_now:
        tomorrow = local_now.date() + timedelta(days=1)
        end = datetime(tomorrow.year, tomorrow.month, tomorrow.day, hour, minute, tzinfo=tz)
    return end


def parse_until(value, tz: ZoneInfo, now: datetime, *, field: str = "until"):
    """Turn a person's ``until`` into what :meth:`Controller.set_override` takes:
    ``"next"``, None (until cancelled), or an aware datetime.

    :param value: ``"next"``, None, ``"never"``, a time of day (the next such local
        time), ``YYYY-MM-DD HH:MM`` (local), or an ISO-8601 time (local when it has no
        offset).
    :param ZoneInfo tz: the site's time zone.
    :param datetime now: the current instant (aware).
    :raises ~appliance.errors.ValidationError: naming *field* and what is allowed.
    """
    if value is None or value == "next":
        return value
    if not isinstance(value, str):
        raise ValidationError([FieldError(field, f"must be {UNTIL_FORMS}")])
    text = value.strip()
    if text == "never":
        return None
    tod = read_time_of_day(text)
    if tod is not None:
        return next_wall_time(tod.hour, tod.minute, tz, now)
    if re.fullmatch(r"\d{1,2}[:.h]?\d{2}", text):
        parse_time_of_day(text, field=field)  # not one: raises, saying what is wrong
    match = _DATE_TIME.fullmatch(text)
    if match is not None:
        tod = read_time_of_day(match["t"])
        try:
            day = date.fromisoformat(match["d"])
        except ValueError:
            day = None
        if tod is None or day is None:
            raise ValidationError(
                [FieldError(field, f"{value[:40]!r} is not a date and time; use YYYY-MM-DD HH:MM")]
            )
        return next_wall_time(tod.hour, tod.minute, tz, now, day=day)
    try:
        end = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            [FieldError(field, f"{value[:40]!r} is not allowed; use {UNTIL_FORMS}")]
        ) from None
    return end if end.tzinfo else end.replace(tzinfo=tz)


#: The furthest an override may be set ahead; beyond that "until cancelled" says it.
MAX_OVERRIDE = timedelta(days=400)


def checked_until(value, tz: ZoneInfo, now: datetime):
    """:func:`parse_until`, bounded as every surface bounds it (the API, MQTT): an end
    at most 400 days ahead, in the years 1970 to 2199.

    :raises ~appliance.errors.ValidationError: naming ``until``.
    """
    until = parse_until(value, tz, now)
    if isinstance(until, datetime):
        if until.tzinfo is None or until.utcoffset() is None:
            until = until.replace(tzinfo=tz)
        if not 1970 <= until.year <= 2199 or until - now > MAX_OVERRIDE:
            raise ValidationError(
                [
                    FieldError(
                        "until", "must be within 400 days from now; use null for until cancelled"
                    )
                ]
            )
    return until


def resolve_end(until, now: datetime, next_change_at: datetime | None):
    """The concrete end of an override asked for with *until* (what
    :func:`parse_until` returns), checked: ``"next"`` becomes *next_change_at* (None when
    the schedule never changes), a time must be aware and after *now*.

    :raises ~appliance.errors.ValidationError: for an end in the past or without an
        offset.
    """
    if until == "next":
        return next_change_at
    if until is None:
        return None
    if not isinstance(until, datetime):
        raise ValidationError([FieldError("until", f"must be {UNTIL_FORMS}")])
    if until.tzinfo is None:
        raise ValidationError(
            [FieldError("until", "must include a UTC offset, such as 2026-12-24T18:00:00+01:00")]
        )
    if until <= now:
        raise ValidationError(
            [FieldError("until", 'is in the past; give a later time, "next" or null')]
        )
    return until


__all__ = [
    "MAX_OVERRIDE",
    "UNTIL_FORMS",
    "checked_until",
    "next_wall_time",
    "parse_until",
    "resolve_end",
]
