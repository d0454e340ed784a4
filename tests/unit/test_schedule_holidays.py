"""Public and custom holidays: which dates, which names, which mode."""

from __future__ import annotations

from datetime import date

from appliance.decision.dayplan import clear_holiday_cache, day_plan, holiday_reason
from appliance.decision.holiday_source import library_holidays
from tests.unit.schedule_helpers import assert_mode_at, make_schedule

BAVARIA = {"country": "DE", "subdivision": "BY"}


def test_national_holiday_is_night_all_day_with_its_name():
    schedule = make_schedule(holidays=BAVARIA)
    # 25 December 2026 is a Friday: office hours would apply without the holiday.
    for when in ("2026-12-25 00:00", "2026-12-25 10:00", "2026-12-25 23:59"):
        assert_mode_at(
            schedule,
            when,
            "night",
            source="holiday",
            reason="night: public holiday Christmas Day (DE)",
        )
    assert_mode_at(schedule, "2026-12-28 10:00", "day", source="weekly")


def test_subdivision_holiday_is_labelled_with_the_subdivision():
    # Corpus Christi (4 June 2026, a Thursday) is a holiday in Bavaria, not in Berlin.
    assert_mode_at(
        make_schedule(holidays=BAVARIA),
        "2026-06-04 10:00",
        "night",
        reason="night: public holiday Corpus Christi (DE-BY)",
    )
    assert_mode_at(
        make_schedule(holidays={"country": "DE", "subdivision": "BE"}), "2026-06-04 10:00", "day"
    )


def test_country_only_gives_national_holidays():
    schedule = make_schedule(holidays={"country": "DE"})
    assert_mode_at(schedule, "2026-06-04 10:00", "day")  # Corpus Christi: not national
    assert_mode_at(
        schedule,
        "2026-10-03 10:00",
        "night",  # a Saturday anyway
        reason="night: public holiday German Unity Day (DE)",
    )
    assert_mode_at(schedule, "2026-05-01 10:00", "night", source="holiday")


def test_holiday_mode_is_configurable():
    schedule = make_schedule(holidays={**BAVARIA, "mode": "holiday"})
    assert_mode_at(
        schedule, "2026-01-06 12:00", "holiday", reason="holiday: public holiday Epiphany (DE-BY)"
    )


def test_ignore_by_name_and_by_date():
    schedule = make_schedule(holidays={**BAVARIA, "ignore": ["corpus christi", "2026-01-06"]})
    assert_mode_at(schedule, "2026-06-04 10:00", "day", source="weekly")  # name, any case
    assert_mode_at(schedule, "2026-01-06 10:00", "day", source="weekly")  # that date only
    assert_mode_at(schedule, "2027-01-06 10:00", "night", source="holiday")  # Epiphany 2027
    assert_mode_at(schedule, "2027-05-27 10:00", "day")  # Corpus Christi 2027


def test_ignore_by_name_also_ignores_the_observed_day():
    schedule = make_schedule(timezone="America/New_York", holidays={"country": "US"})
    # 4 July 2026 is a Saturday: the federal holiday is observed on Friday 3 July.
    assert_mode_at(
        schedule,
        "2026-07-03 10:00",
        "night",
        reason="night: public holiday Independence Day (observed) (US)",
    )
    ignoring = make_schedule(
        timezone="America/New_York", holidays={"country": "US", "ignore": ["Independence Day"]}
    )
    assert_mode_at(ignoring, "2026-07-03 10:00", "day")


