"""The whole appliance with ``[[calendars]]`` in its config (the daemon's calendar thread
and worker process, a real HTTP feed server), seen in real Chromium: the Schedule page's
calendars, the preview of any range with their closures, yearly exceptions and seasons.
Screenshots at phone and desktop width go to build/screenshots/."""

from __future__ import annotations

import pytest

from tests.browser.conftest import start_appliance
from tests.browser.test_ui import DESKTOP, PHONE, _login, _page, until
from tests.calendar_servers import FeedServer
from tests.web.webhelp import site_config


@pytest.fixture
def served_with_calendars(tmp_path):
    with FeedServer() as feeds:
        config = site_config(
            extra={
                "calendars": [
                    {"name": "Closures", "url": feeds.url("outlook.ics")},
                    {
                        "name": "Facilities",
                        "url": feeds.url("nextcloud.ics"),
                        "categories": ["Closure", "Training"],
                        "category_modes": {"Training": "day"},
                    },
                    {"name": "Team", "url": feeds.url("missing.ics")},
                ]
            }
        )
        appliance, base = start_appliance(tmp_path, config)
        try:
            yield appliance, base
        finally:
            appliance.stop()


def test_schedule_page_calendar_parts(browser, served_with_calendars, shots):
    appliance, base = served_with_calendars
    # The daemon's calendar thread fetches all three at start (in its worker process).
    until(
        lambda: all(c["attempted_at"] for c in appliance.calendars.status()),
        60,
        "the calendars to be fetched",
    )
    faults = appliance.controller.status()["faults"]
    assert [f["kind"] for f in faults] == ["calendar"] and "Team: " in faults[0]["message"]
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = _page(browser, base, viewport)
        _login(page, base)
        page.goto(base + "/")
        assert "Calendar cannot be read" in page.inner_text("body")
        page.screenshot(path=str(shots / f"status-calendar-fault-{label}.png"), full_page=True)
        page.goto(base + "/schedule")
        section = page.locator("#calendars")
        text = section.inner_text()
        assert "Closures" in text and "Fri 2026-10-02 14:00-18:00" in text
        assert "HTTP 404 Not Found" in text
        assert "1 event left out" in text
        section.screenshot(path=str(shots / f"schedule-calendars-{label}.png"))
        # Any range: October 2026, with the calendars' closures.
        page.fill("#preview-from", "2026-10-01")
        page.fill("#preview-to", "2026-10-31")
        page.click("#preview-range button[type=submit]")
        until(
            lambda: "Thu 1 Oct 2026 to Sat 31 Oct 2026" in page.inner_text("#preview"),
            10,
            "the preview to show October",
        )
        page.click("#preview details.as-list summary")
        assert "calendar Closures: Team offsite" in page.inner_text("#preview")
        page.locator("#preview").screenshot(path=str(shots / f"schedule-range-{label}.png"))
        # A yearly exception and a new season in the editor.
        page.click("button[value='add:exceptions']")
        page.wait_for_selector("#f-exceptions-0-name")
        page.fill("#f-exceptions-0-name", "Christmas party")
        page.fill("#f-exceptions-0-from", "12-24")
        page.select_option("#f-exceptions-0-repeat", "weekday")
        page.select_option("#f-exceptions-0-weekday", "fri")
        page.select_option("#f-exceptions-0-when", "before")
        page.click("button[value='add:seasons']")
        page.wait_for_selector("#f-seasons-0-name")
        assert page.input_value("#f-seasons-0-weekly-mon-0-start") == "08:00"
        page.locator("#exceptions").screenshot(
            path=str(shots / f"schedule-yearly-exception-{label}.png")
        )
        page.locator("#seasons").screenshot(path=str(shots / f"schedule-season-{label}.png"))
        page.goto(base + "/installer")
        config = page.inner_text("body")
        assert "[[calendars]]" in config and "outlook.ics" not in config
        assert page.outside_requests == []
        page.context.close()
