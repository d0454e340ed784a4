"""Yearly repeating exceptions: a fixed date, or a weekday near a date ("the Friday
before 24 December"), shown in preview like any exception (issue 17, level 3 of
docs/design.md#modes-and-precedence)."""

from __future__ import annotations

from datetime import date

import pytest

from appliance.decision.schedule import YearlyDate, parse_schedule, schedule_to_json
from tests.unit.schedule_helpers import (
    assert_errors,
    assert_mode_at,
    make_schedule,
    preview_table,
    schedule_json,
)

MORNING = [{"start": "08:00", "end": "12:00", "mode": "day"}]


def yearly(name, ranges=(), **rule):
    return {"name": name, "yearly": rule, "ranges": list(ranges)}


@pytest.mark.parametrize(
    "rule, year, first",
    [
        (YearlyDate(12, 24), 2026, date(2026, 12, 24)),
        (YearlyDate(12, 24, weekday=4, when="before"), 2026, date(2026, 12, 18)),
        (YearlyDate(12, 24, weekday=4, when="before"), 2027, date(2027, 12, 17)),  # 24th a Fri
        (YearlyDate(12, 24, weekday=4, when="on_or_before"), 2027, date(2027, 12, 24)),
        (YearlyDate(12, 24, weekday=0, when="after"), 2028, date(2028, 12, 25)),
        (YearlyDate(11, 1, weekday=3, when="on_or_after"), 2026, date(2026, 11, 5)),
        (YearlyDate(2, 29), 2028, date(2028, 2, 29)),
        (YearlyDate(2, 29), 2027, None),
    ],
)
def test_where_a_yearly_date_falls(rule, year, first):
    assert rule.first_in(year) == first


def test_a_weekday_rule_without_when_says_what_first_in_does():
    # mypy found that __str__ called .replace on a missing when and crashed; first_in
    # reads a missing when as on_or_after, so the words say that.
    rule = YearlyDate(12, 25, weekday=4)
    assert rule.first_in(2026) == date(2026, 12, 25)
    assert str(rule) == "every year on the Friday on or after 25 December"


def test_every_year_with_the_same_reason_as_any_exception():
    schedule = make_schedule(exceptions=[yearly("Christmas Eve", MORNING, month=12, day=24)])
    for year in (2026, 2027, 2030):
        assert_mode_at(
            schedule,
            f"{year}-12-24 10:00",
            "day",
            source="exception",
            reason="day: Christmas Eve, special hours 08:00-12:00",
        )
        assert_mode_at(schedule, f"{year}-12-24 13:00", "night", source="exception")
    assert_mode_at(schedule, "2026-12-23 13:00", "day", source="weekly")


def test_a_span_across_the_new_year():
    schedule = make_schedule(exceptions=[yearly("Works holiday", month=12, day=28, days=6)])
    assert_mode_at(schedule, "2027-01-01 10:00", "night", source="exception")
    assert_mode_at(schedule, "2027-01-02 10:00", "night", source="exception")
    assert_mode_at(schedule, "2027-01-04 10:00", "day", source="weekly")
    assert_mode_at(schedule, "2026-12-25 10:00", "day", source="weekly")


def test_the_friday_before_in_a_preview():
    schedule = make_schedule(
        exceptions=[
            yearly(
                "Christmas party",
                [{"start": "08:00", "end": "14:00", "mode": "day"}],
                month=12,
                day=24,
                weekday="fri",
                when="before",
            )
        ]
    )
    assert preview_table(schedule, "2026-12-18", 1) == [
        ("2026-12-18 00:00 CET", "night"),
        ("2026-12-18 08:00 CET", "day"),
        ("2026-12-18 14:00 CET", "night"),
    ]


def test_a_dated_exception_wins_over_a_yearly_one():
    schedule = make_schedule(
        exceptions=[
            yearly("Christmas Eve", MORNING, month=12, day=24),
            {"name": "Move", "from": "2026-12-21", "to": "2026-12-31", "ranges": []},
        ]
    )
    assert_mode_at(schedule, "2026-12-24 10:00", "night", reason="night: Move, closed all day")
    assert_mode_at(schedule, "2027-12-24 10:00", "day", source="exception")


