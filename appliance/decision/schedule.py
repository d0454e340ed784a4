"""The schedule model: weekly hours, holidays, seasons and date exceptions.

A schedule arrives as JSON (the web page edits it; ``preview``, the API, export and
import all use the same shape, docs/API.md#schedule). :func:`parse_schedule` checks it
once, reports *every* problem at once as a :exc:`~appliance.errors.ValidationError` whose
lines name the field (``weekly.mon[1].end``, ``seasons[0].from``, ``holidays.country``)
and say what is allowed, and returns frozen dataclasses that the pure core
(:mod:`appliance.decision.dayplan`, :mod:`appliance.decision.decide`) reads without further checks.
:func:`schedule_to_json` turns a :class:`Schedule` back into the same JSON.

Nothing here reads the clock; time zones and holiday tables are only named here and
looked up by the core.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from appliance.decision.holiday_source import (
    country_categories,
    country_codes,
    holiday_name_key,
    known_holiday_names,
    library_holidays,
    subdivision_aliases,
    subdivision_codes,
)
from appliance.errors import ValidationError
from appliance.timetext import read_clock
from appliance.validation import MODE_RE, ProblemList, join, json_type, show

#: The weekday keys of a weekly plan, Monday first (as :meth:`datetime.date.weekday`).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: The weekday names used in reasons ("weekly hours Monday 08:00-18:00").
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_TIME_RE = re.compile(r"^([0-9]{2}):([0-9]{2})$")
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
#: Names end up in reasons, on the LCD-less web page and in the audit log: keep them short.
NAME_MAX = 80
DAY_MINUTES = 24 * 60

_TOP_KEYS = ("timezone", "default_mode", "weekly", "holidays", "seasons", "exceptions")
_RANGE_KEYS = ("start", "end", "mode")
_HOLIDAY_KEYS = ("country", "subdivision", "categories", "mode", "ignore", "custom")
_SEASON_KEYS = ("name", "from", "to", "weekly")
_EXCEPTION_KEYS = ("name", "from", "to", "yearly", "ranges")
_YEARLY_KEYS = ("month", "day", "weekday", "when", "days")
#: How a yearly exception's weekday rule reads its date: "the Friday before 25 December".
YEARLY_WHEN = ("before", "after", "on_or_before", "on_or_after")
#: The years over which two yearly exceptions are checked for overlap: every weekday and
#: leap-year pattern of the Gregorian calendar occurs in a century.
_YEARLY_CHECK_YEARS = range(2000, 2100)


@dataclass(frozen=True)
class TimeRange:
    """One ``[start, end)`` stretch of a day in one mode.

    :param int start:
        Minutes after local midnight, 0 to 1439.
    :param int end:
        Minutes after local midnight, 1 to 1440 (1440 is ``"24:00"``, the end of the day).
    :param str mode:
        The mode in force during the range.
    """

    start: int
    end: int
    mode: str

    def __str__(self) -> str:
        return f"{format_minutes(self.start)}-{format_minutes(self.end)}"


@dataclass(frozen=True)
class CustomHoliday:
    """A site's own holiday: one fixed *date*, or every year on *month* / *day*.

    :param str name:
        Shown in reasons ("night: holiday Company day").
    :param date date:
        The one date, or None for a yearly holiday.
    :param int month:
        For a yearly holiday, 1 to 12; else None.
    :param int day:
        For a yearly holiday, the day of the month; 29 February counts only in leap years.
    """

    name: str
    date: date | None = None
    month: int | None = None
    day: int | None = None


@dataclass(frozen=True)
class HolidayRules:
    """Which dates are holidays, and the mode they take.

    :param str country:
        A country code the ``holidays`` library knows (``DE``), or None for custom
        dates only.
    :param str subdivision:
        The state or province code (``BY``), or None for the country's national
        holidays only.
    :param str mode:
        The mode of a holiday, all day (default ``night``).
    :param tuple ignore:
        Names (``"Corpus Christi"``) or ISO dates (``"2026-06-04"``) of library holidays
        that this site works on anyway.
    :param tuple custom:
        :class:`CustomHoliday` entries.
    :param tuple categories:
        Extra ``holidays`` library categories kept *on top of* the public holidays,
        such as ``("catholic",)``: in Bavaria, Assumption Day (15 August) is a holiday
        only in Catholic municipalities, which are most of them.
    """

    country: str | None = None
    subdivision: str | None = None
    mode: str = "night"
    ignore: tuple[str, ...] = ()
    custom: tuple[CustomHoliday, ...] = ()
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Season:
    """A date range, inclusive at both ends, with its own weekly plan (summer hours).

    A weekday missing from the season's plan has no ranges: the default mode all day.
    """

    name: str
    first: date
    last: date
    weekly: dict[str, tuple[TimeRange, ...]] = field(hash=False)

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last


@dataclass(frozen=True)
class YearlyDate:
    """Where a yearly exception falls each year.

    Either a fixed date (*month*, *day*; 29 February only in leap years), or a weekday
    relative to it: ``YearlyDate(12, 25, weekday=4, when="before")`` is the Friday
    before 25 December.

    :param int weekday: 0 (Monday) to 6, or None for the fixed date itself.
    :param str when: one of :data:`YEARLY_WHEN` (with *weekday*).
    :param int days: how many days it lasts from there (1 to 31).
    """

    month: int
    day: int
    weekday: int | None = None
    when: str | None = None
    days: int = 1

    def first_in(self, year: int) -> date | None:
        """The first date of this year's occurrence, or None (29 February, no leap)."""
        try:
            anchor = date(year, self.month, self.day)
        except ValueError:
            return None
        if self.weekday is None:
            return anchor
        back = (anchor.weekday() - self.weekday) % 7
        ahead = (self.weekday - anchor.weekday()) % 7
        if self.when == "before":
            return anchor - timedelta(days=back or 7)
        if self.when == "on_or_before":
            return anchor - timedelta(days=back)
        if self.when == "after":
            return anchor + timedelta(days=ahead or 7)
        return anchor + timedelta(days=ahead)

    def covers(self, day: date) -> bool:
        # An occurrence may start in the year before (24 December for 10 days; the
        # Monday after 31 December), or lie in the year before its own (the Friday
        # before 1 January).
        for year in (day.year + 1, day.year, day.year - 1):
            if not 1 <= year <= 9999:
                continue
            first = self.first_in(year)
            if first is not None and first <= day < first + timedelta(days=self.days):
                return True
        return False

    def __str__(self) -> str:
        month = (
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        )[self.month - 1]
        where = f"{self.day} {month}"
        if self.weekday is not None:
            # first_in reads a missing when as on_or_after: say what it does.
            when = self.when if self.when is not None else "on_or_after"
            where = f"the {WEEKDAY_NAMES[self.weekday]} {when.replace('_', ' ')} {where}"
        return f"every year on {where}" + (f" for {self.days} days" if self.days > 1 else "")


