"""A failing disk (full or read-only SD card) must not kill the controller thread: the
fault is shown, the relays still follow the key, and the loop goes on."""

from __future__ import annotations

from appliance.errors import StoreError
from tests.appliance_helpers import build_rig, config, contact_toml, panel_toml, wait_until


def test_a_store_that_fails_is_a_fault_and_the_key_still_switches(mock_factory, data_dir):
    with build_rig(
        mock_factory, data_dir, config(panel_toml(), contact_toml(sense_pin=None))
    ) as rig:
        rig.start()
        wait_until(lambda: rig.status()["mode"] == "night")  # 07:59: before hours

        def disk_full(*args, **kwargs):
            raise StoreError("database or disk is full")

        rig.store.set_applied = disk_full
        rig.store.add_audit = disk_full
        rig.turn_key("day")
        rig.settle_key()
        wait_until(lambda: rig.pin(17).state is False, message="the relay did not follow")
        wait_until(
            lambda: any(
                f["kind"] == "store" and "disk is full" in f["message"]
                for f in rig.status()["faults"]
            ),
            message=f"no fault shown: {rig.status()['faults']}",
        )
        assert rig.controller._thread.is_alive()
        rig.turn_key("night")  # it still answers
        rig.settle_key()
        wait_until(lambda: rig.pin(17).state is True)
