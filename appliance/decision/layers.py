"""Closure layers: closures that come from outside the saved schedule.

Two kinds sit between the date exceptions and the public holidays
(docs/design.md#modes-and-precedence):

- ``calendar``: the events of a subscribed calendar (ICS URL or CalDAV), each a
  :class:`CalendarEntry`. An all-day event closes whole local dates (its end date is
  exclusive, as in iCalendar); a timed event closes only during its time, and may span
  midnight. The mode is the entry's own (``night`` unless the feed's config maps the
  event's category to another mode).
- ``company``: a versioned set of company closures pushed to every site of a fleet.
  Its entries have the shape of the schedule's date exceptions
  (:class:`~appliance.decision.schedule.DateException`): a date the set covers is planned
  by the entry's ranges, and the default mode outside them.

The order, highest first: a hand-entered date exception (the whole date), then the
calendar layers (during each event's time), then the company layers (whole dates),
then holidays, seasons and the weekly hours. Among layers of one kind the first given
wins.

A layer is never part of the saved schedule JSON: a parsed
:class:`~appliance.decision.schedule.Schedule` carries layers through
:meth:`~appliance.decision.schedule.Schedule.with_layers`, and
:func:`~appliance.decision.dayplan.day_plan` honours them, so :func:`decide` and
:func:`preview` do too.

Calendar times are instants; the core works in local wall-clock minutes, so a timed
entry is turned into the wall-clock span from its local start (rounded down to the
minute) to its local end (rounded up), in the schedule's own time zone. In an autumn
overlap the first occurrence of a wall-clock time counts, as for every time in the
schedule (docs/design.md#modes-and-precedence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from appliance.decision.schedule import (
    DAY_MINUTES,
    MODE_RE,
    DateException,
    parse_exception_list,
)
from appliance.errors import FieldError, ValidationError

#: The kinds of layer, in their order of precedence.
KINDS = ("calendar", "company")
#: An entry longer than this is kept out of the per-date index and checked on every
#: date instead, so an all-day event that runs for years costs no memory per day.
_INDEX_DAYS = 62
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class CalendarEntry:
    """One closure from a calendar.

    :param str summary:
        The event's title, shown in reasons (``calendar Closures: Staff outing``).
    :param str mode:
        The mode in force while the entry lasts.
    :param start:
        For an all-day entry a :class:`~datetime.date`; for a timed one a
        timezone-aware :class:`~datetime.datetime`.
    :param end:
        Exclusive, of the same type as *start* and later than it: an all-day event on
        24 December alone ends on 25 December.
    """

    summary: str
    mode: str
    start: date | datetime
    end: date | datetime

    def __post_init__(self):
        timed = isinstance(self.start, datetime)
        if timed != isinstance(self.end, datetime):
            raise ValueError("start and end must both be dates (all day) or both datetimes (timed)")
        if timed and (self.start.tzinfo is None or self.end.tzinfo is None):
            raise ValueError("a timed entry needs timezone-aware start and end")
        if not isinstance(self.start, date):
            raise ValueError(f"start must be a date or datetime, not {self.start!r}")
        if not _instant(self.end) > _instant(self.start):
            raise ValueError(f"end {self.end} must be later than start {self.start}")
        if not isinstance(self.mode, str) or not MODE_RE.match(self.mode):
            raise ValueError(f"{self.mode!r} is not a mode name")

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)


@dataclass(frozen=True)
class Segment:
    """Part of one local date that a calendar entry closes: ``[start, end)`` minutes."""

    start: int
    end: int
    mode: str
    why: str


@dataclass(frozen=True)
class ClosureLayer:
    """Closures from one source, in one place of the precedence.

    :param str kind:
        ``calendar`` or ``company`` (:data:`KINDS`).
    :param str label:
        Names the source in reasons: a calendar's name (``Closures`` gives ``calendar
        Closures: Staff outing``), a company set's version (``v7`` gives ``company
        closure v7: Staff day``).
    :param tuple entries:
        :class:`CalendarEntry` for a calendar layer,
        :class:`~appliance.decision.schedule.DateException` for a company layer.
    """

    kind: str
    label: str
    entries: tuple = ()
    # Per time zone: {date: segments} and the long entries. Built on first use; not
    # part of equality or the hash.
    _index: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        object.__setattr__(self, "entries", tuple(self.entries))
        wanted = CalendarEntry if self.kind == "calendar" else DateException
        for entry in self.entries:
            if not isinstance(entry, wanted):
                raise ValueError(
                    f"a {self.kind} layer holds {wanted.__name__} entries, "
                    f"not {type(entry).__name__}"
                )

    @property
    def prefix(self) -> str:
        """How reasons name this layer: ``calendar Closures`` or ``company closure v7``."""
        word = "calendar" if self.kind == "calendar" else "company closure"
        return f"{word} {self.label}".rstrip()

    @property
    def modes(self) -> set[str]:
        """Every mode this layer can put in force (a company entry's gaps take the
        schedule's default mode, which is not listed here)."""
        if self.kind == "calendar":
            return {entry.mode for entry in self.entries}
        return {rng.mode for entry in self.entries for rng in entry.ranges}

    def company_entry_on(self, day: date) -> DateException | None:
        """The company closure that covers *day*, or None (company layers only)."""
        for entry in self.entries:
            if entry.covers(day):
                return entry
        return None

    def segments_on(self, day: date, tz: ZoneInfo) -> tuple[Segment, ...]:
        """The parts of local *day* that this calendar layer closes, in the order of
        their entries' start (earliest first; it wins where two overlap)."""
        index = self._index.get(tz.key)
        if index is None:
            index = _build_index(self, tz)
            self._index[tz.key] = index
        by_date, long_spans = index
        found = list(by_date.get(day, ()))
        for first, last, seg_of in long_spans:
            if first <= day <= last:
                item = seg_of(day)
                if item[1].end > item[1].start:
                    found.append(item)
        if long_spans:
            found.sort(key=lambda item: item[0])
        return tuple(segment for _, segment in found)


def _instant(at):
    """*at* comparable as an instant: Python compares and subtracts two datetimes of the
    same zone by their wall clocks, so 00:00 before and 00:00 after an autumn change
    would be the same (Cuba repeats its midnight hour); in UTC they are an hour apart."""
    return at.astimezone(timezone.utc) if isinstance(at, datetime) else at


def _local_minutes(at: datetime, tz: ZoneInfo, *, up: bool) -> tuple[date, int]:
    """The local date and wall-clock minute of *at*, rounded down (or *up*)."""
    local = at.astimezone(tz)
    minute = local.hour * 60 + local.minute
    if up and (local.second or local.microsecond):
        minute += 1
    day = local.date()
    if minute >= DAY_MINUTES and up:
        # 23:59:30 rounds up to the end of the day.
        minute = DAY_MINUTES
    return day, minute


def _entry_span(entry: CalendarEntry, tz: ZoneInfo):
    """``(first date, first minute, last date, end minute)`` of *entry* in local wall
    time; the end minute of the last date is exclusive and may be 1440."""
    start_at, end_at = entry.start, entry.end
    if not isinstance(start_at, datetime) or not isinstance(end_at, datetime):
        # All day (CalendarEntry makes start and end both dates or both datetimes).
        return start_at, 0, end_at - _ONE_DAY, DAY_MINUTES
    first, start = _local_minutes(start_at, tz, up=False)
    last, end = _local_minutes(end_at, tz, up=True)
    if end == 0:
        # Ends at local midnight: the previous date is the last, to its end.
        last, end = last - _ONE_DAY, DAY_MINUTES
    if (last, end) <= (first, start):
        # The end falls in the repeated autumn hour before the start's first occurrence:
        # keep the entry's length rather than drop it.
        minutes = math.ceil((_instant(end_at) - _instant(start_at)).total_seconds() / 60)
        last, end = first, min(DAY_MINUTES, start + max(1, minutes))
    return first, start, last, end


def _segment(day: date, span, mode: str, why: str) -> Segment:
    first, start, last, end = span
    return Segment(start if day == first else 0, end if day == last else DAY_MINUTES, mode, why)


def _build_index(layer: ClosureLayer, tz: ZoneInfo):
    """``({date: [(sort key, Segment)]}, [(first, last, make)])``: short entries by date,
    long ones as spans whose segment is made when a date asks for it."""
    by_date: dict[date, list] = {}
    long_spans = []
    for order, entry in enumerate(layer.entries):
        why = f"{layer.prefix}: {entry.summary}"
        span = _entry_span(entry, tz)
        first, _, last, _ = span

        def make(day, span=span, mode=entry.mode, why=why, order=order):
            segment = _segment(day, span, mode, why)
            return (segment.start, order), segment

        if (last - first).days > _INDEX_DAYS:
            long_spans.append((first, last, make))
            continue
        day = first
        while day <= last:
            item = make(day)
            if item[1].end > item[1].start:
                by_date.setdefault(day, []).append(item)
            day += _ONE_DAY
    for items in by_date.values():
        items.sort(key=lambda item: item[0])
    return by_date, long_spans


def parse_company_closures(data: object, *, allowed_modes: set[str] | None = None) -> ClosureLayer:
    """Check a company closure set and return it as a ``company`` :class:`ClosureLayer`.

    The set is ``{"version": N, "closures": [...]}``; each closure has the shape of a
    schedule's date exception (``name``, ``from``, ``to``, ``ranges``) and is checked by
    the same parser, so errors name the field the same way (``closures[2].to``).

    :param data:
        The decoded JSON document.
    :param set allowed_modes:
        The modes the zone's actuators can produce, or None for any mode name.
    :raises ~appliance.errors.ValidationError:
        With one line per problem.
    """
    if not isinstance(data, dict):
        raise ValidationError(
            [
                FieldError(
                    "", 'must be a company closure set such as {"version": 7, "closures": [...]}'
                )
            ]
        )
    errors = []
    for key in data:
        if key not in ("version", "closures"):
            errors.append(FieldError(str(key), "unknown key; allowed keys here: version, closures"))
    version = data.get("version")
    if "version" not in data:
        errors.append(FieldError("version", "is required: the set's version number, 1 or more"))
    elif isinstance(version, bool) or not isinstance(version, int) or version < 1:
        errors.append(FieldError("version", f"must be a whole number, 1 or more, not {version!r}"))
    entries: tuple = ()
    if "closures" not in data:
        errors.append(
            FieldError(
                "closures",
                "is required: a list of closures such as "
                '{"name": "Staff day", "from": "2026-12-24", '
                '"to": "2026-12-24", "ranges": []}',
            )
        )
    else:
        try:
            entries = parse_exception_list(
                data["closures"], path="closures", allowed_modes=allowed_modes
            )
        except ValidationError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationError(errors)
    return ClosureLayer("company", f"v{version}", entries)
