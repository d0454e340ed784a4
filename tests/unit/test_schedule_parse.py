"""The schedule document: what parses, what round-trips, and every error it names."""

from __future__ import annotations

import json
from datetime import date

import pytest

from appliance.decision.schedule import (
    WEEKDAYS,
    CustomHoliday,
    DateException,
    HolidayRules,
    Season,
    TimeRange,
    default_schedule_json,
    parse_schedule,
    schedule_to_json,
)
from appliance.errors import ValidationError
from tests.unit.schedule_helpers import assert_errors, schedule_json

SPEC_EXAMPLE = {
    "timezone": "Europe/Berlin",
    "default_mode": "night",
    "weekly": {
        "mon": [
            {"start": "08:00", "end": "12:00", "mode": "day"},
            {"start": "12:00", "end": "13:00", "mode": "lunch"},
            {"start": "13:00", "end": "18:00", "mode": "day"},
        ],
        "tue": [{"start": "08:00", "end": "18:00", "mode": "day"}],
        "sat": [],
        "sun": [],
    },
    "holidays": {
        "country": "DE",
        "subdivision": "BY",
        "mode": "night",
        "custom": [
            {"date": "2026-06-12", "name": "Company day"},
            {"month": 12, "day": 31, "name": "New Year's Eve"},
        ],
    },
    "seasons": [
        {
            "name": "Summer hours",
            "from": "2026-07-01",
            "to": "2026-08-31",
            "weekly": {"mon": [{"start": "07:00", "end": "15:00", "mode": "day"}]},
        }
    ],
    "exceptions": [
        {
            "name": "Christmas Eve",
            "from": "2026-12-24",
            "to": "2026-12-24",
            "ranges": [{"start": "08:00", "end": "12:00", "mode": "day"}],
        },
        {"name": "Office move", "from": "2027-01-04", "to": "2027-01-08", "ranges": []},
    ],
}


# -- what parses ----------------------------------------------------------------------


def test_spec_example_parses_into_the_model():
    schedule = parse_schedule(SPEC_EXAMPLE)
    assert schedule.timezone == "Europe/Berlin"
    assert schedule.default_mode == "night"
    assert schedule.weekly["mon"] == (
        TimeRange(480, 720, "day"),
        TimeRange(720, 780, "lunch"),
        TimeRange(780, 1080, "day"),
    )
    assert schedule.weekly["tue"] == (TimeRange(480, 1080, "day"),)
    # A weekday left out of the document has no ranges.
    assert schedule.weekly["wed"] == () and set(schedule.weekly) == set(WEEKDAYS)
    assert schedule.holidays == HolidayRules(
        "DE",
        "BY",
        "night",
        (),
        (
            CustomHoliday("Company day", date=date(2026, 6, 12)),
            CustomHoliday("New Year's Eve", month=12, day=31),
        ),
    )
    assert schedule.seasons == (
        Season(
            "Summer hours",
            date(2026, 7, 1),
            date(2026, 8, 31),
            {**dict.fromkeys(WEEKDAYS, ()), "mon": (TimeRange(420, 900, "day"),)},
        ),
    )
    assert schedule.exceptions == (
        DateException(
            "Christmas Eve", date(2026, 12, 24), date(2026, 12, 24), (TimeRange(480, 720, "day"),)
        ),
        DateException("Office move", date(2027, 1, 4), date(2027, 1, 8), ()),
    )
    assert schedule.modes == {"day", "night", "lunch"}


def test_schedule_is_frozen_and_hashable():
    schedule = parse_schedule(SPEC_EXAMPLE)
    with pytest.raises(AttributeError):
        schedule.timezone = "UTC"
    assert hash(schedule) == hash(parse_schedule(SPEC_EXAMPLE))


def test_round_trip_through_json_text():
    schedule = parse_schedule(SPEC_EXAMPLE)
    text = json.dumps(schedule_to_json(schedule))
    assert parse_schedule(json.loads(text)) == schedule
    out = schedule_to_json(schedule)
    assert out["weekly"]["mon"][1] == {"start": "12:00", "end": "13:00", "mode": "lunch"}
    assert out["weekly"]["wed"] == []
    assert out["holidays"]["custom"][1] == {"month": 12, "day": 31, "name": "New Year's Eve"}
    assert out["exceptions"][1] == {
        "name": "Office move",
        "from": "2027-01-04",
        "to": "2027-01-08",
        "ranges": [],
    }


