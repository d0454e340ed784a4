"""The Schedule page's parts of issue 17: the calendars list, the preview's from/to,
yearly exceptions in the editor, and seasons that start as a copy of the weekly hours."""

from __future__ import annotations

import re

import pytest

from appliance.inputs.calendars.expand import Rules
from appliance.inputs.calendars.service import CalendarService
from appliance.inputs.calendars.settings import CalendarConfig
from tests.calendar_servers import FeedServer
from tests.web.test_pages import _text
from tests.web.test_schedule_page import _form
from tests.web.webhelp import Browser, make_app, settle


@pytest.fixture(scope="module")
def feeds():
    with FeedServer(slow_s=3.0) as server:
        yield server


def with_calendars(appliance, feeds, *names):
    """The appliance's web app with a calendar service holding *names* (fixture feeds
    or ``missing.ics``), each refreshed once."""
    calendars = [
        CalendarConfig(
            name=label, zone="main", kind="ics", url=feeds.url(name), rules=Rules(), timeout_s=3
        )
        for label, name in names
    ]
    service = CalendarService(
        calendars,
        appliance.store,
        appliance.clock,
        timezone="Europe/Berlin",
        publish=lambda zone, layers, fault: appliance.controller.set_schedule_layer(
            zone, "calendar", layers, fault=fault
        ),
    )
    for item in calendars:
        service.refresh(item.key)
    settle(appliance)
    return make_app(appliance, NIGHTSWITCH_CALENDARS=service).test_client()


def test_calendars_are_listed_with_last_refresh_next_closures_and_errors(appliance, feeds):
    client = with_calendars(appliance, feeds, ("Closures", "outlook.ics"), ("Team", "missing.ics"))
    page = Browser(client, "viewer").get("/schedule")
    assert page.status_code == 200
    text = _text(page)
    section = text[text.index("Calendars") : text.index("History")]
    assert "Closures http://127.0.0.1:" in section
    assert "Last refresh: Mon 2 Mar 2026 10:00" in section
    assert "6 closures from 4 events" in section
    assert "Fri 2026-10-02 14:00-18:00 night Team offsite" in section
    assert "Thu 2026-10-15 15:00-18:00 night Team offsite (moved)" in section
    # The failing one says why, and that it has nothing yet; the secret path is not shown.
    assert "Team http://127.0.0.1:" in section
    assert "HTTP 404 Not Found" in section and "no closures from this calendar yet" in section
    assert "missing.ics" not in page.get_data(as_text=True)
    # The fault is on the status too.
    assert any(f["kind"] == "calendar" for f in appliance.controller.status()["faults"])


def test_preview_shows_calendar_closures_and_any_range(appliance, feeds):
    client = with_calendars(appliance, feeds, ("Closures", "outlook.ics"))
    browser = Browser(client, "viewer")
    page = browser.get("/schedule?preview_from=2026-10-01&preview_to=2026-10-31")
    text = _text(page)
    assert "Thu 1 Oct 2026 to Sat 31 Oct 2026" in text
    assert page.get_data(as_text=True).count('class="tl-row"') == 31
    assert "calendar Closures: Team offsite" in text
    assert 'value="2026-10-01"' in page.get_data(as_text=True)
    # Christmas in the preview, entered in early December (issue 17's story).
    page = browser.get("/schedule?preview_from=2026-12-21&preview_to=2027-01-03")
    assert "Mon 21 Dec 2026 to Sun 3 Jan 2027" in _text(page)


@pytest.mark.parametrize(
    "query, message",
    [
        ("preview_from=2026-13-01", "must look like 2026-12-21"),
        ("preview_from=2026-12-01&preview_to=2026-11-01", "To is before its From"),
        ("preview_from=2026-01-01&preview_to=2028-01-01", "at most 366 days"),
    ],
)
def test_a_bad_preview_range_says_why(as_user, query, message):
    page = as_user("viewer").get(f"/schedule?{query}")
    assert page.status_code == 200
    assert message in _text(page)


def test_unsaved_preview_keeps_its_range(as_user):
    form = _form(preview_from="2026-12-20", preview_to="2026-12-26")
    r = as_user("admin").post("/schedule/preview", form)
    assert r.status_code == 200
    assert "Sun 20 Dec 2026 to Sat 26 Dec 2026" in _text(r)


