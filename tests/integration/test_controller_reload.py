"""A schedule saved outside the controller (CLI import or rollback while the service runs)
is picked up by the running controller within its watchdog interval, and audited."""

from __future__ import annotations

from appliance.control.controller import WATCHDOG_S
from appliance.decision.schedule import default_schedule_json
from tests.appliance_helpers import build_rig, config, contact_toml, panel_toml


def test_a_schedule_saved_behind_the_controllers_back_is_loaded(mock_factory, data_dir):
    with build_rig(
        mock_factory, data_dir, config(panel_toml(), contact_toml(sense_pin=None))
    ) as rig:
        rig.step()
        rig.advance(60)  # 08:00 Monday: day by the default schedule
        assert rig.status()["mode"] == "day"
        closed = default_schedule_json("Europe/Berlin")
        closed["weekly"]["mon"] = []  # someone imports "closed on Mondays"
        version = rig.store.save_schedule("main", closed, by="cli", at=rig.clock.now())
        rig.advance(WATCHDOG_S)  # the next tick notices it
        status = rig.status()
        assert status["mode"] == "night"
        assert rig.zone.schedule_version == version
        entry = rig.audit(limit=1)[0]
        assert entry["source"] == "schedule" and f"version {version} loaded" in entry["reason"]
        assert entry["old_mode"] == "day" and entry["new_mode"] == "night"


def test_a_broken_schedule_saved_behind_its_back_is_a_fault_not_a_crash(mock_factory, data_dir):
    with build_rig(
        mock_factory, data_dir, config(panel_toml(), contact_toml(sense_pin=None))
    ) as rig:
        rig.step()
        rig.advance(60)
        bad = default_schedule_json("Europe/Berlin")
        bad["weekly"]["mon"] = [{"start": "08:00", "end": "18:00", "mode": "lunch"}]
        rig.store.save_schedule("main", bad, by="cli", at=rig.clock.now())
        rig.advance(WATCHDOG_S)
        status = rig.status()
        assert status["mode"] == "day"  # still the schedule it had
        assert any(f["kind"] == "config" and "lunch" in f["message"] for f in status["faults"]), (
            status["faults"]
        )
