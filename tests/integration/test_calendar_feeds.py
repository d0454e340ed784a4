"""Calendar subscriptions against real servers: Python's HTTP server for ICS URLs and
Radicale for CalDAV, with the fixture calendars in Outlook, Google and Nextcloud styles.

The preview over 2026-10-01 to 2027-01-01 is compared line by line with the
hand-checked table in ``tests/fixtures/calendars/expected-preview.txt``.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from appliance.errors import FeedError
from appliance.inputs.calendars.expand import Rules
from appliance.inputs.calendars.fetch import fetch_caldav, fetch_ics, redact_url
from appliance.inputs.calendars.service import CalendarService, layers_from_store
from appliance.inputs.calendars.settings import CalendarConfig
from appliance.inputs.clock import SimClock
from appliance.store import Store
from tests.appliance_helpers import build_rig, config, contact_toml, panel_toml, wait_until
from tests.calendar_servers import FIXTURES, PASSWORD, USER, FeedServer, RadicaleServer

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 9, 30, 12, 0, tzinfo=BERLIN)
FACILITIES_RULES = Rules(categories=("Closure", "Training"), category_modes={"Training": "lunch"})
SCHEDULE = {
    "timezone": "Europe/Berlin",
    "default_mode": "night",
    "weekly": {
        d: [{"start": "08:00", "end": "18:00", "mode": "day"}]
        for d in ("mon", "tue", "wed", "thu", "fri")
    },
    "holidays": {"country": "DE", "subdivision": "BY"},
    "exceptions": [
        {
            "name": "Open day",
            "from": "2026-11-13",
            "to": "2026-11-13",
            "ranges": [{"start": "08:00", "end": "16:00", "mode": "day"}],
        },
        {
            "name": "Christmas Eve",
            "from": "2026-12-24",
            "to": "2026-12-24",
            "ranges": [{"start": "08:00", "end": "12:00", "mode": "day"}],
        },
    ],
}


@pytest.fixture(scope="module")
def feeds():
    with FeedServer(slow_s=4.0) as server:
        yield server


def cal(name, url, *, kind="ics", rules=Rules(), username=None, password=None, timeout=3):
    return CalendarConfig(
        name=name,
        zone="main",
        kind=kind,
        url=url,
        rules=rules,
        refresh_minutes=15,
        timeout_s=timeout,
        username=username,
        password=password,
    )


def expected_lines() -> list[str]:
    return (FIXTURES / "expected-preview.txt").read_text().splitlines()


def preview_lines(controller) -> list[str]:
    rows = controller.preview(None, date(2026, 10, 1), 92)
    out = []
    for row in rows:
        at = datetime.fromisoformat(row["at"]).astimezone(BERLIN)
        why = row["reason"][len(row["mode"]) + 2 :]
        out.append(f"{at:%Y-%m-%d %a %H:%M} {at.tzname()} | {row['mode']} | {why}")
    return out


def run_preview(mock_factory, data_dir, calendars) -> tuple[list[str], list[dict]]:
    """The controller's preview after one refresh of *calendars* at :data:`NOW`."""
    cfg = config(panel_toml(), contact_toml())
    rig = build_rig(mock_factory, data_dir, cfg, start=NOW, wires={17: 24})
    try:
        rig.controller.put_schedule(None, SCHEDULE, by="test")
        service = CalendarService(
            calendars,
            rig.store,
            rig.clock,
            timezone="Europe/Berlin",
            publish=lambda zone, layers, fault: rig.controller.set_schedule_layer(
                zone, "calendar", layers, fault=fault
            ),
        )
        service.prime()
        for item in calendars:
            service.refresh(item.key)
        return preview_lines(rig.controller), service.status()
    finally:
        rig.close()


def assert_table(actual: list[str]) -> None:
    expected = expected_lines()
    for number, (want, got) in enumerate(zip(expected, actual), start=1):
        assert got == want, f"line {number}: expected {want!r}, got {got!r}"
    assert len(actual) == len(expected), (len(actual), len(expected), actual[len(expected) :])


def test_preview_from_ics_urls_matches_the_hand_written_table(feeds, mock_factory, data_dir):
    lines, status = run_preview(
        mock_factory,
        data_dir,
        [
            cal("Closures", feeds.url("outlook.ics")),
            cal("Team", feeds.url("google.ics")),
            cal("Facilities", feeds.url("nextcloud.ics"), rules=FACILITIES_RULES),
        ],
    )
    assert_table(lines)
    assert all(item["error"] is None for item in status)
    facilities = [s for s in status if s["name"] == "Facilities"][0]
    assert facilities["problems"] == [
        "'Phone check' on 2026-12-01 10:00 has no end (no DTEND or DURATION): left out, "
        "as it would close nothing; give it an end"
    ]
    assert facilities["next"][0] == {
        "when": "Wed 2026-10-07 12:00-14:00",
        "summary": "Fire safety training",
        "mode": "lunch",
    }


