"""The commissioning walk with a person at the terminal (:class:`OnSiteInstaller`).

The appliance runs in this process on gpiozero's mock pins with the PBX simulator; the
"person" is a script answering each question the walk asks, and doing with the
simulator what a person would do at the site when told to (turn the key, pull the cable
of the maintenance port). What they answer is what the report must say.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from appliance.commands.hwtest import Asker
from appliance.control.commissioning_results import summary
from appliance.control.commissioning_run import CommissioningRun
from appliance.control.onsite_installer import OnSiteInstaller
from appliance.daemon import Appliance
from appliance.inputs.clock import SimClock
from appliance.sim.virtual_panel import VirtualPanel
from tests.appliance_helpers import BERLIN, config
from tests.integration.test_commission_all import SERIAL_PRIMARY

MONDAY_1030 = datetime(2026, 3, 2, 10, 30, tzinfo=BERLIN)
#: Night is in force: the relay primary is closed from the start, and a pulled cable
#: reads like day (the walk must still show the fallback taking over).
MONDAY_1930 = datetime(2026, 3, 2, 19, 30, tzinfo=BERLIN)

PANEL = """
[front_panel]
zone = "main"
key_switch = "three-position"
debounce_ms = 50
[front_panel.pins]
key_day = 5
key_night = 6
led_day = 13
led_night = 19
led_fault = 26
"""


class PersonAtTheSite:
    """Answers the walk's prompts from a list of ``(prompt contains, answer)`` rules, and
    acts on the simulated site as the prompt says."""

    def __init__(self, appliance, answers: dict, *, leave_after: str | None = None):
        self.appliance = appliance
        self.answers = answers
        self.leave_after = leave_after
        self.prompts: list[str] = []
        self.panel = VirtualPanel(appliance.controller, appliance.clock)
        self.port = appliance.serial_sims[0]

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt.strip())
        if self.leave_after and self.leave_after in prompt:
            raise EOFError  # the ssh session dropped
        for position in ("DAY", "NIGHT", "AUTO"):
            if f"turn the key of zone main to {position}" in prompt:
                self.panel.set_key(position.lower())
                return ""
        if "disconnect the primary maintenance-port" in prompt:
            self.port.inject("silence")
            return ""
        if "connect maintenance-port" in prompt:
            self.port.clear()
            return ""
        for words, answer in self.answers.items():
            if words in prompt:
                return answer.pop(0) if isinstance(answer, list) else answer
        raise AssertionError(f"unexpected question: {prompt!r}")


def build(tmp_path, mock_factory):
    appliance = Appliance(
        config(PANEL, SERIAL_PRIMARY),
        tmp_path / "data",
        pin_factory=mock_factory,
        clock=SimClock(MONDAY_1030, rate=1.0),  # any hour of the run: a weekday morning
        simulate=True,
        web=False,
    )
    appliance.controller.start()
    return appliance


def walk(appliance, person) -> CommissioningRun:
    lines = []
    asker = Asker(False, out=lines.append, read=person)
    run = CommissioningRun(
        appliance, OnSiteInstaller(asker), by="Anna", seconds=0.1, out=lines.append
    )
    run.run()
    return run


def by_key(run):
    return {s.key: s for s in run.steps}


def test_the_installers_answers_are_the_results(tmp_path, mock_factory):
    appliance = build(tmp_path, mock_factory)
    try:
        person = PersonAtTheSite(
            appliance,
            {
                "did relay night-service click": "y",
                "did the LEDs light one at a time": "n",
                "what did you see?": ["the NIGHT LED stayed dark", ""],
                "is the PBX in": "yes",
                "are these the office's hours?": "y",
                "no holidays or closures": "n",
            },
        )
        run = walk(appliance, person)
        steps = by_key(run)
        (relay,) = steps["relays"].checks
        assert (relay.result, relay.answer) == ("passed", "yes")
        (leds,) = steps["leds"].checks
        assert (leds.result, leds.answer) == ("failed", "no: the NIGHT LED stayed dark")
        assert [c.result for c in steps["key"].checks] == ["passed"] * 3
        assert steps["key"].checks[1].answer == "the installer turned the key to NIGHT; yes"
        assert all(c.result == "passed" and c.answer == "yes" for c in steps["modes"].checks)
        takes_over, back = steps["fallback"].checks
        assert takes_over.result == "passed", takes_over.detail
        assert takes_over.answer == "the installer disconnected maintenance-port; yes"
        assert back.result == "passed", back.detail
        assert back.answer == "the installer connected maintenance-port again"
        in_force, by_itself = steps["schedule"].checks
        assert (in_force.result, by_itself.result) == ("passed", "skipped")
        (holidays,) = steps["holidays"].checks  # the default schedule has none
        assert (holidays.result, holidays.answer) == ("failed", "no")
        assert steps["alerts"].result == "skipped"
        assert summary(run.steps)["failed"] == 2
        assert "did the LEDs light one at a time: DAY, NIGHT, FAULT? [y/n]" in person.prompts
        status = appliance.controller.status()
        assert status["override"] is None and status["key"] == "auto"
    finally:
        appliance.stop()


def test_a_terminal_that_closes_stops_the_walk_and_puts_the_site_back(tmp_path, mock_factory):
    appliance = build(tmp_path, mock_factory)
    try:
        person = PersonAtTheSite(
            appliance,
            {"did relay": "y", "did the LEDs": "y", "is the PBX in": "y"},
            leave_after="disconnect the primary",
        )
        run = walk(appliance, person)
        steps = by_key(run)
        assert steps["modes"].result == "passed"
        assert run.stopped and "standard input is closed" in run.stopped
        assert steps["fallback"].error == run.stopped
        for key in ("schedule", "holidays", "alerts"):
            (check,) = steps[key].checks
            assert check.result == "skipped" and check.detail == f"not run: {run.stopped}"
        # the overrides the walk set are gone: the schedule decides again
        assert appliance.controller.status()["override"] is None
    finally:
        appliance.stop()


RELAY_PRIMARY = """
[[actuators]]
name = "night-service"
type = "contact"
pin = 17
settle_ms = 300
modes = { day = "open", night = "closed" }
sense = { pin = 24, pull_up = true, active_in = ["night"] }