def test_yearly_exception_saved_from_the_editor(as_user, appliance):
    browser = as_user("admin")
    form = _form(
        **{
            "exceptions[0].name": "Christmas Eve",
            "exceptions[0].from": "12-24",
            "exceptions[0].repeat": "yearly",
            "exceptions[0].ranges[0].start": "08:00",
            "exceptions[0].ranges[0].end": "12:00",
            "exceptions[0].ranges[0].mode": "day",
            "exceptions[1].name": "Christmas party",
            "exceptions[1].from": "12-24",
            "exceptions[1].repeat": "weekday",
            "exceptions[1].weekday": "fri",
            "exceptions[1].when": "before",
            "exceptions[2].name": "Works holiday",
            "exceptions[2].from": "2026-12-28",
            "exceptions[2].to": "01-01",
            "exceptions[2].repeat": "yearly",
            "action": "save",
        }
    )
    r = browser.post("/schedule", form)
    assert r.status_code == 302, _text(r)
    saved = appliance.controller.get_schedule()["exceptions"]
    assert saved == [
        {
            "name": "Christmas Eve",
            "yearly": {"month": 12, "day": 24},
            "ranges": [{"start": "08:00", "end": "12:00", "mode": "day"}],
        },
        {
            "name": "Christmas party",
            "yearly": {"month": 12, "day": 24, "weekday": "fri", "when": "before"},
            "ranges": [],
        },
        {"name": "Works holiday", "yearly": {"month": 12, "day": 28, "days": 5}, "ranges": []},
    ]
    page = browser.get("/schedule?preview_from=2027-12-14&preview_to=2027-12-31")
    html = page.get_data(as_text=True)
    assert 'name="exceptions[0].from" value="12-24"' in html
    assert 'name="exceptions[2].to" value="01-01"' in html
    assert re.search(r'<option value="weekday" selected>', html)
    text = _text(page)
    # 2027: the Friday before 24 December is the 17th; Christmas Eve is a Friday.
    assert "Christmas party, closed all day" in text
    assert "Christmas Eve, special hours 08:00-12:00" in text


def test_yearly_exception_errors_land_on_the_row(as_user, appliance):
    form = _form(
        **{
            "exceptions[0].name": "Party",
            "exceptions[0].from": "12-24",
            "exceptions[0].repeat": "weekday",
            "exceptions[0].when": "before",
            "exceptions[1].name": "Bad",
            "exceptions[1].from": "13-40",
            "exceptions[1].repeat": "yearly",
            "action": "save",
        }
    )
    r = as_user("admin").post("/schedule", form)
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert re.search(r'id="f-exceptions-0-weekday"', html)
    text = _text(r)
    assert "is not a weekday" in text and "month" in text
    assert 'href="#f-exceptions-0-weekday"' in html and 'href="#f-exceptions-1-from"' in html
    assert (
        "exceptions" not in (appliance.controller.get_schedule() or {})
        or appliance.controller.get_schedule()["exceptions"] == []
    )


def test_a_new_season_starts_as_a_copy_of_the_weekly_hours(as_user):
    r = as_user("admin").post("/schedule", _form(action="add:seasons"))
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'name="seasons[0].weekly.mon[0].start" value="08:00"' in html
    assert 'name="seasons[0].weekly.fri[0].end" value="18:00"' in html
    assert 'name="seasons[0].weekly.sat[0].start"' not in html


def test_a_season_without_open_hours_is_warned_about(as_user):
    form = _form(
        **{
            "seasons[0].name": "Winter",
            "seasons[0].from": "2026-03-01",
            "seasons[0].to": "2026-03-31",
            "action": "preview",
        }
    )
    text = _text(as_user("admin").post("/schedule", form))
    assert (
        "Season Winter has no open hours: from Sun 1 Mar 2026 to Tue 31 Mar 2026 the "
        "phones stay in night all day"
    ) in text


def test_api_takes_a_yearly_exception_and_names_a_bad_one(tokens, client):
    from tests.web.webhelp import bearer

    doc = client.get("/api/v1/schedule", headers=bearer(tokens["admin"])).get_json()
    doc["exceptions"] = [{"name": "Eve", "yearly": {"month": 12, "day": 24}, "ranges": []}]
    r = client.put("/api/v1/schedule", json=doc, headers=bearer(tokens["admin"]))
    assert r.status_code == 200, r.get_json()
    doc["exceptions"] = [{"name": "Eve", "yearly": {"month": 2, "day": 30}, "ranges": []}]
    r = client.put("/api/v1/schedule", json=doc, headers=bearer(tokens["admin"]))
    assert r.status_code == 400
    assert "exceptions[0].yearly.day" in r.get_json()["error"]
