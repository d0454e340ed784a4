"""Expanding feeds: the traps of real calendars, and bad input refused or bounded."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appliance.errors import FeedError
from appliance.inputs.calendars.expand import (
    MAX_OCCURRENCES,
    Rules,
    describe_entry,
    expand_feed,
    upcoming,
)
from appliance.inputs.calendars.settings import check_calendars
from tests.calendar_servers import FIXTURES

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 9, 30, 12, 0, tzinfo=BERLIN)


def feed(*events: str, extra: str = "") -> bytes:
    body = "\r\n".join(
        ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", extra, *events, "END:VCALENDAR"]
    )
    return "\r\n".join(line for line in body.split("\r\n") if line).encode()


def event(uid: str, summary: str, *lines: str) -> str:
    return "\r\n".join(
        [
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20260901T000000Z",
            f"SUMMARY:{summary}",
            *lines,
            "END:VEVENT",
        ]
    )


def shown(body: bytes, rules=Rules(), now=NOW) -> list[str]:
    expansion = expand_feed(body, rules, now=now, tz=BERLIN)
    return [f"{describe_entry(e, BERLIN)} {e.mode} {e.summary}" for e in expansion.entries]


def test_outlook_windows_zone_names_moved_occurrence_and_two_exdates():
    assert shown((FIXTURES / "outlook.ics").read_bytes()) == [
        "Fri 2026-10-02 14:00-18:00 night Team offsite",
        "Thu 2026-10-15 15:00-18:00 night Team offsite (moved)",
        "Fri 2026-10-30 14:00-18:00 night Team offsite",
        "Fri 2026-11-06 14:00-18:00 night Team offsite",
        "Fri 2026-11-20 all day night Works council meeting",
        # TZID "GMT Standard Time" with no VTIMEZONE at all: London, 13:00 = 14:00 here.
        "Fri 2026-11-27 14:00-16:00 night London call-in",
    ]


def test_google_utc_series_stays_at_eight_local_and_cancelled_occurrence_is_gone():
    assert shown((FIXTURES / "google.ics").read_bytes()) == [
        "Mon 2026-10-19 08:00-09:00 night Staff meeting",
        "Mon 2026-10-26 08:00-09:00 night Staff meeting",  # after the change to CET
        "Mon 2026-11-09 08:00-09:00 night Staff meeting",  # 2 November cancelled
        "Wed 2026-11-11 to Fri 2026-11-13 all day night Office move",
    ]


def test_nextcloud_categories_filter_map_modes_and_a_rule_without_end_is_bounded():
    rules = Rules(categories=("closure", "TRAINING"), category_modes={"training": "lunch"})
    expansion = expand_feed((FIXTURES / "nextcloud.ics").read_bytes(), rules, now=NOW, tz=BERLIN)
    lines = [f"{describe_entry(e, BERLIN)} {e.mode} {e.summary}" for e in expansion.entries]
    assert lines[:3] == [
        "Wed 2026-10-07 12:00-14:00 lunch Fire safety training",
        "Wed 2026-12-02 12:00-14:00 lunch Fire safety training",
        "Fri 2026-12-18 16:00 to Sat 2026-12-19 02:00 night Christmas party",
    ]
    # The monthly rule never ends: expanded to the window's end (400 days), no further.
    last = expansion.entries[-1]
    # 14 first Wednesdays from October 2026 to November 2027, less two EXDATEs, + party.
    assert last.start.date() == date(2027, 11, 3) and len(expansion.entries) == 13
    assert not any("Birthday" in line for line in lines)  # category Social
    assert "has no end" in expansion.problems[0]


def test_summary_filter_or_category_filter():
    body = feed(
        event("a", "Office closed", "DTSTART;VALUE=DATE:20261005"),
        event("b", "Lunch", "DTSTART;VALUE=DATE:20261006"),
        event("c", "Fire drill", "DTSTART;VALUE=DATE:20261007", "CATEGORIES:Drill"),
    )
    assert shown(body, Rules(summaries=("CLOSED",), categories=("drill",))) == [
        "Mon 2026-10-05 all day night Office closed",
        "Wed 2026-10-07 all day night Fire drill",
    ]


def test_all_day_without_end_is_one_day_and_floating_times_are_local():
    body = feed(
        event("a", "One day", "DTSTART;VALUE=DATE:20261005"),
        event("b", "Floating", "DTSTART:20261006T100000", "DTEND:20261006T113000"),
    )
    assert shown(body) == [
        "Mon 2026-10-05 all day night One day",
        "Tue 2026-10-06 10:00-11:30 night Floating",
    ]


def test_duration_instead_of_end():
    body = feed(event("a", "Drill", "DTSTART;TZID=Europe/Berlin:20261005T100000", "DURATION:PT90M"))
    assert shown(body) == ["Mon 2026-10-05 10:00-11:30 night Drill"]


def test_an_event_that_runs_for_years_is_cut_at_the_window():
    body = feed(
        event("a", "Refurbishment", "DTSTART;VALUE=DATE:20200101", "DTEND;VALUE=DATE:20400101")
    )
    entry = expand_feed(body, Rules(), now=NOW, tz=BERLIN).entries[0]
    assert entry.start == date(2026, 9, 28) and entry.end == date(2027, 11, 4)


def test_repeats_finer_than_daily_are_left_out_with_a_reason():
    body = feed(
        event(
            "a",
            "Every second",
            "DTSTART:20261001T000000Z",
            "DTEND:20261001T000001Z",
            "RRULE:FREQ=SECONDLY",
        ),
        event("b", "Closed", "DTSTART;VALUE=DATE:20261005"),
    )
    expansion = expand_feed(body, Rules(), now=NOW, tz=BERLIN)
    assert [e.summary for e in expansion.entries] == ["Closed"]
    assert expansion.problems == [
        "'Every second' repeats SECONDLY: left out; a closure may repeat daily or less often"
    ]


def _daily_series_over_the_limit() -> bytes:
    """Daily series, a little more than MAX_OCCURRENCES occurrences in the window."""
    return feed(
        *(
            event(
                f"e{n}",
                f"Daily {n}",
                "DTSTART;TZID=Europe/Berlin:20261001T080000",
                "DTEND;TZID=Europe/Berlin:20261001T081000",
                "RRULE:FREQ=DAILY",
            )
            for n in range(MAX_OCCURRENCES // 400 + 2)
        )
    )


def test_too_many_occurrences_refuse_the_whole_feed():
    with pytest.raises(FeedError, match="more than 50,000 occurrences"):
        expand_feed(_daily_series_over_the_limit(), Rules(), now=NOW, tz=BERLIN)


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "not an iCalendar file: it starts with 'nothing'"),
        (b"<html><body>Login</body></html>", "a web page"),
        (b"BEGIN:VCALENDAR\r\nthis is not a property line\r\n", "cannot be read"),
        (b"\x00\x01\x02 binary", "not an iCalendar file"),
        (
            b"BEGIN:VCALENDAR\r\n" + b"X-A:" + b"x" * (11 * 1024 * 1024) + b"\r\nEND:VCALENDAR\r\n",
            "at most 10 MB is accepted",
        ),
    ],
)
def test_not_icalendar_or_too_big_is_refused(body, message):
    with pytest.raises(FeedError) as info:
        expand_feed(body, Rules(), now=NOW, tz=BERLIN)
    assert message in str(info.value)


def test_summaries_become_one_short_line():
    body = feed(event("a", "Closed\\nfor " + "x" * 200, "DTSTART;VALUE=DATE:20261005"))
    entry = expand_feed(body, Rules(), now=NOW, tz=BERLIN).entries[0]
    assert "\n" not in entry.summary and len(entry.summary) == 80


def test_upcoming_skips_what_has_ended():
    entries = expand_feed(
        (FIXTURES / "outlook.ics").read_bytes(), Rules(), now=NOW, tz=BERLIN
    ).entries
    later = datetime(2026, 10, 15, 16, 0, tzinfo=BERLIN)
    assert [describe_entry(e, BERLIN) for e in upcoming(entries, later, BERLIN, 2)] == [
        "Thu 2026-10-15 15:00-18:00",
        "Fri 2026-10-30 14:00-18:00",
    ]
    assert upcoming(entries, later + timedelta(days=400), BERLIN) == []


# -- the [[calendars]] config ---------------------------------------------------------------


def check(items, modes=None):
    return check_calendars(items, ["main", "sales"], lambda zone: modes)


def test_config_accepts_ics_and_caldav():
    found, errors = check(
        [
            {"name": "Closures", "url": "webcal://calendar.example/private-KEY42/basic.ics"},
            {
                "name": "Team",
                "zone": "sales",
                "caldav_url": "https://dav.example/u/team/",
                "username": "u",
                "password": "hunter2",
                "categories": ["Closure"],
                "category_modes": {"Training": "lunch"},
                "refresh_minutes": 5,
            },
        ]
    )
    assert errors == []
    assert [(c.name, c.zone, c.kind, c.refresh_minutes) for c in found] == [
        ("Closures", "main", "ics", 15),
        ("Team", "sales", "caldav", 5),
    ]
    assert "hunter2" not in repr(found[1]) and "KEY42" not in repr(found[0])
    assert "KEY42" not in found[0].source
    assert found[1].rules.mode_of(["training"]) == "lunch"


@pytest.mark.parametrize(
    "item, field, text",
    [
        ({"url": "https://x.example/a.ics"}, "calendars[0].name", "is required"),
        ({"name": "A"}, "calendars[0].url", "exactly one"),
        (
            {"name": "A", "url": "x", "caldav_url": "https://x.example/"},
            "calendars[0].url",
            "exactly one",
        ),
        ({"name": "A", "url": "ftp://x.example/a.ics"}, "calendars[0].url", "https://"),
        ({"name": "A", "caldav_url": "webcal://x.example/"}, "calendars[0].caldav_url", "https://"),
        (
            {"name": "A", "url": "https://x.example/a", "zone": "nope"},
            "calendars[0].zone",
            "unknown zone",
        ),
        (
            {"name": "A", "url": "https://x.example/a", "username": "u"},
            "calendars[0].password",
            "is required with username",
        ),
        (
            {"name": "A", "url": "https://x.example/a", "mode": "Night"},
            "calendars[0].mode",
            "not a mode name",
        ),
        (
            {"name": "A", "url": "https://x.example/a", "category_modes": {"T": 3}},
            "calendars[0].category_modes.T",
            "not a mode name",
        ),
        (
            {"name": "A", "url": "https://x.example/a", "categories": "Closure"},
            "calendars[0].categories",
            "list of non-empty strings",
        ),
        (
            {"name": "A", "url": "https://x.example/a", "refresh_minutes": 0},
            "calendars[0].refresh_minutes",
            "1 to 1440",
        ),
        (
            {"name": "A", "url": "https://x.example/a", "colour": "red"},
            "calendars[0].colour",
            "unknown key",
        ),
    ],
)
def test_config_errors_name_the_key(item, field, text):
    _, errors = check([item])
    found = {e.field: e.message for e in errors}
    assert field in found, found
    assert text in found[field]


def test_config_modes_checked_against_the_zone():
    _, errors = check(
        [{"name": "A", "url": "https://x.example/a", "mode": "holiday"}], modes={"day", "night"}
    )
    assert errors[0].field == "calendars[0].mode" and "cannot be produced" in errors[0].message


def test_config_names_unique_per_zone():
    _, errors = check(
        [{"name": "A", "url": "https://x.example/a"}, {"name": "a", "url": "https://x.example/b"}]
    )
    assert errors[0].field == "calendars[1].name"


def test_config_file_with_calendars_loads():
    from appliance.config import load_config_text

    cfg = load_config_text(
        '[site]\ntimezone = "Europe/Berlin"\n[[calendars]]\nname = '
        '"Closures"\nurl = "https://calendar.example/a.ics"\n'
    )
    assert [c.key for c in cfg.calendars] == ["main/Closures"]


# -- the quick first pass agrees with the full parser ----------------------------------------


def _full_path(body: bytes, rules: Rules) -> list:
    """Every event through icalendar and recurring-ical-events (no first pass)."""
    from appliance.inputs.calendars import expand as module

    begin, end = module.window(NOW, BERLIN)
    entries, _ = module._expand_series(body.decode(), rules, BERLIN, begin, end, [], 10**6)
    entries.sort(key=lambda e: (module._sort_instant(e.start, BERLIN), e.summary))
    return list(module._dedupe(entries))


@pytest.mark.parametrize("name", ["outlook", "google", "nextcloud"])
def test_quick_first_pass_gives_what_the_full_parser_gives(name):
    body = (FIXTURES / f"{name}.ics").read_bytes()
    rules = Rules(category_modes={"Training": "lunch"})
    assert list(expand_feed(body, rules, now=NOW, tz=BERLIN).entries) == _full_path(body, rules)


def test_quick_first_pass_on_the_benchmark_feed_agrees_too():
    import sys

    sys.path.insert(0, str(FIXTURES.parents[2] / "bench"))
    from bench_calendar import big_feed

    body = big_feed(600)
    assert list(expand_feed(body, Rules(), now=NOW, tz=BERLIN).entries) == _full_path(body, Rules())


def _bench_feed(events: int) -> bytes:
    import sys

    sys.path.insert(0, str(FIXTURES.parents[2] / "bench"))
    from bench_calendar import big_feed

    return big_feed(events)


def test_a_forked_helper_gives_the_same_closures():
    """With *fork*, a helper process expands part of the series: the closures are the
    ones the full parser gives, in the same order."""
    from appliance.inputs.calendars import expand as module

    body = _bench_feed(1500)
    forked = expand_feed(body, Rules(), now=NOW, tz=BERLIN, fork=True)
    assert forked == expand_feed(body, Rules(), now=NOW, tz=BERLIN)
    assert list(forked.entries) == _full_path(body, Rules())
    # ... and it was forked: the series' lines are over the threshold
    from appliance.inputs.calendars.quickparse import first_pass

    split = first_pass(body.decode(), BERLIN)
    assert sum(len(g) for g in split.groups) >= module.FORK_FROM_LINES
    assert len(split.rest_parts(module.MY_SHARE, 1 - module.MY_SHARE)) == 2


def test_too_many_occurrences_are_counted_across_the_helper_too():
    with pytest.raises(FeedError, match="more than 50,000 occurrences"):
        expand_feed(_daily_series_over_the_limit(), Rules(), now=NOW, tz=BERLIN, fork=True)


def test_the_helpers_error_or_death_is_a_feed_error(monkeypatch):
    """What goes wrong in the helper reaches the caller as a FeedError (the last good
    copy is kept): its own FeedError as it was, its death as one that says so."""
    import os

    from appliance.inputs.calendars import expand as module

    parent, real = os.getpid(), module._expand_series
    body = _bench_feed(1500)

    def failing(*args):
        if os.getpid() != parent:
            raise FeedError("the events cannot be expanded: broken in the helper")
        return real(*args)

    monkeypatch.setattr(module, "_expand_series", failing)
    with pytest.raises(FeedError, match="broken in the helper"):
        expand_feed(body, Rules(), now=NOW, tz=BERLIN, fork=True)

    def dying(*args):
        if os.getpid() != parent:
            os._exit(3)
        return real(*args)

    monkeypatch.setattr(module, "_expand_series", dying)
    with pytest.raises(FeedError, match="helper stopped before it answered"):
        expand_feed(body, Rules(), now=NOW, tz=BERLIN, fork=True)


def test_quick_first_pass_reads_escapes_parameters_and_folding():
    body = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\n"
        b'SUMMARY;LANGUAGE="de:DE":Closed\\, all\\; day \\\\ now\r\n'
        b"CATEGORIES:Clo\r\n sure,Other\\,one\r\n"
        b'DTSTART;TZID="W. Europe Standard Time":20261005T100000\r\n'
        b'DTEND;TZID="W. Europe Standard Time":20261005T110000\r\n'
        b"BEGIN:VALARM\r\nTRIGGER:-PT15M\r\nACTION:DISPLAY\r\nEND:VALARM\r\n"
        b"END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    expansion = expand_feed(body, Rules(categories=("closure",)), now=NOW, tz=BERLIN)
    entry = expansion.entries[0]
    assert entry.summary == "Closed, all; day \\ now"
    assert describe_entry(entry, BERLIN) == "Mon 2026-10-05 10:00-11:00"
    assert expand_feed(body, Rules(categories=("Other,one",)), now=NOW, tz=BERLIN).entries
