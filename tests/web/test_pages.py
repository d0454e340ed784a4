"""The HTML pages, through plain form posts (as a browser without JavaScript)."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, timezone

from appliance.config import validate_config
from appliance.smdr.record import CallRecord
from tests.web.webhelp import log_in, make_app, make_appliance, settle, site_config, turn_key


def _text(response) -> str:
    """The page as text, tags removed, whitespace collapsed."""
    page = response.get_data(as_text=True)
    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"</?(strong|small|span|a|code|em)\b[^>]*>", "", page)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).strip())


def logged_in(appliance, user: str):
    """A test client of *appliance*'s web app with *user* logged in."""
    client = make_app(appliance).test_client()
    log_in(client, user, csrf="t")
    return client


def test_status_page_says_mode_reason_next_change(as_user):
    page = as_user("viewer").get("/")
    assert page.status_code == 200
    text = _text(page)
    assert "The phones are in DAY" in text
    assert "weekly hours Monday 08:00-18:00" in text
    assert "Next change: night at Mon 2 Mar 18:00" in text
    assert "Key switch at reception: AUTO" in text
    assert "Switched (this PBX cannot report its mode back)" in text
    assert "zone" not in text.lower()  # a single-zone site never sees the word


def test_status_page_names_a_primary_that_cannot_confirm(tmp_path, user_db, mock_factory):
    """Contact with a status input plus a keypad that cannot hear the PBX: the page must
    not say "confirmed by the PBX" for the whole switch (the UI says so:
    docs/design.md#actuators-and-verification)."""
    raw = dict(site_config(sense=True).raw)
    raw["actuators"] = raw["actuators"] + [
        {
            "name": "feature-code",
            "type": "keypad",
            "hook_pin": 20,
            "keys": {"7": 21, "1": 12, "8": 18, "2": 16},
            "sequences": {"night": "718 1", "day": "718 2"},
            "press_ms": 30,
            "gap_ms": 30,
            "offhook_ms": 0,
            "hangup_ms": 0,
        }
    ]
    appliance = make_appliance(
        tmp_path, user_db, mock_factory, config=validate_config(raw, "test config")
    )
    try:
        client = logged_in(appliance, "viewer")
        settle(appliance, 4)
        text = _text(client.get("/"))
        assert (
            "Switched; confirmed by the PBX except through feature-code, which cannot report back"
        ) in text, text
        assert "Switched and confirmed by the PBX" not in text
    finally:
        appliance.stop()


def test_a_single_zone_site_never_says_zone(as_user):
    browser = as_user("admin")
    for url in ("/", "/schedule", "/log", "/calls", "/users", "/panel", "/account"):
        # (a "time zone" is another thing: the schedule's clock)
        assert "zone" not in _text(browser.get(url)).lower().replace("time zone", ""), url


def test_override_buttons_state_concrete_end_times(as_user):
    text = _text(as_user("operator").get("/"))
    # it is Monday 10:00; the schedule says day, so "night until the next change" ends 18:00
    assert "Night until the next change until Mon 2 Mar 18:00" in text
    assert "Night for 1 hour until Mon 2 Mar 11:00" in text
    assert "Night for 2 hours until Mon 2 Mar 12:00" in text
    assert "Day for 1 hour until Mon 2 Mar 11:00" in text
    # day is what the schedule gives now, so "day until the next change" is not offered
    assert "Day until the next change" not in text


def test_short_override_needs_no_confirmation(as_user, appliance):
    browser = as_user("operator")
    r = browser.post("/override", {"mode": "night", "until": "1h"})
    assert r.status_code == 302
    override = appliance.store.get_override("main")
    assert override["mode"] == "night" and override["by"] == "operator"
    assert datetime.fromisoformat(override["until"]) == appliance.clock.now() + timedelta(hours=1)
    page = browser.get("/")
    text = _text(page)
    assert "Night until Mon 2 Mar 11:00." in text  # the flash message
    assert "The phones are in NIGHT" in text
    assert "override by operator until Mon 2 Mar 11:00" in text
    assert "Cancel the override" in text


def test_long_override_asks_first(as_user, appliance):
    browser = as_user("operator")
    appliance.clock.set(datetime(2026, 3, 2, 18, 30, tzinfo=timezone.utc))  # 19:30 Berlin
    settle(appliance)
    # "day until the next change" after closing lasts all night: the FreePBX trap
    r = browser.post("/override", {"mode": "day", "until": "next"})
    assert r.status_code == 200
    text = _text(r)
    assert "Are you sure?" in text
    assert "DAY until Tue 3 Mar 08:00" in text and "12 h 30 min from now" in text
    assert "The schedule has them in NIGHT now" in text
    assert appliance.store.get_override("main") is None
    r = browser.post("/override", {"mode": "day", "until": "next", "confirm": "1"})
    assert r.status_code == 302
    assert appliance.store.get_override("main")["until"] == "2026-03-03T07:00:00+00:00"


