"""What a person sees when the PBX refuses the maintenance login: the status page shows
the fault in words that say what to check, at phone and desktop width. The appliance
runs as ``simulate`` runs it, its serial actuator talking to the PBX simulator on a pty."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta

from gpiozero.pins.mock import MockFactory

from appliance.config import load_config_text
from appliance.daemon import Appliance
from appliance.inputs.clock import SimClock
from tests.browser.test_ui import DESKTOP, PHONE, _login, _page
from tests.fixtures.pbx.simhelp import PASSWORD, SITE_DIR
from tests.web.webhelp import MONDAY_10, make_user_db


def test_a_refused_login_on_the_status_page(browser, tmp_path, shots):
    site = tmp_path / "site"
    (site / "profiles").mkdir(parents=True)
    for f in SITE_DIR.glob("*.toml"):
        shutil.copy(f, site / "profiles" / f.name)
    config = load_config_text(
        f"""
[site]
name = "Test Office"
timezone = "Europe/Berlin"
[[actuators]]
name = "maintenance-port"
type = "serial"
profile = "mitel-3300-states"
port = "/dev/ttyUSB0"
password = "{PASSWORD}"
modes = {{ day = "day", night = "night" }}
""",
        "serial-fault.toml",
        site_dir=site,
    )
    data = tmp_path / "data"
    data.mkdir()
    make_user_db(data)
    appliance = Appliance(
        config,
        data,
        pin_factory=MockFactory(),
        clock=SimClock(MONDAY_10, rate=1.0),
        simulate=True,
        host="127.0.0.1",
        port=0,
    )
    appliance.start()
    base = f"http://127.0.0.1:{appliance.port}"
    try:
        deadline = time.monotonic() + 30
        while not appliance.controller.status("main")["verified"]:
            assert time.monotonic() < deadline, appliance.controller.status("main")
            time.sleep(0.05)
        pbx = appliance.serial_sims[0]
        pbx.inject("wrong_password")
        appliance.controller.set_override(
            "main", "night", appliance.clock.now() + timedelta(hours=2), by="anna", source="web"
        )
        while not appliance.controller.status("main")["faults"]:
            assert time.monotonic() < deadline + 30, appliance.controller.status("main")
            time.sleep(0.05)
        for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page = _page(browser, base, viewport)
            _login(page, base)
            page.wait_for_selector("text=the PBX refused the login: check the password")
            text = page.inner_text("body")
            assert "nightswitch console" in text and PASSWORD not in text
            page.screenshot(path=str(shots / f"serial-login-refused-{label}.png"), full_page=True)
            page.context.close()
    finally:
        appliance.stop()
