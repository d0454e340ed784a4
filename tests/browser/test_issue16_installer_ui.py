"""Issue 16, the installer's round, in real Chromium at phone and desktop width: the
Installer page's live key part with and without live-update slots (bug 4), the relay
test of a closed relay (bug 5), the panel's buttons by role with refusals shown in the
panel (bug 12), the simulated PBX behind the appliance, its faults and the PBX dialogue
test with its transcript, the port really used and the call records in plain words.
Screenshots: build/screenshots/installer-pbx-*.png, installer-relay-test-*.png, panel-pbx-*.png,
panel-viewer-*.png."""

from __future__ import annotations

import os
import pty
import tty
from datetime import datetime, timezone

import pytest

from tests.browser.conftest import start_appliance
from tests.browser.test_ui import DESKTOP, PHONE, _login, _page, until
from tests.web.test_issue16_sim_api import PBX_PASSWORD, serial_site

pytestmark = pytest.mark.browser

WIDTHS = [pytest.param(PHONE, id="phone"), pytest.param(DESKTOP, id="desktop")]


def _label(viewport) -> str:
    return "phone" if viewport is PHONE else "desktop"


def _no_alerts(page) -> list:
    """Collect any JavaScript dialog the page opens (bug 12: none may)."""
    seen = []
    page.on("dialog", lambda dialog: (seen.append(dialog.message), dialog.dismiss()))
    return seen


