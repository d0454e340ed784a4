"""The controller when the PBX does not do what it is told: fallback actuators, retries with
backoff, the periodic read-back (drift enforced or adopted), link failures, and the rule
that only the controller's thread ever drives a relay."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from appliance.errors import ActuatorError
from tests.appliance_helpers import (
    MONDAY_0759,
    ToggleKey,
    build_rig,
    changes,
    config,
    contact_toml,
    panel_toml,
    wait_until,
)

NIGHT_2200 = MONDAY_0759 + timedelta(hours=14, minutes=1)  # Monday 22:00


def relay_state(rig) -> bool:
    """The night-service relay's level (GPIO17)."""
    return rig.pin(17).state


def count_calls(actuator, method="apply"):
    """Wrap *method* of a live actuator to record each call's argument and thread."""
    calls = []
    real = getattr(actuator, method)

    def wrapper(*args):
        calls.append((args, threading.current_thread().name))
        return real(*args)

    setattr(actuator, method, wrapper)
    return calls


# -- fallback -----------------------------------------------------------------------------------


def test_a_primary_that_fails_verification_falls_back(mock_factory, data_dir):
    cfg = config(
        panel_toml(),
        contact_toml(name="night-input", pin=17, sense_pin=24),  # never follows
        contact_toml(name="console-key", pin=27, sense_pin=25, role="fallback"),
    )
    with build_rig(mock_factory, data_dir, cfg, wires={27: 25}) as rig:
        primary, fallback = rig.actuators
        primary_calls, fallback_calls = count_calls(primary), count_calls(fallback)
        rig.step()
        status = rig.status()
        assert status["mode"] == "night" and status["applied_mode"] == "night"
        assert [c[0] for c in primary_calls] == [("night",)]
        assert [c[0] for c in fallback_calls] == [("night",)]
        assert rig.pin(27).state is True  # the fallback holds night
        # not every actuator applied it (docs/API.md#get-status)
        assert status["verified"] is False
        (fault,) = status["faults"]
        assert fault["kind"] == "fallback"
        assert fault["message"].startswith(
            "primary actuator failed, fallback used: night-input: relay closed for night"
        )
        assert rig.panel.leds.patterns["fault"] == "on"  # an actuator failed: steady
        entry = [a for a in rig.audit() if a["source"] == "fallback"]
        assert len(entry) == 1 and "night-input" in entry[0]["reason"]
        # night again later: the primary is tried first, and falls back again quietly
        rig.advance(3600)  # 09:00 day (see below)
        rig.controller.set_override(None, "night", None, by="anna")
        assert [c[0] for c in primary_calls][-1] == ("night",)
        assert fallback_calls[-1][0] == ("night",) and rig.pin(27).state is True
        # one audit entry per episode of fallback, not one per switch
        assert len([a for a in rig.audit() if a["source"] == "fallback"]) == 2


def test_the_fallback_follows_when_the_primary_works_again(mock_factory, data_dir):
    cfg = config(
        contact_toml(name="night-input", pin=17, sense_pin=24),
        contact_toml(name="console-key", pin=27, sense_pin=25, role="fallback"),
    )
    with build_rig(mock_factory, data_dir, cfg, wires={27: 25}) as rig:
        rig.step()
        assert rig.pin(27).state is True and rig.status()["faults"][0]["kind"] == "fallback"
        # 08:00: day. The dead status input idles at "inactive", which is what day looks
        # like, so the primary succeeds; the fallback's contact must not stay closed
        rig.advance(60)
        status = rig.status()
        assert status["mode"] == "day" and status["faults"] == []
        assert rig.pin(17).state is False and rig.pin(27).state is False


