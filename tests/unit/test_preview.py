"""preview(): the entries docs/design.md#the-api-and-the-command-line asks for, the table,
the JSON, and a golden year."""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path

import pytest

from appliance.decision.decide import preview
from appliance.decision.preview_text import format_preview, transitions_to_json
from appliance.decision.schedule import parse_schedule
from appliance.errors import ValidationError
from tests.unit.schedule_helpers import make_schedule, preview_table
from tests.unit.test_schedule_parse import SPEC_EXAMPLE

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("NIGHTSWITCH_UPDATE_GOLDEN") == "1"


def test_spec_example_over_christmas():
    schedule = parse_schedule(SPEC_EXAMPLE)
    assert preview_table(schedule, "2026-12-21", 21) == [
        ("2026-12-21 00:00 CET", "night"),
        ("2026-12-21 08:00 CET", "day"),  # Monday with lunch
        ("2026-12-21 12:00 CET", "lunch"),
        ("2026-12-21 13:00 CET", "day"),
        ("2026-12-21 18:00 CET", "night"),
        ("2026-12-22 08:00 CET", "day"),  # Tuesday
        ("2026-12-22 18:00 CET", "night"),
        ("2026-12-24 08:00 CET", "day"),  # Christmas Eve exception, until noon
        ("2026-12-24 12:00 CET", "night"),
        ("2026-12-28 08:00 CET", "day"),  # 25, 26 holidays; weekend
        ("2026-12-28 12:00 CET", "lunch"),
        ("2026-12-28 13:00 CET", "day"),
        ("2026-12-28 18:00 CET", "night"),
        ("2026-12-29 08:00 CET", "day"),
        ("2026-12-29 18:00 CET", "night"),
        # 31 Dec custom holiday (a Thursday: no hours anyway), 1 Jan holiday,
        # 4-8 Jan office move (closed), so Monday 11 Jan.
    ]
    assert preview_table(schedule, "2027-01-09", 3)[1:] == [
        ("2027-01-11 08:00 CET", "day"),
        ("2027-01-11 12:00 CET", "lunch"),
        ("2027-01-11 13:00 CET", "day"),
        ("2027-01-11 18:00 CET", "night"),
    ]


def test_first_entry_is_the_mode_at_local_midnight_with_its_reason():
    schedule = parse_schedule(SPEC_EXAMPLE)
    first = preview(schedule, date(2026, 12, 25), 1)
    assert len(first) == 1
    assert first[0].at.isoformat() == "2026-12-25T00:00:00+01:00"
    assert (first[0].mode, first[0].reason, first[0].source) == (
        "night",
        "night: public holiday Christmas Day (DE)",
        "holiday",
    )


def test_entries_are_changes_of_mode_not_of_reason():
    schedule = make_schedule(
        weekly={
            "mon": [
                {"start": "00:00", "end": "08:00", "mode": "night"},
                {"start": "08:00", "end": "12:00", "mode": "day"},
                {"start": "12:00", "end": "18:00", "mode": "day"},
            ]
        }
    )
    entries = preview(schedule, date(2026, 12, 20), 2)  # Sunday and Monday
    assert [(e.at.strftime("%a %H:%M"), e.mode, e.source) for e in entries] == [
        ("Sun 00:00", "night", "default"),
        ("Mon 08:00", "day", "weekly"),
        ("Mon 18:00", "night", "default"),
    ]


def test_a_change_at_the_end_of_the_window_belongs_to_the_next_window():
    schedule = make_schedule(weekly={"tue": [{"start": "00:00", "end": "24:00", "mode": "day"}]})
    assert preview_table(schedule, "2026-12-21", 1) == [("2026-12-21 00:00 CET", "night")]
    assert preview_table(schedule, "2026-12-21", 2) == [
        ("2026-12-21 00:00 CET", "night"),
        ("2026-12-22 00:00 CET", "day"),
    ]


