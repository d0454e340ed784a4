"""Schedule, preview, audit and calls through the JSON API."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

from appliance.decision.schedule import default_schedule_json
from appliance.smdr.record import CallRecord
from tests.web.webhelp import bearer


def _lunch_schedule() -> dict:
    doc = default_schedule_json("Europe/Berlin")
    doc["weekly"]["mon"] = [
        {"start": "08:00", "end": "12:00", "mode": "day"},
        {"start": "13:00", "end": "17:00", "mode": "day"},
    ]
    return doc


def test_get_and_put_schedule(client, tokens, appliance):
    r = client.get("/api/v1/schedule", headers=bearer(tokens["viewer"]))
    assert r.status_code == 200
    assert r.get_json()["weekly"]["mon"] == [{"start": "08:00", "end": "18:00", "mode": "day"}]
    r = client.put("/api/v1/schedule", json=_lunch_schedule(), headers=bearer(tokens["admin"]))
    assert r.status_code == 200
    assert r.get_json()["version"] == 2
    assert appliance.store.get_schedule("main")["weekly"]["mon"][1]["start"] == "13:00"
    r = client.get("/api/v1/zones/main/schedule", headers=bearer(tokens["viewer"]))
    assert len(r.get_json()["weekly"]["mon"]) == 2


def test_bad_schedule_names_fields_and_saves_nothing(client, tokens, appliance):
    doc = _lunch_schedule()
    doc["weekly"]["tue"] = [{"start": "18:00", "end": "08:00", "mode": "day"}]
    doc["weekly"]["wed"] = [{"start": "08:00", "end": "18:00", "mode": "lunch"}]
    doc["holidays"] = {"country": "XX"}
    r = client.put("/api/v1/schedule", json=doc, headers=bearer(tokens["admin"]))
    assert r.status_code == 400
    fields = {e["field"] for e in r.get_json()["errors"]}
    assert {"weekly.tue[0].end", "weekly.wed[0].mode", "holidays.country"} <= fields
    assert appliance.store.get_schedule("main")["weekly"]["mon"] == [
        {"start": "08:00", "end": "18:00", "mode": "day"}
    ]
    assert len(appliance.store.schedule_history("main")) == 1


def test_only_admins_edit_the_schedule(client, tokens, appliance):
    r = client.put("/api/v1/schedule", json=_lunch_schedule(), headers=bearer(tokens["operator"]))
    assert r.status_code == 403
    assert len(appliance.store.schedule_history("main")) == 1


def test_history_and_rollback(client, tokens, appliance):
    admin = bearer(tokens["admin"])
    client.put("/api/v1/schedule", json=_lunch_schedule(), headers=admin)
    history = client.get("/api/v1/schedule/history", headers=admin).get_json()
    assert [h["version"] for h in history] == [2, 1]
    assert history[0]["by"] == "token:test admin"
    r = client.post("/api/v1/schedule/rollback", json={"version": 1}, headers=admin)
    assert r.status_code == 200
    assert r.get_json()["version"] == 3
    assert r.get_json()["restored_from"] == 1
    assert appliance.store.get_schedule("main")["weekly"]["mon"] == [
        {"start": "08:00", "end": "18:00", "mode": "day"}
    ]
    # The history and the audit say it was a rollback, not an ordinary save.
    history = client.get("/api/v1/schedule/history", headers=admin).get_json()
    assert history[0]["version"] == 3 and history[0]["restored_from"] == 1
    reasons = [row["reason"] for row in appliance.store.audit("main", source="schedule")]
    assert any(
        r.startswith("schedule rolled back to version 1 (saved as version 3)") for r in reasons
    ), reasons
    for bad in ({"version": 99}, {"version": "1"}, {"version": True}, {}):
        r = client.post("/api/v1/schedule/rollback", json=bad, headers=admin)
        assert r.status_code == 400, bad
        assert r.get_json()["errors"][0]["field"] == "version"
    r = client.post("/api/v1/schedule/rollback", json={"version": 99}, headers=admin)
    assert (
        "has no schedule version 99; versions 1 to 3 exist" in r.get_json()["errors"][0]["message"]
    )
    assert len(appliance.store.schedule_history("main")) == 3


def test_preview(client, tokens):
    viewer = bearer(tokens["viewer"])
    r = client.get("/api/v1/preview?from=2026-03-02&days=2", headers=viewer)
    assert r.status_code == 200
    entries = r.get_json()
    assert [(e["at"], e["mode"]) for e in entries] == [
        ("2026-03-02T00:00:00+01:00", "night"),
        ("2026-03-02T08:00:00+01:00", "day"),
        ("2026-03-02T18:00:00+01:00", "night"),
        ("2026-03-03T08:00:00+01:00", "day"),
        ("2026-03-03T18:00:00+01:00", "night"),
    ]
    # without from: today (local)
    assert (
        client.get("/api/v1/preview?days=1", headers=viewer)
        .get_json()[0]["at"]
        .startswith("2026-03-02")
    )
    for query, field in (
        ("from=yesterday", "from"),
        ("days=0", "days"),
        ("days=x", "days"),
        ("days=99999", "days"),
        ("from=0001-01-01", "from"),
    ):
        r = client.get(f"/api/v1/preview?{query}", headers=viewer)
        assert r.status_code == 400, query
        assert r.get_json()["errors"][0]["field"] == field


def test_audit_pages_and_filters(client, tokens):
    op = bearer(tokens["operator"])
    for mode in ("night", "day", "night"):
        client.post("/api/v1/override", json={"mode": mode, "until": None}, headers=op)
    r = client.get("/api/v1/audit?limit=2", headers=bearer(tokens["viewer"]))
    body = r.get_json()
    assert r.status_code == 200
    assert body["limit"] == 2 and len(body["entries"]) == 2
    assert body["total"] >= 3
    first = body["entries"][0]
    assert first["who"] == "token:test operator" and first["source"] == "api"
    assert first["at"].endswith("+01:00")
    r = client.get(
        "/api/v1/audit?source=api&who=token:test%20operator&offset=1",
        headers=bearer(tokens["viewer"]),
    )
    body = r.get_json()
    assert body["total"] == 3 and len(body["entries"]) == 2
    r = client.get("/api/v1/audit?from=2026-03-03", headers=bearer(tokens["viewer"]))
    assert r.get_json()["total"] == 0
    for query in ("limit=0", "limit=abc", "offset=-1", "from=2026-13-01", "source=Not%20A%20Word"):
        r = client.get(f"/api/v1/audit?{query}", headers=bearer(tokens["viewer"]))
        assert r.status_code == 400, query


def _call(at: datetime, answered: bool | None, extension="21") -> CallRecord:
    return CallRecord(
        started_at=at,
        duration_s=30,
        extension=extension,
        trunk="01",
        direction="in",
        answered=answered,
        ring_s=5,
        number="=0301234",
        fmt="test",
        raw="raw line",
    )


def _calls_fixture(appliance):
    store = appliance.store
    base = datetime(2026, 3, 2, 0, 0, tzinfo=timezone.utc)
    store.set_applied("main", "day", at=base + timedelta(hours=7))  # 08:00 Berlin
    store.set_applied("main", "night", at=base + timedelta(hours=17))  # 18:00 Berlin
    store.add_call("main", _call(base + timedelta(hours=10), True))  # day: not counted
    store.add_call("main", _call(base + timedelta(hours=19), False))  # 20:00 night
    store.add_call("main", _call(base + timedelta(hours=21), True))  # 22:00 night
    store.add_call("main", _call(base + timedelta(hours=23, minutes=30), None))


def test_calls_and_summary_and_csv(client, tokens, appliance):
    _calls_fixture(appliance)
    viewer = bearer(tokens["viewer"])
    r = client.get("/api/v1/calls?from=2026-03-02&to=2026-03-03", headers=viewer)
    assert r.status_code == 200
    calls = r.get_json()["calls"]
    assert [c["after_hours"] for c in calls] == [False, True, True, True]
    assert calls[1]["started_at"] == "2026-03-02T20:00:00+01:00"
    summary = client.get(
        "/api/v1/calls/summary?from=2026-03-02&to=2026-03-03", headers=viewer
    ).get_json()
    assert summary["totals"]["after_hours"] == 3
    assert summary["totals"]["answered"] == 1 and summary["totals"]["unanswered"] == 1
    assert summary["per_night"][-1]["night"] == "2026-03-02"
    assert summary["per_hour"][20]["unanswered"] == 1
    r = client.get("/api/v1/calls.csv?from=2026-03-02&to=2026-03-03", headers=viewer)
    assert r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert rows[0][0] == "start_local" and len(rows) == 4
    assert rows[1][-1] == "'=0301234"  # a spreadsheet must not run it as a formula
    for query in ("from=2026-03-05&to=2026-03-01", "from=2020-01-01&to=2026-01-01", "to=bad"):
        r = client.get(f"/api/v1/calls?{query}", headers=viewer)
        assert r.status_code == 400, query