@dataclass(frozen=True)
class DateException:
    """One date or a date range, inclusive, with its own ranges; or, with *yearly*, the
    same every year (then *first* and *last* are None).

    No ranges means closed all day (the default mode all day).
    """

    name: str
    first: date | None
    last: date | None
    ranges: tuple[TimeRange, ...]
    yearly: YearlyDate | None = None

    def covers(self, day: date) -> bool:
        if self.yearly is not None:
            return self.yearly.covers(day)
        if self.first is None or self.last is None:
            raise ValueError(f"date exception {self.name!r} has neither dates nor a yearly rule")
        return self.first <= day <= self.last


@dataclass(frozen=True)
class Schedule:
    """A validated schedule; build it with :func:`parse_schedule`.

    :param str timezone:
        The IANA time zone every time in the schedule is local to.
    :param str default_mode:
        The mode of time that no range covers.
    :param dict weekly:
        All seven :data:`WEEKDAYS`, each a tuple of :class:`TimeRange` sorted by start.
    :param HolidayRules holidays:
        Or None: no holidays.
    :param tuple seasons:
        :class:`Season` entries, which never overlap.
    :param tuple exceptions:
        :class:`DateException` entries, which never overlap.
    :param tuple layers:
        :class:`~appliance.decision.layers.ClosureLayer` entries (calendar and company
        closures) that are not part of the saved JSON; set them with
        :meth:`with_layers`.
    """

    timezone: str
    default_mode: str
    weekly: dict[str, tuple[TimeRange, ...]] = field(hash=False)
    holidays: HolidayRules | None = None
    seasons: tuple[Season, ...] = ()
    exceptions: tuple[DateException, ...] = ()
    layers: tuple = ()
    #: The last search for the next change of mode, per mode, kept by
    #: :mod:`~appliance.decision.decide` (it never changes what is found, only how
    #: often: see ``decide._next_other``). Not an init field, so ``replace()`` and
    #: :meth:`with_layers` start a new one.
    searches: dict = field(default_factory=dict, init=False, compare=False, hash=False, repr=False)

    def with_layers(self, *layers) -> Schedule:
        """A copy of this schedule carrying *layers* (and no others).

        :param layers:
            :class:`~appliance.decision.layers.ClosureLayer` objects; None entries are
            left out, so ``schedule.with_layers(calendar, company)`` works when either
            is missing. Among layers of one kind the first wins.
        """
        from appliance.decision.layers import ClosureLayer

        kept = tuple(layer for layer in layers if layer is not None)
        for layer in kept:
            if not isinstance(layer, ClosureLayer):
                raise TypeError(f"a layer must be a ClosureLayer, not {type(layer).__name__}")
        return replace(self, layers=kept)

    @property
    def modes(self) -> set[str]:
        """Every mode this schedule can produce."""
        found = {self.default_mode}
        if self.holidays is not None:
            found.add(self.holidays.mode)
        plans = [self.weekly] + [s.weekly for s in self.seasons]
        for plan in plans:
            for ranges in plan.values():
                found.update(r.mode for r in ranges)
        for exc in self.exceptions:
            found.update(r.mode for r in exc.ranges)
        for layer in self.layers:
            found.update(layer.modes)
        return found


# -- formatting ---------------------------------------------------------------------------


