"""Closure layers (calendar and company) in the precedence of
docs/design.md#modes-and-precedence.

key > override > date exception > calendar closure > company closure > holiday >
season > weekly. The layers ride on a parsed schedule (``with_layers``) and never
reach its JSON.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appliance.decision.dayplan import day_plan
from appliance.decision.decide import Key, Override, decide, preview
from appliance.decision.layers import CalendarEntry, ClosureLayer, parse_company_closures
from appliance.decision.schedule import parse_schedule, schedule_to_json
from appliance.errors import ValidationError
from tests.unit.schedule_helpers import (
    assert_mode_at,
    assert_next_change,
    local,
    make_schedule,
    preview_table,
    schedule_json,
)

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, tz=BERLIN) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def calendar(*entries, label="Closures") -> ClosureLayer:
    return ClosureLayer("calendar", label, entries)


def timed(summary, start, end, mode="night") -> CalendarEntry:
    return CalendarEntry(summary, mode, at(start), at(end))


def all_day(summary, first, end, mode="night") -> CalendarEntry:
    return CalendarEntry(summary, mode, date.fromisoformat(first), date.fromisoformat(end))


def company(*closures, version=7) -> ClosureLayer:
    return parse_company_closures({"version": version, "closures": list(closures)})


def closure(name, first, last=None, ranges=()):
    return {"name": name, "from": first, "to": last or first, "ranges": list(ranges)}


MORNING = [{"start": "08:00", "end": "12:00", "mode": "day"}]


# -- calendar entries ----------------------------------------------------------------------


def test_timed_event_closes_only_during_its_time_with_its_reason():
    schedule = make_schedule().with_layers(
        calendar(timed("Staff outing", "2026-10-06 12:00", "2026-10-06 16:00"))
    )
    assert_mode_at(schedule, "2026-10-06 11:59", "day", source="weekly")
    assert_mode_at(
        schedule,
        "2026-10-06 12:00",
        "night",
        source="calendar",
        reason="night: calendar Closures: Staff outing",
    )
    assert_mode_at(schedule, "2026-10-06 15:59", "night", source="calendar")
    assert_mode_at(schedule, "2026-10-06 16:00", "day", source="weekly")
    assert_next_change(schedule, "2026-10-06 09:00", "2026-10-06 12:00", "night")
    assert_next_change(schedule, "2026-10-06 13:00", "2026-10-06 16:00", "day")


def test_all_day_event_end_date_is_exclusive():
    schedule = make_schedule().with_layers(
        calendar(all_day("Office move", "2026-10-08", "2026-10-10"))
    )  # Thu and Fri
    assert_mode_at(schedule, "2026-10-07 10:00", "day")
    assert_mode_at(
        schedule, "2026-10-08 10:00", "night", reason="night: calendar Closures: Office move"
    )
    assert_mode_at(schedule, "2026-10-09 17:00", "night", source="calendar")
    assert_mode_at(schedule, "2026-10-12 10:00", "day")  # Monday: open again
    assert preview_table(schedule, "2026-10-07", 6) == [
        ("2026-10-07 00:00 CEST", "night"),
        ("2026-10-07 08:00 CEST", "day"),
        ("2026-10-07 18:00 CEST", "night"),
        ("2026-10-12 08:00 CEST", "day"),
        ("2026-10-12 18:00 CEST", "night"),
    ]


def test_event_spanning_midnight_closes_both_dates_in_part():
    schedule = make_schedule().with_layers(
        calendar(timed("Server move", "2026-10-06 17:00", "2026-10-07 09:30"))
    )
    assert_mode_at(schedule, "2026-10-06 16:59", "day")
    assert_mode_at(schedule, "2026-10-06 17:00", "night", source="calendar")
    assert_mode_at(schedule, "2026-10-07 00:00", "night", source="calendar")
    assert_mode_at(schedule, "2026-10-07 09:29", "night", source="calendar")
    assert_mode_at(schedule, "2026-10-07 09:30", "day", source="weekly")
    assert [(p.start, p.end, p.source) for p in day_plan(schedule, date(2026, 10, 7)).pieces] == [
        (0, 570, "calendar"),
        (570, 1080, "weekly"),
        (1080, 1440, "default"),
    ]


def test_event_ending_at_midnight_does_not_touch_the_next_date():
    schedule = make_schedule().with_layers(
        calendar(timed("Late", "2026-10-06 17:00", "2026-10-07 00:00"))
    )
    assert [p.source for p in day_plan(schedule, date(2026, 10, 7)).pieces] == [
        "default",
        "weekly",
        "default",
    ]


def test_seconds_round_outwards_to_whole_minutes():
    schedule = make_schedule().with_layers(
        calendar(
            CalendarEntry("Odd", "night", at("2026-10-06 10:00:30"), at("2026-10-06 10:59:01"))
        )
    )
    piece = day_plan(schedule, date(2026, 10, 6)).piece_at(600)
    assert (piece.start, piece.end, piece.source) == (600, 660, "calendar")


def test_category_mode_other_than_night():
    schedule = make_schedule().with_layers(
        calendar(timed("Training", "2026-10-06 12:00", "2026-10-06 13:30", mode="lunch"))
    )
    assert_mode_at(
        schedule, "2026-10-06 12:30", "lunch", reason="lunch: calendar Closures: Training"
    )
    assert "lunch" in schedule.modes


def test_timed_event_in_another_zone_is_converted_to_local_wall_clock():
    new_york = ZoneInfo("America/New_York")
    entry = CalendarEntry(
        "Call", "night", at("2026-10-06 06:00", new_york), at("2026-10-06 07:00", new_york)
    )  # 12:00-13:00 in Berlin
    schedule = make_schedule().with_layers(calendar(entry))
    assert_mode_at(schedule, "2026-10-06 12:30", "night", source="calendar")
    assert_mode_at(schedule, "2026-10-06 13:00", "day")


def test_overlapping_events_the_earlier_names_the_overlap():
    schedule = make_schedule().with_layers(
        calendar(
            timed("Second", "2026-10-06 11:00", "2026-10-06 14:00", mode="lunch"),
            timed("First", "2026-10-06 10:00", "2026-10-06 12:00"),
        )
    )
    assert_mode_at(schedule, "2026-10-06 11:30", "night", reason="night: calendar Closures: First")
    assert_mode_at(schedule, "2026-10-06 12:30", "lunch", reason="lunch: calendar Closures: Second")
    assert_mode_at(schedule, "2026-10-06 14:00", "day")


def test_two_calendars_the_first_given_wins():
    schedule = make_schedule().with_layers(
        calendar(timed("Ours", "2026-10-06 10:00", "2026-10-06 12:00"), label="Site"),
        calendar(
            timed("Theirs", "2026-10-06 10:00", "2026-10-06 12:00", mode="lunch"), label="Group"
        ),
    )
    assert_mode_at(schedule, "2026-10-06 11:00", "night", reason="night: calendar Site: Ours")


def test_long_all_day_event_costs_no_index_per_day_and_still_counts():
    schedule = make_schedule().with_layers(
        calendar(all_day("Closed for refurbishment", "2026-01-01", "2036-01-01"))
    )
    assert_mode_at(schedule, "2031-06-03 10:00", "night", source="calendar")
    assert_mode_at(schedule, "2036-01-02 10:00", "day")
    layer = schedule.layers[0]
    by_date, long_spans = layer._index["Europe/Berlin"]
    assert by_date == {} and len(long_spans) == 1


def test_across_dst_an_event_stays_at_its_local_times():
    # 25 October 2026: Berlin falls back 03:00 CEST -> 02:00 CET.
    schedule = make_schedule(weekly={}).with_layers(
        calendar(timed("Sunday shift", "2026-10-25 08:00", "2026-10-25 10:00", mode="day"))
    )
    assert preview_table(schedule, "2026-10-25", 1) == [
        ("2026-10-25 00:00 CEST", "night"),
        ("2026-10-25 08:00 CET", "day"),
        ("2026-10-25 10:00 CET", "night"),
    ]


def test_an_hour_that_repeats_its_wall_clock_is_an_hour_long():
    # 1 November 2026: Cuba falls back 01:00 CDT -> 00:00 CST, so midnight comes twice.
    # An event from the first midnight to the second is an hour long; Python compares two
    # times of one zone by their wall clocks, which once refused it as ending at its start
    # (found by the layered property test).
    havana = ZoneInfo("America/Havana")
    first = datetime(2026, 11, 1, 0, 0, tzinfo=havana)
    second = first.replace(fold=1)
    assert first.utcoffset() != second.utcoffset()
    entry = CalendarEntry("Repeated hour", "night", first, second)
    assert (entry.end.astimezone(UTC) - entry.start.astimezone(UTC)) == timedelta(hours=1)
    with pytest.raises(ValueError, match="later than start"):
        CalendarEntry("Backwards", "night", second, first)


def test_calendar_entry_checks_its_own_shape():
    with pytest.raises(ValueError, match="both be dates"):
        CalendarEntry("x", "night", date(2026, 1, 1), at("2026-01-02 00:00"))
    with pytest.raises(ValueError, match="later than start"):
        CalendarEntry("x", "night", date(2026, 1, 2), date(2026, 1, 2))
    with pytest.raises(ValueError, match="timezone-aware"):
        CalendarEntry("x", "night", datetime(2026, 1, 1), datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="not a mode name"):
        CalendarEntry("x", "Night", date(2026, 1, 1), date(2026, 1, 2))
    with pytest.raises(ValueError, match="kind"):
        ClosureLayer("holiday", "x", ())
    with pytest.raises(ValueError, match="DateException"):
        ClosureLayer("company", "x", (all_day("x", "2026-01-01", "2026-01-02"),))


# -- precedence ----------------------------------------------------------------------------


def test_hand_entered_exception_wins_over_calendar_and_company_for_the_whole_date():
    schedule = make_schedule(
        exceptions=[closure("Christmas Eve", "2026-12-24", ranges=MORNING)]
    ).with_layers(
        calendar(all_day("Closed", "2026-12-24", "2026-12-25")),
        company(closure("Staff day", "2026-12-24")),
    )
    assert_mode_at(
        schedule,
        "2026-12-24 10:00",
        "day",
        source="exception",
        reason="day: Christmas Eve, special hours 08:00-12:00",
    )
    assert_mode_at(schedule, "2026-12-24 13:00", "night", source="exception")


def test_calendar_wins_over_company_during_the_event_only():
    schedule = make_schedule().with_layers(
        company(closure("Half day", "2026-10-06", ranges=MORNING)),
        calendar(timed("Fire drill", "2026-10-06 09:00", "2026-10-06 10:00")),
    )
    assert_mode_at(
        schedule,
        "2026-10-06 08:30",
        "day",
        source="company",
        reason="day: company closure v7: Half day, special hours 08:00-12:00",
    )
    assert_mode_at(
        schedule,
        "2026-10-06 09:30",
        "night",
        source="calendar",
        reason="night: calendar Closures: Fire drill",
    )
    assert_mode_at(schedule, "2026-10-06 10:30", "day", source="company")
    assert_mode_at(
        schedule,
        "2026-10-06 14:00",
        "night",
        source="company",
        reason="night: company closure v7: Half day, outside its special hours",
    )


def test_company_closure_wins_over_holiday_season_and_weekly():
    schedule = make_schedule(
        holidays={"country": "DE", "subdivision": "BY"},
        seasons=[
            {"name": "Winter", "from": "2026-12-01", "to": "2027-02-28", "weekly": {"mon": MORNING}}
        ],
    ).with_layers(company(closure("Inventory", "2026-12-25", "2026-12-28", ranges=MORNING)))
    # 25 December is a public holiday; 28 December a Monday of the season.
    assert_mode_at(schedule, "2026-12-25 09:00", "day", source="company")
    assert_mode_at(
        schedule,
        "2026-12-28 09:00",
        "day",
        reason="day: company closure v7: Inventory, special hours 08:00-12:00",
    )
    assert_mode_at(schedule, "2026-12-29 09:00", "night", source="season")  # Tue in season


def test_company_closed_all_day_reason():
    schedule = make_schedule().with_layers(company(closure("Staff day", "2026-10-06"), version=12))
    assert_mode_at(
        schedule,
        "2026-10-06 10:00",
        "night",
        source="company",
        reason="night: company closure v12: Staff day, closed all day",
    )


def test_first_company_layer_wins():
    schedule = make_schedule().with_layers(
        company(closure("Newer", "2026-10-06"), version=8),
        company(closure("Older", "2026-10-06", ranges=MORNING), version=7),
    )
    assert_mode_at(
        schedule,
        "2026-10-06 10:00",
        "night",
        reason="night: company closure v8: Newer, closed all day",
    )


def test_key_and_override_still_win_over_layers():
    schedule = make_schedule().with_layers(calendar(all_day("Closed", "2026-10-06", "2026-10-07")))
    now = local(schedule, "2026-10-06 10:00")
    assert decide(now, schedule, key=Key.DAY).source == "key"
    override = Override("day", now + timedelta(hours=1), "anna", now)
    decision = decide(now, schedule, override)
    assert (decision.mode, decision.source) == ("day", "override")
    assert decision.next_change.at == now + timedelta(hours=1)
    assert decision.next_change.mode == "night"


# -- the layers are not part of the schedule ------------------------------------------------


def test_with_layers_returns_a_copy_and_json_never_carries_layers():
    plain = make_schedule()
    layered = plain.with_layers(calendar(all_day("x", "2026-10-06", "2026-10-07")), None)
    assert plain.layers == () and len(layered.layers) == 1
    assert schedule_to_json(layered) == schedule_to_json(plain)
    assert parse_schedule(schedule_to_json(layered)) == plain
    assert layered.with_layers().layers == ()
    with pytest.raises(TypeError):
        plain.with_layers("not a layer")


def test_preview_honours_layers():
    schedule = make_schedule().with_layers(
        calendar(timed("Staff outing", "2026-10-06 12:00", "2026-10-06 16:00"))
    )
    reasons = [
        (t.at.strftime("%m-%d %H:%M"), t.reason) for t in preview(schedule, date(2026, 10, 6), 1)
    ]
    assert reasons == [
        ("10-06 00:00", "night: outside hours"),
        ("10-06 08:00", "day: weekly hours Tuesday 08:00-18:00"),
        ("10-06 12:00", "night: calendar Closures: Staff outing"),
        ("10-06 16:00", "day: weekly hours Tuesday 08:00-18:00"),
        ("10-06 18:00", "night: outside hours"),
    ]


# -- parsing a company closure set ---------------------------------------------------------


def test_company_set_parses_into_a_layer():
    layer = parse_company_closures(
        {"version": 3, "closures": [closure("Staff day", "2026-12-24", ranges=MORNING)]}
    )
    assert (layer.kind, layer.label, layer.prefix) == ("company", "v3", "company closure v3")
    assert layer.entries[0].name == "Staff day"
    assert layer.modes == {"day"}


@pytest.mark.parametrize(
    "document, field, text",
    [
        ([], "", "company closure set"),
        ({"closures": []}, "version", "is required"),
        ({"version": 0, "closures": []}, "version", "1 or more"),
        ({"version": True, "closures": []}, "version", "whole number"),
        ({"version": 1}, "closures", "is required"),
        ({"version": 1, "closures": {}}, "closures", "must be a list"),
        ({"version": 1, "closures": [], "extra": 1}, "extra", "unknown key"),
        (
            {"version": 1, "closures": [{"name": "x", "from": "2026-13-01", "ranges": []}]},
            "closures[0].from",
            "is not a date",
        ),
        (
            {
                "version": 1,
                "closures": [{"name": "x", "from": "2026-12-01", "to": "2026-11-01", "ranges": []}],
            },
            "closures[0].to",
            "before from",
        ),
        (
            {"version": 1, "closures": [{"name": "x", "from": "2026-12-01"}]},
            "closures[0].ranges",
            "is required",
        ),
        (
            {
                "version": 1,
                "closures": [closure("a", "2026-12-01", "2026-12-03"), closure("b", "2026-12-03")],
            },
            "closures[1]",
            "must not overlap",
        ),
        (
            {
                "version": 1,
                "closures": [
                    closure(
                        "a",
                        "2026-12-01",
                        ranges=[{"start": "08:00", "end": "07:00", "mode": "day"}],
                    )
                ],
            },
            "closures[0].ranges[0].end",
            "later than start",
        ),
    ],
)
def test_company_set_errors_name_the_field(document, field, text):
    with pytest.raises(ValidationError) as info:
        parse_company_closures(document)
    found = {e.field: e.message for e in info.value.errors}
    assert field in found, found
    assert text in found[field]


def test_company_set_modes_checked_against_the_actuators():
    with pytest.raises(ValidationError) as info:
        parse_company_closures(
            {
                "version": 1,
                "closures": [
                    closure(
                        "a",
                        "2026-12-01",
                        ranges=[{"start": "08:00", "end": "12:00", "mode": "lunch"}],
                    )
                ],
            },
            allowed_modes={"day", "night"},
        )
    assert info.value.errors[0].field == "closures[0].ranges[0].mode"


def test_exception_errors_still_name_exceptions():
    with pytest.raises(ValidationError) as info:
        parse_schedule(schedule_json(exceptions=[{"name": "x", "from": "bad", "ranges": []}]))
    assert [e.field for e in info.value.errors] == ["exceptions[0].from"]
