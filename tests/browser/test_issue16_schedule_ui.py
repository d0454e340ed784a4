"""Issue 16 in real Chromium, at phone (390 px) and desktop (1280 px) width: the Schedule
page (typed times, errors in words, "+ Add hours" prefilled, the holiday picker that
follows the country, school holidays named as what they are, the warning on leaving with
edits, saving that says the mode once, "No changes to save", the compare view of a
version), the Log's date filters and the Calls page's nights. Screenshots go to
build/screenshots/schedule-*.png, log-*.png and calls-*.png."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from appliance.smdr.record import CallRecord
from tests.browser.test_ui import DESKTOP, PHONE, _login, _page, until

pytestmark = pytest.mark.browser

WIDTHS = (("phone", PHONE), ("desktop", DESKTOP))


def _changed(page, selector: str, before):
    until(
        lambda: page.get_attribute(selector, "data-updated") != before,
        what=f"{selector} to be redrawn",
    )


def _type(page, selector: str, text: str) -> None:
    """Type into a field and wait for the live preview to follow."""
    before = page.get_attribute("#preview-wrap", "data-updated")
    page.fill(selector, text)
    _changed(page, "#preview-wrap", before)


@pytest.mark.parametrize("label, viewport", WIDTHS)
def test_the_schedule_editor_as_a_facilities_manager_uses_it(
    browser, served, shots, label, viewport
):
    appliance, base = served
    page = _page(browser, base, viewport)
    _login(page, base)
    page.goto(base + "/schedule")
    monday = "#preview details.as-list li:first-child"

    # Times as people type them: the preview reads them at once.
    _type(page, "input[name='weekly.mon[0].start']", "8:00")
    _type(page, "input[name='weekly.mon[0].end']", "17.30")
    assert "day 08:00–17:30" in page.text_content(monday)
    _type(page, "input[name='weekly.mon[0].end']", "1230")
    assert "day 08:00–12:30" in page.text_content(monday)

    # "+ Add hours" opens a row that already holds hours: after the morning, from 12:30.
    page.click("#f-weekly-mon button.add")
    page.wait_for_selector("input[name='weekly.mon[1].start']")
    assert page.input_value("input[name='weekly.mon[1].start']") == "12:30"
    assert page.input_value("input[name='weekly.mon[1].end']") == "16:30"
    # ...and a free Saturday starts with the usual hours, never empty.
    page.click("#f-weekly-sat button.add")
    page.wait_for_selector("input[name='weekly.sat[0].start']")
    assert page.input_value("input[name='weekly.sat[0].start']") == "08:00"
    assert page.input_value("input[name='weekly.sat[0].end']") == "12:30"

    # An overlap and a slip of the finger, in words, without a paragraph about midnight.
    _type(page, "input[name='weekly.mon[1].start']", "12:00")
    preview = page.text_content("#preview")
    assert "12:00-16:30 overlaps Monday's hours 08:00-12:30" in preview
    assert "weekly.mon" not in preview
    _type(page, "input[name='weekly.mon[1].start']", "13:30")
    _type(page, "input[name='weekly.mon[1].end']", "13:00")
    preview = page.text_content("#preview")
    assert "13:00 must be later than start 13:30" in preview
    assert "midnight" not in preview
    _type(page, "input[name='weekly.mon[1].end']", "17:00")
    assert "day 08:00–12:30, night 12:30–13:30, day 13:30–17:00" in page.text_content(monday)

    # The holidays of a country appear as soon as it is picked, no Preview needed.
    assert page.locator("#holiday-choices details.upcoming").count() == 0
    before = page.get_attribute("#holiday-choices", "data-updated")
    page.select_option("[data-country]", "DE")
    _changed(page, "#holiday-choices", before)
    choices = page.locator("#holiday-choices")
    assert "public holidays. Tick the ones you work on anyway" in choices.text_content()
    school = page.locator("#category-school")
    assert school.is_visible()
    assert (
        "School holidays: the office is closed for the whole school break, weeks at a time"
    ) in school.text_content()
    assert "warn" in school.get_attribute("class")
    # ...and the region's own holidays with the region.
    until(
        lambda: page.locator("[data-subdivision] option[value=BY]").count() == 1,
        what="the regions of DE",
    )
    before = page.get_attribute("#holiday-choices", "data-updated")
    page.select_option("[data-subdivision]", "BY")
    _changed(page, "#holiday-choices", before)
    assert "Corpus Christi" in choices.text_content()
    assert re.search(
        r"Next 12 months: \d+ more days closed \(.*Summer Break", school.text_content()
    )
    page.locator("#category-school").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / f"schedule-holidays-{label}.png"), full_page=False)

    # Leaving with edits that are not saved asks first; staying keeps them.
    asked = []

    def on_dialog(dialog):
        asked.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.click("nav.tabs a:has-text('Log')", no_wait_after=True)
    until(lambda: asked, what="the question on leaving")
    assert asked == ["beforeunload"]
    assert page.url.endswith("/schedule")
    assert page.input_value("input[name='weekly.mon[1].end']") == "17:00"
    page.remove_listener("dialog", on_dialog)

    page.screenshot(path=str(shots / f"schedule-{label}.png"), full_page=True)

    # Saved: the mode is said once; saved again unchanged: nothing to save.
    page.click(".actions button[value=save]")
    page.wait_for_selector(".flash-ok")
    flash = page.text_content(".flash-ok")
    # 10:00 on a Monday: the sim clock runs at real speed from there.
    assert flash == "Schedule saved (version 2). Now day: weekly hours Monday 08:00-12:30."
    saved = appliance.store.get_schedule("main")
    assert saved["weekly"]["mon"] == [
        {"start": "08:00", "end": "12:30", "mode": "day"},
        {"start": "13:30", "end": "17:00", "mode": "day"},
    ]
    assert saved["holidays"]["country"] == "DE"
    page.click(".actions button[value=save]")
    page.wait_for_selector(".flash-ok")
    assert page.text_content(".flash-ok") == (
        "No changes to save: version 2 stays in force as it is."
    )
    assert len(appliance.store.schedule_history("main")) == 2
    # Saved, the page lets the person go without a question.
    page.on("dialog", lambda dialog: asked.append(dialog.type) or dialog.dismiss())
    page.click("nav.tabs a:has-text('Log')")
    page.wait_for_url(re.compile(r"/log$"))
    assert asked == ["beforeunload"]
    assert page.outside_requests == []
    page.context.close()


@pytest.mark.parametrize("label, viewport", WIDTHS)
def test_a_version_is_compared_with_the_one_in_force_before_a_restore(
    browser, served, shots, label, viewport
):
    appliance, base = served
    doc = appliance.controller.get_schedule("main")
    doc["weekly"]["fri"] = [{"start": "08:00", "end": "14:00", "mode": "day"}]
    doc["exceptions"] = [
        {
            "name": "Christmas Eve",
            "from": "2026-12-24",
            "to": "2026-12-24",
            "ranges": [{"start": "08:00", "end": "12:00", "mode": "day"}],
        }
    ]
    appliance.controller.put_schedule("main", doc, by="anna")
    page = _page(browser, base, viewport)
    _login(page, base)
    page.goto(base + "/schedule#history")
    page.click("#history a.compare:has-text('Compare')")
    page.wait_for_selector("#changes")
    removed = page.locator("#changes li.removed").all_text_contents()
    added = page.locator("#changes li.added").all_text_contents()
    assert removed == [
        "Friday: day 08:00-14:00",
        "Exception Christmas Eve (2026-12-24): day 08:00-12:00",
    ]
    assert added == ["Friday: day 08:00-18:00"]
    assert "Version 2 is in force." in page.text_content("#version-facts")
    assert "Monday: day 08:00-18:00" in page.text_content("#contents")
    page.screenshot(path=str(shots / f"schedule-version-{label}.png"), full_page=True)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#changes button:has-text('Restore version 1')")
    page.wait_for_selector(".flash-ok")
    assert "Version 1 is in force again (saved as version 3)" in page.text_content(".flash-ok")
    assert appliance.store.get_schedule("main")["weekly"]["fri"][0]["end"] == "18:00"
    page.context.close()


def test_without_javascript_the_show_button_lists_a_new_countrys_holidays(browser, served, shots):
    _, base = served
    for label, viewport in WIDTHS:
        context = browser.new_context(viewport=viewport, java_script_enabled=False)
        page = context.new_page()
        _login(page, base)
        page.goto(base + "/schedule")
        page.select_option("[data-country]", "AT")
        assert page.locator("#category-school").count() == 0
        page.click("#show-holidays")
        page.wait_for_selector("#category-school")
        assert "Tick the ones you work on anyway" in page.text_content("#holiday-choices")
        assert page.locator("[data-subdivision] option").count() > 5
        assert page.is_visible("#unsaved")
        page.locator("#holidays").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"schedule-nojs-{label}.png"))
        context.close()


@pytest.mark.parametrize("label, viewport", WIDTHS)
def test_the_logs_date_filters_are_dates(browser, served, shots, label, viewport):
    _, base = served
    page = _page(browser, base, viewport)
    _login(page, base)
    page.goto(base + "/log")
    for field, text in (("from", "From date"), ("to", "To date")):
        assert page.get_attribute(f"#{field}", "type") == "date"
        assert page.get_attribute(f"#{field}", "placeholder") is None
        assert page.text_content(f"label[for={field}]") == text
        assert page.is_visible(f"label[for={field}]")
    page.fill("#from", "2026-03-05")
    page.fill("#to", "2026-03-01")
    page.click(".filters button[type=submit]")
    page.wait_for_selector(".flash-error")
    assert "2026-03-01 is before from 2026-03-05" in page.text_content(".flash-error")
    assert page.input_value("#from") == "2026-03-05"  # the filter is kept
    page.fill("#from", "2026-03-01")
    page.fill("#to", "2026-03-02")
    page.click(".filters button[type=submit]")
    page.wait_for_selector("table.log")
    assert page.locator(".flash-error").count() == 0
    page.screenshot(path=str(shots / f"log-{label}.png"), full_page=True)
    page.context.close()


def _calls(appliance):
    """Three nights: calls the PBX says were answered or not, and a night whose call
    records do not say."""
    start = datetime(2026, 2, 23, 17, 0, tzinfo=timezone.utc)  # Mon 18:00 Berlin
    for day in range(3):
        evening = start + timedelta(days=day)
        appliance.store.set_applied("main", "night", at=evening)
        for n in range(2):
            answered = None if day == 2 else n == 0
            appliance.store.add_call(
                "main",
                CallRecord(
                    started_at=evening + timedelta(minutes=40 * n + 5),
                    duration_s=60,
                    extension="21",
                    trunk="01",
                    direction="in",
                    answered=answered,
                    ring_s=8,
                    number="0301234567",
                    fmt="test",
                    raw="line",
                ),
            )
        appliance.store.set_applied("main", "day", at=evening + timedelta(hours=14))


@pytest.mark.parametrize("label, viewport", WIDTHS)
def test_calls_show_when_each_night_ended_and_unknown_answers(
    browser, served, shots, label, viewport
):
    appliance, base = served
    _calls(appliance)
    page = _page(browser, base, viewport)
    _login(page, base)
    page.goto(base + "/calls?from=2026-02-23&to=2026-02-25")
    assert page.get_attribute("#from", "type") == "date"
    rows = page.locator(".card table tbody tr")
    assert rows.count() == 3
    newest, oldest = rows.nth(0), rows.nth(2)
    assert newest.locator("td").nth(0).text_content() == "Wed 25 Feb"
    assert newest.locator("td.span").text_content() == "18:00 to Thu 26 Feb 08:00"
    assert newest.locator("td.missed").text_content() == "unknown"
    assert oldest.locator("td.span").text_content() == "18:00 to Tue 24 Feb 08:00"
    assert oldest.locator("td.missed").text_content() == "1"
    assert newest.locator("td.span").is_visible()
    assert "2 not known" in page.text_content("#totals")
    # The callback list of the newest night says the same, with the date it ended.
    callbacks = page.text_content("#callbacks")
    assert (
        "2 calls came in after hours, 18:00 to Thu 26 Feb 08:00; whether they were "
        "answered is not known."
    ) in " ".join(callbacks.split())
    assert "0 not answered" not in callbacks
    page.screenshot(path=str(shots / f"calls-{label}.png"), full_page=True)
    page.context.close()