def test_default_schedule_is_office_hours_on_weekdays():
    doc = default_schedule_json("America/New_York")
    schedule = parse_schedule(doc)
    assert schedule.timezone == "America/New_York"
    assert schedule.default_mode == "night"
    for day in ("mon", "tue", "wed", "thu", "fri"):
        assert schedule.weekly[day] == (TimeRange(480, 1080, "day"),)
    assert schedule.weekly["sat"] == schedule.weekly["sun"] == ()
    assert schedule.holidays is None and schedule.seasons == () and schedule.exceptions == ()
    assert schedule_to_json(schedule) == doc
    assert parse_schedule(default_schedule_json()).timezone == "Europe/Berlin"


def test_optional_parts_have_their_defaults():
    schedule = parse_schedule({"timezone": "UTC"})
    assert schedule.default_mode == "night"
    assert all(schedule.weekly[d] == () for d in WEEKDAYS)
    assert schedule.holidays is None
    assert parse_schedule({"timezone": "UTC", "holidays": {}}).holidays == HolidayRules()
    assert parse_schedule({"timezone": "UTC", "holidays": None}).holidays is None


def test_24_00_is_an_end_and_ranges_may_touch():
    schedule = parse_schedule(
        schedule_json(
            weekly={
                "fri": [
                    {"start": "00:00", "end": "06:00", "mode": "night"},
                    {"start": "06:00", "end": "22:00", "mode": "day"},
                    {"start": "22:00", "end": "24:00", "mode": "late"},
                ]
            }
        )
    )
    assert schedule.weekly["fri"][-1] == TimeRange(1320, 1440, "late")
    assert schedule_to_json(schedule)["weekly"]["fri"][-1]["end"] == "24:00"


def test_ranges_are_sorted_by_start():
    schedule = parse_schedule(
        schedule_json(
            weekly={
                "mon": [
                    {"start": "13:00", "end": "18:00", "mode": "day"},
                    {"start": "08:00", "end": "12:00", "mode": "day"},
                ]
            }
        )
    )
    assert [r.start for r in schedule.weekly["mon"]] == [480, 780]


def test_exception_to_defaults_to_from():
    schedule = parse_schedule(
        schedule_json(exceptions=[{"name": "Late opening", "from": "2026-05-04", "ranges": []}])
    )
    assert schedule.exceptions[0].first == schedule.exceptions[0].last == date(2026, 5, 4)


def test_allowed_modes_accept_what_the_zone_can_produce():
    doc = schedule_json(default_mode="night", holidays={"country": "DE", "mode": "holiday"})
    assert parse_schedule(doc, allowed_modes={"day", "night", "holiday"}).holidays.mode == "holiday"


# -- every error names its field and what is allowed ------------------------------------


def _range(start="08:00", end="18:00", mode="day"):
    return {"start": start, "end": end, "mode": mode}


