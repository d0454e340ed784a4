"""The schedule editor: errors at their fields, nothing saved on error, add and remove
rows, the preview of an unsaved form, holidays, the coming-year warning, history."""

from __future__ import annotations

import re

from werkzeug.datastructures import MultiDict

from tests.web.test_pages import _text


def _week_form() -> MultiDict:
    """The default schedule as the editor submits it."""
    form = MultiDict(
        {
            "csrf_token": "test-csrf-token",
            "timezone": "Europe/Berlin",
            "default_mode": "night",
            "holidays.country": "",
            "holidays.subdivision": "",
            "holidays.mode": "night",
        }
    )
    for day in ("mon", "tue", "wed", "thu", "fri"):
        form[f"weekly.{day}[0].start"] = "08:00"
        form[f"weekly.{day}[0].end"] = "18:00"
        form[f"weekly.{day}[0].mode"] = "day"
    return form


def _form(**fields) -> MultiDict:
    form = _week_form()
    for key, value in fields.items():
        form[key] = value
    return form


def test_editor_shows_the_saved_schedule_and_preview(as_user):
    page = as_user("admin").get("/schedule")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="weekly.mon[0].start" value="08:00"' in html
    assert html.count("<rect") > 14  # the timeline: 14 days of bars
    text = _text(page)
    assert "The next 14 days" in text
    assert "no holidays and no exceptions in the next 12 months" in text
    assert "Germany (DE)" in text  # the country picker lists the library's countries


def test_an_error_is_shown_at_its_field_and_nothing_is_saved(as_user, appliance):
    browser = as_user("admin")
    form = _form()
    form["weekly.tue[0].end"] = "07:00"
    form["weekly.wed[1].start"] = "12:00"
    form["weekly.wed[1].end"] = "13:00"
    form["weekly.wed[1].mode"] = "day"
    form["action"] = "save"
    r = browser.post("/schedule", form)
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    # the field itself is marked, and the message sits next to it
    assert re.search(r'name="weekly.tue\[0\].end" value="07:00"[^>]*aria-invalid="true"', html)
    assert "07:00 must be later than start 08:00" in _text(r)
    assert "overlaps Wednesday's hours 08:00-18:00" in _text(r)
    assert 'href="#f-weekly-tue-0-end"' in html
    assert "2 problems to fix" in _text(r)
    assert len(appliance.store.schedule_history("main")) == 1
    # the form keeps what was typed
    assert 'value="07:00"' in html


def test_saving_a_correct_schedule(as_user, appliance):
    browser = as_user("admin")
    form = _form()
    form["weekly.fri[0].end"] = "14:00"
    form["action"] = "save"
    r = browser.post("/schedule", form)
    assert r.status_code == 302
    assert appliance.store.get_schedule("main")["weekly"]["fri"] == [
        {"start": "08:00", "end": "14:00", "mode": "day"}
    ]
    page = browser.get("/schedule")
    assert "Schedule saved (version 2)" in _text(page)
    assert appliance.store.audit("main", source="schedule")[0]["who"] == "admin"


def test_blank_rows_are_dropped_and_errors_still_land_on_the_right_row(as_user):
    form = _form()
    form["weekly.mon[1].start"] = ""  # a row added and left blank
    form["weekly.mon[1].end"] = ""
    form["weekly.mon[1].mode"] = "day"
    form["weekly.mon[2].start"] = "19:00"
    form["weekly.mon[2].end"] = "18:30"
    form["weekly.mon[2].mode"] = "day"
    form["action"] = "save"
    r = as_user("admin").post("/schedule", form)
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert re.search(r'name="weekly.mon\[2\].end"[^>]*aria-invalid="true"', html)
    assert not re.search(r'name="weekly.mon\[1\].end"[^>]*aria-invalid', html)


def test_add_remove_and_copy_rows_without_javascript(as_user, appliance):
    browser = as_user("admin")
    form = _form(action="add:weekly.sat")
    r = browser.post("/schedule", form)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    # Issue 16: never an empty row; a free day starts with the office's usual hours.
    assert re.search(r'name="weekly.sat\[0\].start" value="08:00"[^>]*autofocus', html)
    assert 'name="weekly.sat[0].end" value="18:00"' in html
    assert "not saved yet" in _text(r)
    form = _form(action="remove:weekly.mon[0]")
    html = browser.post("/schedule", form).get_data(as_text=True)
    assert 'name="weekly.mon[0].start"' not in html
    form = _form(action="copy:weekly.mon")
    form["weekly.mon[0].end"] = "16:00"
    html = browser.post("/schedule", form).get_data(as_text=True)
    assert 'name="weekly.fri[0].end" value="16:00"' in html
    for action in (
        "add:exceptions",
        "add:seasons",
        "add:holidays.custom",
        "add:seasons[0].weekly.mon",
    ):
        form = _form(action=action)
        if action.startswith("add:seasons[0]"):
            form["seasons[0].name"] = "Summer"
        assert browser.post("/schedule", form).status_code == 200, action
    for action in ("add:timezone", "remove:weekly.mon[5]", "explode:weekly", "add:weekly.mon[0]"):
        assert browser.post("/schedule", _form(action=action)).status_code == 400, action
    assert len(appliance.store.schedule_history("main")) == 1