def test_until_a_time_and_until_cancelled(as_user, appliance):
    browser = as_user("operator")
    r = browser.post("/override", {"mode": "night", "until": "at", "at": "12:30"})
    assert r.status_code == 302
    assert appliance.store.get_override("main")["until"] == "2026-03-02T11:30:00+00:00"
    r = browser.post("/override", {"mode": "night", "until": "at", "at": "07:00"})
    assert r.status_code == 200 and "Are you sure?" in _text(r)  # tomorrow 07:00: 21 h
    r = browser.post("/override", {"mode": "night", "until": "never"})
    assert "until someone cancels it" in _text(r)
    # it names the change it hides: not 18:00 (to night anyway) but the next opening
    assert "overrules the schedule's change to day at Tue 3 Mar 08:00" in _text(r)
    r = browser.post("/override", {"mode": "night", "until": "never", "confirm": "1"})
    assert appliance.store.get_override("main")["until"] is None
    r = browser.post("/override", {"mode": "night", "until": "at", "at": "25:99"})
    assert r.status_code == 400 and "not a time of day" in _text(r)
    r = browser.post("/override", {"mode": "night", "until": "at", "at": ""})
    assert r.status_code == 400 and "is empty; give a time of day from 00:00 to 23:59" in _text(r)
    r = browser.post("/override", {"mode": "disco", "until": "1h"})
    assert r.status_code == 400 and "disco" in _text(r)


def test_cancel_goes_back_to_the_schedule(as_user, appliance):
    browser = as_user("operator")
    browser.post("/override", {"mode": "night", "until": "1h"})
    r = browser.post("/override/cancel")
    assert r.status_code == 302
    assert appliance.store.get_override("main") is None
    assert "Back to the schedule: day." in _text(browser.get("/"))


def test_forced_key_disables_the_buttons_with_the_reason(as_user, appliance):
    turn_key(appliance, "night")
    browser = as_user("operator")
    page = browser.get("/")
    text = _text(page)
    assert "The phones are in NIGHT" in text
    assert "The key switch at reception is in NIGHT. Turn it to AUTO" in text
    assert re.search(r"<fieldset disabled>", page.get_data(as_text=True))
    r = browser.post("/override", {"mode": "day", "until": "1h"})
    assert r.status_code == 409 and "turn it to AUTO" in _text(r)


def test_live_fragment_follows_the_key(as_user, appliance):
    browser = as_user("viewer")
    assert "DAY" in _text(browser.get("/status/live"))
    turn_key(appliance, "night")
    fragment = browser.get("/status/live")
    assert fragment.status_code == 200
    assert "<html" not in fragment.get_data(as_text=True)
    assert "The phones are in NIGHT" in _text(fragment)


def test_faults_in_plain_words(as_user, appliance):
    appliance.clock.set_synchronized(False)
    settle(appliance)
    text = _text(as_user("viewer").get("/"))
    assert "Clock not synchronized" in text
    assert "holding the last mode applied" in text


def test_multi_zone_switcher_and_overview(tmp_path, user_db, mock_factory):
    appliance = make_appliance(
        tmp_path, user_db, mock_factory, config=site_config(zones=["main", "sales"])
    )
    try:
        client = logged_in(appliance, "operator")
        appliance.controller.set_override("sales", "night", None, by="anna")
        page = client.get("/?zone=sales")
        text = _text(page)
        assert "Sales" in text and "The phones are in NIGHT" in text
        assert 'name="zone"' in page.get_data(as_text=True)
        assert "Main day" in text and "Sales night" in text  # every zone at a glance
        assert 'aria-label="All zones"' in page.get_data(as_text=True)
        r = client.post(
            "/override", data={"csrf_token": "t", "zone": "main", "mode": "night", "until": "1h"}
        )
        assert r.status_code == 302 and "zone=main" in r.headers["Location"]
        assert appliance.store.get_override("main")["mode"] == "night"
        assert client.get("/?zone=nowhere").status_code == 404
        assert "zone=sales" in client.get("/log?zone=sales").get_data(as_text=True)
    finally:
        appliance.stop()