def test_round_trip_and_modes():
    doc = schedule_json(
        exceptions=[
            yearly("A", MORNING, month=12, day=24),
            yearly(
                "B",
                [{"start": "09:00", "end": "10:00", "mode": "lunch"}],
                month=12,
                day=26,
                weekday="mon",
                when="on_or_after",
                days=2,
            ),
        ]
    )
    schedule = parse_schedule(doc)
    assert parse_schedule(schedule_to_json(schedule)) == schedule
    assert schedule_to_json(schedule)["exceptions"][1]["yearly"] == {
        "month": 12,
        "day": 26,
        "weekday": "mon",
        "when": "on_or_after",
        "days": 2,
    }
    assert "lunch" in schedule.modes
    assert (
        str(schedule.exceptions[1].yearly)
        == "every year on the Monday on or after 26 December for 2 days"
    )


@pytest.mark.parametrize(
    "entry, field, text",
    [
        (yearly("x", month=13, day=1), "exceptions[0].yearly.month", "1 to 12"),
        (yearly("x", month=2, day=30), "exceptions[0].yearly.day", "1 to 29"),
        (yearly("x", day=1), "exceptions[0].yearly.month", "is required"),
        (
            yearly("x", month=12, day=24, weekday="friday", when="before"),
            "exceptions[0].yearly.weekday",
            "is not a weekday",
        ),
        (
            yearly("x", month=12, day=24, weekday="fri"),
            "exceptions[0].yearly.when",
            "before, after, on_or_before, on_or_after",
        ),
        (yearly("x", month=12, day=24, days=40), "exceptions[0].yearly.days", "1 to 31"),
        (yearly("x", month=12, day=24, colour="red"), "exceptions[0].yearly.colour", "unknown key"),
        (
            dict(yearly("x", month=12, day=24), **{"from": "2026-12-24"}),
            "exceptions[0].from",
            "leave out from and to",
        ),
        (
            {"name": "x", "yearly": "12-24", "ranges": []},
            "exceptions[0].yearly",
            "must be an object",
        ),
    ],
)
def test_errors_name_the_field(entry, field, text):
    assert_errors(schedule_json(exceptions=[entry]), {field: text})


def test_yearly_exceptions_that_can_fall_on_one_date_are_an_error():
    assert_errors(
        schedule_json(
            exceptions=[
                yearly("Eve", month=12, day=24),
                yearly("Party", month=12, day=25, weekday="fri", when="before"),
            ]
        ),
        {"exceptions[1]": "together with exception 'Eve' in some years"},
    )


def test_company_closures_may_repeat_too():
    from appliance.decision.layers import parse_company_closures

    layer = parse_company_closures(
        {"version": 2, "closures": [yearly("Founders' day", month=6, day=12)]}
    )
    schedule = make_schedule().with_layers(layer)
    assert_mode_at(
        schedule,
        "2028-06-12 10:00",
        "night",
        reason="night: company closure v2: Founders' day, closed all day",
    )


from datetime import timedelta  # noqa: E402

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(
    st.integers(1, 12),
    st.integers(1, 31),
    st.integers(0, 6),
    st.sampled_from(["before", "after", "on_or_before", "on_or_after"]),
    st.integers(1901, 2199),
    st.integers(1, 31),
)
def test_a_weekday_rule_is_the_nearest_such_weekday_on_the_right_side(
    month, day, weekday, when, year, days
):
    try:
        anchor = date(year, month, day)
    except ValueError:
        return
    rule = YearlyDate(month, day, weekday, when, days)
    first = rule.first_in(year)
    assert first.weekday() == weekday
    gap = (first - anchor).days
    expected = {
        "before": range(-7, 0),
        "on_or_before": range(-6, 1),
        "after": range(1, 8),
        "on_or_after": range(0, 7),
    }[when]
    assert gap in expected
    # covers() is exactly the days from first on, however the span falls over a new year.
    for offset in (-1, 0, days - 1, days):
        assert rule.covers(first + timedelta(days=offset)) == (0 <= offset < days)


def test_rules_that_cross_the_new_year_are_found_and_checked():
    schedule = make_schedule(
        exceptions=[yearly("Stock-taking", month=1, day=1, weekday="mon", when="before")]
    )
    assert_mode_at(schedule, "2029-12-31 10:00", "night", source="exception")  # a Monday
    assert_mode_at(schedule, "2030-01-07 10:00", "day", source="weekly")
    assert_errors(
        schedule_json(
            exceptions=[
                yearly("Stock-taking", month=1, day=1, weekday="mon", when="before"),
                yearly("Year end", month=12, day=29, days=3),
            ]
        ),
        {"exceptions[1]": "in some years; yearly exceptions must not overlap"},
    )
