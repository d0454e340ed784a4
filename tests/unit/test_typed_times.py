"""Times as people type them (issue 16): the schedule editor reads "8:00", "0800" and
"17.30"; errors say what is wrong in words, with the midnight advice only where it fits."""

from __future__ import annotations

import pytest

from appliance.decision.schedule import parse_schedule, parse_typed_time
from appliance.errors import ValidationError
from tests.unit.schedule_helpers import schedule_json


@pytest.mark.parametrize(
    "typed, time",
    [
        ("08:00", "08:00"),
        ("8:00", "08:00"),
        ("0800", "08:00"),
        ("800", "08:00"),
        ("8", "08:00"),
        ("17.30", "17:30"),
        ("17h30", "17:30"),
        (" 17:30 ", "17:30"),
        ("1730", "17:30"),
        ("0:00", "00:00"),
        ("24:00", "24:00"),
        ("2400", "24:00"),
        ("24", "24:00"),
        ("23.59", "23:59"),
        ("9.05", "09:05"),
    ],
)
def test_times_as_people_type_them(typed, time):
    assert parse_typed_time(typed) == time


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "  ",
        "25:00",
        "24:30",
        "12:60",
        "8:5",
        "17,30",
        "noon",
        "8am",
        "12345",
        "1:2:3",
        "-1:00",
        "٠٨:٠٠",
        None,
        800,
    ],
)
def test_what_is_not_a_time_stays_unread(typed):
    assert parse_typed_time(typed) is None


def _error(start: str, end: str, day: str = "mon") -> str:
    doc = schedule_json(weekly={day: [{"start": start, "end": end, "mode": "day"}]})
    with pytest.raises(ValidationError) as caught:
        parse_schedule(doc)
    return {e.field: e.message for e in caught.value.errors}[f"weekly.{day}[0].end"]


def test_the_midnight_advice_only_where_a_range_could_mean_past_midnight():
    # Issue 16: "13:00 must be later than start 13:30" came with a paragraph about
    # midnight that had nothing to do with it.
    slip = _error("13:30", "13:00")
    assert slip == "13:00 must be later than start 13:30"
    assert "midnight" not in _error("09:00", "08:00")
    assert "midnight" not in _error("08:00", "08:00")
    night = _error("22:00", "06:00")
    assert night.startswith(
        "06:00 must be later than start 22:00; a range cannot cross midnight, so split it"
    )
    assert _error("18:00", "00:00") == (
        "00:00 must be later than start 18:00; for midnight at the end of the day use 24:00"
    )


def test_overlaps_name_the_day_in_words():
    doc = schedule_json(
        weekly={
            "tue": [
                {"start": "08:00", "end": "12:30", "mode": "day"},
                {"start": "12:00", "end": "14:00", "mode": "day"},
            ]
        }
    )
    with pytest.raises(ValidationError) as caught:
        parse_schedule(doc)
    (error,) = caught.value.errors
    assert error.field == "weekly.tue[1]"
    assert error.message == (
        "12:00-14:00 overlaps Tuesday's hours 08:00-12:30; the hours of one day must not overlap"
    )
    assert "weekly." not in error.message
