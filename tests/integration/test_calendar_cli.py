"""``nightswitch calendar check URL`` and ``nightswitch preview`` without ``--schedule``,
as a person runs them (a real process, the fixture feeds on Python's HTTP server)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest

from appliance.decision.schedule import default_schedule_json
from appliance.inputs.calendars.service import CalendarService
from appliance.inputs.calendars.settings import check_calendars
from appliance.inputs.clock import SimClock
from appliance.store import Store
from tests.appliance_helpers import BERLIN, cli_env, nightswitch
from tests.calendar_servers import FeedServer


@pytest.fixture(scope="module")
def feeds():
    with FeedServer(slow_s=5.0) as server:
        yield server


def test_calendar_check_lists_what_a_feed_contributes(feeds):
    result = nightswitch(
        "calendar",
        "check",
        feeds.url("nextcloud.ics"),
        "--category",
        "Closure",
        "--category",
        "Training",
        "--category-mode",
        "Training=lunch",
        "--timezone",
        "Europe/Berlin",
        "--days",
        "400",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Calendar http://127.0.0.1:")
    assert "4 events" in out
    # Dates depend on today; the shape and the reasons do not.
    assert re.search(r"Wed \d{4}-\d\d-\d\d 12:00-14:00 +lunch  Fire safety training", out)
    assert "14 closures in the next 400 days" in out
    as_json = nightswitch(
        "calendar", "check", feeds.url("outlook.ics"), "--json", "--timezone", "Europe/Berlin"
    )
    data = json.loads(as_json.stdout)
    assert data["events"] == 4 and data["source"].startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    "name, message",
    [
        ("missing.ics", "HTTP 404 Not Found"),
        ("garbage.ics", "not an iCalendar file"),
        ("slow.ics", "did not answer within 1 s"),
    ],
)
def test_calendar_check_of_a_bad_feed_is_one_line(feeds, name, message):
    result = nightswitch("calendar", "check", feeds.url(name), "--timeout", "1")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_calendar_check_bad_arguments():
    result = nightswitch("calendar", "check", "ftp://x.example/a.ics")
    assert result.returncode == 2 and "url" in result.stderr and "https://" in result.stderr
    result = nightswitch("calendar", "check")
    assert result.returncode == 2 and "is required" in result.stderr
    assert nightswitch("calendar", "check", "--help").returncode == 0


def test_preview_without_schedule_shows_the_schedule_in_force(feeds, tmp_path):
    # The preview reads the real clock (the copy is expanded around today), so the
    # event is on a weekday at least two days ahead, 10:00-11:00 local.
    day = (datetime.now(BERLIN) + timedelta(days=2)).date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    feeds.extra["soon.ics"] = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:soon\r\n"
        f"DTSTAMP:20260101T000000Z\r\nSUMMARY:Staff outing\r\nDTSTART;TZID=Europe/Berlin:"
        f"{day:%Y%m%d}T100000\r\nDTEND;TZID=Europe/Berlin:{day:%Y%m%d}T110000\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()
    data_dir = tmp_path / "data"
    config = tmp_path / "nightswitch.toml"
    config.write_text(
        f'[site]\ntimezone = "Europe/Berlin"\n[[calendars]]\nname = '
        f'"Closures"\nurl = "{feeds.url("soon.ics")}"\n'
    )
    cals, _ = check_calendars(
        [{"name": "Closures", "url": feeds.url("soon.ics")}], ["main"], lambda zone: None
    )
    clock = SimClock(datetime.now(BERLIN).replace(microsecond=0))
    with Store(data_dir) as store:
        store.save_schedule(
            "main", default_schedule_json("Europe/Berlin"), by="test", at=clock.now()
        )
        CalendarService(
            cals, store, clock, timezone="Europe/Berlin", publish=lambda *a: None
        ).refresh("main/Closures")
    result = nightswitch(
        "preview", "--data", data_dir, "--config", config, "--from", day.isoformat(), "--days", "1"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "Schedule in force for zone main: version 1, with calendars Closures (fetched "
    )
    assert any(
        re.search(r"10:00 CES?T +night +calendar Closures: Staff outing", line) for line in lines
    ), result.stdout
    as_json = json.loads(
        nightswitch(
            "preview",
            "--data",
            data_dir,
            "--config",
            config,
            "--from",
            day.isoformat(),
            "--days",
            "1",
            "--json",
        ).stdout
    )
    reasons = [row["reason"] for row in as_json]
    assert "night: calendar Closures: Staff outing" in reasons
    # Without --config there are no calendars to know of: the saved schedule alone.
    plain = nightswitch("preview", "--data", data_dir, "--from", day.isoformat(), "--days", "1")
    assert "calendar" not in plain.stdout.split("\n", 1)[1]


def test_preview_without_schedule_and_without_data_says_what_to_do(tmp_path):
    result = nightswitch("preview", "--data", tmp_path / "empty", env=cli_env())
    assert result.returncode == 1
    assert "no saved schedule here" in result.stderr and "--schedule FILE" in result.stderr


def test_check_lists_the_calendars_without_their_secrets(tmp_path):
    config = tmp_path / "nightswitch.toml"
    config.write_text(
        '[site]\ntimezone = "Europe/Berlin"\n[[calendars]]\nname = "Closures"\n'
        'url = "https://calendar.example/ical/private-KEY42/basic.ics"\n'
        "refresh_minutes = 30\n"
    )
    result = nightswitch("check", "--config", config, "--data", tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert (
        "  calendar Closures: https://calendar.example/..., every 30 min (try it: "
        "nightswitch calendar check --name 'Closures')"
    ) in result.stdout
    assert "KEY42" not in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[site]\ntimezone = "Europe/Berlin"\n[[calendars]]\nname = "Closures"\n'
        'url = "ftp://calendar.example/a.ics"\n'
    )
    result = nightswitch("check", "--config", bad, "--data", tmp_path / "data")
    assert result.returncode == 2
    assert "calendars[0].url" in result.stderr and "Traceback" not in result.stderr