@pytest.fixture
def serial_served(tmp_path):
    """A site with both sides of the simulated PBX (a contact relay with its lamp read
    back, a maintenance port with a login) and call records on a pty."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    raw = dict(serial_site().raw)
    raw["smdr"] = {"port": os.ttyname(slave), "format": "samsung-dcs", "zone": "main"}
    from appliance.config import validate_config

    appliance, base = start_appliance(tmp_path, validate_config(raw, "test config"))
    try:
        until(lambda: appliance.intake.stats()["connected"], timeout=10, what="the SMDR port")
        os.write(master, b"this is not a call record at all\r\n")
        until(lambda: appliance.store.unparsed_count() >= 1, timeout=10, what="a kept line")
        yield appliance, base
    finally:
        appliance.stop()
        os.close(master)
        os.close(slave)


# -- bug 4: "Key switch, live" --------------------------------------------------------------


@pytest.mark.parametrize("viewport", WIDTHS)
@pytest.mark.parametrize("streams", [4, 0], ids=["live", "no-live-slot"])
def test_the_installer_key_part_follows_the_key(browser, served, viewport, streams):
    appliance, base = served
    # 0: every live-update slot taken, as with many status pages open on a wallboard
    appliance.web_app.config["NIGHTSWITCH_MAX_STREAMS"] = streams
    page = _page(browser, base, viewport)
    _login(page, base)
    page.goto(base + "/installer")
    expected = "open" if streams else "polling"
    page.wait_for_selector(f"#key-live[data-stream={expected}]", state="attached")
    assert page.text_content("#key-live [data-key-live]").strip() == "AUTO"
    for position in ("night", "day", "auto"):
        appliance.virtual_panel.set_key(position)
        contacts = (
            f"day: {'closed' if position == 'day' else 'open'}, "
            f"night: {'closed' if position == 'night' else 'open'}"
        )
        until(
            lambda: (
                page.text_content("#key-live [data-key-live]").strip() == position.upper()
                and contacts in page.text_content("#key-live tbody tr")
            ),
            timeout=5,
            what=f"the key part to read {position}",
        )
        assert page.text_content("#key-live tbody td").strip() == position.upper()
    page.context.close()


# -- bug 5: the relay test of a closed relay ------------------------------------------------


@pytest.mark.parametrize("viewport", WIDTHS)
def test_the_relay_test_opens_a_closed_relay_and_says_so(browser, served, viewport, shots):
    appliance, base = served
    appliance.virtual_panel.set_now(datetime(2026, 3, 2, 19, 0, tzinfo=timezone.utc))
    assert appliance.controller.relay_states() == {"night-service": "closed"}
    page = _page(browser, base, viewport)
    _login(page, base)
    page.goto(base + "/installer")
    button = page.locator("button[data-relay-test=night-service]")
    assert button.text_content().split("(")[0].strip() == "Open relay night-service for 1 s"
    asked = []
    page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    button.click()
    page.wait_for_selector(".flash-ok")
    assert asked == [
        "Relay night-service is closed now. Open it for one second, then put "
        "the mode in force back? The PBX may switch briefly."
    ]
    assert (
        page.text_content(".flash-ok")
        .strip()
        .startswith(
            "Relay night-service was closed: opened for 1 s, then closed again; then the mode in "
            "force (night) was applied again."
        )
    )
    assert appliance.controller.relay_states() == {"night-service": "closed"}
    page.screenshot(
        path=str(shots / f"installer-relay-test-{_label(viewport)}.png"), full_page=False
    )
    page.context.close()


# -- bug 12: the panel's buttons by role ----------------------------------------------------


@pytest.mark.parametrize("viewport", WIDTHS)
def test_a_viewer_sees_no_panel_buttons_and_a_refusal_is_said_in_the_panel(
    browser, served, viewport, shots
):
    appliance, base = served
    viewer = _page(browser, base, viewport)
    _login(viewer, base, "viewer")
    viewer.goto(base + "/panel")
    assert viewer.locator("#vpanel button").count() == 0
    assert (
        "You are logged in as a viewer: turning the simulated key and moving its clock "
        "take an operator or an admin"
    ) in viewer.text_content("#vpanel [data-vp-why]")
    assert viewer.text_content("#vpanel [data-key]").strip() == "AUTO"
    viewer.screenshot(path=str(shots / f"panel-viewer-{_label(viewport)}.png"), full_page=True)
    viewer.context.close()

    operator = _page(browser, base, viewport)
    dialogs = _no_alerts(operator)
    _login(operator, base, "operator")
    operator.goto(base + "/panel")
    operator.click("#vpanel button.keypos[value=night]")
    until(
        lambda: "NIGHT" in operator.text_content("#vpanel [data-panel-mode]").upper(),
        what="the panel to show NIGHT",
    )
    # a refused move of the clock: said in the panel, not in an alert
    operator.fill("#sim-now", "")
    operator.click("#vpanel form[data-sim=clock] button:has-text('Jump')")
    error = operator.locator("#vpanel [data-vp-error]")
    until(lambda: error.is_visible(), what="the refusal in the panel")
    assert "now" in error.text_content() and "ISO-8601" in error.text_content()
    operator.wait_for_timeout(1200)  # two refreshes later it is still there
    assert error.is_visible()
    assert dialogs == []
    # the simulated PBX is shown to an operator, its switching and faults are not offered
    assert "Switching the simulated PBX and its faults are for an admin" in operator.text_content(
        "#vp-pbx"
    )
    assert operator.locator("#pbx-fault").count() == 0
    operator.click("#vpanel button.keypos[value=auto]")
    until(lambda: not error.is_visible(), what="the refusal to go with the next try")
    operator.context.close()


# -- the simulated PBX, its faults, the dialogue test, the port, the call records -----------


@pytest.mark.parametrize("viewport", WIDTHS)
def test_the_installer_works_the_simulated_pbx_and_tests_its_dialogue(
    browser, serial_served, viewport, shots
):
    appliance, base = serial_served
    page = _page(browser, base, viewport)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    _login(page, base)
    page.goto(base + "/installer")
    box = page.locator("#vp-pbx")
    assert box.locator("[data-pbx-mode]").text_content() == "DAY"
    assert box.locator("[data-pbx-lamp]").text_content() == "dark"
    port = box.locator("[data-pbx-port=maintenance-port]").text_content()
    assert "instead of /dev/ttyAMA0 in the config" in port and "/dev/pts/" in port
    # the port really used, in the actuators' table too
    used = page.text_content("code[data-port-used]")
    assert used.endswith("/maintenance") and used.startswith("/")
    assert "the config says /dev/ttyAMA0" in page.text_content("tr:has(code[data-port-used])")
    # switch the PBX behind the appliance's back
    box.locator("button[name=mode][value=night]").click()
    until(
        lambda: page.locator("#vp-pbx [data-pbx-mode]").text_content() == "NIGHT",
        what="the PBX box to show NIGHT",
    )
    until(
        lambda: page.locator("#vp-pbx [data-pbx-lamp]").text_content() == "lit",
        what="the night lamp",
    )
    assert appliance.pbx_model.mode == "night"
    # a fault on the maintenance port, then clear
    page.select_option("#pbx-fault", "maintenance-port:silence")
    page.click("#vp-pbx button:has-text('Start')")
    until(lambda: "fault: silence" in page.text_content("#vp-pbx"), what="the fault shown")
    page.click("#vp-pbx button:has-text('Clear every fault')")
    until(lambda: "fault:" not in page.text_content("#vp-pbx"), what="the fault cleared")
    # the PBX dialogue test, with its transcript, the password hidden
    page.click("button:has-text('Test the PBX dialogue')")
    page.wait_for_selector("#pbx-test", timeout=60000)
    assert any("switch it to each mode" in d for d in dialogs)
    assert "PBX dialogue test of maintenance-port: every step worked." in page.text_content(
        ".flash-ok"
    )
    transcript = page.text_content("#pbx-test [data-transcript]")
    assert "us  > ***" in transcript and "us  > CP SERVICE NIGHT1" in transcript
    assert PBX_PASSWORD not in page.content()
    # the call records in plain words
    smdr = page.locator("section:has(h2:has-text('Call records'))").text_content()
    assert "port open, reading" in smdr
    assert "True" not in smdr and "False" not in smdr and "None" not in smdr
    assert "+00:00" not in smdr
    label = _label(viewport)
    page.screenshot(path=str(shots / f"installer-pbx-{label}.png"), full_page=True)
    page.goto(base + "/panel")
    page.wait_for_selector("#vp-pbx")
    page.screenshot(path=str(shots / f"panel-pbx-{label}.png"), full_page=True)
    # the page fits the phone: nothing wider than the screen
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], width
    page.context.close()
