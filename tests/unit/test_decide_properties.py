"""Properties of decide() and preview() over random schedules in DST-keeping zones.

For any schedule, window and instant: decide() agrees with preview(); next_change is
really the next change (the instant just before it still has the old mode, the instant
itself the new one, and preview lists nothing in between); preview entries alternate
modes; and where the local time is unambiguous the mode is simply the day plan's mode
at that wall-clock minute. The windows are drawn around each zone's own DST changes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.decision.dayplan import day_plan
from appliance.decision.decide import (
    Change,
    Override,
    decide,
    next_schedule_change,
    preview,
    wall_to_instant,
)
from appliance.decision.schedule import WEEKDAYS, format_minutes, parse_schedule, schedule_to_json

#: Zones that keep DST in 2026-2027, both hemispheres, with the odd ones: Dublin's
#: negative DST, Lord Howe's 30 minutes, Chatham's 45-minute offset, and changes at
#: midnight (Santiago, Havana, Cairo, Beirut).
ZONES = (
    "Europe/Berlin",
    "Europe/London",
    "Europe/Dublin",
    "America/New_York",
    "America/Chicago",
    "America/Santiago",
    "America/Havana",
    "Australia/Sydney",
    "Australia/Adelaide",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Asia/Jerusalem",
    "Africa/Cairo",
    "Asia/Beirut",
)
UTC = timezone.utc
SECOND = timedelta(seconds=1)
FIRST_DAY = date(2026, 1, 1)
LAST_DAY = date(2027, 12, 31)

PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@cache
def dst_dates(tz_name: str) -> tuple[date, ...]:
    """The local dates in 2026-2027 on which *tz_name* changes its UTC offset."""
    tz = ZoneInfo(tz_name)
    found = []
    day = FIRST_DAY
    before = datetime(day.year, day.month, day.day, 12, tzinfo=tz).utcoffset()
    while day <= LAST_DAY:
        nxt = day + timedelta(days=1)
        after = datetime(nxt.year, nxt.month, nxt.day, 12, tzinfo=tz).utcoffset()
        if after != before:
            # The change lies between noon and noon: on this date or the next.
            found += [day, nxt]
        before, day = after, nxt
    return tuple(found)


@cache
def dst_changes(tz_name: str) -> tuple[tuple[date, int], ...]:
    """Each offset change in 2026-2027 as (local date, wall-clock minute) just before it."""
    tz = ZoneInfo(tz_name)
    changes = []
    for day in dst_dates(tz_name)[::2]:
        begin = datetime(day.year, day.month, day.day, 12, tzinfo=tz).astimezone(UTC)
        for change in _offset_changes(tz, begin, begin + timedelta(days=1)):
            wall = (change - SECOND).astimezone(tz)
            changes.append((wall.date(), wall.hour * 60 + wall.minute + 1))
    return tuple(changes)


def test_every_zone_has_dst_in_both_years():
    for tz_name in ZONES:
        years = {d.year for d in dst_dates(tz_name)}
        assert years == {2026, 2027}, tz_name
    southern = [z for z in ZONES if dst_dates(z)[0].month == 4]
    assert len(southern) >= 5  # both hemispheres
    assert dst_changes("Europe/Berlin")[:2] == ((date(2026, 3, 29), 120), (date(2026, 10, 25), 180))
    assert dst_changes("America/Santiago")[:2] == (
        (date(2026, 4, 4), 1440),
        (date(2026, 9, 5), 1440),
    )


# Minutes biased towards the hours where clocks change (00:00-04:00, and 23:00-24:00
# where the change is at midnight).
MINUTES = st.one_of(
    st.integers(0, 1440),
    st.integers(0, 240),
    st.integers(1380, 1440),
    st.sampled_from([0, 60, 120, 150, 180, 1440]),
)
MODES = st.sampled_from(["day", "night", "lunch"])


@st.composite
def day_ranges(draw, minutes=MINUTES):
    points = sorted(draw(st.lists(minutes, max_size=6, unique=True)))
    ranges = []
    for start, end in zip(points, points[1:]):
        mode = draw(st.one_of(st.none(), MODES))  # None: a gap with the default mode
        if mode is not None:
            ranges.append(
                {"start": format_minutes(start), "end": format_minutes(end), "mode": mode}
            )
    return ranges


@st.composite
def weekly_plan(draw):
    if draw(st.booleans()):
        # The same ranges every day, so the day of a DST change always has some.
        ranges = draw(day_ranges())
        return dict.fromkeys(WEEKDAYS, ranges)
    days = draw(st.lists(st.sampled_from(WEEKDAYS), unique=True))
    return {day: draw(day_ranges()) for day in days}


@st.composite
def scenario(draw):
    """A schedule and a preview window, often straddling one of the zone's DST changes."""
    tz_name = draw(st.sampled_from(ZONES))
    start = draw(
        st.one_of(
            st.builds(
                lambda d, back: d - timedelta(days=back),
                st.sampled_from(dst_dates(tz_name)),
                st.integers(0, 2),
            ),
            st.dates(FIRST_DAY, LAST_DAY),
        )
    )
    days = draw(st.integers(1, 6))
    doc = {"timezone": tz_name, "default_mode": draw(MODES), "weekly": draw(weekly_plan())}
    doc["holidays"] = draw(
        st.sampled_from(
            [
                None,
                {"country": "DE", "subdivision": "BY"},
                {"country": "US", "mode": "lunch"},
                {"custom": [{"month": start.month, "day": start.day, "name": "Founders' day"}]},
            ]
        )
    )
    if draw(st.booleans()):
        first = start + timedelta(days=draw(st.integers(-1, days)))
        doc["exceptions"] = [
            {
                "name": "Special",
                "from": first.isoformat(),
                "to": (first + timedelta(days=draw(st.integers(0, 2)))).isoformat(),
                "ranges": draw(day_ranges()),
            }
        ]
    if draw(st.booleans()):
        first = start + timedelta(days=draw(st.integers(-3, days)))
        doc["seasons"] = [
            {
                "name": "Season",
                "from": first.isoformat(),
                "to": (first + timedelta(days=draw(st.integers(0, 5)))).isoformat(),
                "weekly": draw(weekly_plan()),
            }
        ]
    return parse_schedule(doc), start, days


