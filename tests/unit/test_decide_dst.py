"""Daylight-saving changes: wall-clock ranges, the spring gap, the autumn overlap.

docs/design.md#modes-and-precedence: a range still starts and ends at its local
wall-clock times; a start in the spring gap takes effect at the first instant after it;
in the autumn overlap the first occurrence counts. Every date below was checked against
the zone's own transitions (tests assert the offsets too, so a change in tzdata would
show up here first).
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from appliance.decision.decide import decide, preview, wall_to_instant
from tests.unit.schedule_helpers import (
    assert_mode_at,
    assert_next_change,
    local,
    make_schedule,
    mode_changes,
    preview_table,
    utc,
)

ALL_WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def every_day(*ranges, tz="Europe/Berlin", **fields):
    weekly = {d: [{"start": s, "end": e, "mode": m} for s, e, m in ranges] for d in ALL_WEEK}
    return make_schedule(timezone=tz, weekly=weekly, **fields)


def offset_hours(instant, tz):
    return instant.astimezone(ZoneInfo(tz)).utcoffset() / timedelta(hours=1)


# -- wall_to_instant itself ------------------------------------------------------------


def test_wall_to_instant_in_gap_overlap_and_ordinary_times():
    berlin = ZoneInfo("Europe/Berlin")
    # Ordinary: 08:00 CET = 07:00 UTC.
    assert wall_to_instant(berlin, date(2026, 3, 28), 8 * 60) == utc("2026-03-28 07:00")
    # Spring gap 02:00-03:00 on 29 March: 02:00, 02:30 and 03:00 are all 01:00 UTC.
    for minute in (120, 150, 179, 180):
        assert wall_to_instant(berlin, date(2026, 3, 29), minute) == utc("2026-03-29 01:00")
    # Autumn overlap 02:00-03:00 on 25 October: the first 02:30 is CEST (00:30 UTC).
    assert wall_to_instant(berlin, date(2026, 10, 25), 150) == utc("2026-10-25 00:30")
    assert wall_to_instant(berlin, date(2026, 10, 25), 180) == utc("2026-10-25 02:00")
    # 1440 is the next day's midnight.
    assert wall_to_instant(berlin, date(2026, 10, 25), 1440) == utc("2026-10-25 23:00")


def test_wall_to_instant_never_goes_backwards():
    for tz in ("Europe/Berlin", "America/Santiago", "Australia/Lord_Howe", "Africa/Cairo"):
        zone = ZoneInfo(tz)
        for day in (
            date(2026, 3, 29),
            date(2026, 4, 4),
            date(2026, 4, 5),
            date(2026, 9, 6),
            date(2026, 10, 4),
            date(2026, 10, 25),
            date(2026, 10, 29),
        ):
            instants = [wall_to_instant(zone, day, m) for m in range(0, 1441, 5)]
            assert instants == sorted(instants), (tz, day)


# -- Europe/Berlin: 29 March 2026 (02:00 -> 03:00) and 25 October 2026 (03:00 -> 02:00)


def test_berlin_march_range_starting_in_the_gap_starts_after_it():
    schedule = every_day(("02:30", "04:00", "day"))
    assert_mode_at(schedule, "2026-03-29 01:59", "night")
    assert_next_change(schedule, "2026-03-29 01:00", "2026-03-29 03:00", "day")
    change = decide(local(schedule, "2026-03-29 01:00"), schedule).next_change
    assert change.at == utc("2026-03-29 01:00") and offset_hours(change.at, "Europe/Berlin") == 2
    assert_mode_at(schedule, "2026-03-29 03:00", "day")
    assert_next_change(schedule, "2026-03-29 03:00", "2026-03-29 04:00", "night")
    # The day before and after: the full 90 minutes at 02:30.
    assert_next_change(schedule, "2026-03-28 01:00", "2026-03-28 02:30", "day")
    assert_next_change(schedule, "2026-03-30 01:00", "2026-03-30 02:30", "day")


def test_berlin_march_range_inside_the_gap_never_happens():
    schedule = every_day(("02:00", "02:45", "lunch"), ("08:00", "18:00", "day"))
    assert preview_table(schedule, "2026-03-29", 1) == [
        ("2026-03-29 00:00 CET", "night"),
        ("2026-03-29 08:00 CEST", "day"),
        ("2026-03-29 18:00 CEST", "night"),
    ]
    assert preview_table(schedule, "2026-03-28", 1)[1] == ("2026-03-28 02:00 CET", "lunch")


def test_berlin_march_range_ending_in_the_gap_ends_after_it():
    schedule = every_day(("00:00", "02:30", "day"))
    assert_next_change(schedule, "2026-03-29 01:30", "2026-03-29 03:00", "night")
    # The range lasts two hours of real time: 00:00 CET to 03:00 CEST.
    begin = local(schedule, "2026-03-29 00:00")
    end = decide(begin, schedule).next_change.at
    assert end - begin == timedelta(hours=2)


def test_berlin_march_office_hours_keep_their_wall_clock_times():
    schedule = make_schedule()  # Mon-Fri 08:00-18:00
    assert preview_table(schedule, "2026-03-27", 4) == [
        ("2026-03-27 00:00 CET", "night"),
        ("2026-03-27 08:00 CET", "day"),
        ("2026-03-27 18:00 CET", "night"),
        ("2026-03-30 08:00 CEST", "day"),
        ("2026-03-30 18:00 CEST", "night"),
    ]
    assert decide(utc("2026-03-30 06:00"), schedule).mode == "day"  # 08:00 CEST
    assert decide(utc("2026-03-30 05:59"), schedule).mode == "night"


def test_berlin_october_first_occurrence_counts_and_nothing_flickers():
    schedule = every_day(("02:30", "04:00", "day"))
    # The first 02:30 (CEST, 00:30 UTC) starts the range.
    assert_next_change(schedule, "2026-10-25 01:00", "2026-10-25 02:30", "day")
    assert decide(local(schedule, "2026-10-25 01:00"), schedule).next_change.at == utc(
        "2026-10-25 00:30"
    )
    # In the repeated hour (02:00-02:30 CET) the range is still on: no flip back.
    assert_mode_at(schedule, "2026-10-25 02:15", "day", fold=1)
    changes = mode_changes(
        schedule, local(schedule, "2026-10-25 00:00"), local(schedule, "2026-10-25 05:00")
    )
    assert changes == [(utc("2026-10-25 00:30"), "day"), (utc("2026-10-25 03:00"), "night")]
    # So the range lasts 2 h 30 min of real time this night.
    assert changes[1][0] - changes[0][0] == timedelta(hours=2, minutes=30)


def test_berlin_october_range_ending_in_the_overlap_ends_at_its_first_pass():
    schedule = every_day(("00:00", "02:30", "day"))
    changes = mode_changes(
        schedule, local(schedule, "2026-10-24 23:00"), local(schedule, "2026-10-25 04:00")
    )
    assert changes == [
        (local(schedule, "2026-10-25 00:00"), "day"),
        (utc("2026-10-25 00:30"), "night"),
    ]
    assert_mode_at(schedule, "2026-10-25 02:15", "night", fold=1)


def test_berlin_october_table_shows_both_passes_apart():
    schedule = every_day(("02:15", "02:45", "lunch"))
    assert preview_table(schedule, "2026-10-25", 1) == [
        ("2026-10-25 00:00 CEST", "night"),
        ("2026-10-25 02:15 CEST", "lunch"),
        ("2026-10-25 02:45 CEST", "night"),
    ]


# -- America/New_York: 8 March 2026 and 1 November 2026 (not October) -------------------


def test_new_york_march_change():
    schedule = every_day(("02:30", "03:30", "day"), tz="America/New_York")
    assert preview_table(schedule, "2026-03-08", 1) == [
        ("2026-03-08 00:00 EST", "night"),
        ("2026-03-08 03:00 EDT", "day"),
        ("2026-03-08 03:30 EDT", "night"),
    ]
    assert_next_change(schedule, "2026-03-08 01:59", "2026-03-08 03:00", "day")


def test_new_york_november_change():
    schedule = every_day(("01:15", "01:45", "day"), tz="America/New_York")
    assert preview_table(schedule, "2026-11-01", 1) == [
        ("2026-11-01 00:00 EDT", "night"),
        ("2026-11-01 01:15 EDT", "day"),
        ("2026-11-01 01:45 EDT", "night"),
    ]
    # The second 01:15-01:45 (EST) is night: the first occurrence counted.
    assert_mode_at(schedule, "2026-11-01 01:30", "night", fold=1)
    assert_mode_at(schedule, "2026-11-01 01:30", "day", fold=0)
    changes = mode_changes(
        schedule, local(schedule, "2026-11-01 00:00"), local(schedule, "2026-11-01 04:00")
    )
    assert len(changes) == 2


def test_new_york_has_no_change_on_the_european_october_date():
    schedule = make_schedule(timezone="America/New_York")
    # 25 October 2026 is Europe's change; New York is still on EDT until 1 November.
    assert list(preview_table(schedule, "2026-10-23", 11)) == [
        ("2026-10-23 00:00 EDT", "night"),
        ("2026-10-23 08:00 EDT", "day"),
        ("2026-10-23 18:00 EDT", "night"),
        ("2026-10-26 08:00 EDT", "day"),
        ("2026-10-26 18:00 EDT", "night"),
        ("2026-10-27 08:00 EDT", "day"),
        ("2026-10-27 18:00 EDT", "night"),
        ("2026-10-28 08:00 EDT", "day"),
        ("2026-10-28 18:00 EDT", "night"),
        ("2026-10-29 08:00 EDT", "day"),
        ("2026-10-29 18:00 EDT", "night"),
        ("2026-10-30 08:00 EDT", "day"),
        ("2026-10-30 18:00 EDT", "night"),
        ("2026-11-02 08:00 EST", "day"),
        ("2026-11-02 18:00 EST", "night"),
    ]


# -- Australia/Sydney: 4 October 2026 (02:00 -> 03:00, spring in the south) --------------


def test_sydney_october_change():
    schedule = every_day(
        ("02:00", "02:30", "lunch"), ("02:30", "06:00", "day"), tz="Australia/Sydney"
    )
    assert preview_table(schedule, "2026-10-04", 1) == [
        ("2026-10-04 00:00 AEST", "night"),
        ("2026-10-04 03:00 AEDT", "day"),
        ("2026-10-04 06:00 AEDT", "night"),
    ]
    assert decide(utc("2026-10-03 15:59"), schedule).mode == "night"  # 01:59 AEST
    assert decide(utc("2026-10-03 16:00"), schedule).mode == "day"  # 03:00 AEDT


def test_sydney_april_change_is_an_overlap():
    schedule = every_day(("02:30", "04:00", "day"), tz="Australia/Sydney")
    changes = mode_changes(
        schedule, local(schedule, "2026-04-05 00:00"), local(schedule, "2026-04-05 05:00")
    )
    assert changes == [
        (local(schedule, "2026-04-05 02:30", fold=0), "day"),
        (local(schedule, "2026-04-05 04:00"), "night"),
    ]
    assert offset_hours(changes[0][0], "Australia/Sydney") == 11


# -- oddities: 30-minute DST, negative DST, changes at midnight --------------------------


def test_lord_howe_half_hour_gap():
    schedule = every_day(
        ("02:00", "02:20", "lunch"), ("02:20", "03:00", "day"), tz="Australia/Lord_Howe"
    )
    # On 4 October 2026 the clock jumps 02:00 -> 02:30: lunch never happens; day starts
    # at 02:30 (+11).
    assert preview_table(schedule, "2026-10-04", 1) == [
        ("2026-10-04 00:00 +1030", "night"),
        ("2026-10-04 02:30 +11", "day"),
        ("2026-10-04 03:00 +11", "night"),
    ]


def test_dublin_negative_dst_behaves_like_any_other_change():
    # Irish law makes summer (IST) the standard time and winter "negative DST"; only
    # the UTC offset matters here.
    schedule = every_day(("00:30", "01:30", "day"), tz="Europe/Dublin")
    assert preview_table(schedule, "2026-03-29", 1) == [
        ("2026-03-29 00:00 GMT", "night"),
        ("2026-03-29 00:30 GMT", "day"),
        ("2026-03-29 02:00 IST", "night"),
    ]
    assert preview_table(schedule, "2026-10-25", 1) == [
        ("2026-10-25 00:00 IST", "night"),
        ("2026-10-25 00:30 IST", "day"),
        ("2026-10-25 01:30 IST", "night"),
    ]


def test_santiago_midnight_gap_starts_the_day_at_01_00():
    # Chile moves 00:00 -> 01:00 on 6 September 2026: that date has no midnight.
    schedule = every_day(
        ("00:00", "06:00", "night"),
        ("06:00", "24:00", "day"),
        tz="America/Santiago",
        default_mode="day",
    )
    entries = preview(schedule, date(2026, 9, 6), 1)
    assert entries[0].at.isoformat() == "2026-09-06T01:00:00-03:00"
    assert [(e.at.strftime("%H:%M"), e.mode) for e in entries] == [
        ("01:00", "night"),
        ("06:00", "day"),
    ]
    assert decide(utc("2026-09-06 03:59"), schedule).mode == "day"  # 23:59 on the 5th
    assert decide(utc("2026-09-06 04:00"), schedule).mode == "night"  # 01:00 on the 6th


def test_cairo_midnight_overlap_does_not_flicker():
    # Egypt leaves summer time at 24:00 on 29 October 2026: 23:00-24:00 happens twice.
    schedule = every_day(("22:00", "23:30", "day"), tz="Africa/Cairo")
    changes = mode_changes(
        schedule, local(schedule, "2026-10-29 21:00"), local(schedule, "2026-10-30 01:00")
    )
    assert changes == [
        (local(schedule, "2026-10-29 22:00"), "day"),
        (local(schedule, "2026-10-29 23:30", fold=0), "night"),
    ]
    assert_mode_at(schedule, "2026-10-29 23:15", "night", fold=1)


def test_havana_midnight_changes():
    schedule = every_day(("00:00", "00:30", "day"), tz="America/Havana")
    # 8 March 2026: 00:00 -> 01:00, the whole range is in the gap.
    assert preview_table(schedule, "2026-03-08", 1) == [("2026-03-08 01:00 CDT", "night")]
    # 1 November 2026: 01:00 -> 00:00; 00:00-00:30 is the first pass only.
    changes = mode_changes(
        schedule, local(schedule, "2026-10-31 23:00"), local(schedule, "2026-11-01 02:00")
    )
    assert changes == [
        (local(schedule, "2026-11-01 00:00"), "day"),
        (local(schedule, "2026-11-01 00:30"), "night"),
    ]
