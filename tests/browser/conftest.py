"""A real appliance served by waitress on a free loopback port, and real Chromium.

Debian's /usr/bin/chromium is driven through the ``playwright`` package. The simulated
clock runs at real speed here (rate 1), as in ``nightswitch simulate``, so the key
switch's debounce passes by itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from appliance.daemon import Appliance
from appliance.inputs.clock import SimClock
from tests.web.webhelp import MONDAY_10, make_user_db, site_config

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def start_appliance(tmp_path, config):
    """A started appliance with its web server on *config*; returns (appliance, base URL).
    The caller stops it."""
    users = tmp_path / "users"
    users.mkdir()
    make_user_db(users)
    data = tmp_path / "data"
    data.mkdir()
    for item in users.iterdir():
        shutil.copy(item, data / item.name)
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
    return appliance, f"http://127.0.0.1:{appliance.port}"


@pytest.fixture
def served(tmp_path):
    """A started appliance with its web server; yields (appliance, base URL)."""
    appliance, base = start_appliance(tmp_path, site_config())
    try:
        yield appliance, base
    finally:
        appliance.stop()


@pytest.fixture
def shots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