def test_the_primary_is_retried_with_backoff_while_the_fallback_holds(mock_factory, data_dir):
    """Retried until it succeeds (docs/design.md#retries-and-the-refused-login-rule). The
    fallback holding the mode is not success: the primary is tried again (2 s doubling),
    quietly, and takes over when it works again."""
    cfg = config(
        panel_toml(),
        contact_toml(name="night-input", pin=17, sense_pin=24),
        contact_toml(name="console-key", pin=27, sense_pin=25, role="fallback"),
    )
    with build_rig(mock_factory, data_dir, cfg, wires={27: 25}, start=NIGHT_2200) as rig:
        tries = []
        primary = rig.actuators[0]
        real_apply = primary.apply

        def apply(mode):
            tries.append((rig.clock.monotonic(), mode))
            return real_apply(mode)

        primary.apply = apply
        rig.step()
        assert rig.status()["faults"][0]["kind"] == "fallback"
        while rig.clock.monotonic() - tries[0][0] < 31:
            rig.advance(0.25)
        gaps = [round(b[0] - a[0], 2) for a, b in zip(tries, tries[1:])]
        assert [m for _, m in tries] == ["night"] * 5
        for gap, wanted in zip(gaps, (2, 4, 8, 16)):
            assert wanted <= gap <= wanted + 0.3, gaps
        status = rig.status()
        assert status["verified"] is False and status["faults"][0]["kind"] == "fallback"
        assert rig.panel.leds.patterns["fault"] == "on"
        assert len([a for a in rig.audit() if a["source"] in ("fallback", "fault")]) == 1
        # The PBX's night input is mended: the next try (32 s on) finds it working.
        rig.pin(24).drive_high()
        while len(tries) < 6:
            rig.advance(0.25)
        status = rig.status()
        assert status["faults"] == [] and status["verified"] is True
        assert 32 <= round(tries[5][0] - tries[4][0], 2) <= 32.3
        (recovered,) = [a for a in rig.audit() if a["source"] == "recovered"]
        assert recovered["reason"] == (
            "the primary actuator applies night again; the fallback is no longer needed"
        )
        assert rig.panel.leds.patterns["fault"] == "off"
        rig.advance(600)
        assert len(tries) == 6  # no more tries once it works


def test_the_fallback_is_unused_while_the_primary_works(mock_factory, data_dir):
    cfg = config(
        contact_toml(name="night-input", pin=17, sense_pin=24),
        contact_toml(name="console-key", pin=27, sense_pin=None, role="fallback"),
    )
    with build_rig(mock_factory, data_dir, cfg, wires={17: 24}) as rig:
        rig.step()
        assert rig.status()["faults"] == [] and changes(rig.pin(27)) == [False]


# -- retries --------------------------------------------------------------------------------


