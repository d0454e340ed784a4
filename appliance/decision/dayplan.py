"""One local date's plan: which mode when, and why.

A schedule's levels 3 to 6 (docs/design.md#modes-and-precedence) all work on local
dates, so the plan of a date is worked out in one place: a date exception wins over the
closures of a subscribed calendar, which win over a company closure, then a public or custom
holiday, a season, and the weekly plan. The closures come from the schedule's layers
(:mod:`appliance.decision.layers`). The result is a
:class:`DayPlan`, the day cut into :class:`Piece` entries that together cover 00:00 to
24:00 in wall-clock minutes, each with its mode, its source and its reason in words.

Turning wall-clock minutes into instants (daylight-saving gaps and overlaps) is the
job of :mod:`appliance.decision.decide`; this module knows nothing about time zones.

Public holidays come from the ``holidays`` library, looked up once per year, country
and subdivision and then kept (the library itself fills its tables lazily per year).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from appliance.decision.holiday_source import (
    category_word,
    holiday_categories_on,
    holiday_name_key,
    library_holidays,
)
from appliance.decision.schedule import (
    DAY_MINUTES,
    WEEKDAY_NAMES,
    WEEKDAYS,
    HolidayRules,
    Schedule,
    TimeRange,
    format_minutes,
)


@dataclass(frozen=True)
class Piece:
    """A stretch of one local date in one mode.

    :param int start:
        Wall-clock minutes after midnight where the piece begins.
    :param int end:
        Wall-clock minutes after midnight where it ends (1440 = the end of the day).
    :param str mode:
        The mode in force.
    :param str source:
        Which level decided: ``exception``, ``calendar``, ``company``, ``holiday``,
        ``season``, ``weekly`` or ``default``.
    :param str why:
        The reason without the mode, such as ``"weekly hours Monday 08:00-18:00"``.
    """

    start: int
    end: int
    mode: str
    source: str
    why: str

    @property
    def reason(self) -> str:
        """The reason as shown to people: ``"day: weekly hours Monday 08:00-18:00"``."""
        return f"{self.mode}: {self.why}"


@dataclass(frozen=True)
class DayPlan:
    """The pieces of one local date, in order, covering 00:00 to 24:00 without gaps."""

    day: date
    pieces: tuple[Piece, ...]

    def piece_at(self, minute: int) -> Piece:
        """The piece in force *minute* minutes after local midnight (0 to 1439)."""
        for piece in self.pieces:
            if piece.start <= minute < piece.end:
                return piece
        raise ValueError(f"minute {minute} is outside the day (0 to {DAY_MINUTES - 1})")

    def mode_at(self, minute: int) -> str:
        return self.piece_at(minute).mode


# -- holidays -----------------------------------------------------------------------------


def clear_holiday_cache() -> None:
    """Forget the cached holiday tables (the benchmark measures a cold start with it)."""
    library_holidays.cache_clear()
    _rules_index.cache_clear()


def clear_caches() -> None:
    """Forget every cached table and day, as in a freshly started process."""
    clear_holiday_cache()
    _fill.cache_clear()


@dataclass(frozen=True)
class _RulesIndex:
    ignore_dates: frozenset[date]
    ignore_names: frozenset[str]
    fixed: dict[date, tuple[str, ...]]
    yearly: dict[tuple[int, int], tuple[str, ...]]


@lru_cache(maxsize=64)
def _rules_index(rules: HolidayRules) -> _RulesIndex:
    ignore_dates, ignore_names = set(), set()
    for item in rules.ignore:
        try:
            ignore_dates.add(date.fromisoformat(item))
        except ValueError:
            ignore_names.add(holiday_name_key(item))
    fixed: dict[date, tuple[str, ...]] = {}
    yearly: dict[tuple[int, int], tuple[str, ...]] = {}
    for holiday in rules.custom:
        if holiday.date is not None:
            fixed[holiday.date] = fixed.get(holiday.date, ()) + (holiday.name,)
        elif holiday.month is not None and holiday.day is not None:
            # One with neither a date nor a month and day falls on no day.
            key = (holiday.month, holiday.day)
            yearly[key] = yearly.get(key, ()) + (holiday.name,)
    return _RulesIndex(frozenset(ignore_dates), frozenset(ignore_names), fixed, yearly)


def holiday_reason(rules: HolidayRules, day: date) -> str | None:
    """Why *day* is a holiday under *rules* (``"public holiday Christmas Day (DE)"``), or
    None when it is not one.

    A library holiday named in ``rules.ignore`` (by name or date) does not count; custom
    dates always do.
    """
    index = _rules_index(rules)
    parts = []
    country = rules.country
    if country is not None and day not in index.ignore_dates:
        listed = library_holidays(country, rules.subdivision, day.year, rules.categories).get(
            day, ()
        )
        names = [n for n in listed if holiday_name_key(n) not in index.ignore_names]
        if names:
            parts.append(_named_by_category(rules, country, day, names))
    custom = index.fixed.get(day, ()) + index.yearly.get((day.month, day.day), ())
    if custom:
        parts.append(f"holiday {', '.join(custom)}")
    return "; ".join(parts) if parts else None


def _named_by_category(rules: HolidayRules, country: str, day: date, names: list[str]) -> str:
    """``"public holiday Christmas Day (DE)"``; with extra categories each name says its
    own (``"school holidays Summer Break (DE-BY)"``), so a six-week school break is never
    called a public holiday.

    A holiday of the whole country is labelled (DE); one kept only in the subdivision
    (Corpus Christi in Bavaria) is labelled (DE-BY), so staff in a multi-site company
    see why their office is closed and another is not.
    """
    found = (
        holiday_categories_on(country, rules.subdivision, day, rules.categories)
        if rules.categories
        else {}
    )
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(found.get(name, "public"), []).append(name)
    national = None
    if rules.subdivision is not None:
        national = set(library_holidays(country, None, day.year, rules.categories).get(day, ()))
    parts = []
    for category in sorted(groups, key=lambda c: c != "public"):
        group = groups[category]
        place = country
        if national is not None and not set(group) <= national:
            place = f"{country}-{rules.subdivision}"
        parts.append(f"{category_word(category)} {', '.join(group)} ({place})")
    return "; ".join(parts)


# -- building a day -----------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _fill(
    ranges: tuple[TimeRange, ...],
    default_mode: str,
    range_source: str,
    range_label: str,
    gap_source: str,
    gap_why: str,
) -> tuple[Piece, ...]:
    """Cut a day into pieces: each range, and the default mode in the time between.

    Cached because the same weekday's ranges make the same pieces every week.
    """
    pieces = []
    at = 0
    for rng in ranges:  # sorted and non-overlapping, as parse_schedule guarantees
        if rng.start > at:
            pieces.append(Piece(at, rng.start, default_mode, gap_source, gap_why))
        pieces.append(
            Piece(
                rng.start,
                rng.end,
                rng.mode,
                range_source,
                f"{range_label} {format_minutes(rng.start)}-{format_minutes(rng.end)}",
            )
        )
        at = rng.end
    if at < DAY_MINUTES:
        pieces.append(Piece(at, DAY_MINUTES, default_mode, gap_source, gap_why))
    return tuple(pieces)


def day_plan(schedule: Schedule, day: date) -> DayPlan:
    """The plan of one local date (docs/design.md#modes-and-precedence, levels 3 to 6):

    a date exception (the whole date; a dated one before a yearly one) > calendar
    closures (during each event) > a
    company closure (the whole date) > holiday > season > weekly hours.

    :param Schedule schedule:
        A schedule from :func:`~appliance.decision.schedule.parse_schedule`, with the
        closure layers of :meth:`~appliance.decision.schedule.Schedule.with_layers`.
    :param date day:
        The local date.
    """
    default = schedule.default_mode
    # A hand-entered exception wins over every layer for the whole date; one for this
    # date alone wins over one that repeats every year.
    for yearly in (False, True):
        for exc in schedule.exceptions:
            if (exc.yearly is not None) == yearly and exc.covers(day):
                return DayPlan(day, _exception_pieces(exc, default, "exception", exc.name))
    pieces = None
    for layer in schedule.layers:
        if layer.kind == "company":
            closure = layer.company_entry_on(day)
            if closure is not None:
                pieces = _exception_pieces(
                    closure, default, "company", f"{layer.prefix}: {closure.name}"
                )
                break
    if pieces is None:
        pieces = _plain_pieces(schedule, day)
    segments = []
    for layer in schedule.layers:
        if layer.kind == "calendar" and layer.entries:
            segments.extend(layer.segments_on(day, _zone(schedule.timezone)))
    if segments:
        pieces = _paint(pieces, segments)
    return DayPlan(day, pieces)


def _exception_pieces(exc, default: str, source: str, label: str) -> tuple[Piece, ...]:
    """A date planned by an exception-shaped entry: its ranges, the default between.

    The reasons are read at reception, so they name the day in plain words (``Christmas
    Eve, special hours 08:00-12:00``), never the schedule's word "exception"."""
    gap_why = f"{label}, outside its special hours" if exc.ranges else f"{label}, closed all day"
    return _fill(exc.ranges, default, source, f"{label}, special hours", source, gap_why)


def _plain_pieces(schedule: Schedule, day: date) -> tuple[Piece, ...]:
    """Holiday > season > weekly hours."""
    default = schedule.default_mode
    if schedule.holidays is not None:
        why = holiday_reason(schedule.holidays, day)
        if why is not None:
            return (Piece(0, DAY_MINUTES, schedule.holidays.mode, "holiday", why),)
    weekday = day.weekday()
    for season in schedule.seasons:
        if season.covers(day):
            return _fill(
                season.weekly[WEEKDAYS[weekday]],
                default,
                "season",
                f"season {season.name}, {WEEKDAY_NAMES[weekday]}",
                "season",
                f"season {season.name}, outside hours",
            )
    return _fill(
        schedule.weekly[WEEKDAYS[weekday]],
        default,
        "weekly",
        f"weekly hours {WEEKDAY_NAMES[weekday]}",
        "default",
        "outside hours",
    )


@lru_cache(maxsize=64)
def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _paint(pieces: tuple[Piece, ...], segments) -> tuple[Piece, ...]:
    """*pieces* with each calendar segment laid over them; where segments overlap, the
    first listed wins (so they are painted last first). Neighbours left with the same
    mode and reason are joined, so a piece is never cut for nothing."""
    result = list(pieces)
    for segment in reversed(segments):
        if segment.end <= segment.start:
            continue
        over = Piece(segment.start, segment.end, segment.mode, "calendar", segment.why)
        cut = []
        for piece in result:
            if piece.end <= over.start or piece.start >= over.end:
                cut.append(piece)
                continue
            if piece.start < over.start:
                cut.append(Piece(piece.start, over.start, piece.mode, piece.source, piece.why))
            if piece.end > over.end:
                cut.append(Piece(over.end, piece.end, piece.mode, piece.source, piece.why))
        cut.append(over)
        cut.sort(key=lambda piece: piece.start)
        result = cut
    joined: list[Piece] = []
    for piece in result:
        last = joined[-1] if joined else None
        if (
            last is not None
            and last.end == piece.start
            and last.mode == piece.mode
            and last.source == piece.source
            and last.why == piece.why
        ):
            joined[-1] = Piece(last.start, piece.end, piece.mode, piece.source, piece.why)
        else:
            joined.append(piece)
    return tuple(joined)
