"""The commissioning report in real Chromium: ``nightswitch test all --simulate`` writes
it, the Installer page links it, and it reads at phone and desktop width and prints to
an A4 PDF with each part on a page of its own. Screenshots and the PDF go to
build/screenshots/."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.browser.conftest import start_appliance
from tests.browser.test_ui import DESKTOP, PHONE, _login, _page
from tests.integration.test_commission_all import (
    SERIAL_PRIMARY,
    SITE,
    report_of,
    run_all,
    seed_schedule,
    write_config,
)
from tests.web.webhelp import site_config

pytestmark = pytest.mark.browser


def test_the_report_from_the_installer_page(browser, tmp_path, shots):
    walk_dir = tmp_path / "walk"
    walk_dir.mkdir()
    seed_schedule(walk_dir / "data")
    result = run_all(
        write_config(walk_dir, SITE, SERIAL_PRIMARY), walk_dir / "data", installer="Anna Schmidt"
    )
    assert result.returncode == 0, result.stderr
    report, twin, _ = report_of(result)

    appliance, base = start_appliance(tmp_path, site_config())
    try:
        # The report as the installer leaves it on the appliance (same data directory).
        (appliance.data_dir / "reports").mkdir()
        for twin_file in (report, report.with_suffix(".json")):
            shutil.copy(twin_file, appliance.data_dir / "reports" / twin_file.name)

        page = _page(browser, base, DESKTOP)
        _login(page, base, "admin")
        page.goto(base + "/installer")
        card = page.locator("#commissioning")
        text = " ".join(card.text_content().split())
        assert "by Anna Schmidt: every step passed (a rehearsal on the simulator)" in text
        with page.context.expect_page() as opened:
            card.locator(f"a:has-text('{report.name}')").click()
        shown = opened.value
        shown.wait_for_load_state()
        assert shown.url == f"{base}/installer/report/{report.name}"
        assert shown.text_content("h1") == "Commissioning report"
        assert "Every step passed that could run (1 skipped)" in shown.text_content(".verdict")
        # styles apply under the report's own CSP (badges are coloured, not plain text)
        colour = shown.eval_on_selector(".badge.passed", "e => getComputedStyle(e).color")
        assert colour == "rgb(29, 107, 54)"
        assert shown.locator("nav").count() == 0 and shown.locator("script").count() == 0
        shown.screenshot(path=str(shots / "commissioning-report-desktop.png"), full_page=True)

        phone = _page(browser, base, PHONE)
        _login(phone, base, "admin")
        phone.goto(f"{base}/installer/report/{report.name}")
        # the tables stack on a phone: nothing wider than the screen
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width
        phone.screenshot(path=str(shots / "commissioning-report-phone.png"), full_page=True)
        phone.goto(base + "/installer")
        phone.locator("#commissioning").screenshot(
            path=str(shots / "commissioning-installer-card-phone.png")
        )

        # Print: A4, a part per page; the PDF and each page as the printer gets it
        pdf = shots / "commissioning-report.pdf"
        shown.pdf(path=str(pdf), format="A4", print_background=True)
        pages = len(re.findall(rb"/Type\s*/Page\b", pdf.read_bytes()))
        assert 4 <= pages <= 10, pages
        shown.emulate_media(media="print")
        shown.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
        shown.screenshot(path=str(shots / "commissioning-report-print.png"), full_page=True)
        breaks = shown.eval_on_selector_all(
            "section.part", "els => els.map(e => getComputedStyle(e).breakBefore)"
        )
        assert breaks == ["page", "page", "page"]
        assert not page.outside_requests and not phone.outside_requests
    finally:
        appliance.stop()