@st.composite
def dst_scenario(draw):
    """A window of two days around one DST change, with the same ranges every day and
    their boundaries within 90 minutes of the change's wall-clock time: every boundary
    a gap swallows or an overlap repeats."""
    tz_name = draw(st.sampled_from(ZONES))
    day, minute = draw(st.sampled_from(dst_changes(tz_name)))
    near = st.integers(max(0, minute - 90), min(1440, minute + 90))
    ranges = draw(day_ranges(st.one_of(near, st.sampled_from([0, 1440]))))
    doc = {
        "timezone": tz_name,
        "default_mode": draw(MODES),
        "weekly": dict.fromkeys(WEEKDAYS, ranges),
    }
    start = day - timedelta(days=draw(st.integers(0, 1)))
    return parse_schedule(doc), start, 2


ANY_SCENARIO = st.one_of(scenario(), dst_scenario())


def _window(schedule, start, days):
    tz = ZoneInfo(schedule.timezone)
    return wall_to_instant(tz, start, 0), wall_to_instant(tz, start + timedelta(days=days), 0)


def _instants(data, schedule, start, days, entries):
    """Random instants in the window, plus each change and the second before it."""
    begin, end = _window(schedule, start, days)
    span = int((end - begin).total_seconds())
    picks = [
        begin + timedelta(seconds=s)
        for s in data.draw(st.lists(st.integers(0, span - 1), min_size=1, max_size=6))
    ]
    for entry in entries[1:]:
        at = entry.at.astimezone(UTC)
        picks += [at, at - SECOND]
    return picks


def _mode_from_preview(entries, instant):
    current = None
    for entry in entries:
        if entry.at <= instant:
            current = entry
        else:
            break
    return current


@PROPERTY_SETTINGS
@given(ANY_SCENARIO, st.data())
def test_decide_agrees_with_preview_and_next_change_is_the_next(case, data):
    schedule, start, days = case
    entries = preview(schedule, start, days)
    begin, end = _window(schedule, start, days)
    assert entries[0].at.astimezone(UTC) == begin  # the mode at local midnight
    for before, after in zip(entries, entries[1:]):
        assert before.at < after.at
        assert before.mode != after.mode  # changes alternate modes
    for entry in entries:
        assert begin <= entry.at < end
        assert entry.reason.startswith(f"{entry.mode}: ")
    for instant in _instants(data, schedule, start, days, entries):
        decision = decide(instant, schedule)
        expected = _mode_from_preview(entries, instant)
        assert decision.mode == expected.mode, (instant, decision, expected)
        assert decision.reason.startswith(f"{decision.mode}: ")
        later = [e for e in entries if e.at > instant]
        change = decision.next_change
        if later:
            assert change == Change(later[0].at.astimezone(UTC), later[0].mode)
        else:
            assert change is None or change.at >= end
        if change is not None:
            assert change.mode != decision.mode
            assert decide(change.at - SECOND, schedule).mode == decision.mode
            assert decide(change.at, schedule).mode == change.mode
        assert next_schedule_change(schedule, instant) == change


def _offset_changes(tz, begin, end):
    """The instants in [begin, end) at which *tz* changes its UTC offset."""
    found = []
    at = begin
    step = timedelta(minutes=15)
    while at < end:
        nxt = min(at + step, end)
        if at.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            low, high = int(at.timestamp()), int(nxt.timestamp())
            while high - low > 1:
                middle = (low + high) // 2
                if datetime.fromtimestamp(middle, tz).utcoffset() == at.astimezone(tz).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(datetime.fromtimestamp(high, UTC))
        at = nxt
    return found


def _is_ambiguous(naive, tz):
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    return (
        first.utcoffset() != second.utcoffset()
        and first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive
        and second.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive
    )


