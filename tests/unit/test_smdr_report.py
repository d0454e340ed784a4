"""The after-hours report over hand-built mode histories: it is the history that counts,
nights are labelled by the date their after-hours span began, and the CSV is safe to open
in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from appliance.smdr.record import CallRecord
from appliance.smdr.report import CSV_COLUMNS, after_hours_calls, summary, to_csv

TZ = ZoneInfo("Europe/Berlin")


def at(text: str) -> datetime:
    """A local Berlin time as an aware UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ).astimezone(timezone.utc)


def history(*changes: tuple[str, str]) -> list[dict]:
    """As the store returns it: ISO UTC strings."""
    return [{"at": at(t).isoformat(), "mode": mode} for t, mode in changes]


def call(
    start: str, *, answered=None, direction="in", number="0301234567", ext="201", duration=30
) -> dict:
    """As the store returns a call."""
    return {
        "id": 1,
        "zone": "main",
        "started_at": at(start).isoformat(),
        "duration_s": duration,
        "extension": ext,
        "trunk": "01",
        "direction": direction,
        "answered": answered,
        "ring_s": None,
        "number": number,
        "fmt": "test",
        "raw": "raw line",
    }


WEEK = history(
    ("2026-03-02T08:00", "day"),
    ("2026-03-02T18:00", "night"),
    ("2026-03-03T08:00", "day"),
    ("2026-03-03T18:00", "night"),
)


def test_the_minute_either_side_of_closing():
    calls = [call("2026-03-02T17:59"), call("2026-03-02T18:01")]
    assert [c["started_at"] for c in after_hours_calls(calls, WEEK)] == [
        at("2026-03-02T18:01").isoformat()
    ]


def test_a_call_at_the_change_itself_takes_the_new_mode():
    assert len(after_hours_calls([call("2026-03-02T18:00")], WEEK)) == 1
    assert after_hours_calls([call("2026-03-03T08:00")], WEEK) == []


def test_the_history_counts_not_the_schedule():
    # The schedule says day until 18:00, but reception turned the key to night at 16:30
    # and an operator held day over the night for a late delivery 20:00-21:00.
    hist = history(
        ("2026-03-02T08:00", "day"),
        ("2026-03-02T16:30", "night"),
        ("2026-03-02T20:00", "day"),
        ("2026-03-02T21:00", "night"),
        ("2026-03-03T08:00", "day"),
    )
    calls = [call("2026-03-02T16:45"), call("2026-03-02T20:30"), call("2026-03-02T22:00")]
    got = [c["started_at"] for c in after_hours_calls(calls, hist)]
    assert got == [at("2026-03-02T16:45").isoformat(), at("2026-03-02T22:00").isoformat()]


def test_any_mode_but_day_is_after_hours():
    hist = history(
        ("2026-03-02T08:00", "day"), ("2026-03-02T12:00", "lunch"), ("2026-03-02T13:00", "day")
    )
    assert len(after_hours_calls([call("2026-03-02T12:30")], hist)) == 1


def test_call_records_work_as_well_as_store_dicts():
    rec = CallRecord(
        at("2026-03-02T19:00"), 30, "201", "01", "in", True, None, "030", "test", "raw"
    )
    assert after_hours_calls([rec], WEEK) == [rec]


def _summary(calls, hist=WEEK, start="2026-03-02T00:00", end="2026-03-04T00:00"):
    return summary(calls, hist, TZ, at(start), at(end))


def test_summary_counts_nights_hours_and_answers():
    calls = [
        call("2026-03-02T12:00", answered=True),  # day: not counted
        call("2026-03-02T18:30", answered=True),
        call("2026-03-02T23:10", answered=False),
        call("2026-03-03T02:15", answered=None),  # after midnight: Monday's night
        call("2026-03-03T19:05", answered=False, direction="out"),
    ]
    result = _summary(calls)
    json.dumps(result)  # the web page gets it as JSON
    assert result["totals"] == {
        "calls": 5,
        "after_hours": 4,
        "answered": 1,
        "unanswered": 2,
        "unknown": 1,
        "no_history": 0,
    }
    nights = {n["night"]: n for n in result["per_night"]}
    assert set(nights) == {"2026-03-02", "2026-03-03"}
    assert nights["2026-03-02"]["calls"] == 3
    assert nights["2026-03-02"]["began"] == "2026-03-02T18:00:00+01:00"
    assert nights["2026-03-02"]["ended"] == "2026-03-03T08:00:00+01:00"
    assert nights["2026-03-03"] == {
        "night": "2026-03-03",
        "began": "2026-03-03T18:00:00+01:00",
        "ended": None,
        "calls": 1,
        "answered": 0,
        "unanswered": 1,
        "unknown": 0,
    }
    hours = {h["hour"]: h["calls"] for h in result["per_hour"]}
    assert len(result["per_hour"]) == 24
    assert hours == {h: (1 if h in (18, 23, 2, 19) else 0) for h in range(24)}
    assert result["by_mode"] == {"night": 4}
    assert result["by_direction"] == {"in": 3, "out": 1, "internal": 0, "unknown": 0}
    assert result["timezone"] == "Europe/Berlin"


