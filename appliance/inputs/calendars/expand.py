"""From iCalendar text to closures: parse, expand repeats, filter, map to modes.

:func:`expand_feed` turns the bytes of a feed (an ICS URL's body, or the events a
CalDAV server gave, merged into one ``VCALENDAR``) into the
:class:`~appliance.decision.layers.CalendarEntry` objects of a closure layer, for a
window of dates around *now*. ``icalendar`` parses; ``recurring-ical-events`` expands
``RRULE``, ``RDATE``, ``EXDATE`` (any number) and moved occurrences
(``RECURRENCE-ID``), and applies Google's ``X-WR-TIMEZONE`` (a series stored in UTC
then stays at its local time across daylight-saving changes). Outlook's Windows
time-zone names (``W. Europe Standard Time``) are understood by ``icalendar``.

Everything here is bounded, because a feed is input from outside: its size (checked
by the fetcher and again here), the number of occurrences in the window
(:data:`MAX_OCCURRENCES`), repeats finer than daily (refused per event), events that
never end (cut at the window). A problem with one event drops that event and is
reported in :attr:`Expansion.problems`; a problem with the whole feed raises
:exc:`FeedError`, and the caller keeps its last good copy.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from appliance.decision.layers import CalendarEntry
from appliance.errors import FeedError
from appliance.inputs.calendars.helper import ForkedCall

log = logging.getLogger(__name__)

#: The largest feed accepted, in bytes. A closures calendar of 5,000 events is about
#: 2.5 MB; Google's and Microsoft's full calendars of a busy person stay below this.
MAX_FEED_BYTES = 10 * 1024 * 1024
#: At most this many occurrences in the window, all events together.
MAX_OCCURRENCES = 50_000
#: With :func:`expand_feed`'s *fork*, a helper process takes part of the series when
#: the first pass left at least this many lines (about 100 series): below that, the
#: fork and the pickling cost more than they save.
FORK_FROM_LINES = 1000
#: The share of the series' lines this process keeps; it reads the single events too.
MY_SHARE = 0.4
#: How far ahead (and back) a feed is expanded: the core looks 400 days ahead for the
#: next change (decide.SEARCH_DAYS).
WINDOW_DAYS_AHEAD = 400
WINDOW_DAYS_BACK = 2
#: Repeats finer than this are refused: a closure every hour is a mistake, and
#: FREQ=SECONDLY for ever would be millions of occurrences.
_TOO_FINE = {"SECONDLY", "MINUTELY", "HOURLY"}
SUMMARY_MAX = 80
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Rules:
    """Which events count and what they do.

    :param tuple categories:
        Count only events with one of these categories (case-insensitive); empty: no
        category filter.
    :param tuple summaries:
        Count only events whose summary contains one of these texts (case-insensitive);
        with *categories*, an event that matches either counts. Both empty: every event.
    :param str mode:
        The mode of a closure (default ``night``).
    :param dict category_modes:
        ``{category: mode}``: an event with such a category takes that mode instead.
    """

    categories: tuple[str, ...] = ()
    summaries: tuple[str, ...] = ()
    mode: str = "night"
    category_modes: dict = field(default_factory=dict, hash=False, compare=False)

    def counts(self, summary: str, categories: list[str]) -> bool:
        if not self.categories and not self.summaries:
            return True
        folded = {c.casefold() for c in categories}
        if any(c.casefold() in folded for c in self.categories):
            return True
        return any(s.casefold() in summary.casefold() for s in self.summaries)

    def mode_of(self, categories: list[str]) -> str:
        wanted = {k.casefold(): v for k, v in self.category_modes.items()}
        for category in categories:
            if category.casefold() in wanted:
                return wanted[category.casefold()]
        return self.mode


@dataclass
class Expansion:
    """What a feed contributes.

    :param tuple entries: the closures, sorted by start.
    :param list problems: one line per event that was left out, and why.
    :param int events: the events (``VEVENT`` components) in the feed.
    """

    entries: tuple[CalendarEntry, ...]
    problems: list[str]
    events: int


def window(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants between which a feed is expanded at *now*."""
    today = now.astimezone(tz).date()
    first = today - timedelta(days=WINDOW_DAYS_BACK)
    last = today + timedelta(days=WINDOW_DAYS_AHEAD)
    return (datetime.combine(first, time(), tz), datetime.combine(last, time(), tz))


def check_feed_bytes(body: bytes) -> None:
    """Raise :exc:`FeedError` unless *body* can be an iCalendar file of a sane size."""
    if len(body) > MAX_FEED_BYTES:
        raise FeedError(
            f"the feed is {len(body) / 1e6:.1f} MB; at most "
            f"{MAX_FEED_BYTES // (1024 * 1024)} MB is accepted"
        )
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.upper().startswith(b"BEGIN:VCALENDAR"):
        shown = head[:40].decode("utf-8", "replace")
        shown = _CONTROL.sub(" ", shown).strip() or "nothing"
        hint = (
            " (a web page: is the address the calendar's export or secret address?)"
            if head[:1] == b"<"
            else ""
        )
        raise FeedError(
            f"not an iCalendar file: it starts with {shown!r}{hint}; a feed "
            "starts with BEGIN:VCALENDAR"
        )


