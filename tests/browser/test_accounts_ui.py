"""Issue 13 as a person sees it, in real Chromium at phone and desktop width: a password
set by someone else must be replaced first; the Users page shows tokens' expiry and last
use and the security log; the Account page logs out everywhere."""

from __future__ import annotations

import pytest

from tests.browser.test_ui import DESKTOP, PHONE, _login, _page
from tests.web.webhelp import PASSWORDS

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("label, viewport", [("phone", PHONE), ("desktop", DESKTOP)])
def test_a_temporary_password_must_be_replaced_first(browser, served, shots, label, viewport):
    appliance, base = served
    appliance.store.add_user("newbie", "operator", "printed on paper", must_change=True)
    page = _page(browser, base, viewport)
    page.goto(base + "/login")
    page.fill("#name", "newbie")
    page.fill("#password", "printed on paper")
    page.click("form.stack button[type=submit]")
    page.wait_for_selector("#current")
    assert page.url.endswith("/account")
    assert "Choose your own now" in page.text_content("main")
    page.screenshot(path=str(shots / f"account-must-change-{label}.png"), full_page=True)
    page.goto(base + "/schedule")  # nothing else opens
    assert page.url.endswith("/account")
    page.fill("#current", "printed on paper")
    page.fill("#password", "password")
    page.fill("#password2", "password")
    page.click("form.stack button.primary")
    assert "most common passwords" in page.text_content("main")
    page.fill("#current", "printed on paper")
    page.fill("#password", "my own long phrase")
    page.fill("#password2", "my own long phrase")
    page.click("form.stack button.primary")
    page.wait_for_selector(".flash-ok")
    page.goto(base + "/")
    page.wait_for_selector("#mode")
    assert page.outside_requests == []


@pytest.mark.parametrize("label, viewport", [("phone", PHONE), ("desktop", DESKTOP)])
def test_users_page_tokens_and_security_log(browser, served, shots, label, viewport):
    appliance, base = served
    page = _page(browser, base, viewport)
    _login(page, base, "admin")
    page.goto(base + "/users")
    page.fill("input[name=label]", "wall display")
    page.fill("input[name=expires_days]", "30")
    page.click("form[action='/tokens/create'] button")
    page.wait_for_selector("#new-token")
    page.goto(base + "/users")
    row = page.locator("li.row:has(form[action='/tokens/revoke']):has-text('wall display')")
    assert "expires" in row.text_content() and "never used" in row.text_content()
    log = page.text_content(".security-log")
    assert "token created" in log and "login" in log and "127.0.0.1" in log
    page.screenshot(path=str(shots / f"users-security-{label}.png"), full_page=True)
    page.goto(base + "/account")
    page.screenshot(path=str(shots / f"account-{label}.png"), full_page=True)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Log out everywhere')")
    page.wait_for_selector("#password")
    assert "/login" in page.url
    assert "logged out on every device" in page.text_content("main")
    assert PASSWORDS  # the other users are untouched
    assert page.outside_requests == []