def test_log_page_filters_and_pages(as_user, appliance):
    for i in range(60):
        appliance.store.add_audit(
            "main",
            at=appliance.clock.now() + timedelta(seconds=i),
            who="anna" if i % 2 else "ben",
            source="web",
            old_mode="day",
            new_mode="night",
            reason=f"entry {i}",
        )
    browser = as_user("viewer")
    page = browser.get("/log")
    text = _text(page)
    assert "page 1 of 2" in text and "entry 59" in text and "entry 9 " not in text
    assert "Older" in text
    text = _text(browser.get("/log?page=2"))
    assert "entry 0" in text
    text = _text(browser.get("/log?who=anna"))
    assert "30 entries" in text and "ben" not in text.split("entries", 1)[1]
    text = _text(browser.get("/log?source=web&from=2026-03-02&to=2026-03-02"))
    assert "60 entries" in text
    r = browser.get("/log?from=March")
    assert r.status_code == 200 and "is not a date" in _text(r)
    assert browser.get("/log?page=x").status_code == 400


def test_calls_page_with_charts_and_csv(as_user, appliance):
    base = datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc)
    appliance.store.set_applied("main", "night", at=base)
    for hour in (19, 20, 21):
        appliance.store.add_call(
            "main",
            CallRecord(
                started_at=base + timedelta(hours=hour),
                duration_s=20,
                extension="10",
                trunk="1",
                direction="in",
                answered=hour != 20,
                ring_s=3,
                number="0301",
                fmt="t",
                raw="r",
            ),
        )
    browser = as_user("viewer")
    page = browser.get("/calls?from=2026-02-28&to=2026-03-02")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count("<svg") >= 2 and 'class="c-unanswered"' in html
    text = _text(page)
    assert "3 calls after hours" in text and "2 answered" in text
    assert "Call records (SMDR) are not set up" in text
    csv = browser.get("/calls.csv?from=2026-02-28&to=2026-03-02")
    assert csv.mimetype == "text/csv" and csv.get_data(as_text=True).count("\n") == 4
    assert "is before from" in _text(browser.get("/calls?from=2026-03-05&to=2026-03-01"))


def test_installer_page_masks_secrets(tmp_path, user_db, mock_factory):
    config = site_config(
        extra={"smdr": {"port": "socket://192.0.2.10:2300", "format": "panasonic-kx-td"}}
    )
    raw = dict(config.raw)
    # A fallback serial link is only used when the relay fails, so this test never dials it.
    raw["actuators"] = raw["actuators"] + [
        {
            "name": "maintenance-port",
            "type": "serial",
            "role": "fallback",
            "profile": "mitel-3300",
            "port": "socket://127.0.0.1:9",
            "password": "pccsmdr",
        }
    ]
    appliance = make_appliance(
        tmp_path, user_db, mock_factory, config=validate_config(raw, "test config")
    )
    try:
        client = logged_in(appliance, "admin")
        page = client.get("/installer")
        assert page.status_code == 200
        text = _text(page)
        assert "pccsmdr" not in page.get_data(as_text=True)
        assert 'password = "********"' in html.unescape(page.get_data(as_text=True))
        assert "night-service" in text and "GPIO17" in text
        # simulate: the port really used is the PBX simulator's, the config's is named
        assert "profile mitel-3300, port /" in text
        assert "pseudo-terminal; the config says socket://127.0.0.1:9" in text
        assert "Key switch, live" in text and "AUTO" in text
        assert "socket://192.0.2.10:2300" in text
        r = client.post(
            "/installer/test", data={"csrf_token": "t", "kind": "relay", "name": "night-service"}
        )
        assert r.status_code == 302
        assert "Relay night-service was open: closed for" in _text(client.get("/installer"))
        r = client.post(
            "/installer/test", data={"csrf_token": "t", "kind": "relay", "name": "ghost"}
        )
        assert "no relay named" in _text(client.get(r.headers["Location"]))
    finally:
        appliance.stop()


def test_users_page_creates_a_token_shown_once(as_user, appliance):
    browser = as_user("admin")
    r = browser.post("/tokens/create", {"role": "viewer", "label": "wall display"})
    assert r.status_code == 201
    token = re.search(r'id="new-token">(ns_[^<]+)<', r.get_data(as_text=True)).group(1)
    assert appliance.store.check_token(token)["label"] == "wall display"
    page = browser.get("/users").get_data(as_text=True)
    assert token not in page and "wall display" in page
    r = browser.post(
        "/users/add", {"name": "anna", "role": "operator", "password": "secret password"}
    )
    assert r.status_code == 302
    assert appliance.store.get_user("anna")["role"] == "operator"
    r = browser.post("/users/add", {"name": "bob", "role": "operator", "password": "x"})
    assert r.status_code == 400 and "at least 8" in _text(r)
    r = browser.post("/users/role", {"name": "anna", "role": "viewer"})
    assert appliance.store.get_user("anna")["role"] == "viewer"
    r = browser.post("/users/delete", {"name": "admin"})
    assert r.status_code == 400 and "cannot delete yourself" in _text(r)
    r = browser.post("/users/delete", {"name": "anna"})
    assert appliance.store.get_user("anna") is None
    token_id = appliance.store.check_token(token)["id"]
    browser.post("/tokens/revoke", {"id": str(token_id)})
    assert appliance.store.check_token(token) is None