def _text(component, key: str) -> str:
    value = component.get(key)
    if value is None:
        return ""
    return _CONTROL.sub(" ", str(value)).strip()


def _categories(component) -> list[str]:
    found: list[str] = []
    raw = component.get("CATEGORIES")
    if raw is None:
        return found
    for item in raw if isinstance(raw, list) else [raw]:
        cats = getattr(item, "cats", None)
        if cats is None:
            cats = str(item).split(",")
        found.extend(str(c).strip() for c in cats if str(c).strip())
    return found


def _short(summary: str) -> str:
    summary = summary or "(no title)"
    return summary if len(summary) <= SUMMARY_MAX else summary[: SUMMARY_MAX - 3] + "..."


def _when(value, tz: ZoneInfo):
    """A date stays a date; a floating (naive) time is the site's local time."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)
    return value


def expand_feed(
    body: bytes, rules: Rules, *, now: datetime, tz: ZoneInfo, fork: bool = False
) -> Expansion:
    """The closures *body* contributes in the window around *now*.

    Single events are read by :mod:`~appliance.inputs.calendars.quickparse`; series and
    moved occurrences go through ``icalendar`` and ``recurring-ical-events``.

    :param bytes body: the iCalendar text.
    :param Rules rules: which events count and their mode.
    :param datetime now: the present instant (aware); the window is measured from it.
    :param ZoneInfo tz: the site's time zone, for floating times and the window.
    :param bool fork: the caller is a process with one thread: with many series, a
        forked helper expands part of them on another core
        (:mod:`~appliance.inputs.calendars.helper`).
    :raises FeedError: when the feed as a whole cannot be used.
    """
    from appliance.inputs.calendars.quickparse import Unreadable, first_pass

    check_feed_bytes(body)
    text = body.decode("utf-8", "replace")
    try:
        split = first_pass(text, tz)
    except Unreadable as exc:
        raise FeedError(
            f"the iCalendar file cannot be read: the line {str(exc)!r} is not NAME:VALUE"
        ) from None
    begin, end = window(now, tz)
    problems: list[str] = []
    entries: list[CalendarEntry] = []
    if len(split.singles) > MAX_OCCURRENCES:
        raise FeedError(_too_many())
    budget = MAX_OCCURRENCES - len(split.singles)
    helper = None
    mine = split.rest
    if fork and sum(len(group) for group in split.groups) >= FORK_FROM_LINES:
        # The helper takes the larger share: this process has the singles to do as well.
        parts = split.rest_parts(MY_SHARE, 1 - MY_SHARE)
        if len(parts) == 2:
            mine = parts[0]
            helper = ForkedCall(_expand_part, parts[1], rules, tz, begin, end, budget)
    try:
        for single in split.singles:
            if single.status == "CANCELLED":
                continue
            entry = _make_entry(
                _short(_CONTROL.sub(" ", single.summary).strip()),
                single.categories,
                single.start,
                single.end if single.end is not None else single.start,
                rules,
                tz,
                begin,
                end,
                problems,
            )
            if entry is not None:
                entries.append(entry)
        seen = 0
        if mine is not None:
            found, seen = _expand_series(mine, rules, tz, begin, end, problems, budget)
            entries += found
    except BaseException:
        if helper is not None:
            helper.cancel()
        raise
    if helper is not None:
        theirs_entries, theirs_problems, theirs_seen = helper.result()
        if seen + theirs_seen > budget:
            raise FeedError(_too_many())
        entries += theirs_entries
        problems += theirs_problems
    entries.sort(key=lambda e: (_sort_instant(e.start, tz), e.summary))
    return Expansion(tuple(_dedupe(entries)), problems, split.events)


def _expand_part(text, rules, tz, begin, end, budget) -> tuple[list, list[str], int]:
    """:func:`_expand_series` in a helper: its problems come back with its entries."""
    problems: list[str] = []
    entries, seen = _expand_series(text, rules, tz, begin, end, problems, budget)
    return entries, problems, seen


def _too_many() -> str:
    return (
        f"the feed has more than {MAX_OCCURRENCES:,} occurrences in the "
        f"{WINDOW_DAYS_AHEAD} days ahead; filter it by category or summary, or use a "
        "calendar of closures only"
    )


def _expand_series(
    text: str,
    rules: Rules,
    tz: ZoneInfo,
    begin: datetime,
    end: datetime,
    problems: list[str],
    budget: int,
) -> tuple[list[CalendarEntry], int]:
    """Series, moved occurrences and whatever the first pass left, in full: the entries,
    and how many occurrences were in the window (at most *budget*)."""
    import icalendar
    import recurring_ical_events

    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as exc:  # icalendar raises ValueError and others on junk
        raise FeedError(f"the iCalendar file cannot be read: {_first_line(exc)}") from None
    for event in [c for c in calendar.subcomponents if c.name == "VEVENT"]:
        rrule = event.get("RRULE")
        freq = [str(f).upper() for f in (rrule.get("FREQ", []) if rrule else [])]
        if any(f in _TOO_FINE for f in freq):
            problems.append(
                f"{_short(_text(event, 'SUMMARY'))!r} repeats {freq[0]}: "
                "left out; a closure may repeat daily or less often"
            )
            calendar.subcomponents.remove(event)
    try:
        query = recurring_ical_events.of(calendar)
        series_list = list(query.series)
    except Exception as exc:
        raise FeedError(f"the events cannot be expanded: {_first_line(exc)}") from None
    entries: list[CalendarEntry] = []
    seen = 0
    described: dict[int, tuple] = {}
    for series in series_list:
        try:
            for occurrence in series.between(begin, end):
                seen += 1
                if seen > budget:
                    raise FeedError(_too_many())
                summary, categories, status = _describe(occurrence, described)
                if status == "CANCELLED":
                    continue
                entry = _make_entry(
                    summary,
                    categories,
                    occurrence.start,
                    occurrence.end,
                    rules,
                    tz,
                    begin,
                    end,
                    problems,
                )
                if entry is not None:
                    entries.append(entry)
        except FeedError:
            raise
        except Exception as exc:
            problems.append(
                f"{_series_name(series)!r} cannot be expanded and was left out: {_first_line(exc)}"
            )
    return entries, seen


def _describe(occurrence, cache: dict) -> tuple:
    """Summary, categories and status of an occurrence, read once per component (a
    series' occurrences share the master's; a moved one has its own)."""
    adapter = getattr(occurrence, "_adapter", None)
    key = id(adapter) if adapter is not None else None
    if key is not None and key in cache:
        return cache[key][1]
    component = getattr(adapter, "_component", None)
    if component is None:
        component = occurrence.as_component(False)
    found = (
        _short(_text(component, "SUMMARY")),
        _categories(component),
        _text(component, "STATUS").upper(),
    )
    if key is not None:
        cache[key] = (adapter, found)  # the adapter is kept so its id stays unique
    return found


def _series_name(series) -> str:
    try:
        return _short(_text(series.components[0].as_component(), "SUMMARY"))
    except Exception:
        return "an event"


def _sort_instant(value, tz):
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(), tz)


def _dedupe(entries):
    last = None
    for entry in entries:
        if entry != last:
            yield entry
        last = entry


def _make_entry(
    summary: str,
    categories: list,
    start,
    stop,
    rules: Rules,
    tz: ZoneInfo,
    begin: datetime,
    end: datetime,
    problems: list[str],
) -> CalendarEntry | None:
    if not rules.counts(summary, categories):
        return None
    start, stop = _when(start, tz), _when(stop, tz)
    all_day = not isinstance(start, datetime)
    if all_day and isinstance(stop, datetime):
        stop = stop.date()
    if not all_day and not isinstance(stop, datetime):
        stop = datetime.combine(stop, time(), tz)
    if all_day and stop <= start:
        stop = start + timedelta(days=1)  # RFC 5545: a date with no end is one day
    if stop <= start:
        if begin <= start < end:
            problems.append(
                f"{summary!r} on {start.astimezone(tz):%Y-%m-%d %H:%M} has no "
                "end (no DTEND or DURATION): left out, as it would close "
                "nothing; give it an end"
            )
        return None
    # Cut to the window: an event that runs for years costs no more than the window.
    if all_day:
        start = max(start, begin.date())
        stop = min(stop, end.date())
    else:
        start, stop = max(start, begin), min(stop, end)
    if stop <= start:
        return None
    if not all_day:
        # One form for every instant, whatever zone the feed named: entries from two
        # refreshes compare equal when they are the same closures.
        start, stop = start.astimezone(timezone.utc), stop.astimezone(timezone.utc)
    return CalendarEntry(summary, rules.mode_of(categories), start, stop)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def describe_entry(entry: CalendarEntry, tz: ZoneInfo) -> str:
    """One entry for people: ``Thu 2026-12-24 all day`` or ``Tue 2026-10-06 12:00-16:00``."""
    if not isinstance(entry.start, datetime) or not isinstance(entry.end, datetime):
        # all day: start and end are both dates (the entry checks they are alike)
        last = entry.end - timedelta(days=1)
        if last == entry.start:
            return f"{entry.start:%a %Y-%m-%d} all day"
        return f"{entry.start:%a %Y-%m-%d} to {last:%a %Y-%m-%d} all day"
    start, stop = entry.start.astimezone(tz), entry.end.astimezone(tz)
    if stop.date() == start.date():
        return f"{start:%a %Y-%m-%d %H:%M}-{stop:%H:%M}"
    if stop.date() == start.date() + timedelta(days=1) and stop.time() == time():
        return f"{start:%a %Y-%m-%d %H:%M}-24:00"
    return f"{start:%a %Y-%m-%d %H:%M} to {stop:%a %Y-%m-%d %H:%M}"


def upcoming(entries, now: datetime, tz: ZoneInfo, count: int = 5) -> list[CalendarEntry]:
    """The first *count* entries (sorted by start) that have not ended at *now*."""
    found = []
    today = now.astimezone(tz).date()
    for entry in entries:
        if entry.end <= (today if entry.all_day else now):
            continue
        found.append(entry)
        if len(found) == count:
            break
    return found
