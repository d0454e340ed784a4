"""Issue 16 on the status page in real Chromium, at phone (390 px) and desktop width:
override errors stay while the live refresh runs, quick ends and an end date, "until
cancelled" as a warning, and the Day and Night groups in fixed places. Screenshots:
build/screenshots/status-*.png."""

from __future__ import annotations

import pytest

from tests.browser.test_ui import DESKTOP, PHONE, _login, _page, _wait_mode, until

pytestmark = pytest.mark.browser

WIDTHS = [("phone", PHONE), ("desktop", DESKTOP)]


def _key(appliance, position):
    appliance.virtual_panel.set_key(position)
    until(lambda: appliance.controller.status("main")["key"] == position, what=f"key {position}")


def _updated(page) -> str:
    return page.get_attribute("#live", "data-updated") or ""


@pytest.mark.parametrize("label, viewport", WIDTHS)
def test_a_bad_time_stays_on_screen_through_live_refreshes(browser, served, shots, label, viewport):
    appliance, base = served
    page = _page(browser, base, viewport)
    _login(page, base, "operator")
    page.wait_for_selector("#live[data-stream=open]", state="attached")
    page.fill("#at-day", "25:00")
    page.click("[data-mode-choice=day] button[value=at]")
    page.wait_for_selector("#override-problem")
    page.wait_for_selector("#live[data-stream=open]", state="attached")
    # the appliance changes under the page: the live refresh runs, the error stays
    before = _updated(page)
    appliance.controller.set_override("main", "night", None, by="anna")
    _wait_mode(page, "NIGHT")
    until(lambda: _updated(page) != before, what="a live refresh")
    page.wait_for_timeout(300)
    assert page.is_visible("#override-problem")
    assert "'25:00' is not a time of day: hours go from 0 to 23" in page.text_content(
        "#override-problem"
    )
    assert page.input_value("#at-day") == "25:00"
    assert page.get_attribute("#at-day", "aria-invalid") == "true"
    assert page.is_visible("#problem-day")
    page.screenshot(path=str(shots / f"status-error-{label}.png"), full_page=True)
    # acting on it: a good time typed the tolerant way sets the override
    page.fill("#at-day", "1730")
    page.click("[data-mode-choice=day] button[value=at]")
    page.wait_for_selector(".confirm")  # 7 h 30 min: it asks first
    page.click(".confirm button[type=submit]")
    page.wait_for_selector(".flash-ok")
    assert "Day until Mon 2 Mar 17:30." in page.text_content(".flash-ok")
    assert not page.is_visible("#override-problem")
    page.context.close()


@pytest.mark.parametrize("label, viewport", WIDTHS)
def test_a_409_stays_until_dismissed(browser, served, label, viewport):
    appliance, base = served
    page = _page(browser, base, viewport)
    _login(page, base, "operator")
    # hold back the live refresh while the key turns, so the button can still be pressed
    page.route("**/status/live", lambda route: route.abort())
    _key(appliance, "night")
    page.click("button.choice:has-text('Day for 1 hour')")
    page.wait_for_selector("#override-problem")
    page.unroute("**/status/live")
    page.wait_for_selector("#live[data-stream=open]", state="attached")
    before = _updated(page)
    _key(appliance, "day")  # an event: the page refreshes
    until(lambda: _updated(page) != before, what="a live refresh")
    until(lambda: "DAY" in (page.text_content("#key") or ""), what="the key fact")
    assert page.is_visible("#override-problem")
    assert "key switch at reception is in NIGHT" in page.text_content("#override-problem")
    page.click("#override-problem a:has-text('dismiss this message')")
    page.wait_for_selector("#mode")
    assert not page.is_visible("#override-problem")
    _key(appliance, "auto")
    page.context.close()


@pytest.mark.parametrize("label, viewport", WIDTHS)
def test_quick_ends_and_an_end_date(browser, served, shots, label, viewport):
    appliance, base = served
    page = _page(browser, base, viewport)
    _login(page, base, "operator")
    ends = page.locator("[data-mode-choice=night] button.quick-end")
    assert [" ".join(t.split()) for t in ends.all_text_contents()] == [
        "Tonight's closing Mon 2 Mar 18:00",
        "Tomorrow's opening Tue 3 Mar 08:00",
    ]
    assert page.get_attribute("#on-night", "type") == "date"
    page.screenshot(path=str(shots / f"status-ends-{label}.png"), full_page=True)
    page.once("dialog", lambda dialog: dialog.accept())  # 22 h: it asks first
    page.click("[data-mode-choice=night] button.quick-end:has-text('Tomorrow')")
    page.wait_for_selector(".flash-ok")
    assert "Night until Tue 3 Mar 08:00." in page.text_content(".flash-ok")
    assert appliance.store.get_override("main")["until"] == "2026-03-03T07:00:00+00:00"
    # a date and a time typed the way people type them
    page.fill("#at-day", "8.00")
    page.fill("#on-day", "2026-03-04")
    page.click("[data-mode-choice=day] button[value=at]")
    page.wait_for_selector(".confirm")
    assert "until Wed 4 Mar 08:00?" in page.text_content(".question")
    page.click(".confirm button[type=submit]")
    page.wait_for_selector(".flash-ok")
    assert "Day until Wed 4 Mar 08:00." in page.text_content(".flash-ok")
    appliance.controller.cancel_override("main", by="test")
    page.context.close()


@pytest.mark.parametrize("label, viewport", WIDTHS)
def test_until_cancelled_is_a_warning_and_groups_keep_their_places(
    browser, served, shots, label, viewport
):
    appliance, base = served
    page = _page(browser, base, viewport)
    _login(page, base, "operator")

    def places():
        """Day's group before Night's (above it, or left of it on one row)."""

        def box(mode):  # retried: a live refresh may be swapping the part just now
            return until(
                lambda: page.locator(f"[data-mode-choice={mode}]").bounding_box(),
                what=f"the {mode} group",
            )

        day, night = box("day"), box("night")
        return (day["y"], day["x"]) < (night["y"], night["x"])

    assert places()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-mode-choice=day] button[value=never]")
    page.wait_for_selector(".flash-ok")
    warning = page.locator("#until-cancelled")
    assert warning.is_visible()
    assert "DAY until someone cancels it" in warning.text_content()
    assert "nobody gets the night message" in warning.text_content()
    assert "no change scheduled" not in page.text_content("#next")
    # the warning stands out: a thick warning border, not the calm card
    assert (
        page.eval_on_selector("#until-cancelled", "e => getComputedStyle(e).borderTopWidth")
        == "3px"
    )
    assert places()  # day is in force: still day first
    page.screenshot(path=str(shots / f"status-until-cancelled-{label}.png"), full_page=True)
    page.click("#until-cancelled button:has-text('Back to the schedule now')")
    page.wait_for_selector(".flash-ok")
    assert not page.locator("#until-cancelled").count()
    page.click("button.choice:has-text('Night for 1 hour')")
    page.wait_for_selector(".flash-ok")
    _wait_mode(page, "NIGHT")
    assert places()  # night in force: the groups did not swap
    page.context.close()