ERROR_CASES = [
    # (id, document fields, {field: text in the message})
    (
        "overlap",
        {"weekly": {"mon": [_range("08:00", "12:00"), _range("11:00", "13:00")]}},
        {"weekly.mon[1]": "11:00-13:00 overlaps Monday's hours 08:00-12:00"},
    ),
    (
        "overlap-unsorted",
        {"weekly": {"mon": [_range("11:00", "13:00"), _range("08:00", "12:00")]}},
        {"weekly.mon[1]": "08:00-12:00 overlaps Monday's hours 11:00-13:00"},
    ),
    (
        "overlap-contained",
        {
            "weekly": {
                "mon": [
                    _range("08:00", "18:00"),
                    _range("09:00", "10:00"),
                    _range("12:00", "13:00"),
                ]
            }
        },
        {
            "weekly.mon[1]": "overlaps Monday's hours 08:00-18:00",
            "weekly.mon[2]": "overlaps Monday's hours 08:00-18:00",
        },
    ),
    (
        "end-before-start",
        {"weekly": {"mon": [_range("18:00", "08:00")]}},
        {"weekly.mon[0].end": "must be later than start 18:00; a range cannot cross midnight"},
    ),
    (
        "end-equals-start",
        {"weekly": {"mon": [_range("08:00", "08:00")]}},
        {"weekly.mon[0].end": "must be later than start 08:00"},
    ),
    (
        "24:00-as-start",
        {"weekly": {"mon": [_range("24:00", "24:00")]}},
        {"weekly.mon[0].start": "24:00 is allowed only as an end"},
    ),
    (
        "bad-time",
        {"weekly": {"mon": [_range("8:00", "25:00")]}},
        {
            "weekly.mon[0].start": "'8:00' is not a time; use \"HH:MM\" from 00:00 to 23:59",
            "weekly.mon[0].end": "or 24:00 for the end of the day",
        },
    ),
    (
        "bad-minutes",
        {"weekly": {"tue": [_range("08:60", "09:00")]}},
        {"weekly.tue[0].start": "'08:60' is not a time"},
    ),
    (
        "time-not-string",
        {"weekly": {"mon": [_range(800, None)]}},
        {"weekly.mon[0].start": "not a number", "weekly.mon[0].end": "not null"},
    ),
    (
        "missing-range-keys",
        {"weekly": {"mon": [{"start": "08:00"}]}},
        {"weekly.mon[0].end": "is required", "weekly.mon[0].mode": "is required"},
    ),
    (
        "unknown-range-key",
        {"weekly": {"mon": [{**_range(), "colour": "red"}]}},
        {"weekly.mon[0].colour": "unknown key 'colour'; allowed keys here: start, end, mode"},
    ),
    (
        "unknown-weekday",
        {"weekly": {"monday": []}},
        {"weekly.monday": "unknown weekday 'monday'; use mon, tue, wed, thu, fri, sat, sun"},
    ),
    (
        "weekly-not-object",
        {"weekly": []},
        {"weekly": "must be an object with a list of ranges per weekday"},
    ),
    ("day-not-list", {"weekly": {"mon": _range()}}, {"weekly.mon": "must be a list (time ranges"}),
    (
        "range-not-object",
        {"weekly": {"mon": ["08:00-18:00"]}},
        {"weekly.mon[0]": "must be an object (a time range"},
    ),
    (
        "bad-mode-name",
        {"weekly": {"mon": [_range(mode="Day")]}},
        {"weekly.mon[0].mode": "'Day' is not a mode name; use lower-case letters"},
    ),
    (
        "mode-with-space",
        {"default_mode": "late night"},
        {"default_mode": "'late night' is not a mode name"},
    ),
    ("mode-not-string", {"default_mode": 1}, {"default_mode": "must be a mode name as a string"}),
    (
        "unknown-top-key",
        {"timezone": "UTC", "wekly": {}},
        {
            "wekly": "unknown key 'wekly'; allowed keys here: timezone, default_mode, weekly, "
            "holidays, seasons, exceptions"
        },
    ),
    (
        "missing-timezone",
        {"timezone": None},
        {"timezone": "must be an IANA time zone name as a string"},
    ),
    (
        "unknown-timezone",
        {"timezone": "Europe/Berln"},
        {"timezone": "unknown time zone 'Europe/Berln' (did you mean Europe/Berlin"},
    ),
    ("timezone-path", {"timezone": "../../etc/passwd"}, {"timezone": "unknown time zone"}),
    (
        "timezone-of-this-machine",
        {"timezone": "localtime"},
        {"timezone": "unknown time zone 'localtime'"},
    ),
    (
        "unknown-country",
        {"holidays": {"country": "XY"}},
        {"holidays.country": "unknown country 'XY'"},
    ),
    (
        "lowercase-country",
        {"holidays": {"country": "de"}},
        {"holidays.country": "country codes are upper-case: 'DE'"},
    ),
    (
        "unknown-subdivision",
        {"holidays": {"country": "DE", "subdivision": "XX"}},
        {"holidays.subdivision": "unknown subdivision 'XX' for DE; allowed: BB, BE, BW, BY"},
    ),
    (
        "subdivision-by-name",
        {"holidays": {"country": "DE", "subdivision": "Bayern"}},
        {"holidays.subdivision": "use the code 'BY' for 'Bayern'"},
    ),
    (
        "subdivision-without-country",
        {"holidays": {"subdivision": "BY"}},
        {"holidays.subdivision": "needs a country"},
    ),
    (
        "unknown-holiday-key",
        {"holidays": {"country": "DE", "region": "BY"}},
        {
            "holidays.region": "allowed keys here: country, subdivision, categories, mode, "
            "ignore, custom"
        },
    ),
    (
        "unknown-category",
        {"holidays": {"country": "DE", "categories": ["Catholic", 1]}},
        {
            "holidays.categories[0]": "unknown holiday category 'Catholic' for DE; allowed: "
            "catholic, public, school",
            "holidays.categories[1]": "must be a category name as a string, not a number",
        },
    ),
    (
        "category-without-country",
        {"holidays": {"categories": ["catholic"]}},
        {"holidays.categories[0]": "needs a country"},
    ),
    (
        "bad-holiday-mode",
        {"holidays": {"country": "DE", "mode": "NIGHT"}},
        {"holidays.mode": "'NIGHT' is not a mode name"},
    ),
    (
        "custom-bad-date",
        {"holidays": {"custom": [{"date": "2026-02-30", "name": "x"}]}},
        {"holidays.custom[0].date": "'2026-02-30' is not a date; use \"YYYY-MM-DD\""},
    ),
    (
        "custom-bad-month-day",
        {
            "holidays": {
                "custom": [
                    {"month": 13, "day": 1, "name": "x"},
                    {"month": 4, "day": 31, "name": "y"},
                    {"month": 2, "day": True, "name": "z"},
                ]
            }
        },
        {
            "holidays.custom[0].month": "13 is out of range; the month is 1 to 12",
            "holidays.custom[1].day": "31 is out of range; the day of month 4 is 1 to 30",
            "holidays.custom[2].day": "must be a whole number",
        },
    ),
    (
        "custom-both-forms",
        {"holidays": {"custom": [{"date": "2026-01-02", "month": 1, "day": 2, "name": "x"}]}},
        {"holidays.custom[0]": "use either date (one day) or month and day"},
    ),
    (
        "custom-neither-form",
        {"holidays": {"custom": [{"name": "x"}]}},
        {"holidays.custom[0]": 'needs either "date"'},
    ),
    (
        "custom-no-name",
        {"holidays": {"custom": [{"date": "2026-01-02"}]}},
        {"holidays.custom[0].name": "is required"},
    ),
    (
        "custom-month-without-day",
        {"holidays": {"custom": [{"month": 5, "name": "x"}]}},
        {"holidays.custom[0].day": "is required with month"},
    ),
    (
        "ignore-not-holiday-date",
        {"holidays": {"country": "DE", "ignore": ["2026-12-24"]}},
        {"holidays.ignore[0]": "2026-12-24 is not a public holiday in DE, so there is nothing"},
    ),
    (
        "ignore-unknown-name",
        {"holidays": {"country": "DE", "subdivision": "BY", "ignore": ["Corpus Christy"]}},
        {
            "holidays.ignore[0]": "no holiday called 'Corpus Christy' in DE-BY; did you mean "
            "'Corpus Christi'?"
        },
    ),
    (
        "ignore-bad-date",
        {"holidays": {"country": "DE", "ignore": ["2026-13-01", 5]}},
        {"holidays.ignore[0]": "is not a date", "holidays.ignore[1]": "must be a holiday name"},
    ),
    (
        "ignore-without-country",
        {"holidays": {"ignore": ["Christmas Day"]}},
        {"holidays.ignore[0]": "needs a country"},
    ),
    (
        "season-bad-dates",
        {"seasons": [{"name": "S", "from": "2026-07-01", "to": "2026-06-30", "weekly": {}}]},
        {"seasons[0].to": "2026-06-30 is before from 2026-07-01; to must be on or after from"},
    ),
    (
        "season-bad-from",
        {"seasons": [{"name": "S", "from": "1 July", "weekly": {}}]},
        {"seasons[0].from": "'1 July' is not a date"},
    ),
    (
        "season-missing-parts",
        {"seasons": [{"to": "2026-07-01"}]},
        {
            "seasons[0].name": "is required",
            "seasons[0].from": "is required",
            "seasons[0].weekly": "is required",
        },
    ),
    (
        "season-weekly-errors",
        {
            "seasons": [
                {
                    "name": "S",
                    "from": "2026-07-01",
                    "to": "2026-08-31",
                    "weekly": {"fri": [_range("15:00", "07:00")], "xyz": []},
                }
            ]
        },
        {
            "seasons[0].weekly.fri[0].end": "must be later than start 15:00",
            "seasons[0].weekly.xyz": "unknown weekday",
        },
    ),
    (
        "seasons-overlap",
        {
            "seasons": [
                {"name": "Summer", "from": "2026-07-01", "to": "2026-08-31", "weekly": {}},
                {"name": "August", "from": "2026-08-01", "to": "2026-08-15", "weekly": {}},
            ]
        },
        {
            "seasons[1]": "overlaps season 'Summer' (2026-07-01 to 2026-08-31); seasons must "
            "not overlap"
        },
    ),
    (
        "exceptions-overlap",
        {
            "exceptions": [
                {"name": "Move", "from": "2027-01-04", "to": "2027-01-08", "ranges": []},
                {"name": "Party", "from": "2027-01-08", "ranges": [_range()]},
            ]
        },
        {"exceptions[1]": "overlaps exception 'Move'"},
    ),
    (
        "exception-ranges-required",
        {"exceptions": [{"name": "x", "from": "2026-12-24"}]},
        {"exceptions[0].ranges": "is required: the day's time ranges, or [] for closed all day"},
    ),
    (
        "exception-range-errors",
        {"exceptions": [{"name": "x", "from": "2026-12-24", "ranges": [_range("08:00", "24:01")]}]},
        {"exceptions[0].ranges[0].end": "'24:01' is not a time"},
    ),
    (
        "exception-name-empty",
        {"exceptions": [{"name": " ", "from": "2026-12-24", "ranges": []}]},
        {"exceptions[0].name": "must not be empty"},
    ),
    (
        "exception-name-multiline",
        {"exceptions": [{"name": "a\nb", "from": "2026-12-24", "ranges": []}]},
        {"exceptions[0].name": "one line of printable text"},
    ),
    (
        "exception-name-long",
        {"exceptions": [{"name": "x" * 81, "from": "2026-12-24", "ranges": []}]},
        {"exceptions[0].name": "at most 80"},
    ),
    ("seasons-not-list", {"seasons": {"name": "x"}}, {"seasons": "must be a list"}),
    ("exceptions-not-list", {"exceptions": "none"}, {"exceptions": "must be a list"}),
    ("holidays-not-object", {"holidays": "DE"}, {"holidays": "must be an object"}),
]