def reference_mode(schedule, instant):
    """docs/design.md#modes-and-precedence read literally: the day plan's mode at the local
    wall-clock minute.

    In the second pass of an autumn overlap every boundary already happened at its
    first occurrence, so the piece in force is the one at the last wall minute before
    the overlap ends. After a spring gap, the wall clock simply reads past it.
    """
    tz = ZoneInfo(schedule.timezone)
    wall = instant.astimezone(tz)
    naive = wall.replace(tzinfo=None, second=0, microsecond=0)
    if wall.fold == 1:
        while _is_ambiguous(naive, tz):
            naive += timedelta(minutes=1)
        naive -= timedelta(minutes=1)
    return day_plan(schedule, naive.date()).piece_at(naive.hour * 60 + naive.minute).mode


@PROPERTY_SETTINGS
@given(ANY_SCENARIO, st.data())
def test_mode_is_the_day_plans_mode_at_the_wall_clock(case, data):
    """Checked at random instants, and densely around the zone's offset changes."""
    schedule, start, days = case
    tz = ZoneInfo(schedule.timezone)
    begin, end = _window(schedule, start, days)
    span = int((end - begin).total_seconds())
    instants = [
        begin + timedelta(seconds=offset)
        for offset in data.draw(st.lists(st.integers(0, span - 1), min_size=1, max_size=10))
    ]
    for change in _offset_changes(tz, begin, end):
        instants += [
            change + timedelta(minutes=m) for m in (-61, -31, -1, 0, 1, 14, 29, 44, 59, 61, 89)
        ]
        instants += [change - SECOND, change + SECOND]
    for instant in instants:
        if begin <= instant < end:
            assert decide(instant, schedule).mode == reference_mode(schedule, instant), (
                instant.astimezone(tz),
                decide(instant, schedule),
            )


@PROPERTY_SETTINGS
@given(ANY_SCENARIO, st.data())
def test_preview_entries_carry_decide_reason_and_source(case, data):
    schedule, start, days = case
    for entry in preview(schedule, start, days):
        decision = decide(entry.at, schedule)
        assert (decision.mode, decision.reason, decision.source) == (
            entry.mode,
            entry.reason,
            entry.source,
        )
    # Two previews back to back say the same as one long one.
    split = data.draw(st.integers(1, days))
    whole = preview(schedule, start, days)
    first = preview(schedule, start, split)
    if split < days:
        second = preview(schedule, start + timedelta(days=split), days - split)
        if second[0].mode == first[-1].mode:
            second = second[1:]
        first = first + second
    assert [(e.at, e.mode) for e in first] == [(e.at, e.mode) for e in whole]


@PROPERTY_SETTINGS
@given(ANY_SCENARIO, st.data())
def test_a_remembered_search_answers_as_a_new_one(case, data):
    """decide() keeps its last search for the next change on the schedule
    (Schedule.searches); asked in any order, with and without overrides, every answer
    equals the one a schedule with nothing remembered gives."""
    from dataclasses import replace

    schedule, start, days = case
    entries = preview(schedule, start, days)
    instants = _instants(data, schedule, start, days, entries)
    order = data.draw(st.permutations(instants))
    for instant in order:
        fresh = replace(schedule)
        assert not fresh.searches
        assert decide(instant, schedule) == decide(instant, fresh)
        assert next_schedule_change(schedule, instant) == next_schedule_change(fresh, instant)
        if data.draw(st.booleans()):
            until = instant + timedelta(hours=data.draw(st.integers(1, 80)))
            ov = Override(data.draw(MODES), until, "tester", instant)
            assert decide(instant, schedule, ov) == decide(instant, replace(schedule), ov)


@PROPERTY_SETTINGS
@given(ANY_SCENARIO, st.data())
def test_override_hands_over_at_its_end(case, data):
    schedule, start, days = case
    entries = preview(schedule, start, days)
    begin, end = _window(schedule, start, days)
    span = int((end - begin).total_seconds())
    set_at = begin + timedelta(seconds=data.draw(st.integers(0, span - 2)))
    until = set_at + timedelta(
        seconds=data.draw(st.integers(1, int((end - set_at).total_seconds()) - 1))
    )
    mode = data.draw(MODES)
    ov = Override(mode, until, "tester", set_at)
    during = decide(set_at, schedule, ov)
    assert during.mode == mode and during.source == "override"
    after = decide(until, schedule, ov)
    assert after.source != "override" and after.mode == _mode_from_preview(entries, until).mode
    # The announced change is where the mode really differs from the override's.
    if after.mode != mode:
        assert during.next_change == Change(until, after.mode)
    else:
        later = [e for e in entries if e.at > until]
        if later:
            assert during.next_change == Change(later[0].at.astimezone(UTC), later[0].mode)


@settings(max_examples=60, deadline=None)
@given(ANY_SCENARIO)
def test_schedule_round_trips_through_json(case):
    schedule, _, _ = case
    assert parse_schedule(schedule_to_json(schedule)) == schedule
