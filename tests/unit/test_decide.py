"""decide(): every level of the precedence (docs/design.md#modes-and-precedence), the
reasons in words, the next change."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from appliance.decision.decide import (
    Change,
    Key,
    Override,
    decide,
    next_schedule_change,
)
from tests.unit.schedule_helpers import (
    assert_mode_at,
    assert_next_change,
    local,
    make_schedule,
    mode_changes,
    utc,
)

BAVARIA = {"country": "DE", "subdivision": "BY"}
LUNCH_MONDAY = {
    "mon": [
        {"start": "08:00", "end": "12:00", "mode": "day"},
        {"start": "12:00", "end": "13:00", "mode": "lunch"},
        {"start": "13:00", "end": "18:00", "mode": "day"},
    ],
    "tue": [{"start": "08:00", "end": "18:00", "mode": "day"}],
}
CHRISTMAS_EVE = {
    "name": "Christmas Eve",
    "from": "2026-12-24",
    "to": "2026-12-24",
    "ranges": [{"start": "08:00", "end": "12:00", "mode": "day"}],
}
OFFICE_MOVE = {"name": "Office move", "from": "2027-01-04", "to": "2027-01-08", "ranges": []}
SUMMER = {
    "name": "Summer hours",
    "from": "2026-07-01",
    "to": "2026-08-31",
    "weekly": {"mon": [{"start": "07:00", "end": "15:00", "mode": "day"}]},
}


def spec_schedule():
    return make_schedule(
        weekly=LUNCH_MONDAY,
        holidays=BAVARIA,
        seasons=[SUMMER],
        exceptions=[CHRISTMAS_EVE, OFFICE_MOVE],
    )


def override(schedule, mode, until_local, by="anna", set_local="2026-12-21 09:00"):
    until = local(schedule, until_local) if until_local else None
    return Override(mode, until, by, local(schedule, set_local))


# -- levels 6 and 7: weekly hours and the default ---------------------------------------


def test_weekly_hours_and_default():
    schedule = spec_schedule()
    assert_mode_at(
        schedule, "2026-12-21 07:59", "night", source="default", reason="night: outside hours"
    )
    assert_mode_at(
        schedule,
        "2026-12-21 08:00",
        "day",
        source="weekly",
        reason="day: weekly hours Monday 08:00-12:00",
    )
    assert_mode_at(
        schedule,
        "2026-12-21 12:30",
        "lunch",
        source="weekly",
        reason="lunch: weekly hours Monday 12:00-13:00",
    )
    assert_mode_at(
        schedule, "2026-12-21 17:59", "day", reason="day: weekly hours Monday 13:00-18:00"
    )
    assert_mode_at(schedule, "2026-12-21 18:00", "night", source="default")
    assert_mode_at(schedule, "2026-12-23 10:00", "night", source="default")  # no Wednesday


def test_default_mode_is_configurable():
    schedule = make_schedule(
        default_mode="day", weekly={"sat": [{"start": "00:00", "end": "24:00", "mode": "night"}]}
    )
    assert_mode_at(
        schedule, "2026-12-21 03:00", "day", source="default", reason="day: outside hours"
    )
    assert_mode_at(schedule, "2026-12-26 03:00", "night", source="weekly")


# -- level 5: seasons -------------------------------------------------------------------


def test_season_replaces_the_weekly_plan():
    schedule = spec_schedule()
    assert_mode_at(
        schedule,
        "2026-07-06 07:00",
        "day",
        source="season",
        reason="day: season Summer hours, Monday 07:00-15:00",
    )
    assert_mode_at(
        schedule,
        "2026-07-06 15:00",
        "night",
        source="season",
        reason="night: season Summer hours, outside hours",
    )
    # Tuesday is missing from the season's plan: no ranges, although weekly has some.
    assert_mode_at(schedule, "2026-07-07 10:00", "night", source="season")
    # The season's dates are inclusive.
    assert_mode_at(schedule, "2026-08-31 14:00", "day", source="season")
    assert_mode_at(schedule, "2026-06-30 07:30", "night", source="default")  # a Tuesday
    assert_mode_at(schedule, "2026-06-30 08:30", "day", source="weekly")


# -- level 4: holidays beat seasons ----------------------------------------------------


def test_holiday_beats_season_and_weekly():
    schedule = make_schedule(
        holidays=BAVARIA,
        seasons=[
            {
                "name": "Winter",
                "from": "2026-12-01",
                "to": "2027-01-31",
                "weekly": {
                    d: [{"start": "09:00", "end": "17:00", "mode": "day"}]
                    for d in ("mon", "tue", "wed", "thu", "fri")
                },
            }
        ],
    )
    assert_mode_at(
        schedule,
        "2026-12-25 10:00",
        "night",
        source="holiday",
        reason="night: public holiday Christmas Day (DE)",
    )
    assert_mode_at(schedule, "2026-12-29 10:00", "day", source="season")


# -- level 3: exceptions beat holidays -------------------------------------------------


def test_exception_with_ranges_and_closed_all_day():
    schedule = spec_schedule()
    assert_mode_at(
        schedule,
        "2026-12-24 08:30",
        "day",
        source="exception",
        reason="day: Christmas Eve, special hours 08:00-12:00",
    )
    assert_mode_at(
        schedule,
        "2026-12-24 12:30",
        "night",
        source="exception",
        reason="night: Christmas Eve, outside its special hours",
    )
    for day in ("2027-01-04", "2027-01-05", "2027-01-08"):
        assert_mode_at(
            schedule,
            f"{day} 10:00",
            "night",
            source="exception",
            reason="night: Office move, closed all day",
        )
    assert_mode_at(schedule, "2027-01-11 10:00", "day", source="weekly")


def test_exception_beats_holiday():
    schedule = make_schedule(
        holidays=BAVARIA,
        exceptions=[
            {
                "name": "Boxing day sale",
                "from": "2026-12-26",
                "ranges": [{"start": "10:00", "end": "14:00", "mode": "day"}],
            }
        ],
    )
    assert_mode_at(
        schedule,
        "2026-12-26 11:00",
        "day",
        source="exception",
        reason="day: Boxing day sale, special hours 10:00-14:00",
    )
    assert_mode_at(schedule, "2026-12-25 11:00", "night", source="holiday")


# -- level 2: overrides ----------------------------------------------------------------


def test_override_beats_exception_and_says_until_when():
    schedule = spec_schedule()
    ov = override(schedule, "day", "2026-12-24 18:00", set_local="2026-12-24 12:05")
    decision = assert_mode_at(
        schedule,
        "2026-12-24 14:00",
        "day",
        override=ov,
        source="override",
        reason="day: override by anna until Thu 24 Dec 18:00",
    )
    # At its end the schedule says night (the exception's afternoon).
    assert decision.next_change == Change(local(schedule, "2026-12-24 18:00"), "night")


def test_override_end_in_another_zone_offset_is_shown_in_local_time():
    schedule = spec_schedule()
    ov = Override("day", utc("2026-12-21 17:00"), "anna", utc("2026-12-21 16:00"))
    assert_mode_at(
        schedule,
        "2026-12-21 17:30",
        "day",
        override=ov,
        reason="day: override by anna until Mon 21 Dec 18:00",
    )


def test_override_ending_on_another_day_names_the_date():
    schedule = spec_schedule()
    ov = override(schedule, "night", "2026-12-22 09:00")
    assert_mode_at(
        schedule,
        "2026-12-21 10:00",
        "night",
        override=ov,
        reason="night: override by anna until Tue 22 Dec 09:00",
    )


def test_override_until_cancelled():
    schedule = spec_schedule()
    ov = override(schedule, "night", None)
    decision = assert_mode_at(
        schedule,
        "2026-12-21 10:00",
        "night",
        override=ov,
        source="override",
        reason="night: override by anna until cancelled",
    )
    assert decision.next_change is None


def test_expired_override_is_ignored():
    schedule = spec_schedule()
    ov = override(schedule, "night", "2026-12-21 10:00")
    assert_mode_at(schedule, "2026-12-21 09:59", "night", override=ov, source="override")
    assert_mode_at(schedule, "2026-12-21 10:00", "day", override=ov, source="weekly")
    assert_mode_at(schedule, "2026-12-21 11:00", "day", override=ov, source="weekly")


def test_override_whose_end_meets_the_same_mode_changes_later():
    schedule = spec_schedule()
    # Day until 17:00, and the schedule is day until 18:00: the mode changes at 18:00.
    ov = override(schedule, "day", "2026-12-22 17:00", set_local="2026-12-22 07:00")
    decision = assert_mode_at(schedule, "2026-12-22 07:30", "day", override=ov)
    assert decision.next_change == Change(local(schedule, "2026-12-22 18:00"), "night")


def test_until_next_set_after_closing_lasts_all_night():
    # The FreePBX trap: "day until the next change", set at 19:00, runs until 08:00.
    schedule = spec_schedule()
    now = local(schedule, "2026-12-21 19:00")
    end = next_schedule_change(schedule, now)
    assert end == Change(local(schedule, "2026-12-22 08:00"), "day")
    ov = Override("day", end.at, "anna", now)
    decision = assert_mode_at(
        schedule, now, "day", override=ov, reason="day: override by anna until Tue 22 Dec 08:00"
    )
    # The schedule is day at the override's end too: the next change is at 18:00.
    assert decision.next_change == Change(local(schedule, "2026-12-22 18:00"), "night")


def test_override_by_nobody_in_particular():
    schedule = spec_schedule()
    ov = override(schedule, "night", "2026-12-21 11:00", by="")
    assert_mode_at(
        schedule,
        "2026-12-21 10:00",
        "night",
        override=ov,
        reason="night: override until Mon 21 Dec 11:00",
    )


# -- level 1: the key switch -----------------------------------------------------------


@pytest.mark.parametrize(
    "key, mode", [(Key.DAY, "day"), (Key.NIGHT, "night"), ("day", "day"), ("night", "night")]
)
def test_key_in_a_forced_position_beats_everything(key, mode):
    schedule = spec_schedule()
    ov = override(schedule, "lunch", "2026-12-24 18:00")
    for when in ("2026-12-24 10:00", "2026-12-25 10:00", "2026-12-21 12:30"):
        decision = assert_mode_at(
            schedule,
            when,
            mode,
            override=ov,
            key=key,
            source="key",
            reason=f"{mode}: key switch in {mode.upper()}",
        )
        assert decision.next_change is None


@pytest.mark.parametrize("key", [Key.AUTO, Key.NONE, "auto", "none"])
def test_key_in_auto_or_absent_defers(key):
    schedule = spec_schedule()
    assert_mode_at(schedule, "2026-12-21 10:00", "day", key=key, source="weekly")
    ov = override(schedule, "night", "2026-12-21 11:00")
    assert_mode_at(schedule, "2026-12-21 10:00", "night", key=key, override=ov)


def test_unknown_key_position_is_refused():
    with pytest.raises(ValueError):
        decide(utc("2026-12-21 10:00"), spec_schedule(), key="middle")


def test_override_until_the_far_future_never_hands_back():
    schedule = spec_schedule()
    now = local(schedule, "2026-12-21 10:00")
    for until in (
        utc("9999-12-31 00:00"),
        datetime.max.replace(tzinfo=timezone.utc),
        datetime.max.replace(tzinfo=ZoneInfo("America/New_York")),
    ):
        decision = decide(now, schedule, Override("night", until, "anna", now))
        assert decision.mode == "night" and decision.next_change is None
        assert decision.reason.startswith("night: override by anna until ")


def test_decisions_work_on_a_pi_that_booted_in_1970_and_refuse_year_9999():
    schedule = spec_schedule()
    assert decide(utc("1970-01-01 00:00"), schedule).mode == "night"
    with pytest.raises(ValueError, match="out of range; decisions are made for the years"):
        decide(utc("9999-01-01 00:00"), schedule)


def test_now_must_be_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(datetime(2026, 12, 21, 10), spec_schedule())
    with pytest.raises(ValueError, match="timezone-aware"):
        next_schedule_change(spec_schedule(), datetime(2026, 12, 21, 10))


# -- the next change -------------------------------------------------------------------


def test_next_change_through_lunch_and_the_evening():
    schedule = spec_schedule()
    assert_next_change(schedule, "2026-12-21 07:00", "2026-12-21 08:00", "day")
    assert_next_change(schedule, "2026-12-21 08:00", "2026-12-21 12:00", "lunch")
    assert_next_change(schedule, "2026-12-21 12:59", "2026-12-21 13:00", "day")
    assert_next_change(schedule, "2026-12-21 13:00", "2026-12-21 18:00", "night")
    assert_next_change(schedule, "2026-12-21 18:00", "2026-12-22 08:00", "day")


def test_next_change_skips_holidays_and_a_closed_week():
    schedule = spec_schedule()
    # Tue 22 Dec 18:00 -> Christmas Eve 08:00 (exception) -> 12:00 night ->
    # 25, 26 holidays, weekend -> Mon 28 Dec 08:00.
    assert_next_change(schedule, "2026-12-22 18:00", "2026-12-24 08:00", "day")
    assert_next_change(schedule, "2026-12-24 12:00", "2026-12-28 08:00", "day")
    # Tue 29 Dec 18:00: 1 Jan holiday, 4-8 Jan office move, next Monday 11 Jan.
    assert_next_change(schedule, "2026-12-29 18:00", "2027-01-11 08:00", "day")


def test_a_new_reason_for_the_same_mode_is_not_a_change():
    schedule = spec_schedule()
    decision = decide(local(schedule, "2026-12-24 20:00"), schedule)
    assert decision.reason == "night: Christmas Eve, outside its special hours"
    assert decision.next_change.at == local(schedule, "2026-12-28 08:00")
    changes = mode_changes(
        schedule,
        local(schedule, "2026-12-24 18:00"),
        local(schedule, "2026-12-28 09:00"),
        timedelta(minutes=5),
    )
    assert changes == [(local(schedule, "2026-12-28 08:00"), "day")]


def test_no_change_within_400_days_is_none():
    never = make_schedule(weekly={})
    assert_next_change(never, "2026-12-21 10:00", None)
    assert decide(local(never, "2026-12-21 10:00"), never).reason == "night: outside hours"
    always = make_schedule(
        weekly={
            d: [{"start": "00:00", "end": "24:00", "mode": "day"}]
            for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        }
    )
    assert_next_change(always, "2026-12-21 10:00", None)


def test_a_change_far_ahead_is_found_and_one_beyond_400_days_is_not():
    near = make_schedule(
        weekly={},
        exceptions=[
            {
                "name": "Open day",
                "from": "2027-10-01",
                "ranges": [{"start": "10:00", "end": "16:00", "mode": "day"}],
            }
        ],
    )
    assert_next_change(near, "2026-12-21 10:00", "2027-10-01 10:00", "day")
    far = make_schedule(
        weekly={},
        exceptions=[
            {
                "name": "Open day",
                "from": "2028-06-01",
                "ranges": [{"start": "10:00", "end": "16:00", "mode": "day"}],
            }
        ],
    )
    assert_next_change(far, "2026-12-21 10:00", None)
    assert_next_change(far, "2027-12-21 10:00", "2028-06-01 10:00", "day")


def test_next_schedule_change_ignores_key_and_override():
    schedule = spec_schedule()
    now = local(schedule, "2026-12-21 10:00")
    assert next_schedule_change(schedule, now) == Change(
        local(schedule, "2026-12-21 12:00"), "lunch"
    )
    assert next_schedule_change(schedule, local(schedule, "2026-12-21 11:59:59")).at == local(
        schedule, "2026-12-21 12:00"
    )


def test_change_instants_are_utc():
    schedule = spec_schedule()
    change = decide(local(schedule, "2026-12-21 10:00"), schedule).next_change
    assert change.at.utcoffset() == timedelta(0)
    assert change.at == utc("2026-12-21 11:00")


# -- midnight continuity (Home Assistant's flicker tests) ------------------------------


def test_range_to_24_00_then_from_00_00_does_not_flicker():
    schedule = make_schedule(
        weekly={
            "fri": [{"start": "18:00", "end": "24:00", "mode": "late"}],
            "sat": [{"start": "00:00", "end": "02:00", "mode": "late"}],
        }
    )
    changes = mode_changes(
        schedule, local(schedule, "2026-12-18 17:00"), local(schedule, "2026-12-19 03:00")
    )
    assert changes == [
        (local(schedule, "2026-12-18 18:00"), "late"),
        (local(schedule, "2026-12-19 02:00"), "night"),
    ]
    assert_next_change(schedule, "2026-12-18 23:59", "2026-12-19 02:00", "night")


def test_adjacent_ranges_of_one_mode_do_not_toggle():
    schedule = make_schedule(
        weekly={
            "mon": [
                {"start": "22:00", "end": "22:30", "mode": "day"},
                {"start": "22:30", "end": "23:00", "mode": "day"},
            ]
        }
    )
    changes = mode_changes(
        schedule, local(schedule, "2026-12-21 21:00"), local(schedule, "2026-12-21 23:30")
    )
    assert changes == [
        (local(schedule, "2026-12-21 22:00"), "day"),
        (local(schedule, "2026-12-21 23:00"), "night"),
    ]
    assert_mode_at(
        schedule, "2026-12-21 22:30", "day", reason="day: weekly hours Monday 22:30-23:00"
    )


def test_all_day_ranges_every_day_never_change_at_midnight():
    schedule = make_schedule(
        weekly={d: [{"start": "00:00", "end": "24:00", "mode": "day"}] for d in ("sat", "sun")}
    )
    changes = mode_changes(
        schedule,
        local(schedule, "2026-12-25 23:00"),
        local(schedule, "2026-12-28 01:00"),
        timedelta(minutes=10),
    )
    # Friday 25 Dec, 18:00 was long ago; Saturday 00:00 day ... Monday 00:00 night.
    assert changes == [
        (local(schedule, "2026-12-26 00:00"), "day"),
        (local(schedule, "2026-12-28 00:00"), "night"),
    ]


def test_holiday_night_meets_default_night_without_a_change():
    schedule = make_schedule(holidays=BAVARIA)
    # Thu 31 Dec 18:00 night (default) -> Fri 1 Jan night (holiday) -> weekend -> Mon
    # 4 Jan 08:00 day. No change at either midnight.
    assert_next_change(schedule, "2026-12-31 18:00", "2027-01-04 08:00", "day")
    changes = mode_changes(
        schedule, local(schedule, "2026-12-31 23:00"), local(schedule, "2027-01-01 01:00")
    )
    assert changes == []
    assert_mode_at(schedule, "2026-12-31 23:59", "night", source="default")
    assert_mode_at(schedule, "2027-01-01 00:00", "night", source="holiday")


# -- zones -------------------------------------------------------------------------------


def test_each_zone_is_decided_with_its_own_schedule():
    sales = make_schedule(weekly={"mon": [{"start": "09:00", "end": "17:00", "mode": "day"}]})
    desk = make_schedule(
        timezone="Europe/London",
        weekly={"mon": [{"start": "07:00", "end": "22:00", "mode": "day"}]},
    )
    now = utc("2026-12-21 07:30")  # 08:30 in Berlin, 07:30 in London
    assert decide(now, sales).mode == "night"
    assert decide(now, desk).mode == "day"
    # Asking about one zone leaves no trace in the other's answer.
    assert decide(now, sales) == decide(now, sales)
    assert decide(now, desk).next_change == Change(utc("2026-12-21 22:00"), "night")
