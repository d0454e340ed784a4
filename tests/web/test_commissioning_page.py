"""The Installer page's link to the last commissioning report, and the report served."""

from __future__ import annotations

from appliance.outputs import commissioning_report
from tests.unit.test_commissioning_report import AT, a_report
from tests.web.test_pages import _text
from tests.web.webhelp import make_app


def test_installer_page_says_when_there_is_no_report(as_user):
    text = _text(as_user("admin").get("/installer"))
    assert "Commissioning report None yet." in text
    assert "sudo nightswitch test all" in text


def test_installer_page_links_the_last_report_for_admins_only(as_user, appliance):
    commissioning_report.save(appliance.data_dir, a_report(installer="Anna", failed=True), at=AT)
    path = commissioning_report.save(appliance.data_dir, a_report(installer="Ben"), at=AT)
    admin = as_user("admin")
    page = admin.get("/installer")
    html = page.get_data(as_text=True)
    assert f'href="/installer/report/{path.name}"' in html
    text = _text(page)
    assert f"{path.name}: Mon 2 Mar 2026 10:15:00, by Ben: every step passed." in text

    report = admin.get(f"/installer/report/{path.name}")
    assert report.status_code == 200 and report.mimetype == "text/html"
    assert report.get_data() == path.read_bytes()
    csp = report.headers["Content-Security-Policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp
    assert "style-src 'unsafe-inline'" in csp

    for role in ("operator", "viewer"):
        assert as_user(role).get(f"/installer/report/{path.name}").status_code == 403
    stranger = make_app(appliance).test_client()
    response = stranger.get(f"/installer/report/{path.name}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_name_that_is_not_a_reports_is_not_found(as_user, appliance):
    commissioning_report.save(appliance.data_dir, a_report(), at=AT)
    admin = as_user("admin")
    for name in (
        "..%2Fnightswitch.db",
        "nightswitch.db",
        "commissioning-2026-03-02-1015.json",
        "commissioning-2026-03-02-1016.html",
    ):
        response = admin.get(f"/installer/report/{name}")
        assert response.status_code == 404, name
        assert b"Traceback" not in response.get_data()
