"""Properties of closure layers over random schedules in DST-keeping zones.

The schedules and windows of :mod:`tests.unit.test_decide_properties` (often straddling
a DST change) get a random calendar layer (timed events, some spanning midnight or the
change itself, and all-day events) and a random company layer. Then:

- decide() still agrees with preview(), next_change is really the next change, and the
  mode is the day plan's mode at the wall clock (the core's own invariants);
- at an instant inside a timed event (whose local time is not ambiguous) on a date no
  hand-entered exception covers, the calendar decides;
- a date a hand-entered exception covers is decided as if there were no layers;
- taking the calendar away changes decisions only near its events.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from appliance.decision.decide import Change, decide, next_schedule_change, preview
from appliance.decision.layers import CalendarEntry, ClosureLayer, parse_company_closures
from appliance.decision.schedule import (
    WEEKDAYS,
    YEARLY_WHEN,
    parse_schedule,
    schedule_to_json,
)
from tests.unit.test_decide_properties import (
    ANY_SCENARIO,
    MODES,
    PROPERTY_SETTINGS,
    SECOND,
    UTC,
    _instants,
    _is_ambiguous,
    _mode_from_preview,
    _offset_changes,
    _window,
    day_ranges,
    reference_mode,
)


@st.composite
def layered(draw):
    schedule, start, days = draw(ANY_SCENARIO)
    if draw(st.booleans()):
        # A yearly exception near the window: a fixed date or a weekday rule.
        doc = schedule_to_json(schedule)
        anchor = start + timedelta(days=draw(st.integers(-3, days + 3)))
        rule = {"month": anchor.month, "day": anchor.day}
        if draw(st.booleans()):
            rule.update(
                weekday=draw(st.sampled_from(WEEKDAYS)), when=draw(st.sampled_from(YEARLY_WHEN))
            )
        doc["exceptions"].append({"name": "Yearly", "yearly": rule, "ranges": draw(day_ranges())})
        schedule = parse_schedule(doc)
    tz = ZoneInfo(schedule.timezone)
    begin, end = _window(schedule, start, days)
    span = int((end - begin).total_seconds())
    entries = []
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.integers(0, 3)) == 0:
            first = start + timedelta(days=draw(st.integers(-1, days)))
            entries.append(
                CalendarEntry(
                    "All day", draw(MODES), first, first + timedelta(days=draw(st.integers(1, 3)))
                )
            )
        else:
            # Whole minutes, from an hour before the window to its end; 1 minute to 30 h.
            offset = draw(st.integers(-60, span // 60)) * 60
            length = draw(st.one_of(st.integers(1, 180), st.integers(1, 1800))) * 60
            first = begin + timedelta(seconds=offset)
            entries.append(
                CalendarEntry(
                    f"Event {len(entries)}",
                    draw(MODES),
                    first.astimezone(tz),
                    (first + timedelta(seconds=length)).astimezone(tz),
                )
            )
    layers = [ClosureLayer("calendar", "Feed", tuple(entries))]
    if draw(st.booleans()):
        first = start + timedelta(days=draw(st.integers(-1, days)))
        layers.append(
            parse_company_closures(
                {
                    "version": 1,
                    "closures": [
                        {
                            "name": "Company",
                            "from": first.isoformat(),
                            "to": (first + timedelta(days=draw(st.integers(0, 2)))).isoformat(),
                            "ranges": draw(day_ranges()),
                        }
                    ],
                }
            )
        )
    order = draw(st.permutations(layers))  # the kinds decide, not the order given
    return schedule.with_layers(*order), start, days


def _without(schedule, kind):
    return schedule.with_layers(*[layer for layer in schedule.layers if layer.kind != kind])


def _calendar(schedule):
    return [layer for layer in schedule.layers if layer.kind == "calendar"][0]


def _exception_on(schedule, local_day):
    return any(exc.covers(local_day) for exc in schedule.exceptions)


@PROPERTY_SETTINGS
@given(layered(), st.data())
def test_layered_decide_agrees_with_preview(case, data):
    schedule, start, days = case
    entries = preview(schedule, start, days)
    begin, end = _window(schedule, start, days)
    assert entries[0].at.astimezone(UTC) == begin
    for before, after in zip(entries, entries[1:]):
        assert before.at < after.at and before.mode != after.mode
    for instant in _instants(data, schedule, start, days, entries):
        decision = decide(instant, schedule)
        assert decision.mode == _mode_from_preview(entries, instant).mode
        later = [e for e in entries if e.at > instant]
        if later:
            assert decision.next_change == Change(later[0].at.astimezone(UTC), later[0].mode)
        change = decision.next_change
        if change is not None:
            assert decide(change.at - SECOND, schedule).mode == decision.mode
            assert decide(change.at, schedule).mode == change.mode
        assert next_schedule_change(schedule, instant) == change


@PROPERTY_SETTINGS
@given(layered(), st.data())
def test_layered_mode_is_the_day_plans_mode_at_the_wall_clock(case, data):
    schedule, start, days = case
    tz = ZoneInfo(schedule.timezone)
    begin, end = _window(schedule, start, days)
    span = int((end - begin).total_seconds())
    instants = [
        begin + timedelta(seconds=s)
        for s in data.draw(st.lists(st.integers(0, span - 1), min_size=1, max_size=10))
    ]
    for change in _offset_changes(tz, begin, end):
        instants += [change + timedelta(minutes=m) for m in (-61, -1, 0, 1, 29, 59, 61)]
    for entry in _calendar(schedule).entries:
        if not entry.all_day:
            instants += [entry.start, entry.end - SECOND, entry.end]
    for instant in instants:
        if begin <= instant < end:
            assert decide(instant, schedule).mode == reference_mode(schedule, instant)


@PROPERTY_SETTINGS
@given(layered(), st.data())
def test_inside_a_timed_event_the_calendar_decides(case, data):
    schedule, start, days = case
    tz = ZoneInfo(schedule.timezone)
    for entry in _calendar(schedule).entries:
        if entry.all_day:
            continue
        length = int((entry.end - entry.start).total_seconds())
        for offset in {0, length - 1, data.draw(st.integers(0, length - 1))}:
            instant = entry.start + timedelta(seconds=offset)
            wall = instant.astimezone(tz)
            naive = wall.replace(tzinfo=None, second=0, microsecond=0)
            if _is_ambiguous(naive, tz) or _exception_on(schedule, wall.date()):
                continue
            decision = decide(instant, schedule)
            assert decision.source == "calendar", (entry, wall, decision)
            assert decision.reason.startswith(f"{decision.mode}: calendar Feed: ")


@PROPERTY_SETTINGS
@given(layered(), st.data())
def test_exception_dates_ignore_every_layer(case, data):
    schedule, start, days = case
    plain = schedule.with_layers()
    tz = ZoneInfo(schedule.timezone)
    begin, end = _window(schedule, start, days)
    span = int((end - begin).total_seconds())
    for offset in data.draw(st.lists(st.integers(0, span - 1), min_size=1, max_size=10)):
        instant = begin + timedelta(seconds=offset)
        wall = instant.astimezone(tz)
        if _exception_on(schedule, wall.date()) and not _is_ambiguous(
            wall.replace(tzinfo=None, second=0, microsecond=0), tz
        ):
            ours, theirs = decide(instant, schedule), decide(instant, plain)
            assert (ours.mode, ours.reason) == (theirs.mode, theirs.reason)


@PROPERTY_SETTINGS
@given(layered(), st.data())
def test_calendar_changes_nothing_away_from_its_events(case, data):
    schedule, start, days = case
    without = _without(schedule, "calendar")
    tz = ZoneInfo(schedule.timezone)
    begin, end = _window(schedule, start, days)
    span = int((end - begin).total_seconds())
    spans = []
    for entry in _calendar(schedule).entries:
        if entry.all_day:
            spans.append(
                (
                    datetime.combine(entry.start, datetime.min.time(), tz) - timedelta(hours=3),
                    datetime.combine(entry.end, datetime.min.time(), tz) + timedelta(hours=3),
                )
            )
        else:
            # An hour either side: wall-clock rounding in an autumn overlap.
            spans.append((entry.start - timedelta(hours=1), entry.end + timedelta(hours=1)))
    for offset in data.draw(st.lists(st.integers(0, span - 1), min_size=1, max_size=12)):
        instant = begin + timedelta(seconds=offset)
        if any(low <= instant < high for low, high in spans):
            continue
        ours, theirs = decide(instant, schedule), decide(instant, without)
        assert (ours.mode, ours.reason, ours.source) == (theirs.mode, theirs.reason, theirs.source)


def test_a_series_at_eight_local_stays_at_eight_across_both_changes():
    """A daily 08:00-09:00 closure given as instants (as a feed expands it) closes at
    08:00 local before and after each Berlin change, in March and in October."""
    from tests.unit.schedule_helpers import make_schedule, preview_table

    tz = ZoneInfo("Europe/Berlin")
    entries = []
    for first in (date(2026, 3, 27), date(2026, 10, 23)):
        for n in range(5):
            day = first + timedelta(days=n)
            begin = datetime(day.year, day.month, day.day, 8, tzinfo=tz).astimezone(UTC)
            entries.append(CalendarEntry("Stand-up", "lunch", begin, begin + timedelta(hours=1)))
    schedule = make_schedule(weekly={}).with_layers(
        ClosureLayer("calendar", "Team", tuple(entries))
    )
    for first in ("2026-03-27", "2026-10-23"):
        table = preview_table(schedule, first, 5)
        assert [row[0][11:16] for row in table[1:]] == ["08:00", "09:00"] * 5