def test_virtual_panel_forms_work_without_javascript(as_user, appliance):
    browser = as_user("operator")
    appliance.clock.advance(2)  # past the start-up lamp test
    page = browser.get("/panel")
    assert page.status_code == 200 and "Key switch" in _text(page)
    r = browser.post("/sim/key", {"position": "night", "next": "/panel"})
    assert r.status_code == 302 and r.headers["Location"] == "/panel"
    browser.post("/sim/clock", {"advance_s": "0.2", "next": "/"})
    settle(appliance, 3)
    assert "The phones are in NIGHT" in _text(browser.get("/"))
    r = browser.post("/sim/clock", {"now": "2026-03-02T20:00", "next": "https://evil/"})
    assert r.headers["Location"] == "/"
    assert appliance.clock.now() == datetime(2026, 3, 2, 19, 0, tzinfo=timezone.utc)
    r = browser.post("/sim/key", {"position": "sideways"})
    assert "not a position" in _text(browser.get(r.headers["Location"]))
    r = browser.post("/sim/clock", {"advance_s": "nan"})
    assert "number of seconds" in _text(browser.get(r.headers["Location"]))
    fragment = browser.get("/panel/fragment").get_data(as_text=True)
    assert 'class="led led-night led-slow"' in fragment


def test_error_pages_have_no_traceback(as_user):
    browser = as_user("viewer")
    r = browser.get("/no/such/page")
    assert r.status_code == 404 and "Not found" in _text(r)
    r = browser.client.put("/")
    assert r.status_code == 405 and "PUT is not allowed" in _text(r)
    assert "Traceback" not in r.get_data(as_text=True)


def test_installer_shows_the_smdr_intake_counters(tmp_path, user_db, mock_factory):
    """A real intake on a pseudo-terminal: a line it cannot read is kept and counted."""
    import os
    import pty
    import time
    import tty
    from zoneinfo import ZoneInfo

    from appliance.smdr.intake import build_intake

    master, slave = pty.openpty()
    tty.setraw(slave)
    smdr = {"port": os.ttyname(slave), "format": "samsung-dcs", "zone": "main", "settings": {}}
    appliance = make_appliance(tmp_path, user_db, mock_factory)
    intake = build_intake(
        smdr, store=appliance.store, tz=ZoneInfo("Europe/Berlin"), clock=appliance.clock
    )
    intake.start()
    try:
        deadline = time.monotonic() + 10
        while not intake.stats()["connected"] and time.monotonic() < deadline:
            time.sleep(0.02)  # opening the port flushes what came before
        os.write(master, b"this is not a call record at all\r\n")
        # the count moves before the line is stored; the page reads the store
        while appliance.store.unparsed_count() < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        client = make_app(appliance, NIGHTSWITCH_INTAKE=intake).test_client()
        log_in(client, "admin")
        text = _text(client.get("/installer"))
        # plain words, not Python values (issue 16)
        assert "State port open, reading" in text and "Lines no format could read 1" in text
        counters = text[text.index("Call records (SMDR)") : text.index("Lines that no format")]
        assert "True" not in counters and "None" not in counters, counters
        assert "Lines that no format could read are kept: 1" in text
        assert "this is not a call record at all" in text
    finally:
        intake.stop()
        appliance.stop()
        os.close(master)
        os.close(slave)


def test_an_app_without_a_controller_says_it_is_starting():
    from web import create_app

    client = create_app().test_client()
    r = client.get("/health")
    assert r.status_code == 503 and r.get_json()["ok"] is False
    r = client.get("/api/v1/status")
    assert r.status_code == 503 and "starting" in r.get_json()["error"]
    assert client.get("/").status_code == 503


def test_static_files_are_versioned_and_cached(as_user):
    page = as_user("viewer").get("/").get_data(as_text=True)
    css = re.search(r'href="(/static/nightswitch.css\?v=[0-9a-f]{10})"', page).group(1)
    r = as_user("viewer").get(css)
    try:
        assert r.status_code == 200 and "max-age=3600" in r.headers["Cache-Control"]
        assert "Content-Security-Policy" in r.headers
    finally:
        r.close()