def test_custom_fixed_and_yearly_dates():
    schedule = make_schedule(
        holidays={
            "custom": [
                {"date": "2026-06-12", "name": "Company day"},
                {"month": 12, "day": 31, "name": "New Year's Eve"},
                {"month": 2, "day": 29, "name": "Leap day"},
            ]
        }
    )
    assert_mode_at(
        schedule, "2026-06-12 10:00", "night", source="holiday", reason="night: holiday Company day"
    )
    assert_mode_at(schedule, "2027-06-11 10:00", "day")  # a fixed date is one day
    assert_mode_at(schedule, "2026-12-31 10:00", "night", reason="night: holiday New Year's Eve")
    assert_mode_at(schedule, "2027-12-31 10:00", "night", reason="night: holiday New Year's Eve")
    assert_mode_at(schedule, "2028-02-29 10:00", "night", reason="night: holiday Leap day")
    assert_mode_at(schedule, "2027-03-01 10:00", "day")  # no 29 February in 2027


def test_custom_and_public_holiday_on_one_date():
    schedule = make_schedule(
        holidays={**BAVARIA, "custom": [{"month": 12, "day": 25, "name": "Office party"}]}
    )
    assert_mode_at(
        schedule,
        "2026-12-25 10:00",
        "night",
        reason="night: public holiday Christmas Day (DE); holiday Office party",
    )


def test_ignore_never_removes_a_custom_date():
    schedule = make_schedule(
        holidays={
            "country": "DE",
            "ignore": ["2026-12-25"],
            "custom": [{"date": "2026-12-25", "name": "Party"}],
        }
    )
    assert_mode_at(schedule, "2026-12-25 10:00", "night", reason="night: holiday Party")


def test_holiday_reason_and_day_plan():
    rules = make_schedule(holidays=BAVARIA).holidays
    assert (
        holiday_reason(rules, date(2026, 12, 26)) == "public holiday Second Day of Christmas (DE)"
    )
    assert holiday_reason(rules, date(2026, 12, 24)) is None
    plan = day_plan(make_schedule(holidays=BAVARIA), date(2026, 12, 26))
    assert len(plan.pieces) == 1 and plan.pieces[0].start == 0 and plan.pieces[0].end == 1440


def test_library_lookup_is_cached_per_year():
    clear_holiday_cache()
    first = library_holidays("DE", "BY", 2027)
    assert library_holidays("DE", "BY", 2027) is first
    assert library_holidays.cache_info().hits >= 1
    assert date(2027, 3, 26) in first and first[date(2027, 3, 26)] == ("Good Friday",)
    assert library_holidays("DE", "BY", 2028) is not first


def test_names_are_english_where_the_library_has_them():
    # Germany's default language in the library is German; reasons are in English.
    assert library_holidays("DE", None, 2026)[date(2026, 12, 25)] == ("Christmas Day",)
    assert library_holidays("GB", "ENG", 2026)[date(2026, 12, 25)] == ("Christmas Day",)


def test_extra_categories_add_to_the_public_holidays():
    # Assumption Day is kept in Bavaria's Catholic municipalities only (the library's
    # "catholic" category); public holidays stay.
    plain = make_schedule(holidays=BAVARIA)
    catholic = make_schedule(holidays={**BAVARIA, "categories": ["catholic"]})
    # 15 August 2029 is a Wednesday.
    assert_mode_at(plain, "2029-08-15 10:00", "day", source="weekly")
    assert_mode_at(
        catholic,
        "2029-08-15 10:00",
        "night",
        reason="night: Catholic holiday Assumption Day (DE-BY)",
    )
    assert_mode_at(
        catholic, "2026-12-25 10:00", "night", reason="night: public holiday Christmas Day (DE)"
    )
    assert catholic.holidays.categories == ("catholic",)


def test_school_holidays_are_named_as_what_they_are_never_public_holidays():
    # Issue 16: Bavaria's summer break closed the office for six weeks "on a public
    # holiday". Each name now says the category it comes from.
    school = make_schedule(holidays={**BAVARIA, "categories": ["school"]})
    assert_mode_at(
        school, "2026-08-20 10:00", "night", reason="night: school holidays Summer Break (DE-BY)"
    )
    assert_mode_at(
        school,
        "2026-12-25 10:00",
        "night",
        reason="night: public holiday Christmas Day (DE); school holidays Christmas Break (DE-BY)",
    )