@pytest.mark.parametrize("auth", [False, True], ids=["open", "with-login"])
def test_preview_from_radicale_matches_the_same_table(auth, tmp_path, mock_factory, data_dir):
    with RadicaleServer(tmp_path / "radicale", auth=auth) as radicale:
        urls = {
            name: radicale.add_calendar(name, (FIXTURES / f"{style}.ics").read_text())
            for name, style in (
                ("closures", "outlook"),
                ("team", "google"),
                ("facilities", "nextcloud"),
            )
        }
        login = {"username": USER, "password": PASSWORD} if auth else {}
        lines, status = run_preview(
            mock_factory,
            data_dir,
            [
                cal("Closures", urls["closures"], kind="caldav", **login),
                cal("Team", urls["team"], kind="caldav", **login),
                cal(
                    "Facilities", urls["facilities"], kind="caldav", rules=FACILITIES_RULES, **login
                ),
            ],
        )
    assert_table(lines)
    assert all(item["error"] is None for item in status), status


def test_radicale_refuses_a_file_with_two_uids_which_is_why_fixtures_are_split(tmp_path):
    with RadicaleServer(tmp_path / "radicale", auth=False) as radicale:
        radicale.add_calendar("closures", (FIXTURES / "google.ics").read_text())
        status = radicale.try_put_whole("closures", (FIXTURES / "outlook.ics").read_text())
    assert status >= 400


def test_caldav_with_a_wrong_password_or_address_is_a_clear_error(tmp_path):
    with RadicaleServer(tmp_path / "radicale", auth=True) as radicale:
        url = radicale.add_calendar("closures", (FIXTURES / "outlook.ics").read_text())
        span = dict(start=NOW, end=datetime(2027, 1, 1, tzinfo=BERLIN), timeout=10)
        with pytest.raises(FeedError, match="refused the credentials"):
            fetch_caldav(url, username=USER, password="wrong", **span)
        with pytest.raises(FeedError, match="no calendar there"):
            fetch_caldav(radicale.calendar_url("nothere"), username=USER, password=PASSWORD, **span)
    with pytest.raises(FeedError, match="cannot read the CalDAV calendar|refused"):
        fetch_caldav(url, username=USER, password=PASSWORD, **span)  # server gone


# -- failing sources: the last good copy stays, the fault is raised and cleared -----------


def test_failing_source_keeps_the_last_copy_raises_the_fault_and_clears_it(
    feeds, mock_factory, data_dir
):
    cfg = config(panel_toml(), contact_toml())
    rig = build_rig(
        mock_factory,
        data_dir,
        cfg,
        wires={17: 24},
        start=datetime(2026, 10, 2, 13, 0, tzinfo=BERLIN),
    )
    feeds.switchable = (200, (FIXTURES / "outlook.ics").read_bytes())
    item = cal("Closures", feeds.url("switchable.ics"))
    service = CalendarService(
        [item],
        rig.store,
        rig.clock,
        timezone="Europe/Berlin",
        publish=lambda zone, layers, fault: rig.controller.set_schedule_layer(
            zone, "calendar", layers, fault=fault
        ),
    )
    try:
        service.prime()
        rig.start()
        service.refresh(item.key)
        assert rig.status()["next_change"] == {"at": "2026-10-02T14:00:00+02:00", "mode": "night"}
        # The calendar goes away: one refresh later the fault is up, the closure stays.
        for failure in ((404, b"Not Found"), (200, b"<html>Sign in</html>")):
            feeds.switchable = failure
            state = service.refresh(item.key)
            assert "stays in force" in state.error
            status = rig.status()
            assert [f["kind"] for f in status["faults"]] == ["calendar"]
            assert status["faults"][0]["message"].startswith("Closures: ")
            assert status["next_change"]["at"] == "2026-10-02T14:00:00+02:00"
        rig.clock.advance(3600 + 60)  # 14:01: the closure of the last good copy
        wait_until(lambda: rig.status()["source"] == "calendar")
        # Back again: the fault clears.
        feeds.switchable = (200, (FIXTURES / "outlook.ics").read_bytes())
        service.refresh(item.key)
        assert rig.status()["faults"] == []
        reasons = [row["reason"] for row in rig.audit(source="calendar")]
        assert any("fault cleared" in r for r in reasons)
        assert any("HTTP 404" in r for r in reasons)
    finally:
        rig.close()


