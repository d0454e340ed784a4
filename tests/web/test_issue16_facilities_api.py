"""Issue 16, the facilities manager's pages and their API: audit dates in order, call
summaries in local dates, an unchanged schedule is no new version, the words the
Schedule, Log, Calls and Users pages say (no internal names, no CLI commands), the
holiday picker and its categories, the compare view of a version."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from appliance.decision.schedule import default_schedule_json
from appliance.smdr.record import CallRecord
from tests.web.test_pages import _text
from tests.web.test_schedule_page import _form
from tests.web.webhelp import bearer

# -- API ----------------------------------------------------------------------------------


def test_audit_with_from_after_to_is_refused_naming_the_field(client, tokens):
    viewer = bearer(tokens["viewer"])
    r = client.get("/api/v1/audit?from=2026-03-05&to=2026-03-01", headers=viewer)
    assert r.status_code == 400
    body = r.get_json()
    assert body["errors"] == [
        {
            "field": "to",
            "message": "2026-03-01 is before from 2026-03-05; to must be on or after from",
        }
    ]
    # The same dates the right way round are a plain answer; one day is from == to.
    assert (
        client.get("/api/v1/audit?from=2026-03-01&to=2026-03-05", headers=viewer).status_code == 200
    )
    assert (
        client.get("/api/v1/audit?from=2026-03-02&to=2026-03-02", headers=viewer).status_code == 200
    )


def test_the_log_page_says_so_too(as_user):
    r = as_user("viewer").get("/log?from=2026-03-05&to=2026-03-01")
    assert r.status_code == 200
    assert "2026-03-01 is before from 2026-03-05" in _text(r)
    assert "Nothing logged" not in _text(r)  # not an empty answer that looks fine


def _call(at: datetime, answered: bool | None) -> CallRecord:
    return CallRecord(
        started_at=at,
        duration_s=30,
        extension="21",
        trunk="01",
        direction="in",
        answered=answered,
        ring_s=5,
        number="0301234",
        fmt="test",
        raw="raw line",
    )


def _night(appliance, *, answered=(False, True, None)):
    """Monday 2 March 2026: day 08:00-18:00 Berlin, then night until Tuesday 08:00."""
    store = appliance.store
    base = datetime(2026, 3, 2, 0, 0, tzinfo=timezone.utc)
    store.set_applied("main", "day", at=base + timedelta(hours=7))
    store.set_applied("main", "night", at=base + timedelta(hours=17))
    store.set_applied("main", "day", at=base + timedelta(hours=31))
    for i, value in enumerate(answered):
        store.add_call("main", _call(base + timedelta(hours=19 + i), value))


def test_calls_summary_gives_local_dates_as_calls_does(client, tokens, appliance):
    _night(appliance)
    viewer = bearer(tokens["viewer"])
    query = "from=2026-03-02&to=2026-03-03"
    calls = client.get(f"/api/v1/calls?{query}", headers=viewer).get_json()
    summary = client.get(f"/api/v1/calls/summary?{query}", headers=viewer).get_json()
    assert (
        (summary["from"], summary["to"])
        == (calls["from"], calls["to"])
        == ("2026-03-02", "2026-03-03")
    )
    assert summary["timezone"] == "Europe/Berlin"
    night = summary["per_night"][0]
    assert night["began"] == "2026-03-02T18:00:00+01:00"
    assert night["ended"] == "2026-03-03T08:00:00+01:00"
    assert "+00:00" not in str(summary)  # nothing in UTC


def test_an_unchanged_schedule_makes_no_new_version(client, tokens, appliance):
    admin = bearer(tokens["admin"])
    doc = client.get("/api/v1/schedule", headers=admin).get_json()
    r = client.put("/api/v1/schedule", json=doc, headers=admin)
    assert r.status_code == 200
    assert r.get_json()["changed"] is False and r.get_json()["version"] == 1
    assert len(appliance.store.schedule_history("main")) == 1
    # The same schedule written differently (keys in another order, holidays left out
    # rather than null) is the same schedule.
    same = {key: doc[key] for key in reversed(list(doc))}
    del same["holidays"]
    assert client.put("/api/v1/schedule", json=same, headers=admin).get_json()["changed"] is False
    doc["weekly"]["mon"][0]["end"] = "17:00"
    r = client.put("/api/v1/schedule", json=doc, headers=admin)
    assert r.get_json()["changed"] is True and r.get_json()["version"] == 2
    assert len(appliance.store.schedule_history("main")) == 2
    audit = client.get("/api/v1/audit?source=schedule", headers=admin).get_json()
    assert [e["reason"] for e in audit["entries"]].count("schedule saved (version 2)") <= 1


# -- the Schedule page --------------------------------------------------------------------


def test_saving_says_the_mode_once(as_user):
    browser = as_user("admin")
    r = browser.post(
        "/schedule",
        _form(**{"weekly.mon[0].end": "17:00", "action": "save"}),
        follow_redirects=True,
    )
    text = _text(r)
    assert "Schedule saved (version 2). Now day: weekly hours Monday 08:00-17:00." in text
    assert "day: day:" not in text


def test_saving_an_unchanged_schedule_says_there_is_nothing_to_save(as_user, appliance):
    r = as_user("admin").post("/schedule", _form(action="save"), follow_redirects=True)
    assert "No changes to save: version 1 stays in force as it is." in _text(r)
    assert len(appliance.store.schedule_history("main")) == 1


def test_times_as_people_type_them_are_saved_as_hh_mm(as_user, appliance):
    form = _form(
        **{
            "weekly.mon[0].start": "8",
            "weekly.mon[0].end": "17.30",
            "weekly.tue[0].start": "0730",
            "weekly.tue[0].end": "1600",
            "action": "save",
        }
    )
    r = as_user("admin").post("/schedule", form, follow_redirects=True)
    assert "Schedule saved (version 2)" in _text(r)
    weekly = appliance.store.get_schedule("main")["weekly"]
    assert weekly["mon"][0] == {"start": "08:00", "end": "17:30", "mode": "day"}
    assert weekly["tue"][0] == {"start": "07:30", "end": "16:00", "mode": "day"}
    # What cannot be read is named at its field, as typed.
    r = as_user("admin").post("/schedule", _form(**{"weekly.wed[0].end": "5pm", "action": "save"}))
    assert r.status_code == 400
    assert "'5pm' is not a time" in _text(r)


def test_errors_name_days_not_json_paths(as_user):
    form = _form(
        **{
            "weekly.mon[0].end": "12:30",
            "weekly.mon[1].start": "12:00",
            "weekly.mon[1].end": "14:00",
            "weekly.mon[1].mode": "day",
            "weekly.tue[0].start": "13:30",
            "weekly.tue[0].end": "13:00",
            "action": "save",
        }
    )
    r = as_user("admin").post("/schedule", form)
    assert r.status_code == 400
    text = _text(r)
    assert "12:00-14:00 overlaps Monday's hours 08:00-12:30" in text
    assert "weekly." not in text.replace("weekly hours", "")
    assert "13:00 must be later than start 13:30" in text
    assert "midnight" not in text.replace("use 24:00 for midnight at the end of the day", "")


def test_add_hours_never_adds_an_empty_row(as_user):
    browser = as_user("admin")
    # After a morning: the afternoon from its end.
    html = browser.post(
        "/schedule", _form(**{"weekly.mon[0].end": "12:30", "action": "add:weekly.mon"})
    ).get_data(True)
    assert re.search(r'name="weekly.mon\[1\].start" value="12:30"[^>]*autofocus', html)
    assert 'name="weekly.mon[1].end" value="16:30"' in html
    # On a free day: the office's usual hours.
    html = browser.post("/schedule", _form(action="add:weekly.sun")).get_data(True)
    assert 'name="weekly.sun[0].start" value="08:00"' in html
    assert 'name="weekly.sun[0].end" value="18:00"' in html
    assert re.search(r'name="weekly\.[a-z]{3}\[\d+\]\.(start|end)" value=""', html) is None
    # A day covered from 00:00 to 24:00 gets nothing added, and says why.
    full = _form(
        **{
            "weekly.sat[0].start": "00:00",
            "weekly.sat[0].end": "24:00",
            "weekly.sat[0].mode": "day",
            "action": "add:weekly.sat",
        }
    )
    r = browser.post("/schedule", full)
    assert r.status_code == 200
    assert "Saturday: the hours already cover 00:00 to 24:00" in _text(r)
    assert 'name="weekly.sat[1].start"' not in r.get_data(as_text=True)


def test_the_holiday_picker_follows_the_country_and_names_each_category(as_user):
    browser = as_user("admin")
    form = _form(**{"holidays.country": "DE", "holidays.subdivision": "BY"})
    r = browser.post("/schedule/holidays", form)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "<html" not in html  # a fragment for the page's script
    text = _text(r)
    assert "public holidays. Tick the ones you work on anyway" in text
    assert "Corpus Christi" in text
    assert (
        "School holidays: the office is closed for the whole school break, weeks at a time"
    ) in text
    assert re.search(r"Next 12 months: \d{2} more days closed \(.*Summer Break", text)
    assert "Catholic holidays: also closed on feast days kept only in Catholic areas" in text
    assert re.search(r'class="category warn" id="category-school"', html)
    # Another country: its own holidays at once, the old region ignored.
    form = _form(**{"holidays.country": "AT", "holidays.subdivision": "BY"})
    text = _text(browser.post("/schedule/holidays", form))
    assert "Corpus Christi" in text and "Assumption Day" in text
    assert "Bank holidays" in text
    # No country: nothing to pick.
    assert "Tick the ones" not in _text(browser.post("/schedule/holidays", _form()))


def test_without_javascript_a_button_shows_the_new_countrys_holidays(as_user):
    browser = as_user("admin")
    html = browser.get("/schedule").get_data(as_text=True)
    assert re.search(
        r"<noscript><button[^>]*value=\"preview\"[^>]*>Show this country's "
        r"regions and holidays</button></noscript>",
        html,
    )
    r = browser.post("/schedule", _form(**{"holidays.country": "DE", "action": "preview"}))
    text = _text(r)
    assert "School holidays: the office is closed for the whole school break" in text
    assert "Tick the ones you work on anyway" in text


def test_the_reason_of_a_school_holiday_never_says_public_holiday(as_user, appliance):
    form = _form(
        **{
            "holidays.country": "DE",
            "holidays.subdivision": "BY",
            "holidays.categories": "school",
            "preview_from": "2026-08-17",
            "preview_to": "2026-08-18",
            "action": "preview",
        }
    )
    text = _text(as_user("admin").post("/schedule", form))
    assert "(night: school holidays Summer Break (DE-BY))" in text
    assert "public holiday Summer Break" not in text


def test_a_version_shows_what_it_holds_and_what_restoring_it_changes(as_user, appliance):
    admin = as_user("admin")
    admin.post(
        "/schedule",
        _form(**{"weekly.mon[0].end": "12:00", "holidays.country": "DE", "action": "save"}),
    )
    page = admin.get("/schedule")
    html = page.get_data(as_text=True)
    assert re.search(r'href="/schedule/versions/1"[^>]*>Compare</a>', html)
    assert re.search(r'href="/schedule/versions/2"[^>]*>View</a>', html)
    r = admin.get("/schedule/versions/1")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    text = _text(r)
    assert "Version 2 is in force." in text
    assert '<li class="removed">Monday: day 08:00-12:00</li>' in html
    assert '<li class="added">Monday: day 08:00-18:00</li>' in html
    assert '<li class="removed">Public holidays of Germany (DE): night all day</li>' in html
    assert '<li class="added">Public holidays: none</li>' in html
    assert "Tuesday: day 08:00-18:00" in text  # what version 1 holds
    assert 'name="version" value="1"' in html  # restore from here
    # The one in force says so, with nothing to restore.
    r = admin.get("/schedule/versions/2")
    assert "This version is in force." in _text(r)
    assert 'name="version"' not in r.get_data(as_text=True)
    # A viewer sees it too, without the button; an unknown version is a clear 404.
    r = as_user("viewer").get("/schedule/versions/1")
    assert r.status_code == 200 and 'name="version"' not in r.get_data(as_text=True)
    r = admin.get("/schedule/versions/99")
    assert r.status_code == 404 and "there is no schedule version 99" in _text(r)


# -- Log, Calls, Users ----------------------------------------------------------------------


def test_the_logs_date_filters_are_date_inputs_with_labels(as_user):
    html = as_user("viewer").get("/log").get_data(as_text=True)
    assert '<label for="from">From date</label><input type="date" id="from"' in html
    assert '<label for="to">To date</label><input type="date" id="to"' in html
    assert 'placeholder="2026' not in html
    assert "placeholder=" not in html.split('class="filters')[1].split("</form>")[0]


def test_calls_say_when_a_night_ended_and_unknown_is_not_zero(as_user, appliance):
    _night(appliance, answered=(None, None))
    r = as_user("viewer").get("/calls?from=2026-03-02&to=2026-03-03")
    html = r.get_data(as_text=True)
    assert '<td class="span">18:00 to Tue 3 Mar 08:00</td>' in html
    assert '<td class="missed">unknown</td>' in html
    assert "whether they were answered is not known" in _text(r)
    assert "0 not answered" not in _text(r)


def test_calls_with_some_unknown_answers_count_them_apart(as_user, appliance):
    _night(appliance)
    html = as_user("viewer").get("/calls?from=2026-03-02&to=2026-03-03").get_data(True)
    assert '<td class="missed bad">1 (+1 unknown)</td>' in html


def test_adding_an_existing_user_says_what_to_do_on_the_page(as_user):
    r = as_user("admin").post(
        "/users/add", {"name": "viewer", "role": "viewer", "password": "a long enough password"}
    )
    assert r.status_code == 400
    text = _text(r)
    assert "a user named 'viewer' already exists: use Set role or Set password" in text
    assert "user passwd" not in text and "user role" not in text


def test_default_schedule_json_is_what_the_tests_start_from(appliance):
    # The fixtures above assume the fresh appliance's schedule (version 1).
    assert appliance.store.get_schedule("main") == default_schedule_json("Europe/Berlin")