@pytest.mark.parametrize(
    "fields, expected", [case[1:] for case in ERROR_CASES], ids=[case[0] for case in ERROR_CASES]
)
def test_errors_name_the_field(fields, expected):
    assert_errors(schedule_json(**fields), expected)


@pytest.mark.parametrize("document", [[], "schedule", 3, None, True])
def test_non_object_document(document):
    error = assert_errors(document, {"": "must be an object (a schedule document"})
    assert len(error.errors) == 1


def test_timezone_is_required():
    assert_errors({"weekly": {}}, {"timezone": "is required: the site's IANA time zone"})


def test_all_errors_at_once():
    document = schedule_json(
        timezone="Mars/Olympus",
        default_mode="Night",
        weekly={"mon": [_range("18:00", "08:00")], "funday": []},
        holidays={"country": "ZZ"},
        seasons=[{"name": "S", "from": "2026-13-01", "weekly": {}}],
        exceptions=[{"name": "E", "from": "2026-12-24", "ranges": [_range(mode="x y")]}],
        extra=True,
    )
    error = assert_errors(
        document,
        {
            "timezone": "unknown time zone",
            "default_mode": "not a mode name",
            "weekly.mon[0].end": "must be later",
            "weekly.funday": "unknown weekday",
            "holidays.country": "unknown country",
            "seasons[0].from": "not a date",
            "exceptions[0].ranges[0].mode": "not a mode name",
            "extra": "unknown key",
        },
    )
    assert len(error.errors) == 8
    # The rendered message is one line per problem, each naming its field.
    assert all(": " in line for line in str(error).splitlines())
    assert error.as_json()["errors"][0]["field"] == "extra"