def test_a_failed_change_is_retried_with_doubling_backoff_capped_at_five_minutes(
    mock_factory, data_dir
):
    with build_rig(
        mock_factory, data_dir, config(panel_toml(), contact_toml()), start=NIGHT_2200
    ) as rig:  # sense not wired: always fails
        calls = count_calls(rig.actuators[0])
        rig.step()
        assert len(calls) == 1
        expected_gaps = [2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
        for n, gap in enumerate(expected_gaps, start=2):
            rig.advance(gap - 0.01)
            assert len(calls) == n - 1, f"attempt {n} came early"
            rig.advance(0.01)
            assert len(calls) == n, f"attempt {n} did not come {gap} s after the last"
        status = rig.status()
        assert not status["verified"] and status["faults"][0]["kind"] == "actuator"
        assert "still reads inactive" in status["faults"][0]["message"]
        assert rig.panel.leds.patterns == {"day": "off", "night": "fast", "fault": "on"}
        # the same failure is one audit entry, not one per retry
        faults = [a for a in rig.audit(limit=100) if a["source"] == "fault"]
        assert len(faults) == 1 and "retrying in 2 s" in faults[0]["reason"]
        # fixed: the next retry succeeds, the fault clears, the backoff starts over
        rig.pin(24).drive_high()
        rig.advance(300)
        status = rig.status()
        assert status["verified"] and status["faults"] == []
        assert rig.zone.worker.backoff == 2.0
        assert any(a["source"] == "recovered" for a in rig.audit())


def test_retries_stop_when_the_mode_is_no_longer_wanted(mock_factory, data_dir):
    start = MONDAY_0759 + timedelta(minutes=1) - timedelta(seconds=3)  # 07:59:57
    with build_rig(
        mock_factory, data_dir, config(contact_toml(sense_pull_up=False)), start=start
    ) as rig:
        calls = count_calls(rig.actuators[0])
        rig.step()  # night fails (sense stays inactive)
        rig.advance(2)  # retry night: fails
        rig.pin(24).drive_low()  # the PBX now reads day ...
        rig.advance(1)  # ... and at 08:00 day is wanted at once
        assert [c[0][0] for c in calls] == ["night", "night", "day"]
        assert rig.status()["verified"] and rig.status()["mode"] == "day"
        rig.advance(600)
        assert len(calls) == 3  # nothing more to retry


def test_retries_happen_on_the_zone_worker_as_time_passes(mock_factory, data_dir):
    with build_rig(mock_factory, data_dir, config(contact_toml()), start=NIGHT_2200) as rig:
        calls = count_calls(rig.actuators[0])
        rig.start()
        for n, gap in [(1, 2), (2, 4), (3, 8)]:
            # the retry is due `gap` seconds after the attempt *ended*
            wait_until(
                lambda: (
                    len(calls) == n
                    and rig.zone.worker.retry_at is not None
                    and rig.zone.worker.idle()
                )
            )
            rig.clock.advance(gap)
        wait_until(lambda: len(calls) == 4)
        assert {thread for _, thread in calls} == {"worker-main"}


# -- read-back: drift ------------------------------------------------------------------------


def drift_config(drift: str):
    return config(panel_toml(), contact_toml(), f'[verify]\ncheck_minutes = 15\ndrift = "{drift}"')


def test_drift_enforce_switches_a_contact_pbx_back(mock_factory, data_dir):
    with build_rig(
        mock_factory, data_dir, drift_config("enforce"), wires={17: 24}, start=NIGHT_2200
    ) as rig:
        calls = count_calls(rig.actuators[0])
        rig.step()
        rig.pin(24).drive_low()  # the PBX went to day behind our back
        rig.advance(15 * 60 - 1)
        assert len(calls) == 1  # not read back yet
        rig.advance(1)
        assert [c[0][0] for c in calls] == ["night", "night"]
        assert rig.pin(24).state is True  # re-asserting the relay put it back
        entry = [a for a in rig.audit() if a["source"] == "drift"][0]
        assert (entry["who"], entry["old_mode"], entry["new_mode"]) == ("pbx", "day", "night")
        assert entry["reason"] == ("PBX found in day by night-service; switching it back to night")
        assert rig.status()["verified"] and rig.status()["faults"] == []


def test_drift_enforce_pulses_a_toggle_key_back(mock_factory, data_dir):
    key = ToggleKey(mock_factory, relay=27, lamp=25, wire=4)
    cfg = config("""
[[actuators]]
name = "console-night-key"
type = "pulse"
pin = 27
pulse_ms = 40
settle_ms = 60
modes = { day = "dark", night = "lit" }
sense = { pin = 25, pull_up = true }
""")
    rig = build_rig(mock_factory, data_dir, cfg, start=NIGHT_2200)
    try:
        rig.step()
        assert key.lit and len(key.presses) == 1
        key.set_lit(False)  # the night key pressed at the console
        rig.advance(15 * 60)
        assert key.lit and len(key.presses) == 2  # pulsed once more: night again
        assert any(a["source"] == "drift" for a in rig.audit())
    finally:
        rig.close()
        key.close()


def test_drift_adopt_takes_the_pbx_mode_as_an_override_until_the_next_change(
    mock_factory, data_dir
):
    with build_rig(
        mock_factory, data_dir, drift_config("adopt"), wires={17: 24}, start=NIGHT_2200
    ) as rig:
        rig.step()
        assert rig.pin(17).state is True
        rig.pin(24).drive_low()  # someone switched the PBX to day
        rig.advance(15 * 60)
        status = rig.status()
        assert status["override"] == {
            "mode": "day",
            "by": "pbx",
            "until": "2026-03-03T08:00:00+01:00",
        }
        assert (status["mode"], status["source"]) == ("day", "override")
        assert rig.pin(17).state is False  # the relay now agrees with the PBX
        entry = [a for a in rig.audit() if a["source"] == "drift"][0]
        assert "adopted until the next change" in entry["reason"]


def test_drift_adopt_on_the_controller_thread(mock_factory, data_dir):
    with build_rig(
        mock_factory, data_dir, drift_config("adopt"), wires={17: 24}, start=NIGHT_2200
    ) as rig:
        rig.start()
        wait_until(lambda: rig.status()["verified"])
        rig.pin(24).drive_low()
        rig.clock.advance(15 * 60)
        wait_until(
            lambda: rig.status()["mode"] == "day",
            timeout=3,
            message="the adopted mode was not applied without a further wake-up",
        )


def test_read_back_happens_every_check_minutes(mock_factory, data_dir):
    with build_rig(
        mock_factory, data_dir, drift_config("enforce"), wires={17: 24}, start=NIGHT_2200
    ) as rig:
        reads = count_calls(rig.actuators[0], "read_back")
        rig.step()
        assert len(reads) == 1  # the check right after applying
        for n in range(2, 5):
            rig.advance(15 * 60)
            assert len(reads) == n


def test_a_link_failure_on_read_back_is_a_steady_fault_then_clears(mock_factory, data_dir):
    with build_rig(
        mock_factory, data_dir, drift_config("enforce"), wires={17: 24}, start=NIGHT_2200
    ) as rig:
        rig.step()
        actuator = rig.actuators[0]
        real = actuator.read_back
        broken = {"on": True}

        def read_back():
            if broken["on"]:
                raise ActuatorError("night-service: no answer from the PBX")
            return real()

        actuator.read_back = read_back
        rig.advance(15 * 60)
        status = rig.status()
        assert status["faults"][0]["kind"] == "link" and not status["verified"]
        assert rig.panel.leds.patterns["fault"] == "on"
        broken["on"] = False
        rig.advance(2)  # read again after the backoff
        status = rig.status()
        assert status["faults"] == [] and status["verified"]


# -- one thread ---------------------------------------------------------------------------------


def test_only_the_zone_worker_drives_relays(mock_factory, data_dir):
    cfg = config(panel_toml(), contact_toml(), "[verify]\ncheck_minutes = 1")
    with build_rig(mock_factory, data_dir, cfg, wires={17: 24}) as rig:
        actuator = rig.actuators[0]
        applies, reads = count_calls(actuator), count_calls(actuator, "read_back")
        rig.start()
        errors = []

        def web_client(n):
            try:
                for i in range(5):
                    rig.controller.set_override(
                        None, "day" if (i + n) % 2 else "night", "next", by=f"web-{n}"
                    )
                    rig.controller.status()
                rig.controller.cancel_override(None, by=f"web-{n}")
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        clients = [
            threading.Thread(target=web_client, args=(n,), name=f"web-{n}") for n in range(4)
        ]
        for t in clients:
            t.start()
        rig.turn_key("day")
        rig.clock.advance(0.05)
        rig.turn_key("auto")
        rig.clock.advance(0.05)
        for _ in range(5):
            rig.clock.advance(60)
        for t in clients:
            t.join(10)
        wait_until(lambda: rig.status()["key"] == "auto")
        assert errors == [] or all("key switch" in str(e) for e in errors)
        rig.settle()
        assert len(applies) >= 1 and len(reads) > 1
        assert {thread for _, thread in applies + reads} == {"worker-main"}
        # the newest wanted mode won: the relay shows what the controller decided
        assert relay_state(rig) == (rig.status()["mode"] == "night")


def test_close_leaves_every_relay_de_energized(mock_factory, data_dir):
    cfg = config(
        panel_toml(),
        contact_toml(name="a", pin=17, sense_pin=None),
        contact_toml(name="b", pin=27, sense_pin=None, active_high=False),
    )
    rig = build_rig(mock_factory, data_dir, cfg)
    rig.start()
    wait_until(lambda: rig.status()["verified"])
    assert rig.pin(17).state is True and rig.pin(27).state is False  # both closed
    rig.close()
    assert rig.pin(17).state is False and rig.pin(27).state is True  # both released
    assert rig.controller._thread is None
    rig.close()  # idempotent


@pytest.mark.parametrize("kind", ["leds", "relay", "key"])
def test_hardware_tests_never_run_on_the_controller_thread(mock_factory, data_dir, kind):
    with build_rig(
        mock_factory,
        data_dir,
        config(panel_toml(), contact_toml()),
        wires={17: 24},
        start=NIGHT_2200,
    ) as rig:
        rig.start()
        wait_until(lambda: rig.status()["verified"])
        rig.settle()
        applies = count_calls(rig.actuators[0])
        relay = rig.pin(17)
        relay.clear_states()
        if kind == "leds":
            result = rig.controller.test_leds(0.05, by="installer").result(10)
            assert result == {
                "tested": ["main:day", "main:night", "main:fault"],
                "interrupted": False,
            }
        elif kind == "relay":
            result = rig.controller.test_relay("night-service", 0.05, by="installer").result(10)
            assert (result["relay"], result["was"], result["shown"]) == (
                "night-service",
                "closed",
                "open",
            )
            assert result["interrupted"] is False and result["reasserted"] == "night"
            rig.settle()
            # night holds the relay closed: the test opens it for its click, then
            # the mode is put back by the zone's worker
            assert changes(relay) == [True, False, True, True] or changes(relay) == [
                True,
                False,
                True,
            ]
            assert relay.state is True and {t for _, t in applies} == {"worker-main"}
            assert any(
                a["source"] == "test" and "opened for 0.05 s" in a["reason"] for a in rig.audit()
            )
        else:
            result = rig.controller.read_key()
            assert result["zones"]["main"] == {
                "position": "auto",
                "raw": {"key_day": False, "key_night": False},
                "wiring_fault": False,
            }


def test_the_audit_keeps_cause_before_consequence(mock_factory, data_dir):
    """The action's row is written after the relays moved (so no fsync delays a key turn)
    but still before what the switch led to."""
    with build_rig(
        mock_factory, data_dir, config(panel_toml(), contact_toml()), start=NIGHT_2200
    ) as rig:  # the status input is dead: it reads "day"
        rig.step()  # night cannot be verified: a fault
        rig.turn_key("day")
        rig.settle_key()  # day can: recovered
        rig.turn_key("night")
        rig.settle_key()  # night fails again
        oldest_first = [(a["source"], a["new_mode"]) for a in reversed(rig.audit())]
        assert oldest_first == [
            ("default", "night"),
            ("fault", "night"),
            ("key", "day"),
            ("recovered", "day"),
            ("key", "night"),
            ("fault", "night"),
        ]


# -- re-assert through actuators that cannot read back ------------------------------------------


def keypad_toml(sequences: str, reassert: int | None = None) -> str:
    text = (
        '[[actuators]]\nname = "feature-code"\ntype = "keypad"\nhook_pin = 20\n'
        'keys = { "7" = 21, "1" = 12, "8" = 18, "2" = 16 }\n'
        f"sequences = {sequences}\n"
        "press_ms = 30\ngap_ms = 30\noffhook_ms = 0\nhangup_ms = 0\npause_ms = 0\n"
    )
    if reassert is not None:
        text += f"[verify]\nreassert_minutes = {reassert}\n"
    return text


def dials(rig) -> int:
    """How many times the phone went off-hook (the hook relay closed)."""
    return changes(rig.pin(20)).count(True)


def test_a_blind_absolute_code_is_dialled_again_every_hour(mock_factory, data_dir):
    """Many PBXs revert after their own power cut
    (docs/pbx-families.md#after-a-power-cut). A keypad with one code per mode and no
    status input re-asserts the mode in force every reassert_minutes."""
    cfg = config(keypad_toml('{ night = "718 1", day = "718 2" }'))
    with build_rig(mock_factory, data_dir, cfg, start=NIGHT_2200, sleep=lambda s: None) as rig:
        rig.step()
        assert dials(rig) == 1 and rig.status()["mode"] == "night"
        rig.advance(59 * 60)
        assert dials(rig) == 1
        rig.advance(60)
        assert dials(rig) == 2  # 23:00: "718 1" again
        rig.advance(3600)
        assert dials(rig) == 3
        assert rig.status()["faults"] == [] and rig.status()["mode"] == "night"
        # a re-assert is not a change: the audit has only the first switch
        assert len([a for a in rig.audit() if a["new_mode"] == "night"]) == 1


@pytest.mark.parametrize(
    "sequences, reassert",
    [
        ('{ night = "<NIGHT>", day = "<NIGHT>" }', None),  # a toggle: never dialled blind
        ('{ night = "718 1", day = "718 2" }', 0),  # switched off by the installer
    ],
)
def test_no_blind_re_assert_for_a_toggle_or_when_off(mock_factory, data_dir, sequences, reassert):
    keys = (
        'keys = { "7" = 21, "1" = 12, "8" = 18, "2" = 16 }'
        if "718" in sequences
        else 'keys = { "<NIGHT>" = 21 }'
    )
    text = keypad_toml(sequences, reassert).replace(
        'keys = { "7" = 21, "1" = 12, "8" = 18, "2" = 16 }', keys
    )
    with build_rig(
        mock_factory, data_dir, config(text), start=NIGHT_2200, sleep=lambda s: None
    ) as rig:
        rig.step()
        assert dials(rig) == 1
        rig.advance(5 * 3600)
        assert dials(rig) == 1


def test_a_failed_re_assert_is_a_fault_and_is_retried(mock_factory, data_dir):
    cfg = config(keypad_toml('{ night = "718 1", day = "718 2" }'))
    with build_rig(mock_factory, data_dir, cfg, start=NIGHT_2200, sleep=lambda s: None) as rig:
        rig.step()
        keypad = rig.actuators[0]
        real_apply = keypad.apply
        broken = [True]

        def apply(mode):
            if broken[0]:
                raise ActuatorError("feature-code: the hook relay is stuck")
            return real_apply(mode)

        keypad.apply = apply
        rig.advance(3600)  # the re-assert fails ...
        rig.step()  # ... and the retry path runs at once
        status = rig.status()
        assert [f["kind"] for f in status["faults"]] == ["actuator"]
        assert "hook relay is stuck" in status["faults"][0]["message"]
        assert [a["source"] for a in rig.audit()][0] == "fault"
        broken[0] = False
        rig.advance(2)  # the first retry, 2 s on
        assert rig.status()["faults"] == [] and dials(rig) == 2