def test_preview_of_the_unsaved_form(as_user, appliance):
    browser = as_user("viewer")  # anyone may look at a preview
    form = _form()
    form["weekly.mon[0].end"] = "12:00"
    r = browser.post("/schedule/preview", form)
    assert r.status_code == 200
    fragment = r.get_data(as_text=True)
    assert "<html" not in fragment and "<svg" in fragment
    assert "Mon 2 Mar: night 00:00–08:00, day 08:00–12:00, night 12:00–24:00" in _text(r)
    form["weekly.mon[0].end"] = "25:00"
    r = browser.post("/schedule/preview", form)
    assert "<svg" not in r.get_data(as_text=True)
    assert "is not a time" in _text(r)
    assert len(appliance.store.schedule_history("main")) == 1


def test_holidays_exceptions_and_seasons(as_user, appliance):
    browser = as_user("admin")
    form = _form()
    form["holidays.country"] = "DE"
    form["holidays.subdivision"] = "BY"
    form.add("holidays.ignore", "Corpus Christi")
    form["holidays.custom[0].name"] = "Company day"
    form["holidays.custom[0].date"] = "2026-06-12"
    form["holidays.custom[1].name"] = "New Year's Eve"
    form["holidays.custom[1].date"] = "12-31"
    form["exceptions[0].name"] = "Christmas Eve"
    form["exceptions[0].from"] = "2026-12-24"
    form["exceptions[0].ranges[0].start"] = "08:00"
    form["exceptions[0].ranges[0].end"] = "12:00"
    form["exceptions[0].ranges[0].mode"] = "day"
    form["exceptions[1].name"] = "Office move"
    form["exceptions[1].from"] = "2027-01-04"
    form["exceptions[1].to"] = "2027-01-08"
    form["seasons[0].name"] = "Summer hours"
    form["seasons[0].from"] = "2026-07-01"
    form["seasons[0].to"] = "2026-08-31"
    form["seasons[0].weekly.mon[0].start"] = "07:00"
    form["seasons[0].weekly.mon[0].end"] = "15:00"
    form["seasons[0].weekly.mon[0].mode"] = "day"
    form["action"] = "save"
    r = browser.post("/schedule", form)
    assert r.status_code == 302, _text(r)[:2000]
    saved = appliance.store.get_schedule("main")
    assert saved["holidays"] == {
        "country": "DE",
        "subdivision": "BY",
        "mode": "night",
        "ignore": ["Corpus Christi"],
        "custom": [
            {"date": "2026-06-12", "name": "Company day"},
            {"month": 12, "day": 31, "name": "New Year's Eve"},
        ],
    }
    assert saved["exceptions"][0] == {
        "name": "Christmas Eve",
        "from": "2026-12-24",
        "ranges": [{"start": "08:00", "end": "12:00", "mode": "day"}],
    }
    assert saved["exceptions"][1]["ranges"] == []
    assert saved["seasons"][0]["weekly"]["mon"][0]["start"] == "07:00"
    page = browser.get("/schedule")
    text = _text(page)
    assert "no holidays and no exceptions" not in text
    html = page.get_data(as_text=True)
    assert re.search(r'value="Corpus Christi" checked', html)
    assert '<option value="BY" selected>BY – Bayern</option>' in html
    assert 'name="holidays.custom[1].date" value="12-31"' in html


def test_holiday_field_errors(as_user, appliance):
    form = _form()
    form["holidays.country"] = "DE"
    form["holidays.subdivision"] = "XX"
    form["holidays.custom[0].name"] = ""
    form["holidays.custom[0].date"] = "2026-02-30"
    form["exceptions[0].name"] = "Move"
    form["exceptions[0].from"] = "2026-05-10"
    form["exceptions[0].to"] = "2026-05-01"
    form["action"] = "save"
    r = as_user("admin").post("/schedule", form)
    assert r.status_code == 400
    text = _text(r)
    assert "unknown subdivision 'XX' for DE" in text
    assert "is not a date" in text
    assert "is before from" in text
    html = r.get_data(as_text=True)
    assert re.search(r'name="holidays.custom\[0\].date"', html)
    assert appliance.store.get_schedule("main")["holidays"] is None


def test_subdivisions_for_the_picker(as_user):
    r = as_user("viewer").get("/schedule/subdivisions?country=AT")
    subdivisions = dict(r.get_json()["subdivisions"])
    assert "9" in subdivisions and "Wien" in subdivisions["9"]
    assert (
        as_user("viewer").get("/schedule/subdivisions?country=ZZ").get_json()["subdivisions"] == []
    )


def test_viewers_see_but_cannot_save(as_user, appliance):
    browser = as_user("operator")
    page = browser.get("/schedule")
    assert '<fieldset class="plain" disabled>' in page.get_data(as_text=True)
    r = browser.post("/schedule", _form(action="save"))
    assert r.status_code == 403
    assert len(appliance.store.schedule_history("main")) == 1