[[actuators]]
name = "console-key"
type = "pulse"
role = "fallback"
pin = 27
modes = { day = "dark", night = "lit" }
sense = { pin = 25 }
"""


@pytest.mark.parametrize("start", [MONDAY_1030, MONDAY_1930], ids=["day", "night"])
def test_a_two_position_key_a_push_button_and_a_relay_primary(tmp_path, mock_factory, start):
    """On a simulated site, by day and by night: the flip of a two-position key and the
    push button beside it each switch the PBX; the relay primary's cable pulled (its
    sense input no longer driven) lets the fallback take over, and plugged back it takes
    over again. The relay step's press of the console key (the fallback, a toggle) must
    not leave the PBX toggled: at night the primary's contact, closed already, could not
    put it back."""
    from appliance.sim.installer import SimulatedInstaller

    panel = PANEL.replace('key_switch = "three-position"', 'key_switch = "two-position"').replace(
        "key_day = 5\nkey_night = 6", "key = 5\nbutton = 22"
    )
    appliance = Appliance(
        config(panel, RELAY_PRIMARY),
        tmp_path / "data",
        pin_factory=mock_factory,
        clock=SimClock(start, rate=1.0),
        simulate=True,
        web=False,
    )
    appliance.controller.start()
    try:
        run = CommissioningRun(
            appliance, SimulatedInstaller(appliance), by="Anna", seconds=0.1, out=lambda line: None
        )
        run.run()
        steps = by_key(run)
        key = steps["key"].checks
        assert [c.what for c in key] == [
            "two-position key to NIGHT",
            "two-position key to DAY",
            "push button",
        ]
        assert all(c.result == "passed" for c in key), [c.detail for c in key]
        assert key[0].detail.startswith("night applied and read back by night-service")
        assert key[2].detail.startswith("the press switched day to night: night applied")
        takes_over, back = steps["fallback"].checks
        assert takes_over.result == "passed", takes_over.detail
        assert "with night-service disconnected, switching to" in takes_over.detail
        # The relay step pressed the console key; it pressed it back: no fallback fault
        # was left over for the key step, and the PBX ended each step where it should.
        assert "fallback" not in key[0].detail, key[0].detail
        assert "sense input rests at its pull level" in takes_over.answer
        assert back.result == "passed", back.detail
        assert [c.result for c in steps["modes"].checks] == ["passed", "passed"]
        assert appliance.controller.status()["override"] is None
    finally:
        appliance.stop()