def test_a_quiet_night_is_listed_with_zero_calls():
    nights = _summary([])["per_night"]
    assert [(n["night"], n["calls"]) for n in nights] == [("2026-03-02", 0), ("2026-03-03", 0)]


def test_a_weekend_without_day_service_is_one_night_labelled_friday():
    hist = history(
        ("2026-03-06T08:00", "day"),
        ("2026-03-06T18:00", "night"),
        ("2026-03-07T00:00", "holiday"),  # still not day
        ("2026-03-09T08:00", "day"),
    )
    calls = [call("2026-03-07T11:00"), call("2026-03-08T15:00"), call("2026-03-09T07:59")]
    result = _summary(calls, hist, "2026-03-06T00:00", "2026-03-10T00:00")
    assert [(n["night"], n["calls"]) for n in result["per_night"]] == [("2026-03-06", 3)]
    assert result["by_mode"] == {"holiday": 3}


def test_a_night_that_began_before_the_range_keeps_its_label():
    # The store returns the entry in force at the start with its real time.
    calls = [call("2026-03-03T02:00")]
    result = _summary(calls, start="2026-03-03T00:00", end="2026-03-03T12:00")
    assert [(n["night"], n["calls"]) for n in result["per_night"]] == [("2026-03-02", 1)]


def test_calls_before_any_history_are_not_after_hours():
    result = _summary([call("2026-03-02T03:00")])
    assert result["totals"]["no_history"] == 1 and result["totals"]["after_hours"] == 0


def test_calls_outside_the_range_are_left_out():
    result = _summary([call("2026-03-01T23:00"), call("2026-03-04T00:00")])
    assert result["totals"]["calls"] == 0


def test_csv_has_one_row_per_after_hours_call():
    calls = [
        call("2026-03-03T02:15", answered=False, number='=HYPERLINK("x")'),
        call("2026-03-02T18:30", answered=True, ext="-12"),
        call("2026-03-02T12:00"),
    ]
    text = to_csv(calls, WEEK, TZ)
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[1] == [
        "2026-03-02T18:30:00+01:00",
        "2026-03-02",
        "night",
        "'-12",
        "01",
        "in",
        "30",
        "yes",
        "0301234567",
    ]
    # oldest first; the formula a Panasonic '=' could start is defused
    assert rows[2] == [
        "2026-03-03T02:15:00+01:00",
        "2026-03-02",
        "night",
        "201",
        "01",
        "in",
        "30",
        "no",
        '\'=HYPERLINK("x")',
    ]
    assert len(rows) == 3
    assert text.endswith("\r\n")


def test_csv_leaves_unknowns_empty():
    row = list(
        csv.reader(
            io.StringIO(
                to_csv(
                    [
                        call(
                            "2026-03-02T19:00",
                            answered=None,
                            direction=None,
                            number=None,
                            duration=None,
                        )
                    ],
                    WEEK,
                    "Europe/Berlin",
                )
            )
        )
    )[1]
    assert row[5:] == ["", "", "", ""]


def test_summary_over_dst_change_uses_local_hours():
    hist = history(("2026-03-28T18:00", "night"), ("2026-03-30T08:00", "day"))
    # 03:30 local on the morning the clocks go forward (CEST, UTC+2)
    result = summary(
        [call("2026-03-29T03:30")],
        hist,
        TZ,
        at("2026-03-28T00:00"),
        at("2026-03-29T00:00") + timedelta(days=2),
    )
    assert [h["hour"] for h in result["per_hour"] if h["calls"]] == [3]