def test_history_rollback_and_export(as_user, appliance):
    browser = as_user("admin")
    form = _form(action="save")
    form["weekly.mon[0].end"] = "12:00"
    browser.post("/schedule", form)
    page = browser.get("/schedule")
    assert "in force" in _text(page)
    r = browser.post("/schedule/rollback", {"version": "1"})
    assert r.status_code == 302
    assert appliance.store.get_schedule("main")["weekly"]["mon"][0]["end"] == "18:00"
    assert "Version 1 is in force again" in _text(browser.get("/schedule"))
    r = browser.post("/schedule/rollback", {"version": "77"})
    assert "has no schedule version 77; versions 1 to 3 exist" in _text(
        browser.get(r.headers["Location"])
    )
    assert "(copy of 1)" in _text(browser.get("/schedule"))
    r = browser.get("/schedule/export")
    assert r.mimetype == "application/json" and "attachment" in r.headers["Content-Disposition"]
    assert r.get_json()["weekly"]["mon"][0]["end"] == "18:00"


def test_malformed_forms_are_refused_cleanly(as_user, appliance):
    browser = as_user("admin")
    for key in ("weekly..mon", "weekly[0", "]", "a" * 300, "weekly.mon[99999].start"):
        form = _form(action="save")
        form[key] = "x"
        r = browser.post("/schedule", form)
        assert r.status_code == 400, key
        assert "not a field of the schedule form" in _text(r)
    form = _form(action="save")
    form["weekly"] = "oops"  # a value where the form has a table
    assert browser.post("/schedule", form).status_code == 400
    assert len(appliance.store.schedule_history("main")) == 1


def test_holiday_categories_survive_the_editor(as_user, appliance):
    """Bavaria's Assumption Day is in the library's 'catholic' category: a site that ticks
    it keeps it through every save from the page (it used to be dropped)."""
    browser = as_user("admin")
    form = _form()
    form["holidays.country"] = "DE"
    form["holidays.subdivision"] = "BY"
    form.add("holidays.categories", "catholic")
    form["action"] = "save"
    r = browser.post("/schedule", form)
    assert r.status_code == 302, _text(r)[:2000]
    assert appliance.store.get_schedule("main")["holidays"]["categories"] == ["catholic"]
    html = browser.get("/schedule").get_data(as_text=True)
    assert re.search(r'name="holidays.categories" value="catholic" checked', html)
    # Saving again without touching it keeps it; unticking removes it.
    form = _form()
    form["holidays.country"] = "DE"
    form["holidays.subdivision"] = "BY"
    form["action"] = "save"
    assert browser.post("/schedule", form).status_code == 302
    assert "categories" not in appliance.store.get_schedule("main")["holidays"]
    form.add("holidays.categories", "no-such-category")
    r = browser.post("/schedule", form)
    assert r.status_code == 400
    assert "categories" in _text(r)


def test_a_schedule_on_another_time_zone_than_the_site_is_pointed_out(as_user, appliance):
    page = _text(as_user("viewer").get("/schedule"))
    assert "runs on" not in page  # Europe/Berlin on both sides
    data = dict(appliance.controller.get_schedule("main"), timezone="America/New_York")
    appliance.controller.put_schedule("main", data, by="anna")
    page = _text(as_user("viewer").get("/schedule"))
    assert (
        "This schedule runs on America/New_York time, but this site shows and takes "
        "times in Europe/Berlin."
    ) in page


def test_import_a_schedule_file_from_the_page(as_user, appliance):
    import io
    import json

    browser = as_user("admin")
    good = dict(appliance.controller.get_schedule("main"))
    good["weekly"] = dict(good["weekly"], mon=[{"start": "07:00", "end": "19:00", "mode": "day"}])

    def upload(content: bytes, name: str = "ours.json"):
        r = browser.post(
            "/schedule/import",
            {"file": (io.BytesIO(content), name)},
            content_type="multipart/form-data",
        )
        assert r.status_code == 302
        return _text(browser.get(r.headers["Location"]))

    before = len(appliance.store.schedule_history("main"))
    bad = dict(good, weekly={"mon": [{"start": "19:00", "end": "07:00", "mode": "day"}]})
    for content, says in (
        (b"\xff\xfe not json", "ours.json is not JSON"),
        (b"[1, 2]", "it must be one JSON object"),
        (
            json.dumps(bad).encode(),
            "ours.json was not imported, nothing changed: weekly.mon[0].end",
        ),
    ):
        assert says in upload(content), says
    assert "Choose a schedule file" in upload(b"", name="")
    assert len(appliance.store.schedule_history("main")) == before
    page = upload(json.dumps(good).encode())
    assert f"Imported ours.json: saved as version {before + 1}, now in force." in page
    assert appliance.store.get_schedule("main")["weekly"]["mon"][0]["start"] == "07:00"
    # viewers and operators see no import form and cannot post one
    assert 'name="file"' not in as_user("operator").get("/schedule").get_data(as_text=True)
    r = as_user("operator").post(
        "/schedule/import",
        {"file": (io.BytesIO(b"{}"), "x.json")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 403
