"""Controller.set_schedule_layer: calendar and company closures put in force through the
controller thread, seen through status, preview, the relay and the audit log."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from appliance.decision.layers import CalendarEntry, ClosureLayer, parse_company_closures
from appliance.decision.schedule import default_schedule_json
from appliance.errors import ValidationError
from tests.appliance_helpers import (
    BERLIN,
    build_rig,
    changes,
    config,
    contact_toml,
    panel_toml,
    wait_until,
)

WIRED = {17: 24}
TWO_ZONES = """
[[zones]]
name = "main"
label = "Main"

[[zones]]
name = "sales"
label = "Sales"
"""


@pytest.fixture
def rig(mock_factory, data_dir):
    rig = build_rig(mock_factory, data_dir, config(panel_toml(), contact_toml()), wires=WIRED)
    yield rig
    rig.close()


def closed_monday_morning(label="Closures", summary="Staff outing"):
    # Monday 2 March 2026 08:00-12:00 local: the rig's clock starts at 07:59.
    return ClosureLayer(
        "calendar",
        label,
        (
            CalendarEntry(
                summary,
                "night",
                datetime(2026, 3, 2, 8, 0, tzinfo=BERLIN),
                datetime(2026, 3, 2, 12, 0, tzinfo=BERLIN),
            ),
        ),
    )


def at_0801(rig) -> dict:
    """Move the clock to 08:01 and wait for the status published after it."""
    rig.clock.advance(120)
    return wait_until(lambda: (s := rig.status())["now"] >= "2026-03-02T08:01" and s)


def reasons(rig, zone=None):
    return [
        (row["at"][11:16], row["mode"], row["reason"])
        for row in rig.controller.preview(zone, date(2026, 3, 2), 1)
    ]


def test_a_layer_given_before_start_is_in_force_at_the_first_decision(rig):
    rig.controller.set_schedule_layer(None, "calendar", closed_monday_morning())
    relay = rig.pin(17)
    rig.start()
    rig.clock.advance(120)  # 08:01: the weekly hours would open
    status = wait_until(lambda: (s := rig.status())["now"].endswith("08:01:00+01:00") and s)
    assert (status["mode"], status["source"]) == ("night", "calendar")
    assert status["reason"] == "night: calendar Closures: Staff outing"
    assert status["next_change"] == {"at": "2026-03-02T12:00:00+01:00", "mode": "day"}
    assert changes(relay) == [False, True]  # off at power-up, night, never opened


def test_layer_update_redecides_at_once_and_is_audited(rig):
    rig.start()
    rig.clock.advance(120)
    wait_until(lambda: rig.status()["mode"] == "day")
    rig.controller.set_schedule_layer("main", "calendar", closed_monday_morning())
    status = rig.status()
    assert (status["mode"], status["source"]) == ("night", "calendar")
    rig.settle()
    assert rig.pin(17).state is True
    audit = rig.audit(source="calendar")
    assert audit[0]["reason"].startswith(
        "calendar closures updated (1 entry); now night: calendar Closures: Staff outing"
    )
    assert (audit[0]["old_mode"], audit[0]["new_mode"]) == ("day", "night")
    assert reasons(rig) == [
        ("00:00", "night", "night: outside hours"),
        ("12:00", "day", "day: weekly hours Monday 08:00-18:00"),
        ("18:00", "night", "night: outside hours"),
    ]
    # The same layer again is no news: no second audit row.
    rig.controller.set_schedule_layer("main", "calendar", closed_monday_morning())
    assert len(rig.audit(source="calendar")) == 1


def test_a_failing_source_keeps_the_last_copy_and_shows_the_fault_until_it_clears(rig):
    rig.start()
    rig.controller.set_schedule_layer(None, "calendar", closed_monday_morning())
    rig.controller.set_schedule_layer(None, "calendar", None, fault="Closures: HTTP 404 Not Found")
    status = at_0801(rig)
    assert status["source"] == "calendar"  # the last good copy still counts
    assert [(f["kind"], f["message"]) for f in status["faults"]] == [
        ("calendar", "Closures: HTTP 404 Not Found")
    ]
    assert "HTTP 404" in rig.audit(source="calendar")[0]["reason"]
    # The same fault on the next refresh: no new audit row.
    rig.controller.set_schedule_layer(None, "calendar", None, fault="Closures: HTTP 404 Not Found")
    assert len(rig.audit(source="calendar")) == 2
    rig.controller.set_schedule_layer(None, "calendar", closed_monday_morning(), fault=None)
    assert rig.status()["faults"] == []
    assert rig.audit(source="calendar")[0]["reason"].startswith("calendar fault cleared")


def test_saving_the_schedule_keeps_the_layers(rig):
    rig.start()
    rig.controller.set_schedule_layer(None, "calendar", closed_monday_morning())
    doc = default_schedule_json("Europe/Berlin")
    doc["weekly"]["mon"] = [{"start": "07:00", "end": "19:00", "mode": "day"}]
    rig.controller.put_schedule(None, doc, by="anna")
    assert [r[0] for r in reasons(rig)] == ["00:00", "07:00", "08:00", "12:00", "19:00"]
    assert rig.controller.get_schedule()["weekly"]["mon"] == doc["weekly"]["mon"]


def test_hand_entered_exception_wins_over_the_calendar(rig):
    rig.start()
    rig.controller.set_schedule_layer(None, "calendar", closed_monday_morning())
    doc = default_schedule_json("Europe/Berlin")
    doc["exceptions"] = [
        {
            "name": "Open day",
            "from": "2026-03-02",
            "to": "2026-03-02",
            "ranges": [{"start": "08:00", "end": "20:00", "mode": "day"}],
        }
    ]
    rig.controller.put_schedule(None, doc, by="anna")
    assert at_0801(rig)["reason"] == "day: Open day, special hours 08:00-20:00"


def test_company_layer_below_the_calendar(rig):
    rig.start()
    company = parse_company_closures(
        {
            "version": 4,
            "closures": [
                {"name": "Staff day", "from": "2026-03-02", "to": "2026-03-02", "ranges": []}
            ],
        }
    )
    rig.controller.set_schedule_layer(None, "company", company)
    assert rig.status()["reason"] == "night: company closure v4: Staff day, closed all day"
    rig.controller.set_schedule_layer(None, "calendar", closed_monday_morning())
    rows = reasons(rig)
    assert rows == [("00:00", "night", "night: company closure v4: Staff day, closed all day")]
    assert at_0801(rig)["reason"] == "night: calendar Closures: Staff outing"
    # Taking the company closure away (an empty set) opens at noon, after the event.
    rig.controller.set_schedule_layer(None, "company", ClosureLayer("company", "v5", ()))
    assert rig.status()["next_change"]["at"] == "2026-03-02T12:00:00+01:00"


def test_several_calendars_of_one_zone_the_first_wins(rig):
    rig.start()
    rig.controller.set_schedule_layer(
        None,
        "calendar",
        (closed_monday_morning("Site", "Ours"), closed_monday_morning("Group", "Theirs")),
    )
    assert at_0801(rig)["reason"] == "night: calendar Site: Ours"


def test_override_until_next_ends_at_the_calendar_change(rig):
    rig.start()
    rig.controller.set_schedule_layer(None, "calendar", closed_monday_morning())
    at_0801(rig)
    status = rig.controller.set_override(None, "day", "next", by="anna")
    assert status["override"]["until"] == "2026-03-02T12:00:00+01:00"


def test_bad_kind_and_bad_layer_are_refused(rig):
    with pytest.raises(ValidationError, match="not a layer kind"):
        rig.controller.set_schedule_layer(None, "holiday", None)
    with pytest.raises(ValidationError, match="calendar ClosureLayer"):
        rig.controller.set_schedule_layer(None, "calendar", ClosureLayer("company", "v1", ()))
    with pytest.raises(ValidationError, match="unknown zone"):
        rig.controller.set_schedule_layer("nowhere", "calendar", None)


def test_zone_none_is_every_zone_and_a_name_is_one(mock_factory, data_dir):
    rig = build_rig(
        mock_factory, data_dir, config(TWO_ZONES, panel_toml(), contact_toml()), wires=WIRED
    )
    try:
        rig.start()
        at_0801(rig)
        rig.controller.set_schedule_layer("sales", "calendar", closed_monday_morning())
        assert rig.status("sales")["source"] == "calendar"
        assert rig.status("main")["source"] == "weekly"
        rig.controller.set_schedule_layer(None, "calendar", None, fault="feed down")
        assert [f["kind"] for f in rig.status("main")["faults"]] == ["calendar"]
        assert [f["kind"] for f in rig.status("sales")["faults"]] == ["calendar"]
        assert rig.status("main")["source"] == "weekly"  # None kept main's (none)
    finally:
        rig.close()
