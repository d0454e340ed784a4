"""The fallback drill (issue 14, item 13): a backup route is only worth something if it is
tested. Every ``[verify] fallback_drill_days`` the fallback applies the mode in force and
reads it back, without changing the mode; the audit says so; a failing drill is a fault
(and an alert, through the ``drill`` fault kind); the next drill that works clears it.
The day comes on the simulated clock, in steps of the controller as its thread would.
"""

from __future__ import annotations

from datetime import timedelta

from appliance.outputs.alerts.events import event_of_fault
from tests.appliance_helpers import MONDAY_0759, build_rig, config, contact_toml, panel_toml

DAY = 86400


def drill_config(days: int = 1):
    return config(
        panel_toml(),
        contact_toml(name="night-input", pin=17, sense_pin=24),
        contact_toml(name="console-key", pin=27, sense_pin=25, role="fallback"),
        f"[verify]\nfallback_drill_days = {days}\ncheck_minutes = 1440",
    )


def drills(rig) -> list[str]:
    return [a["reason"] for a in reversed(rig.audit(limit=200)) if a["source"] == "drill"]


def test_the_drill_applies_the_mode_through_the_fallback_and_reads_it_back(mock_factory, data_dir):
    with build_rig(
        mock_factory,
        data_dir,
        drill_config(),
        wires={17: 24, 27: 25},
        start=MONDAY_0759 + timedelta(hours=14),
    ) as rig:  # 21:59: night
        rig.step()
        assert rig.status()["verified"] and rig.pin(27).state is False  # fallback idle
        rig.advance(DAY - 1)
        assert drills(rig) == []
        rig.advance(1)
        assert drills(rig) == ["fallback drill: console-key applied night and read it back"]
        assert rig.pin(27).state is True  # it holds night with the primary now
        status = rig.status()
        assert status["mode"] == "night" and status["verified"] and status["faults"] == []
        # from now on the fallback follows every change, so it never forces an old mode
        rig.controller.set_override(None, "day", None, by="anna")
        assert rig.pin(17).state is False and rig.pin(27).state is False
        # and the next drill is a day later again
        rig.advance(DAY)
        assert len(drills(rig)) == 2


def test_a_failing_drill_is_a_fault_until_a_drill_works(mock_factory, data_dir):
    with build_rig(
        mock_factory,
        data_dir,
        drill_config(),
        wires={17: 24},  # 27 not wired
        start=MONDAY_0759 + timedelta(hours=14),
    ) as rig:
        rig.step()
        rig.advance(DAY)
        status = rig.status()
        (fault,) = status["faults"]
        assert fault["kind"] == "drill"
        assert "the fallback (console-key) could not apply night in its drill" in fault["message"]
        assert "primary still switches" in fault["message"]
        assert status["mode"] == "night" and rig.pin(17).state is True  # nothing changed
        assert rig.panel.leds.patterns["fault"] == "slow"  # no switch failed: it blinks
        assert drills(rig)[-1].startswith("fallback drill failed: console-key")
        assert event_of_fault("drill") == "fallback_drill"
        # the lamp of the console key is mended: the next drill clears the fault
        rig.pin(25).drive_high()
        rig.advance(DAY)
        assert rig.status()["faults"] == []
        assert drills(rig)[-1].endswith("read it back; the drill fault is cleared")


def test_no_drill_by_default_or_without_a_fallback(mock_factory, data_dir):
    cfg = config(
        panel_toml(),
        contact_toml(name="night-input", pin=17, sense_pin=24),
        contact_toml(name="console-key", pin=27, sense_pin=25, role="fallback"),
    )
    with build_rig(mock_factory, data_dir, cfg, wires={17: 24, 27: 25}) as rig:
        rig.step()
        rig.advance(30 * DAY)
        assert drills(rig) == [] and rig.controller.zones["main"].worker.drill_at is None
    cfg = config(panel_toml(), contact_toml(), "[verify]\nfallback_drill_days = 1")
    with build_rig(mock_factory, data_dir, cfg, wires={17: 24}) as rig:
        assert rig.controller.zones["main"].worker.drill_at is None


def test_the_drill_keeps_its_rhythm_across_a_restart(mock_factory, data_dir):
    with build_rig(
        mock_factory,
        data_dir,
        drill_config(2),
        wires={17: 24, 27: 25},
        start=MONDAY_0759 + timedelta(hours=14),
    ) as rig:
        rig.step()
        rig.advance(2 * DAY)
        assert len(drills(rig)) == 1
        clock = rig.clock
        clock.advance(DAY)  # one day later the daemon restarts
    mock_factory.reset()
    with build_rig(
        mock_factory, data_dir, drill_config(2), wires={17: 24, 27: 25}, clock=clock
    ) as rig:
        rig.step()
        rig.advance(DAY - 1)
        assert len(drills(rig)) == 1  # the second drill is not due yet
        rig.advance(2)
        assert len(drills(rig)) == 2  # two days after the first


def test_the_drill_key_is_checked_by_the_config(mock_factory):
    import pytest

    from appliance.errors import ValidationError

    with pytest.raises(ValidationError, match="verify.fallback_drill_days"):
        config(contact_toml(), "[verify]\nfallback_drill_days = -1")