def format_minutes(minutes: int) -> str:
    """``510`` -> ``"08:30"``; ``1440`` -> ``"24:00"``."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# ASCII digits only: \d would also read other scripts' digits.
def parse_typed_time(text) -> str | None:
    """A time of day as people type it, written the schedule's way (``"HH:MM"``), or
    None when it is not one.

    ``"8:00"``, ``"0800"``, ``"800"``, ``"17.30"`` and the rest that
    :func:`appliance.timetext.read_clock` reads; ``"24:00"`` (``"2400"``, ``"24"``) is
    the end of the day. The schedule's JSON keeps the strict ``"HH:MM"``: the editor
    passes what people type through this first, so the check that follows names only
    what could not be read.

    :param str text: what was typed (surrounding spaces are ignored).
    """
    found = read_clock(text, end_of_day=True)
    return f"{found[0]:02d}:{found[1]:02d}" if found is not None else None


# -- the validator ------------------------------------------------------------------------


class _Checker(ProblemList):
    """The schedule's JSON readers, on the :class:`~appliance.validation.ProblemList` that
    :class:`~appliance.validation.Problems` shares: objects, lists, names, times and dates
    as JSON writes them, and modes this zone's actuators can make."""

    def __init__(self, allowed_modes):
        super().__init__()
        self.allowed_modes = set(allowed_modes) if allowed_modes is not None else None

    def obj(self, value, path: str, allowed: tuple[str, ...], what: str) -> dict | None:
        """*value* as an object with only *allowed* keys, or None after an error."""
        if not isinstance(value, dict):
            self.err(path, f"must be an object ({what}), not {json_type(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.err(
                    join(path, str(key)),
                    f"unknown key {show(key)}; allowed keys here: {', '.join(allowed)}",
                )
        return value

    def listof(self, value, path: str, what: str) -> list | None:
        if not isinstance(value, list):
            self.err(path, f"must be a list ({what}), not {json_type(value)}")
            return None
        return value

    def name(self, data: dict, path: str, what: str) -> str | None:
        value = data.get("name")
        where = join(path, "name")
        if value is None:
            self.err(where, f"is required: a short name for the {what}, shown in reasons")
            return None
        if not isinstance(value, str):
            self.err(where, f"must be a string, not {json_type(value)}")
            return None
        if not value.strip():
            self.err(where, f"must not be empty: give the {what} a short name")
            return None
        if len(value) > NAME_MAX:
            self.err(where, f"is {len(value)} characters long; at most {NAME_MAX} are allowed")
            return None
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            self.err(where, "must be one line of printable text (no tabs or line breaks)")
            return None
        return value.strip()

    def mode(self, value, path: str) -> str | None:
        if not isinstance(value, str):
            self.err(
                path,
                f'must be a mode name as a string (such as "day" or '
                f'"night"), not {json_type(value)}',
            )
            return None
        if not MODE_RE.match(value):
            self.err(
                path,
                f"{show(value)} is not a mode name; use lower-case letters, "
                "digits, '_' or '-', starting with a letter (day, night, lunch)",
            )
            return None
        if self.allowed_modes is not None and value not in self.allowed_modes:
            self.err(
                path,
                f"mode {show(value)} cannot be produced by this zone's actuators;"
                f" allowed: {', '.join(sorted(self.allowed_modes))}",
            )
            return None
        return value

    def time(self, value, path: str, *, is_end: bool) -> int | None:
        end_note = ", or 24:00 for the end of the day" if is_end else ""
        if not isinstance(value, str):
            self.err(path, f'must be a time as a string "HH:MM", not {json_type(value)}')
            return None
        match = _TIME_RE.match(value)
        if match:
            hours, minutes = int(match.group(1)), int(match.group(2))
            if value == "24:00":
                if is_end:
                    return DAY_MINUTES
                self.err(
                    path,
                    "24:00 is allowed only as an end; a range that starts at "
                    "midnight starts at 00:00",
                )
                return None
            if hours < 24 and minutes < 60:
                return hours * 60 + minutes
        self.err(path, f'{show(value)} is not a time; use "HH:MM" from 00:00 to 23:59{end_note}')
        return None

    def date(self, value, path: str) -> date | None:
        if not isinstance(value, str):
            self.err(path, f'must be a date as a string "YYYY-MM-DD", not {json_type(value)}')
            return None
        if _DATE_RE.match(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.err(path, f'{show(value)} is not a date; use "YYYY-MM-DD", such as "2026-12-24"')
        return None

    def integer(self, value, path: str, low: int, high: int, what: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                given = value if isinstance(value, float) else json_type(value)
                self.err(path, f"must be a whole number ({what}, {low} to {high}), not {given}")
                return None
        if not low <= value <= high:
            self.err(path, f"{value} is out of range; {what} is {low} to {high}")
            return None
        return value


def _parse_ranges(check: _Checker, value, path: str) -> tuple[TimeRange, ...]:
    """A list of ranges for one day: each valid, ``end > start``, none overlapping."""
    items = check.listof(
        value, path, 'time ranges such as [{"start": "08:00", "end": "18:00", "mode": "day"}]'
    )
    if items is None:
        return ()
    parsed: list[tuple[int, TimeRange]] = []
    for index, item in enumerate(items):
        where = f"{path}[{index}]"
        data = check.obj(
            item,
            where,
            _RANGE_KEYS,
            'a time range such as {"start": "08:00", "end": "18:00", "mode": "day"}',
        )
        if data is None:
            continue
        missing = False
        for key, hint in (
            ("start", 'a time "HH:MM"'),
            ("end", 'a time "HH:MM"'),
            ("mode", "a mode such as day or night"),
        ):
            if key not in data:
                check.err(f"{where}.{key}", f"is required ({hint})")
                missing = True
        start = (
            check.time(data["start"], f"{where}.start", is_end=False) if "start" in data else None
        )
        end = check.time(data["end"], f"{where}.end", is_end=True) if "end" in data else None
        mode = check.mode(data["mode"], f"{where}.mode") if "mode" in data else None
        if start is not None and end is not None and end <= start:
            check.err(f"{where}.end", _end_before_start(start, end))
            continue
        if missing or start is None or end is None or mode is None:
            continue
        parsed.append((index, TimeRange(start, end, mode)))
    # Sort by start and compare neighbours: O(n log n) even for a hostile document.
    parsed.sort(key=lambda item: (item[1].start, item[0]))
    reach: tuple[int, TimeRange] | None = None  # the range that reaches furthest so far
    for index, rng in parsed:
        if reach is not None and rng.start < reach[1].end:
            pair = sorted([(index, rng), reach], key=lambda item: item[0])
            (_, first), (second_index, second) = pair
            check.err(
                f"{path}[{second_index}]",
                f"{second} overlaps {_hours_of(path)} {first}; the hours of one day "
                "must not overlap",
            )
        if reach is None or rng.end > reach[1].end:
            reach = (index, rng)
    return tuple(rng for _, rng in parsed)


def _end_before_start(start: int, end: int) -> str:
    """Why an end at or before its start is wrong, with the midnight advice only where
    the range could have meant to run past midnight (22:00 to 06:00), not after a slip
    of the finger (13:30 to 13:00)."""
    text = f"{format_minutes(end)} must be later than start {format_minutes(start)}"
    if end == 0:
        return text + "; for midnight at the end of the day use 24:00"
    if end < start and start >= 12 * 60 and end <= 12 * 60:
        return (
            text + "; a range cannot cross midnight, so split it into one that ends at "
            "24:00 and one that starts at 00:00 the next day"
        )
    return text


def _hours_of(path: str) -> str:
    """Whose hours a list of ranges holds, in words: "Monday's hours", "the hours"."""
    day = path.rsplit(".", 1)[-1]
    return f"{WEEKDAY_NAMES[WEEKDAYS.index(day)]}'s hours" if day in WEEKDAYS else "the hours"


def _one(key: str) -> str:
    """One entry of a list named *key*, in words: "season", "exception", "closure"."""
    return key.rsplit(".", 1)[-1].removesuffix("s")


def _parse_weekly(check: _Checker, value, path: str) -> dict[str, tuple[TimeRange, ...]]:
    weekly: dict[str, tuple[TimeRange, ...]] = dict.fromkeys(WEEKDAYS, ())
    if not isinstance(value, dict):
        check.err(
            path,
            f"must be an object with a list of ranges per weekday "
            f"(keys {', '.join(WEEKDAYS)}), not {json_type(value)}",
        )
        return weekly
    for key, ranges in value.items():
        if key not in WEEKDAYS:
            check.err(
                join(path, str(key)), f"unknown weekday {show(key)}; use {', '.join(WEEKDAYS)}"
            )
            continue
        weekly[key] = _parse_ranges(check, ranges, join(path, key))
    return weekly


def _parse_span(check: _Checker, data: dict, path: str) -> tuple[date | None, date | None]:
    """The inclusive ``from``/``to`` of a season or exception (``to`` defaults to ``from``)."""
    first = last = None
    if "from" not in data:
        check.err(join(path, "from"), 'is required: the first date, "YYYY-MM-DD"')
    else:
        first = check.date(data["from"], join(path, "from"))
    if "to" in data:
        last = check.date(data["to"], join(path, "to"))
    else:
        last = first
    if first is not None and last is not None and last < first:
        check.err(
            join(path, "to"),
            f"{last.isoformat()} is before from {first.isoformat()}; to must be on or after from",
        )
        return None, None
    return first, last


def _check_no_overlap(check: _Checker, spans, path: str, what: str) -> None:
    """Seasons (and exceptions) must not overlap: which one wins would be a guess."""
    ordered = sorted(spans, key=lambda item: (item[1].first, item[0]))
    reach = None  # the span that reaches furthest so far
    for index, span in ordered:
        if reach is not None and span.first <= reach[1].last:
            (_, first), (second_index, _) = sorted([(index, span), reach], key=lambda item: item[0])
            check.err(
                f"{path}[{second_index}]",
                f"overlaps {_one(path)} {first.name!r} "
                f"({first.first.isoformat()} to {first.last.isoformat()}); "
                f"{what} must not overlap",
            )
        if reach is None or span.last > reach[1].last:
            reach = (index, span)


def _parse_dated(
    check: _Checker,
    value,
    *,
    key: str,
    allowed,
    example: str,
    what: str,
    body: str,
    missing_body: str,
    parse_body,
    build,
    parse_when=None,
) -> tuple:
    """A list of named date spans, each with a *body* (a season's weekly plan, an
    exception's ranges): the shape seasons and exceptions share, checked one way.

    *parse_when*, if given, reads an entry's dates instead of ``from``/``to`` and returns
    ``(first, last, extra)``; *extra* (a yearly rule) is passed on to *build*, and
    entries with one are checked for overlap among themselves year by year."""
    items = check.listof(value, key, example)
    if items is None:
        return ()
    found = []
    for index, item in enumerate(items):
        where = f"{key}[{index}]"
        data = check.obj(item, where, allowed, f"a {what}")
        if data is None:
            continue
        name = check.name(data, where, what.split()[-1])
        if parse_when is not None:
            first, last, extra = parse_when(check, data, where)
        else:
            (first, last), extra = _parse_span(check, data, where), None
        if body not in data:
            check.err(f"{where}.{body}", missing_body)
            continue
        parsed = parse_body(check, data[body], f"{where}.{body}")
        if name is not None and extra is not None:
            found.append((index, build(name, None, None, parsed, extra)))
        elif name is not None and first is not None and last is not None:
            found.append((index, build(name, first, last, parsed)))
    _check_no_overlap(check, [item for item in found if item[1].first is not None], key, key)
    _check_yearly_overlap(check, [item for item in found if item[1].first is None], key)
    return tuple(entry for _, entry in found)


def _check_yearly_overlap(
    check: _Checker, found: list[tuple[int, DateException]], key: str
) -> None:
    """Two yearly exceptions on one date would leave which one wins to a guess."""
    if len(found) < 2:
        return
    # One table for all years: the Friday before 1 January 2027 lies in 2026.
    taken: dict[date, tuple[int, DateException]] = {}
    for year in _YEARLY_CHECK_YEARS:
        for index, entry in found:
            rule = entry.yearly
            if rule is None:
                raise ValueError(f"{key}[{index}] has no yearly rule to check")
            first = rule.first_in(year)
            if first is None:
                continue
            for offset in range(rule.days):
                day = first + timedelta(days=offset)
                if day in taken and taken[day][0] != index:
                    other_index, other = taken[day]
                    check.err(
                        f"{key}[{max(index, other_index)}]",
                        f"falls on {day.isoformat()} together with "
                        f"{_one(key)} "
                        f"{(other if other_index < index else entry).name!r} "
                        f"in some years; yearly exceptions must not overlap",
                    )
                    return
                taken[day] = (index, entry)


def _parse_seasons(check: _Checker, value) -> tuple[Season, ...]:
    return _parse_dated(
        check,
        value,
        key="seasons",
        allowed=_SEASON_KEYS,
        what="season",
        example='seasons such as {"name": "Summer hours", "from": "2026-07-01", '
        '"to": "2026-08-31", "weekly": {...}}',
        body="weekly",
        missing_body="is required: the season's own weekly plan (a weekday left out has no ranges)",
        parse_body=_parse_weekly,
        build=Season,
    )


def _parse_exceptions(check: _Checker, value, key: str = "exceptions") -> tuple[DateException, ...]:
    return _parse_dated(
        check,
        value,
        key=key,
        allowed=_EXCEPTION_KEYS,
        what="date exception",
        example='date exceptions such as {"name": "Christmas Eve", "from": "2026-12-24", '
        '"to": "2026-12-24", "ranges": [...]}',
        body="ranges",
        missing_body="is required: the day's time ranges, or [] for closed all day",
        parse_body=_parse_ranges,
        build=DateException,
        parse_when=_exception_when,
    )


def _exception_when(check: _Checker, data: dict, where: str):
    """An exception's dates: ``from``/``to``, or ``yearly``."""
    if "yearly" not in data:
        first, last = _parse_span(check, data, where)
        return first, last, None
    for key in ("from", "to"):
        if key in data:
            check.err(
                f"{where}.{key}",
                "leave out from and to in a yearly exception: yearly says when it falls each year",
            )
    return None, None, _parse_yearly(check, data["yearly"], f"{where}.yearly")


def _month_day(check: _Checker, data: dict, path: str, with_word: str):
    """``month`` and ``day`` of a date that repeats every year (a custom holiday, a
    yearly exception); 29 February is allowed: it counts in leap years only."""
    month = day = None
    if "month" not in data:
        check.err(f"{path}.month", f"is required{with_word and ' with day'} (1 to 12)")
    else:
        month = check.integer(data["month"], f"{path}.month", 1, 12, "the month")
    if "day" not in data:
        check.err(f"{path}.day", f"is required{with_word and ' with month'} (1 to 31)")
    elif month is not None:
        longest = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
        day = check.integer(data["day"], f"{path}.day", 1, longest, f"the day of month {month}")
    return month, day


def _parse_yearly(check: _Checker, value, path: str) -> YearlyDate | None:
    data = check.obj(
        value,
        path,
        _YEARLY_KEYS,
        'a yearly date such as {"month": 12, "day": 24}, or {"month": 12, '
        '"day": 25, "weekday": "fri", "when": "before"}',
    )
    if data is None:
        return None
    month, day = _month_day(check, data, path, "")
    weekday = when = None
    if "weekday" in data or "when" in data:
        raw = data.get("weekday")
        if raw not in WEEKDAYS:
            check.err(
                f"{path}.weekday",
                f"{show(raw)} is not a weekday; use one of {', '.join(WEEKDAYS)} (with when)",
            )
        else:
            weekday = WEEKDAYS.index(raw)
        when = data.get("when")
        if when not in YEARLY_WHEN:
            check.err(
                f"{path}.when",
                f"{show(when)} is not allowed; use one of "
                f"{', '.join(YEARLY_WHEN)} (the weekday before the "
                "date, and so on)",
            )
            when = None
    days: int | None = 1
    if "days" in data:
        days = check.integer(data["days"], f"{path}.days", 1, 31, "the number of days")
    if (
        month is None
        or day is None
        or days is None
        or ("weekday" in data or "when" in data)
        and (weekday is None or when is None)
    ):
        return None
    return YearlyDate(month, day, weekday, when, days)


# -- holidays -----------------------------------------------------------------------------


def _parse_holidays(check: _Checker, value) -> HolidayRules | None:
    if value is None:
        return None
    data = check.obj(
        value,
        "holidays",
        _HOLIDAY_KEYS,
        'such as {"country": "DE", "subdivision": "BY", "mode": "night"}',
    )
    if data is None:
        return None
    country = subdivision = None
    country_ok = True
    if data.get("country") is not None:
        country = data["country"]
        supported = country_codes()
        if not isinstance(country, str):
            check.err(
                "holidays.country",
                f'must be a country code as a string (such as "DE"), not {json_type(country)}',
            )
            country, country_ok = None, False
        elif country not in supported:
            hint = ""
            if country.upper() in supported:
                hint = f"; country codes are upper-case: {country.upper()!r}"
            else:
                close = difflib.get_close_matches(country, sorted(supported), n=3)
                if close:
                    hint = f"; did you mean {', '.join(close)}?"
            check.err(
                "holidays.country",
                f"unknown country {show(country)}{hint}; use an ISO 3166 code that "
                "the holidays library supports, such as DE, AT, CH, GB, US",
            )
            country, country_ok = None, False
    if data.get("subdivision") is not None:
        subdivision = data["subdivision"]
        if not isinstance(subdivision, str):
            check.err(
                "holidays.subdivision",
                f"must be a subdivision code as a string "
                f'(such as "BY"), not '
                f"{json_type(subdivision)}",
            )
            subdivision = None
        elif country is None:
            if country_ok:
                check.err(
                    "holidays.subdivision", "needs a country: a subdivision is part of a country"
                )
            subdivision = None
        elif subdivision not in subdivision_codes(country):
            allowed = subdivision_codes(country)
            alias = subdivision_aliases(country).get(subdivision)
            if alias:
                check.err("holidays.subdivision", f"use the code {alias!r} for {show(subdivision)}")
            elif allowed:
                check.err(
                    "holidays.subdivision",
                    f"unknown subdivision {show(subdivision)} for {country}; "
                    f"allowed: {', '.join(allowed)}",
                )
            else:
                check.err(
                    "holidays.subdivision",
                    f"{country} has no subdivisions in the holidays library; leave subdivision out",
                )
            subdivision = None
    categories = _parse_categories(check, data.get("categories", []), country, country_ok)
    mode = "night"
    if "mode" in data:
        mode = check.mode(data["mode"], "holidays.mode") or "night"
    ignore = _parse_ignore(
        check, data.get("ignore", []), country, subdivision, categories, country_ok
    )
    custom = _parse_custom(check, data.get("custom", []))
    return HolidayRules(country, subdivision, mode, ignore, custom, categories)


def _parse_categories(check: _Checker, value, country, country_ok) -> tuple[str, ...]:
    items = check.listof(
        value, "holidays.categories", 'extra holiday categories such as ["catholic"]'
    )
    if items is None:
        return ()
    kept = []
    for index, item in enumerate(items):
        where = f"holidays.categories[{index}]"
        if country is None:
            if country_ok:
                check.err(where, "needs a country: the extra categories are those of a country")
            continue
        allowed = country_categories(country)
        if not isinstance(item, str):
            check.err(
                where,
                f"must be a category name as a string, not {json_type(item)};"
                f" allowed: {', '.join(allowed)}",
            )
            continue
        if item not in allowed:
            check.err(
                where,
                f"unknown holiday category {show(item)} for {country}; "
                f"allowed: {', '.join(allowed)} (public holidays are always "
                "kept)",
            )
            continue
        if item not in kept:
            kept.append(item)
    return tuple(kept)


def _parse_ignore(
    check: _Checker, value, country, subdivision, categories, country_ok
) -> tuple[str, ...]:
    items = check.listof(
        value, "holidays.ignore", 'holiday names or dates such as ["Corpus Christi", "2026-06-04"]'
    )
    if items is None:
        return ()
    place = f"{country}-{subdivision}" if subdivision else country
    kept = []
    for index, item in enumerate(items):
        where = f"holidays.ignore[{index}]"
        if not isinstance(item, str) or not item.strip():
            check.err(
                where,
                f'must be a holiday name or a date "YYYY-MM-DD", not '
                f"{json_type(item) if not isinstance(item, str) else 'empty'}",
            )
            continue
        if country is None:
            if country_ok:
                check.err(
                    where,
                    "needs a country: only a country's holidays "
                    "can be ignored (remove a custom date instead)",
                )
            continue
        if _DATE_RE.match(item.strip()):
            day = check.date(item.strip(), where)
            if day is None:
                continue
            if day not in library_holidays(country, subdivision, day.year, categories):
                check.err(
                    where,
                    f"{day.isoformat()} is not a public holiday in {place}, "
                    "so there is nothing to ignore",
                )
                continue
        else:
            names = known_holiday_names(country, subdivision, categories)
            if holiday_name_key(item) not in names:
                close = difflib.get_close_matches(holiday_name_key(item), list(names), n=1)
                hint = f"did you mean {names[close[0]]!r}? " if close else ""
                known = ", ".join(sorted(set(names.values()))[:40])
                check.err(
                    where, f"no holiday called {show(item)} in {place}; {hint}names are: {known}"
                )
                continue
        kept.append(item.strip())
    return tuple(kept)


def _parse_custom(check: _Checker, value) -> tuple[CustomHoliday, ...]:
    items = check.listof(
        value,
        "holidays.custom",
        'dates such as {"date": "2026-06-12", "name": "Company day"} or '
        '{"month": 12, "day": 31, "name": "New Year\'s Eve"}',
    )
    if items is None:
        return ()
    found = []
    for index, item in enumerate(items):
        where = f"holidays.custom[{index}]"
        data = check.obj(
            item,
            where,
            ("date", "month", "day", "name"),
            'a fixed {"date", "name"} or a yearly {"month", "day", "name"}',
        )
        if data is None:
            continue
        name = check.name(data, where, "holiday")
        if "date" in data:
            if "month" in data or "day" in data:
                check.err(
                    where, "use either date (one day) or month and day (every year), not both"
                )
                continue
            day = check.date(data["date"], f"{where}.date")
            if name is not None and day is not None:
                found.append(CustomHoliday(name, date=day))
        elif "month" in data or "day" in data:
            month, day = _month_day(check, data, where, " with")
            if name is not None and month is not None and day is not None:
                found.append(CustomHoliday(name, month=month, day=day))
        else:
            check.err(
                where,
                'needs either "date": "YYYY-MM-DD" (one day) or "month" and "day" (every year)',
            )
    return tuple(found)


# -- time zones ---------------------------------------------------------------------------

#: Names zoneinfo loads that do not name a place: the machine's own setting (which
#: differs between the PC that wrote the schedule and the Pi), and tzdata's placeholder.
_NOT_SITE_ZONES = frozenset({"localtime", "Factory", "posixrules", "posixrules.d"})


def _check_timezone(check: _Checker, value) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(value, str):
        check.err(
            "timezone",
            f"must be an IANA time zone name as a string (such as "
            f'"Europe/Berlin"), not {json_type(value)}',
        )
        return None
    try:
        # zoneinfo also accepts relative file paths; a name never has "..", a leading
        # "/" or a trailing "/".
        if (
            not value
            or value.startswith("/")
            or ".." in value
            or value.endswith("/")
            or value in _NOT_SITE_ZONES
        ):
            raise ValueError(value)
        ZoneInfo(value)
        return value
    except (ZoneInfoNotFoundError, ValueError, OSError):
        from zoneinfo import available_timezones

        close = difflib.get_close_matches(value, sorted(available_timezones()), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        check.err(
            "timezone",
            f"unknown time zone {show(value)}{hint}; use an IANA name "
            "such as Europe/Berlin or America/New_York",
        )
        return None


# -- the public functions -----------------------------------------------------------------


def parse_schedule(data: object, *, allowed_modes: set[str] | None = None) -> Schedule:
    """Check a schedule document and return it as a :class:`Schedule`.

    Every problem is collected before anything is raised, so a person fixing a file sees
    the whole list at once.

    :param data:
        The JSON document, already decoded (``json.loads``).
    :param set allowed_modes:
        The modes this zone's actuators can produce. When given, every mode the schedule
        uses must be one of them; when None (``preview`` without a config), any
        well-formed mode name is accepted.
    :raises ~appliance.errors.ValidationError:
        With one :class:`~appliance.errors.FieldError` per problem.
    """
    check = _Checker(allowed_modes)
    doc = check.obj(
        data,
        "",
        _TOP_KEYS,
        'a schedule document such as {"timezone": "Europe/Berlin", "weekly": {...}}',
    )
    if doc is None:
        # A non-object has no fields to name; the error above already says what is allowed.
        raise ValidationError(check.errors)
    timezone = None
    if "timezone" not in doc:
        check.err("timezone", 'is required: the site\'s IANA time zone, such as "Europe/Berlin"')
    else:
        timezone = _check_timezone(check, doc["timezone"])
    default_mode = "night"
    if "default_mode" in doc:
        default_mode = check.mode(doc["default_mode"], "default_mode") or "night"
    elif check.allowed_modes is not None and "night" not in check.allowed_modes:
        check.err(
            "default_mode",
            "is required here: the default 'night' cannot be produced"
            f" by this zone's actuators; allowed: "
            f"{', '.join(sorted(check.allowed_modes))}",
        )
    weekly = _parse_weekly(check, doc.get("weekly", {}), "weekly")
    holiday_rules = _parse_holidays(check, doc.get("holidays"))
    if (
        holiday_rules is not None
        and "mode" not in (doc.get("holidays") or {})
        and check.allowed_modes is not None
        and "night" not in check.allowed_modes
    ):
        check.err(
            "holidays.mode",
            "is required here: the default 'night' cannot be produced by this zone's actuators",
        )
    seasons = _parse_seasons(check, doc.get("seasons", []))
    exceptions = _parse_exceptions(check, doc.get("exceptions", []))
    # A missing or unknown time zone is always one of the errors.
    if check.errors or timezone is None:
        raise ValidationError(check.errors)
    return Schedule(timezone, default_mode, weekly, holiday_rules, seasons, exceptions)


def parse_exception_list(
    value: object, *, path: str = "exceptions", allowed_modes: set[str] | None = None
) -> tuple[DateException, ...]:
    """Check a list of date exceptions on its own (a company closure set is one) and
    return them; the errors name fields under *path* (``closures[1].from``).

    :raises ~appliance.errors.ValidationError:
        With one line per problem, as :func:`parse_schedule`.
    """
    check = _Checker(allowed_modes)
    found = _parse_exceptions(check, value, path)
    if check.errors:
        raise ValidationError(check.errors)
    return found


def _ranges_to_json(ranges) -> list[dict]:
    return [
        {"start": format_minutes(r.start), "end": format_minutes(r.end), "mode": r.mode}
        for r in ranges
    ]


def _weekly_to_json(weekly) -> dict:
    return {day: _ranges_to_json(weekly.get(day, ())) for day in WEEKDAYS}


def schedule_to_json(schedule: Schedule) -> dict:
    """The JSON document of *schedule*; :func:`parse_schedule` gives the same schedule
    back. Every weekday is written out, so a reader never has to know the "missing
    weekday = no ranges" rule."""
    holidays_json = None
    rules = schedule.holidays
    if rules is not None:
        custom: list[dict[str, str | int | None]] = []
        for item in rules.custom:
            if item.date is not None:
                custom.append({"date": item.date.isoformat(), "name": item.name})
            else:
                custom.append({"month": item.month, "day": item.day, "name": item.name})
        holidays_json = {
            "country": rules.country,
            "subdivision": rules.subdivision,
            "categories": list(rules.categories),
            "mode": rules.mode,
            "ignore": list(rules.ignore),
            "custom": custom,
        }
    return {
        "timezone": schedule.timezone,
        "default_mode": schedule.default_mode,
        "weekly": _weekly_to_json(schedule.weekly),
        "holidays": holidays_json,
        "seasons": [
            {
                "name": s.name,
                "from": s.first.isoformat(),
                "to": s.last.isoformat(),
                "weekly": _weekly_to_json(s.weekly),
            }
            for s in schedule.seasons
        ],
        "exceptions": [_exception_to_json(e) for e in schedule.exceptions],
    }


def _exception_to_json(exc: DateException) -> dict:
    if exc.yearly is None:
        if exc.first is None or exc.last is None:
            raise ValueError(f"date exception {exc.name!r} has neither dates nor a yearly rule")
        return {
            "name": exc.name,
            "from": exc.first.isoformat(),
            "to": exc.last.isoformat(),
            "ranges": _ranges_to_json(exc.ranges),
        }
    rule = exc.yearly
    yearly: dict = {"month": rule.month, "day": rule.day}
    if rule.weekday is not None:
        yearly.update(weekday=WEEKDAYS[rule.weekday], when=rule.when)
    if rule.days != 1:
        yearly["days"] = rule.days
    return {"name": exc.name, "yearly": yearly, "ranges": _ranges_to_json(exc.ranges)}


def default_schedule_json(timezone: str = "Europe/Berlin") -> dict:
    """The schedule a fresh appliance starts with: Monday to Friday 08:00-18:00 ``day``,
    ``night`` at all other times, no holidays (the installer picks the country)."""
    office = [{"start": "08:00", "end": "18:00", "mode": "day"}]
    return {
        "timezone": timezone,
        "default_mode": "night",
        "weekly": {
            day: (list(map(dict, office)) if day not in ("sat", "sun") else []) for day in WEEKDAYS
        },
        "holidays": None,
        "seasons": [],
        "exceptions": [],
    }
