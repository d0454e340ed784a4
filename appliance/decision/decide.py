"""Which mode is in force, why, and when it changes next: the one evaluator.

:func:`decide` answers for one instant, taking the key switch and a manual override into
account (docs/design.md#modes-and-precedence, levels 1 and 2); the schedule's own levels 3
to 6 come from :func:`~appliance.decision.dayplan.day_plan`. :func:`preview` lists the
changes over a span of days. The controller, the LEDs, the web page, the API and
``nightswitch preview`` all get their answer from here, so they can never disagree
(FreePBX's two evaluators did).

Wall-clock to instant: every piece of a day starts at a local wall-clock time. That
time is turned into an instant by :func:`wall_to_instant`, which is monotonic: a time
in the spring-forward gap becomes the first instant after the gap, and a time in the
autumn overlap its first occurrence. The schedule is then a sequence of pieces on the
instant line; a piece squeezed to nothing by a gap simply drops out, and in the
repeated autumn hour the mode does not flip back (no flicker).

Nothing here reads the clock: ``now`` is always an argument.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo

from appliance.decision.dayplan import Piece, day_plan
from appliance.decision.schedule import Schedule
from appliance.errors import FieldError, ValidationError
from appliance.timetext import when

#: How far ahead the next change is searched for before saying "never"
#: (docs/design.md#modes-and-precedence).
SEARCH_DAYS = 400
#: The years decide() works in; beyond them date arithmetic would overflow. (1970 is
#: inside: a Pi without an RTC boots there, and still shows a decision.)
SUPPORTED_YEARS = (1000, 9989)
#: The longest preview (ten years), and the dates it may cover.
MAX_PREVIEW_DAYS = 3660
PREVIEW_YEARS = (1970, 2199)

_ONE_DAY = timedelta(days=1)
_UTC = timezone.utc


class Key(StrEnum):
    """The position of the key switch at reception."""

    AUTO = "auto"
    DAY = "day"
    NIGHT = "night"
    NONE = "none"  # no key switch fitted: behaves like AUTO


@dataclass(frozen=True)
class Override:
    """A manual override: *mode* until *until* (None: until cancelled).

    ``until`` is always concrete or None; an ``until: next`` request is resolved with
    :func:`next_schedule_change` when the override is made.
    """

    mode: str
    until: datetime | None
    by: str
    set_at: datetime


@dataclass(frozen=True)
class Change:
    """The next change of mode: at the instant *at* (aware, UTC), to *mode*."""

    at: datetime
    mode: str


@dataclass(frozen=True)
class Decision:
    """The mode in force, who decided (*source*), why in words, and the next change.

    *source* is a :class:`~appliance.vocabulary.Source`: ``key``, ``override``,
    ``exception``, ``calendar``, ``company``, ``holiday``, ``season``, ``weekly``,
    ``default`` or ``hold``.
    """

    mode: str
    source: str
    reason: str
    next_change: Change | None


@dataclass(frozen=True)
class Transition:
    """One entry of a preview: from *at* on, *mode*, for *reason*.

    *at* is aware and in the site's time zone, ready to show. Compare it with instants
    in other zones by ordering or after ``astimezone(timezone.utc)``: Python never finds
    an instant in an autumn overlap ``==`` to one in another zone (PEP 495).
    """

    at: datetime
    mode: str
    reason: str
    source: str


# -- wall-clock to instants ---------------------------------------------------------------


def wall_to_instant(tz: ZoneInfo, day: date, minute: int) -> datetime:
    """The instant (aware, UTC) at which the local wall clock reaches *minute* on *day*.

    In the autumn overlap the first occurrence counts; a time that the spring change
    skips becomes the first instant after the gap (docs/design.md#modes-and-precedence).
    The result never decreases as (*day*, *minute*) increases.

    :param ZoneInfo tz:
        The site's time zone.
    :param date day:
        The local date.
    :param int minute:
        Minutes after local midnight, 0 to 1440 (1440 is the next day's midnight).
    """
    wall = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
    instant = wall.replace(tzinfo=tz).astimezone(_UTC)  # fold=0: the first occurrence
    if instant.astimezone(tz).replace(tzinfo=None) == wall:
        return instant
    # *wall* does not exist. With fold=0 zoneinfo used the offset from before the gap,
    # which lands after the change; with fold=1 the offset after it, which lands before.
    # The change itself lies in between: find the first second with the new offset.
    # Transitions fall on whole seconds, so search whole POSIX seconds.
    low = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    high = int(instant.timestamp())
    old_offset = datetime.fromtimestamp(low, tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == old_offset:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, _UTC)


def _timeline(
    schedule: Schedule, tz: ZoneInfo, first_day: date, last_day: date
) -> Iterator[tuple[datetime, Piece]]:
    """The pieces of *first_day* to *last_day* (inclusive) with their start instants.

    A piece that a daylight-saving gap squeezes to no time at all is left out, so every
    piece yielded is in force for a while.
    """
    pending: tuple[datetime, Piece] | None = None
    day = first_day
    while day <= last_day:
        for piece in day_plan(schedule, day).pieces:
            at = wall_to_instant(tz, day, piece.start)
            if pending is not None and at > pending[0]:
                yield pending
            pending = (at, piece)
        day += _ONE_DAY
    if pending is not None and wall_to_instant(tz, day, 0) > pending[0]:
        yield pending


def _pieces_from(
    schedule: Schedule, since: datetime, days: int = SEARCH_DAYS
) -> Iterator[tuple[datetime, Piece]]:
    """The piece in force at *since* (its start given as *since*), then every later piece,
    for about *days* days."""
    try:
        far = since.astimezone(_UTC).year > SUPPORTED_YEARS[1]
    except OverflowError:
        far = True
    if far:
        return  # an override "until" the far future: nothing to search
    tz = ZoneInfo(schedule.timezone)
    local_day = since.astimezone(tz).date()
    last_day = min(local_day + timedelta(days=days), date(SUPPORTED_YEARS[1] + 1, 12, 31))
    held: Piece | None = None
    # Start a day early: the piece in force just after local midnight may have begun
    # the evening before (and an overlap at midnight can move the date back).
    for at, piece in _timeline(schedule, tz, local_day - _ONE_DAY, last_day):
        if at <= since:
            held = piece
            continue
        if held is not None:
            yield since, held
            held = None
        yield at, piece
    if held is not None:
        yield since, held


def _first_other(pieces: Iterator[tuple[datetime, Piece]], mode: str) -> Change | None:
    for at, piece in pieces:
        if piece.mode != mode:
            return Change(at, piece.mode)
    return None


def _next_other(
    schedule: Schedule,
    since: datetime,
    mode: str,
    pieces: Iterator[tuple[datetime, Piece]] | None = None,
) -> Change | None:
    """The first instant at or after *since* at which *schedule* gives a mode other than
    *mode* (*pieces*: :func:`_pieces_from` at *since*, if begun already).

    The search may walk 400 days of day plans (a zone that stays closed, a calendar
    that closes every weekday: 0.3 s with 5,000 events), and the controller decides on
    every pass, so its answer is kept on the schedule (:attr:`Schedule.searches`): a
    search from *start* that found a change at *C* answers every *since* in
    ``[start, C)`` the same, since the mode is *mode* all through. One that found
    nothing answers for the rest of *start*'s local day, whose search reaches the same
    last day (:data:`SEARCH_DAYS`). The answer is exactly what a new search gives.
    """
    tz = ZoneInfo(schedule.timezone)
    known = schedule.searches.get(mode)
    if known is not None:
        start, start_day, change = known
        if start <= since and (
            since < change.at if change is not None else _local_day(since, tz) == start_day
        ):
            return change
    if pieces is None:
        pieces = _pieces_from(schedule, since)
    change = _first_other(pieces, mode)
    schedule.searches[mode] = (since, _local_day(since, tz), change)
    return change


def _local_day(at: datetime, tz: ZoneInfo) -> date | None:
    try:
        return at.astimezone(tz).date()
    except OverflowError:  # an override "until" the end of time
        return None


# -- the public functions -----------------------------------------------------------------


def _check_aware(now: datetime, name: str = "now") -> None:
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {now!r}")
    if not SUPPORTED_YEARS[0] <= now.year <= SUPPORTED_YEARS[1]:
        raise ValueError(
            f"{name} {now.isoformat()} is out of range; decisions are made "
            f"for the years {SUPPORTED_YEARS[0]} to {SUPPORTED_YEARS[1]}"
        )


def next_schedule_change(schedule: Schedule, now: datetime) -> Change | None:
    """The schedule's next change of mode after *now*, ignoring key and override.

    It is the first instant after *now* at which levels 3 to 6 give a different mode
    than they give at *now*; a new reason for the same mode is not a change. This is the
    end of an ``until: next`` override.

    :returns:
        A :class:`Change`, or None when nothing changes within :data:`SEARCH_DAYS` days.
    """
    _check_aware(now)
    pieces = _pieces_from(schedule, now)
    _, current = next(pieces)
    return _next_other(schedule, now, current.mode, pieces)


def _format_until(until: datetime, now: datetime, tz: ZoneInfo) -> str:
    try:
        until.astimezone(tz)
    except OverflowError:  # the end of time itself: no local date to show
        return until.isoformat()
    return when(until, now, tz)


def decide(
    now: datetime,
    schedule: Schedule,
    override: Override | None = None,
    key: Key = Key.AUTO,
    *,
    clock_synchronized: bool = True,
    held_mode: str | None = None,
) -> Decision:
    """The mode in force at *now*, who decided, why, and the next change.

    The first that applies wins: the key switch in DAY or NIGHT; an override that has
    not expired; then the schedule (exception, holiday, season, weekly hours, default).
    On a clock that is not known to be right, the schedule is not trusted at all: the
    mode last applied is *held* (source ``hold``) until the clock is synchronized, so the
    appliance never switches on a wrong clock (docs/design.md#the-clock-hold). The key
    and an override still decide then: a person asked for them now, whatever the clock
    says.

    :param datetime now:
        The instant, timezone-aware.
    :param Schedule schedule:
        This zone's schedule; each zone is decided by calling with its own schedule.
    :param Override override:
        The zone's manual override, or None. One whose ``until`` is at or before *now*
        has expired and is ignored.
    :param Key key:
        The key switch position; :attr:`Key.NONE` (no switch) behaves like AUTO.
    :param bool clock_synchronized:
        False while the system clock is not known to be right.
    :param str held_mode:
        The mode last applied (from the store), which a hold keeps; None when nothing
        was ever applied, which a hold shows as ``unknown``.
    """
    _check_aware(now)
    key = Key(key)
    if key in (Key.DAY, Key.NIGHT):
        # The key is the authority until someone turns it: nothing changes by itself.
        return Decision(key.value, "key", f"{key.value}: key switch in {key.name}", None)
    if override is not None and (override.until is None or override.until > now):
        tz = ZoneInfo(schedule.timezone)
        who = f" by {override.by}" if override.by else ""
        if override.until is None:
            return Decision(
                override.mode, "override", f"{override.mode}: override{who} until cancelled", None
            )
        # At the override's end the schedule takes over; if it wants the same mode
        # there, the mode changes only at the schedule's next change after that.
        change = _next_other(schedule, override.until, override.mode)
        return Decision(
            override.mode,
            "override",
            f"{override.mode}: override{who} until {_format_until(override.until, now, tz)}",
            change,
        )
    if not clock_synchronized:
        if held_mode is None:
            return Decision("unknown", "hold", "waiting for the clock: nothing applied yet", None)
        return Decision(
            held_mode,
            "hold",
            f"{held_mode}: holding the last mode applied, the clock is not synchronized",
            None,
        )
    pieces = _pieces_from(schedule, now)
    _, current = next(pieces)
    return Decision(
        current.mode,
        current.source,
        current.reason,
        _next_other(schedule, now, current.mode, pieces),
    )


def check_preview_span(start: date, days: int) -> None:
    """Raise :exc:`~appliance.errors.ValidationError` unless *start* and *days* make a
    preview this module can work out (1 to 3660 days, years 1970 to 2199)."""
    errors = []
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_PREVIEW_DAYS:
        errors.append(
            FieldError(
                "days",
                f"{days!r} is not allowed; the number of days "
                f"must be a whole number from 1 to "
                f"{MAX_PREVIEW_DAYS}",
            )
        )
    if not isinstance(start, date) or isinstance(start, datetime):
        errors.append(FieldError("from", f"{start!r} is not a date; use YYYY-MM-DD"))
    elif not PREVIEW_YEARS[0] <= start.year <= PREVIEW_YEARS[1]:
        errors.append(
            FieldError(
                "from",
                f"{start.isoformat()} is out of range; use a date "
                f"in the years {PREVIEW_YEARS[0]} to "
                f"{PREVIEW_YEARS[1]}",
            )
        )
    if errors:
        raise ValidationError(errors)


def preview(schedule: Schedule, start: date, days: int) -> list[Transition]:
    """The changes of mode the schedule makes over *days* days from *start*
    (docs/design.md#the-api-and-the-command-line).

    The first entry is the mode in force at local midnight starting *start*; then one
    entry for each instant in the next *days* days at which the mode changes. A new
    reason for the same mode is not an entry, so entries always alternate modes.

    Each date's plan is worked out once and its boundaries walked in order; nothing is
    evaluated per minute.

    :param Schedule schedule:
        The schedule.
    :param date start:
        The first local date.
    :param int days:
        How many days, 1 to 3660.
    :raises ~appliance.errors.ValidationError:
        When *days* or *start* are out of range.
    """
    check_preview_span(start, days)
    tz = ZoneInfo(schedule.timezone)
    end = wall_to_instant(tz, start + timedelta(days=days), 0)
    entries: list[Transition] = []
    mode = None
    for at, piece in _timeline(schedule, tz, start, start + timedelta(days=days - 1)):
        if at >= end:
            break
        if piece.mode != mode:
            entries.append(Transition(at.astimezone(tz), piece.mode, piece.reason, piece.source))
            mode = piece.mode
    return entries