@pytest.mark.parametrize(
    "start, days, field, text",
    [
        (date(2026, 1, 1), 0, "days", "must be a whole number from 1 to 3660"),
        (date(2026, 1, 1), 3661, "days", "from 1 to 3660"),
        (date(2026, 1, 1), "7", "days", "'7' is not allowed"),
        (date(2026, 1, 1), True, "days", "is not allowed"),
        (date(1969, 12, 31), 7, "from", "use a date in the years 1970 to 2199"),
        (datetime(2026, 1, 1), 7, "from", "is not a date"),
    ],
)
def test_preview_span_is_checked(start, days, field, text):
    with pytest.raises(ValidationError) as info:
        preview(make_schedule(), start, days)
    assert info.value.errors[0].field == field
    assert text in info.value.errors[0].message


def test_ten_years_is_allowed():
    entries = preview(make_schedule(), date(2026, 1, 1), 3660)
    assert date(2036, 1, 1) < entries[-1].at.date() < date(2036, 1, 9)  # 3660 days later
    assert len(entries) == 1 + 2 * sum(1 for e in entries if e.mode == "day")


def test_table_format():
    schedule = parse_schedule(SPEC_EXAMPLE)
    text = format_preview(
        preview(schedule, date(2026, 12, 24), 2),
        timezone="Europe/Berlin",
        start=date(2026, 12, 24),
        days=2,
    )
    assert text.splitlines() == [
        "Preview Thu 2026-12-24 to Fri 2026-12-25 (2 days), local time Europe/Berlin",
        "Day  Date        Time       Mode   Reason",
        "Thu  2026-12-24  00:00 CET  night  Christmas Eve, outside its special hours",
        "Thu  2026-12-24  08:00 CET  day    Christmas Eve, special hours 08:00-12:00",
        "Thu  2026-12-24  12:00 CET  night  Christmas Eve, outside its special hours",
        "2 changes of mode after the first entry",
    ]
    one = format_preview(
        preview(schedule, date(2026, 12, 25), 1),
        timezone="Europe/Berlin",
        start=date(2026, 12, 25),
        days=1,
    )
    assert "(1 day)" in one and one.endswith("0 changes of mode after the first entry")


def test_json_format_has_local_offsets():
    schedule = parse_schedule(SPEC_EXAMPLE)
    entries = transitions_to_json(preview(schedule, date(2026, 3, 29), 2))
    assert entries == [
        {"at": "2026-03-29T00:00:00+01:00", "mode": "night", "reason": "night: outside hours"},
        {
            "at": "2026-03-30T08:00:00+02:00",
            "mode": "day",
            "reason": "day: weekly hours Monday 08:00-12:00",
        },
        {
            "at": "2026-03-30T12:00:00+02:00",
            "mode": "lunch",
            "reason": "lunch: weekly hours Monday 12:00-13:00",
        },
        {
            "at": "2026-03-30T13:00:00+02:00",
            "mode": "day",
            "reason": "day: weekly hours Monday 13:00-18:00",
        },
        {"at": "2026-03-30T18:00:00+02:00", "mode": "night", "reason": "night: outside hours"},
    ]
    assert json.loads(json.dumps(entries)) == entries


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), (
        f"{path} is missing; run with NIGHTSWITCH_UPDATE_GOLDEN=1 once and review it"
    )
    assert text == path.read_text(encoding="utf-8"), (
        f"the preview differs from {path}; if the change is intended, run with "
        "NIGHTSWITCH_UPDATE_GOLDEN=1 and review the diff"
    )


def test_golden_year_of_the_spec_example():
    """A year of the example schedule (SPEC_EXAMPLE): lunch, summer hours, Bavarian and
    custom holidays, Christmas Eve, the office move and both DST changes, reviewed by eye
    once."""
    schedule = parse_schedule(SPEC_EXAMPLE)
    start = date(2026, 6, 1)
    text = (
        format_preview(
            preview(schedule, start, 366), timezone=schedule.timezone, start=start, days=366
        )
        + "\n"
    )
    _golden("preview_spec_example_2026-06-01_366d.txt", text)


def test_golden_southern_hemisphere_json():
    """Sydney office hours with NSW holidays over its April and October changes."""
    schedule = make_schedule(
        timezone="Australia/Sydney", holidays={"country": "AU", "subdivision": "NSW"}
    )
    text = (
        json.dumps(transitions_to_json(preview(schedule, date(2026, 3, 30), 200)), indent=1) + "\n"
    )
    _golden("preview_sydney_2026-03-30_200d.json", text)