def test_a_restart_while_the_source_is_down_uses_the_stored_copy(feeds, data_dir):
    clock = SimClock(NOW)
    published = {}
    item = cal("Closures", feeds.url("outlook.ics"))
    with Store(data_dir) as store:
        first = CalendarService(
            [item],
            store,
            clock,
            timezone="Europe/Berlin",
            publish=lambda z, layers, fault: published.update({z: (layers, fault)}),
        )
        first.refresh(item.key)
        good = published["main"][0][0].entries
        assert len(good) == 6
    down = cal("Closures", feeds.url("missing.ics"))
    object.__setattr__(down, "name", "Closures")
    with Store(data_dir) as store:
        second = CalendarService(
            [down],
            store,
            clock,
            timezone="Europe/Berlin",
            publish=lambda z, layers, fault: published.update({z: (layers, fault)}),
        )
        second.prime()
        assert published["main"] == ((published["main"][0][0],), None)
        assert published["main"][0][0].entries == good
        second.refresh(down.key)
        layers, fault = published["main"]
        assert layers[0].entries == good
        assert "HTTP 404" in fault and "stays in force" in fault
        assert (
            layers_from_store([down], store, now=NOW, timezone="Europe/Berlin")["main"][0].entries
            == good
        )


def test_never_fetched_calendar_says_so(feeds, data_dir):
    published = {}
    with Store(data_dir) as store:
        service = CalendarService(
            [cal("Closures", feeds.url("missing.ics"))],
            store,
            SimClock(NOW),
            timezone="Europe/Berlin",
            publish=lambda z, layers, fault: published.update({z: fault}),
        )
        service.prime()
        assert "not fetched yet" in published["main"]
        service.refresh("main/Closures")
        assert "no closures from this calendar yet" in published["main"]


# -- bad sources: each refused with a clear error -------------------------------------------


@pytest.mark.parametrize(
    "name, message",
    [
        ("missing.ics", "HTTP 404 Not Found"),
        ("slow.ics", "did not answer within 1 s"),
        ("drip.ics", "did not send the whole calendar within 1 s"),
        ("garbage.ics", "sent not an iCalendar file: it starts with '<!DOCTYPE html>"),
        ("huge.ics", "sends more than 10 MB"),
        ("private.ics", "refused the credentials (HTTP 401)"),
    ],
)
def test_bad_sources_are_refused_with_a_clear_error(feeds, name, message):
    with pytest.raises(FeedError) as info:
        fetch_ics(feeds.url(name), timeout=1)
    assert message in str(info.value)
    assert "127.0.0.1" in str(info.value)


def test_basic_auth_for_an_ics_url(feeds):
    body = fetch_ics(feeds.url("private.ics"), username=USER, password=PASSWORD, timeout=5)
    assert body.startswith(b"BEGIN:VCALENDAR")


def test_unreachable_host_is_a_clear_error():
    from tests.appliance_helpers import free_port

    with pytest.raises(FeedError, match="connection was refused"):
        fetch_ics(f"http://127.0.0.1:{free_port()}/x.ics", timeout=2)


def test_secret_addresses_are_never_shown():
    url = (
        "https://calendar.example.com/calendar/ical/abc%40group/private-0123456789abcdef/basic.ics"
    )
    assert redact_url(url) == "https://calendar.example.com/..."
    assert "private" not in redact_url(url)
    assert (
        redact_url("https://u:pw@host.example:8443/a.ics?key=1") == "https://host.example:8443/..."
    )
    assert redact_url("https://host.example") == "https://host.example/"


def test_status_is_json_for_the_web_page(feeds, data_dir):
    with Store(data_dir) as store:
        service = CalendarService(
            [cal("Closures", feeds.url("outlook.ics"))],
            store,
            SimClock(NOW),
            timezone="Europe/Berlin",
            publish=lambda *a: None,
        )
        service.refresh("main/Closures")
        status = service.status()
    json.dumps(status)
    assert status[0]["next"][0] == {
        "when": "Fri 2026-10-02 14:00-18:00",
        "summary": "Team offsite",
        "mode": "night",
    }
    assert status[0]["closures"] == 6 and status[0]["events"] == 4


def test_the_worker_process_gives_the_same_closures_and_sends_nothing_when_unchanged(
    feeds, data_dir
):
    published = []
    item = cal("Closures", feeds.url("switchable.ics"))
    feeds.switchable = (200, (FIXTURES / "outlook.ics").read_bytes())
    with Store(data_dir) as store:
        inline = CalendarService(
            [item], store, SimClock(NOW), timezone="Europe/Berlin", publish=lambda *a: None
        )
        expected = inline.refresh(item.key).entries
        service = CalendarService(
            [item],
            store,
            SimClock(NOW),
            timezone="Europe/Berlin",
            publish=lambda z, layers, fault: published.append((layers, fault)),
            worker=True,
        )
        try:
            first = service.refresh(item.key)
            assert first.entries == expected and first.error is None
            layer = published[-1][0][0]
            # The same feed again: the worker says "same", the very same layer object
            # is published (the controller has nothing to compare or take in).
            service.refresh(item.key)
            assert published[-1][0][0] is layer
            feeds.switchable = (404, b"Not Found")
            state = service.refresh(item.key)
            assert "HTTP 404" in state.error and published[-1][0][0] is layer
            assert "HTTP 404" in published[-1][1]
            feeds.switchable = (200, (FIXTURES / "google.ics").read_bytes())
            state = service.refresh(item.key)
            assert state.error is None and published[-1][1] is None
            assert [e.summary for e in published[-1][0][0].entries][0] == "Staff meeting"
        finally:
            service.stop()