def test_modes_outside_the_zone_are_refused_when_a_config_is_given():
    document = schedule_json(
        weekly={"mon": [_range(mode="lunch")]}, holidays={"country": "DE", "mode": "holiday"}
    )
    assert_errors(
        document,
        {
            "weekly.mon[0].mode": "mode 'lunch' cannot be produced by this zone's actuators; "
            "allowed: day, night",
            "holidays.mode": "mode 'holiday' cannot be produced",
        },
        allowed_modes={"day", "night"},
    )
    # Without a config (allowed_modes None) any well-formed name is fine.
    assert parse_schedule(document).modes == {"night", "lunch", "holiday"}


def test_default_night_must_be_producible_when_a_config_is_given():
    assert_errors(
        {"timezone": "UTC", "holidays": {"country": "DE"}},
        {"default_mode": "is required here", "holidays.mode": "is required here"},
        allowed_modes={"open", "closed"},
    )


def test_error_lists_allowed_subdivisions_for_that_country():
    error = assert_errors(
        schedule_json(holidays={"country": "US", "subdivision": "ZZ"}),
        {"holidays.subdivision": "for US; allowed: AK, AL"},
    )
    assert "WY" in error.errors[0].message


def test_country_without_subdivisions_says_so():
    import holidays

    plain = next(
        code
        for code, subs in holidays.list_supported_countries().items()
        if not subs and len(code) == 2
    )
    assert_errors(
        schedule_json(holidays={"country": plain, "subdivision": "X"}),
        {"holidays.subdivision": f"{plain} has no subdivisions"},
    )


def test_validation_error_is_a_value_error_with_no_traceback_text():
    with pytest.raises(ValueError) as info:
        parse_schedule({"timezone": 5})
    assert isinstance(info.value, ValidationError)
    assert "Traceback" not in str(info.value)
