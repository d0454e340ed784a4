"""Follow-up in real Chromium (issue 15): the Calls page's callback list with its "called
back" ticks, and the stale-schedule notice with its "reviewed, still right" button, at
phone (390 px) and desktop width, with screenshots in build/screenshots/."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from appliance.smdr.record import CallRecord
from tests.browser.test_ui import DESKTOP, PHONE, _login, _page

SUNDAY_NIGHT = datetime(2026, 3, 1, 17, 0, tzinfo=timezone.utc)  # 18:00 in Berlin


def _night_of_calls(appliance) -> None:
    """Sunday night's calls; the mode history says night from Sunday 18:00 to Monday 08:00."""
    store = appliance.store
    store.set_applied("main", "night", at=SUNDAY_NIGHT)
    calls = [
        (20, "01711234567", False, 32),
        (95, "030555123", True, 6),
        (140, "01711234567", False, 41),
        (300, None, False, 15),
        (610, "0891234567", False, 25),
        (790, "01711234567", True, 4),
    ]
    for minutes, number, answered, ring in calls:
        store.add_call(
            "main",
            CallRecord(
                started_at=SUNDAY_NIGHT + timedelta(minutes=minutes),
                duration_s=40 if answered else 0,
                extension="21",
                trunk="01",
                direction="in",
                answered=answered,
                ring_s=ring,
                number=number,
                fmt="test",
                raw="line",
            ),
        )
    store.set_applied("main", "day", at=SUNDAY_NIGHT + timedelta(hours=14))


def _stale_schedule(appliance) -> None:
    ctl = appliance.controller
    data = ctl.get_schedule(None)
    data["seasons"] = [
        {"name": "Winter hours", "from": "2025-11-01", "to": "2026-02-28", "weekly": {}}
    ]
    data["exceptions"] = [
        {"name": "Stocktaking", "from": "2026-01-05", "to": "2026-01-05", "ranges": []}
    ]
    ctl.put_schedule(None, data, by="admin")


def test_callback_list_and_stale_notice(browser, served, shots):
    appliance, base = served
    _night_of_calls(appliance)
    _stale_schedule(appliance)
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = _page(browser, base, viewport)
        _login(page, base)
        notice = page.locator("#stale")
        assert notice.is_visible()
        text = notice.inner_text()
        assert "seasons[0]" in text and "Winter hours" in text and "exceptions" in text
        page.screenshot(path=str(shots / f"stale-notice-{label}.png"), full_page=True)

        page.goto(base + "/calls?night=2026-03-01")
        section = page.locator("#callbacks")
        assert "night of Sun 1 Mar" in section.inner_text()
        numbers = section.locator(".callback .number").all_inner_texts()
        assert numbers == ["01711234567", "030555123", "0891234567", "Number withheld"]
        first = section.locator(".callback").first
        assert "3 calls, answered" in first.inner_text()
        assert "rang 32 s, not answered" in first.inner_text()
        if label == "phone":
            first.locator("button:has-text('Called back')").click()
            page.wait_for_selector("#callbacks .callback.done")
            assert "Called back by admin" in page.locator(".callback.done").inner_text()
        page.locator("#callbacks").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"calls-callbacks-{label}.png"), full_page=True)
        assert page.outside_requests == []
        page.context.close()
    ticked = appliance.store.audit(source="callback")
    assert [(a["who"], a["reason"]) for a in ticked] == [
        ("admin", "called back 01711234567 (night of 2026-03-01)")
    ]

    # the review button records who and when, and is audited
    page = _page(browser, base, DESKTOP)
    _login(page, base)
    page.click("#stale button:has-text('Reviewed, still right')")
    page.wait_for_selector(".flash")
    assert "recorded as reviewed" in page.locator(".flash").first.inner_text()
    (entry,) = appliance.store.audit(source="review")
    assert entry["who"] == "admin" and entry["reason"] == "schedule reviewed: still right"
    page.context.close()