def test_stopping_abandons_a_slow_fetch_at_once(feeds, data_dir):
    published = []
    item = cal("Slow", feeds.url("slow.ics"), timeout=30)
    with Store(data_dir) as store:
        service = CalendarService(
            [item],
            store,
            SimClock(NOW),
            timezone="Europe/Berlin",
            publish=lambda z, layers, fault: published.append(layers),
            worker=True,
        )
        before = len(feeds.hits)
        service.start()
        wait_until(
            lambda: any(path.startswith("/slow.ics") for path in feeds.hits[before:]), timeout=30
        )
        service.stop(timeout=60)
        assert service._thread is None
        # The slow answer (a good calendar, 4 s later) was never taken in: the fetch was
        # abandoned, not waited for.
        assert all(not layer.entries for layers in published for layer in layers)
        assert store.get_calendar_copy(item.key) is None


# -- the whole daemon: a restart while the calendar is down never reopens the office ------


def _daemon_config(url: str):
    from appliance.config import load_config_text
    from tests.appliance_helpers import SITE

    return load_config_text(
        SITE
        + contact_toml()
        + f"""
[[calendars]]
name = "Closures"
url = "{url}"
""",
        "test.toml",
    )


def test_a_daemon_restarted_while_its_calendar_is_down_keeps_the_closure(
    feeds, mock_factory, tmp_path
):
    from appliance.daemon import Appliance
    from tests.appliance_helpers import connect

    data = tmp_path / "data"
    start = datetime(2026, 10, 2, 15, 0, tzinfo=BERLIN)  # inside "Team offsite" 14-18
    feeds.switchable = (200, (FIXTURES / "outlook.ics").read_bytes())
    connect(mock_factory, 17, 24)
    first = Appliance(
        _daemon_config(feeds.url("switchable.ics")),
        data,
        pin_factory=mock_factory,
        clock=SimClock(start),
        web=False,
    )
    try:
        first.start()
        wait_until(lambda: first.controller.status()["source"] == "calendar", timeout=60)
    finally:
        first.stop()
    # The calendar goes away; the Pi reboots.
    feeds.switchable = (404, b"Not Found")
    relay = mock_factory.pin(17)
    relay.clear_states()
    second = Appliance(
        _daemon_config(feeds.url("switchable.ics")),
        data,
        pin_factory=mock_factory,
        clock=SimClock(start),
        web=False,
    )
    try:
        # Before the controller's first decision the stored copy is in force already.
        reasons = [row["reason"] for row in second.controller.preview(None, start.date(), 1)]
        assert "night: calendar Closures: Team offsite" in reasons
        second.start()
        status = second.controller.status()
        assert (status["mode"], status["source"]) == ("night", "calendar")
        assert status["reason"] == "night: calendar Closures: Team offsite"
        wait_until(
            lambda: any(
                f["kind"] == "calendar" and "HTTP 404" in f["message"]
                for f in second.controller.status()["faults"]
            ),
            timeout=60,
        )
        assert second.controller.status()["source"] == "calendar"
        # The relay (closed = night) went to night once and never opened for day.
        states = [s.state for s in relay.states]
        assert True in states and False not in states[states.index(True) :], states
    finally:
        second.stop()


def test_the_refresh_thread_fetches_at_start_and_again_when_asked(feeds, data_dir):
    published = []
    item = cal("Closures", feeds.url("switchable.ics"))
    feeds.switchable = (200, (FIXTURES / "outlook.ics").read_bytes())
    with Store(data_dir) as store:
        service = CalendarService(
            [item],
            store,
            SimClock(NOW),
            timezone="Europe/Berlin",
            publish=lambda z, layers, fault: published.append((layers, fault)),
        )
        service.start()
        try:
            wait_until(lambda: published and published[-1][0][0].entries, timeout=30)
            feeds.switchable = (503, b"Service Unavailable")
            service.refresh_soon()
            wait_until(lambda: published[-1][1] and "HTTP 503" in published[-1][1], timeout=30)
            assert published[-1][0][0].entries  # the last good copy, still
        finally:
            service.stop()
