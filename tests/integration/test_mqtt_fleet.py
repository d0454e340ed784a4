"""Company closures for a fleet, on a real Mosquitto: published retained on the fleet
topic, applied by each site as the company layer of its schedule, acknowledged in its
status, refused with the errors published when bad, caught up by a site that was
offline, and kept across a restart with no broker."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest

from appliance.outputs.mqtt.fleet import SETTING
from appliance.outputs.mqtt.topics import Topics, fleet_closures_topic
from tests.mqtt_helpers import Mosquitto, Site, Watcher, broker, watcher  # noqa: F401

T = Topics("nightswitch", "branch-017")
FLEET = fleet_closures_topic("nightswitch")

STAFF_DAY = {"name": "Staff day", "from": "2026-03-04", "to": "2026-03-04", "ranges": []}
OPEN_DAY = {"name": "Company open day", "from": "2026-03-05", "to": "2026-03-05", "ranges": []}
HALF_DAY = {
    "name": "Half day",
    "from": "2026-03-06",
    "to": "2026-03-06",
    "ranges": [{"start": "09:00", "end": "12:00", "mode": "day"}],
}


def closure_set(version, *closures):
    return {"version": version, "closures": list(closures or [STAFF_DAY])}


@pytest.fixture
def site(mock_factory, data_dir, broker):
    s = Site(mock_factory, data_dir, broker)
    yield s
    s.close()


def closures_of(watcher, since, predicate):
    return watcher.wait_for(
        T.status, lambda m: predicate(m.json()["closures"]), since=since
    ).json()["closures"]


def preview_reasons(site, start="2026-03-04", days=1):
    return [
        (p["at"][:16], p["mode"], p["reason"])
        for p in site.rig.controller.preview(None, date.fromisoformat(start), days)
    ]


def test_a_set_is_applied_as_the_company_layer_and_acknowledged(site, watcher):
    watcher.wait_for(T.status)
    since = time.monotonic()
    watcher.publish(FLEET, closure_set(7), retain=True)
    closures = closures_of(watcher, since, lambda c: c["version"] == 7)
    assert closures["refused"] is None and closures["closures"] == 1
    # preview reasons name the company closure and its version
    assert preview_reasons(site) == [
        ("2026-03-04T00:00", "night", "night: company closure v7: Staff day, closed all day")
    ]
    # a change of the layer is audited on the site
    entry = site.rig.audit(limit=1)[0]
    assert (entry["who"], entry["source"]) == ("nightswitch", "company")
    assert "company closures updated (1 entry)" in entry["reason"]
    # kept in the store
    kept = json.loads(site.rig.store.get_setting(SETTING))
    assert kept["version"] == 7 and kept["set"]["closures"] == [STAFF_DAY]


def test_the_site_own_exception_wins_and_the_company_beats_holidays(site, watcher):
    schedule = site.rig.controller.get_schedule()
    schedule["exceptions"] = [
        {
            "name": "Open day here",
            "from": "2026-03-05",
            "to": "2026-03-05",
            "ranges": [{"start": "08:00", "end": "18:00", "mode": "day"}],
        }
    ]
    schedule["holidays"] = {
        "country": "DE",
        "subdivision": "BY",
        "mode": "night",
        "custom": [{"date": "2026-03-06", "name": "Founders day"}],
    }
    site.rig.controller.put_schedule(None, schedule, by="anna")
    watcher.wait_for(T.status)
    since = time.monotonic()
    watcher.publish(FLEET, closure_set(3, STAFF_DAY, OPEN_DAY, HALF_DAY), retain=True)
    closures_of(watcher, since, lambda c: c["version"] == 3)
    reasons = preview_reasons(site, "2026-03-05", 2)
    assert reasons == [
        ("2026-03-05T00:00", "night", "night: Open day here, outside its special hours"),
        ("2026-03-05T08:00", "day", "day: Open day here, special hours 08:00-18:00"),
        ("2026-03-05T18:00", "night", "night: Open day here, outside its special hours"),
        # the custom holiday of that date gives way to the company's half day
        ("2026-03-06T09:00", "day", "day: company closure v3: Half day, special hours 09:00-12:00"),
        (
            "2026-03-06T12:00",
            "night",
            "night: company closure v3: Half day, outside its special hours",
        ),
    ]
    # the site's own schedule is untouched: the layer is never saved into it
    assert site.rig.controller.get_schedule()["exceptions"] == schedule["exceptions"]
    assert "closures" not in json.dumps(site.rig.store.get_schedule("main"))


def test_republishing_the_same_set_changes_nothing(site, watcher):
    watcher.publish(FLEET, closure_set(2), retain=True)
    closures_of(watcher, 0, lambda c: c["version"] == 2)
    audit_before = site.rig.store.audit_count()
    since = time.monotonic()
    watcher.publish(FLEET, closure_set(2), retain=True)
    watcher.publish(T.command("main"), "day")  # something to wait for
    watcher.wait_for(T.result("main"), since=since)
    time.sleep(0.3)
    assert site.bridge.fleet.status()["version"] == 2
    assert site.bridge.fleet.status()["refused"] is None
    # one new audit entry: the command; the set already in force was not applied again
    assert site.rig.store.audit_count() == audit_before + 1
    assert site.rig.audit(limit=1)[0]["source"] == "mqtt"


BAD_SETS = [
    ("not-json", b"{version: 8", "", "not valid JSON"),
    ("not-utf8", b'{"version": 8, "closures": []}\xff', "payload", "is not UTF-8 text"),
    (
        "one-mebibyte",
        b"[" + b" " * (1 << 20) + b"]",
        "payload",
        "is 1,048,578 bytes; a closure set is at most 60,000 bytes",
    ),
    ("not-an-object", b"[1, 2]", "", "must be a company closure set"),
    ("no-version", json.dumps({"closures": []}).encode(), "version", "is required"),
    (
        "bad-date",
        json.dumps(closure_set(8, dict(STAFF_DAY, to="2026-02-30"))).encode(),
        "closures[0].to",
        "",
    ),
    ("unknown-key", json.dumps(dict(closure_set(8), author="x")).encode(), "author", "unknown key"),
    (
        "unknown-mode",
        json.dumps(
            closure_set(
                8, dict(HALF_DAY, ranges=[{"start": "09:00", "end": "12:00", "mode": "lunch"}])
            )
        ).encode(),
        "closures[0].ranges[0].mode",
        "lunch",
    ),
    (
        "older",
        json.dumps(closure_set(4)).encode(),
        "version",
        "version 4 is older than version 5, which is in force here",
    ),
    (
        "same-version-other-closures",
        json.dumps(closure_set(5, HALF_DAY)).encode(),
        "version",
        "version 5 is in force here with other closures; publish the change as version 6",
    ),
    ("huge-version", json.dumps(closure_set(2**60)).encode(), "version", "is too large"),
]


@pytest.mark.parametrize(
    "payload,field,message", [b[1:] for b in BAD_SETS], ids=[b[0] for b in BAD_SETS]
)
def test_a_bad_set_is_refused_with_its_errors_published_and_nothing_changes(
    site, watcher, payload, field, message
):
    watcher.publish(FLEET, closure_set(5), retain=True)
    closures_of(watcher, 0, lambda c: c["version"] == 5)
    before = (
        preview_reasons(site, "2026-03-02", 7),
        site.rig.store.audit_count(),
        site.rig.store.get_setting(SETTING),
    )
    since = time.monotonic()
    watcher.publish(FLEET, payload, retain=True)
    closures = closures_of(watcher, since, lambda c: c["refused"] is not None)
    assert closures["version"] == 5  # still in force, still acknowledged
    error = closures["refused"]["errors"][0]
    assert error["field"] == field and message in error["message"], closures["refused"]
    after = (
        preview_reasons(site, "2026-03-02", 7),
        site.rig.store.audit_count(),
        site.rig.store.get_setting(SETTING),
    )
    assert after == before
    # the site is alive and takes the next good set
    since = time.monotonic()
    watcher.publish(FLEET, closure_set(9, HALF_DAY), retain=True)
    closures = closures_of(watcher, since, lambda c: c["version"] == 9)
    assert closures["refused"] is None


def test_an_offline_site_catches_up_when_it_reconnects(mock_factory, data_dir, broker, watcher):
    s = Site(mock_factory, data_dir, broker)
    try:
        watcher.publish(FLEET, closure_set(1), retain=True)
        closures_of(watcher, 0, lambda c: c["version"] == 1)
    finally:
        s.close()
    watcher.wait_for(T.availability, lambda m: m.text == "offline")
    # while the site is away, the operator publishes version 2
    watcher.publish(FLEET, closure_set(2, STAFF_DAY, HALF_DAY), retain=True)
    since = time.monotonic()
    s = Site(mock_factory, data_dir, broker)
    try:
        # version 1 is in force from the store before the broker is even reached...
        assert s.bridge.fleet.status()["version"] in (1, 2)
        # ...and version 2 once the retained set arrives
        closures_of(watcher, since, lambda c: c["version"] == 2)
        assert (
            "2026-03-06T09:00",
            "day",
            "day: company closure v2: Half day, special hours 09:00-12:00",
        ) in preview_reasons(s, "2026-03-06")
    finally:
        s.close()


def test_kept_closures_are_in_force_at_boot_without_a_broker(
    mock_factory, data_dir, tmp_path, broker, watcher
):
    s = Site(mock_factory, data_dir, broker)
    try:
        watcher.publish(FLEET, closure_set(4), retain=True)
        closures_of(watcher, 0, lambda c: c["version"] == 4)
    finally:
        s.close()
    nowhere = Mosquitto(tmp_path / "never-started")
    s = Site(mock_factory, data_dir, nowhere)
    try:
        assert not s.bridge.connected.is_set()
        assert s.bridge.fleet.status()["version"] == 4
        assert preview_reasons(s) == [
            ("2026-03-04T00:00", "night", "night: company closure v4: Staff day, closed all day")
        ]
    finally:
        s.close()


def test_a_cleared_retained_set_withdraws_nothing(site, watcher):
    watcher.publish(FLEET, closure_set(3), retain=True)
    closures_of(watcher, 0, lambda c: c["version"] == 3)
    watcher.publish(FLEET, b"", retain=True)
    time.sleep(0.5)
    status = site.bridge.fleet.status()
    assert (status["version"], status["closures"], status["refused"]) == (3, 1, None)
    assert preview_reasons(site)[0][2] == "night: company closure v3: Staff day, closed all day"
    # withdrawing is a higher version with no closures
    since = time.monotonic()
    watcher.publish(FLEET, {"version": 4, "closures": []}, retain=True)
    closures_of(watcher, since, lambda c: c["version"] == 4 and c["closures"] == 0)
    assert "company" not in preview_reasons(site)[0][2]
