"""Clock trouble: jumps, every DST change of 2026-2027 in five zones, an unsynchronized boot.

The controller runs on gpiozero's MockFactory pins with its night-service relay wired to
the PBX status input (MockConnectedPin), a SimClock and a Store on disk, exactly as the
daemon builds it. :func:`~tests.reliability.relhelp.run_until` drives it as its thread
does, with an infinitely fast clock. Every relay change is stamped with the simulated
instant it happened and compared, one for one, with what ``preview()`` says: no change
missed, none doubled, none late, and gpiozero's own pin history agrees (no chatter
inside a step). It never switches on a wrong clock (docs/design.md#the-clock-hold).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appliance.config import load_config_text
from appliance.control import controller as controller_module
from appliance.decision.schedule import parse_schedule
from appliance.store import Store
from tests.appliance_helpers import build_rig, contact_toml, panel_toml
from tests.reliability.relhelp import (
    RELAY_FOR,
    UTC,
    Oracle,
    RelayWatch,
    dst_changes,
    every_day,
    run_until,
)

#: Five zones whose rules differ in every way that matters: northern and southern
#: hemisphere, a change at midnight (Santiago), a 30-minute shift (Lord Howe).
DST_ZONES = (
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
)
#: Thirty minutes of day at the top of every hour, night in between: a boundary on every
#: half hour, so whatever local time a zone changes at, boundaries fall in its gap, its
#: overlap and right beside them.
DENSE = [(f"{h:02d}:00", f"{h:02d}:30", "day") for h in range(24)]

#: A working schedule with every level: weekly hours, holidays (DE-BY), a season and
#: exceptions, in day and night only (the contact relay's two modes).
OFFICE = {
    "timezone": "Europe/Berlin",
    "default_mode": "night",
    "weekly": {
        d: [{"start": "08:00", "end": "18:00", "mode": "day"}]
        for d in ("mon", "tue", "wed", "thu", "fri")
    }
    | {"sat": [{"start": "09:00", "end": "12:00", "mode": "day"}]},
    "holidays": {"country": "DE", "subdivision": "BY", "mode": "night"},
    "seasons": [
        {
            "name": "Summer hours",
            "from": "2026-07-01",
            "to": "2026-08-31",
            "weekly": {
                d: [{"start": "07:00", "end": "15:00", "mode": "day"}]
                for d in ("mon", "tue", "wed", "thu", "fri")
            },
        }
    ],
    "exceptions": [
        {
            "name": "Christmas Eve",
            "from": "2026-12-24",
            "to": "2026-12-24",
            "ranges": [{"start": "08:00", "end": "12:00", "mode": "day"}],
        }
    ],
}


@pytest.fixture
def lazy_watchdog(monkeypatch):
    """Wake-ups for the watchdog only every hour instead of every 10 s.

    Idle wake-ups change nothing, and days of them make a run slow. Dropping them makes
    the test stricter, not looser: a change the controller forgot to arm a wake-up for
    would then come up to an hour late instead of 10 s, and the exact-instant check
    below fails. The scripted jump tests keep the real 10 s.
    """
    monkeypatch.setattr(controller_module, "WATCHDOG_S", 3600.0)


def site_config(tz: str):
    text = f'[site]\nname = "Clock trouble"\ntimezone = "{tz}"\n'
    return load_config_text(text + panel_toml() + contact_toml(sense_pin=24), "test.toml")


def make_rig(mock_factory, data_dir, schedule: dict, start: datetime, *, synchronized=True):
    """A controller whose store already holds *schedule* (as after an earlier save)."""
    store = Store(data_dir)
    store.save_schedule("main", schedule, by="test", at=start)
    store.close()
    return build_rig(
        mock_factory,
        data_dir,
        site_config(schedule["timezone"]),
        start=start,
        wires={17: 24},
        synchronized=synchronized,
    )


def relay_of(rig):
    return rig.actuators[0].relay


def expected_from(oracle: Oracle, segments, initial_relay="open"):
    """What a correct appliance does to a relay that starts *initial_relay* (the
    constructor leaves it open) and a clock that runs through *segments*."""
    segments = [(a.astimezone(UTC), b.astimezone(UTC)) for a, b in segments]
    first = RELAY_FOR[oracle.mode_at(segments[0][0])]
    out = [(segments[0][0], first)] if first != initial_relay else []
    return out + oracle.expected_relay_changes(segments)


def assert_follows(watch: RelayWatch, expected):
    assert watch.changes == expected, (
        "relay changes differ from preview():\n got      "
        + repr(watch.changes)
        + "\n expected "
        + repr(expected)
    )
    assert watch.pin_changes == len(watch.changes), (
        f"the relay pin changed {watch.pin_changes} times but only {len(watch.changes)} "
        "changes were visible between steps: it chattered inside a step"
    )


# -- every DST change of 2026 and 2027 in five zones ------------------------------------


@pytest.mark.parametrize("tz", DST_ZONES)
def test_every_dst_change_2026_2027_is_followed_exactly(
    mock_factory, tmp_path, tz, figures, lazy_watchdog
):
    changes = dst_changes(tz, (2026, 2027))
    assert len(changes) == 4, f"{tz}: expected two DST changes a year, found {changes}"
    zone = ZoneInfo(tz)
    schedule = every_day(DENSE, tz=tz)
    parsed = parse_schedule(schedule)
    for n, change in enumerate(changes):
        start, end = change - timedelta(hours=4), change + timedelta(hours=4)
        oracle = Oracle(parsed, start.astimezone(zone).date() - timedelta(days=1), 3)
        rig = make_rig(mock_factory, tmp_path / f"dst{n}", schedule, start)
        try:
            watch = RelayWatch(relay_of(rig), rig.clock)
            rig.step()
            watch.look()
            run_until(rig.controller, rig.clock, end, after_step=watch.look)
            expected = expected_from(oracle, [(start, end)])
            assert_follows(watch, expected)
            # Half-hour boundaries for 8 hours: a gap drops some, an overlap must not
            # add any. At least 12 changes happen in any such window.
            assert len(expected) >= 12
            status = rig.status()
            assert status["mode"] == oracle.mode_at(end) and status["verified"]
            assert not status["faults"]
            figures.bump(
                "clock_dst_changes_followed", unit="DST changes", note="2026-2027, 5 zones"
            )
            figures.bump("clock_relay_transitions_checked", len(expected), unit="transitions")
        finally:
            rig.close()
            mock_factory.reset()


# -- jumps of an hour and a day, forward and back ---------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


JUMPS = {
    # name: (start, run until, jump to, run until)
    "forward 1 h across closing": (
        "2026-03-04 17:00",
        "2026-03-04 17:30",
        "2026-03-04 18:30",
        "2026-03-04 20:00",
    ),
    "back 1 h across closing": (
        "2026-03-04 18:00",
        "2026-03-04 18:30",
        "2026-03-04 17:30",
        "2026-03-04 20:00",
    ),
    "forward 1 h across opening": (
        "2026-03-04 07:00",
        "2026-03-04 07:30",
        "2026-03-04 08:30",
        "2026-03-04 10:00",
    ),
    "back 1 h across opening": (
        "2026-03-04 08:00",
        "2026-03-04 08:30",
        "2026-03-04 07:30",
        "2026-03-04 10:00",
    ),
    "forward 1 day into the weekend": (
        "2026-03-06 16:00",
        "2026-03-06 17:00",
        "2026-03-07 17:00",
        "2026-03-09 09:00",
    ),
    "back 1 day out of a working day": (
        "2026-03-09 08:30",
        "2026-03-09 09:00",
        "2026-03-08 09:00",
        "2026-03-09 12:00",
    ),
    "forward 1 day onto a holiday": (
        "2026-01-05 09:00",
        "2026-01-05 10:00",
        "2026-01-06 10:00",
        "2026-01-07 09:00",
    ),
    "back 1 day into Christmas Eve's morning": (
        "2026-12-25 09:00",
        "2026-12-25 10:00",
        "2026-12-24 10:00",
        "2026-12-24 13:00",
    ),
}


@pytest.mark.parametrize("name", list(JUMPS))
def test_clock_jump_switches_once_at_the_jump(mock_factory, tmp_path, name, figures):
    start, run_to, jump_to, end = map(at, JUMPS[name])
    oracle = Oracle(parse_schedule(OFFICE), date_of(start) - timedelta(days=3), 8)
    rig = make_rig(mock_factory, tmp_path / "data", OFFICE, start)
    try:
        watch = RelayWatch(relay_of(rig), rig.clock)
        rig.step()
        watch.look()
        run_until(rig.controller, rig.clock, run_to, after_step=watch.look)
        rig.clock.set(jump_to)
        rig.step()
        watch.look()
        run_until(rig.controller, rig.clock, end, after_step=watch.look)
        assert_follows(watch, expected_from(oracle, [(start, run_to), (jump_to, end)]))
        assert rig.status()["mode"] == oracle.mode_at(end)
        figures.bump("clock_jumps", unit="jumps", note="+-1 h and +-1 day, scripted and random")
    finally:
        rig.close()


def date_of(instant: datetime):
    return instant.astimezone(BERLIN).date()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_walk_of_jumps_and_runs(mock_factory, tmp_path, seed, figures, lazy_watchdog):
    """Forty jumps of +-1 h or +-1 day at random instants, with runs of up to 30 hours
    between them: after every step the relay is what preview() says for the clock's time,
    and the changes are exactly the expected ones."""
    rng = random.Random(seed)
    start = at("2026-06-29 06:00")
    segments, t = [], start
    for _ in range(40):
        run = timedelta(minutes=rng.randrange(0, 30 * 60))
        segments.append((t, t + run))
        t = (
            t
            + run
            + rng.choice(
                [timedelta(hours=1), timedelta(hours=-1), timedelta(days=1), timedelta(days=-1)]
            )
        )
    segments.append((t, t + timedelta(hours=6)))
    low = min(s for s, _ in segments)
    high = max(e for _, e in segments)
    oracle = Oracle(
        parse_schedule(OFFICE),
        date_of(low) - timedelta(days=1),
        (date_of(high) - date_of(low)).days + 3,
    )
    rig = make_rig(mock_factory, tmp_path / "data", OFFICE, start)
    try:
        watch = RelayWatch(relay_of(rig), rig.clock)

        def look():
            watch.look()
            wanted = RELAY_FOR[oracle.mode_at(rig.clock.now())]
            assert watch.state == wanted, f"at {rig.clock.now()} the relay is {watch.state}"

        rig.step()
        look()
        for i, (seg_start, seg_end) in enumerate(segments):
            if i:
                rig.clock.set(seg_start)
                rig.step()
                look()
            run_until(rig.controller, rig.clock, seg_end, after_step=look)
        assert_follows(watch, expected_from(oracle, segments))
        figures.bump(
            "clock_jumps",
            len(segments) - 1,
            unit="jumps",
            note="+-1 h and +-1 day, scripted and random",
        )
    finally:
        rig.close()


# -- an unsynchronized boot -----------------------------------------------------------------


@pytest.mark.parametrize(
    "true_time,expected_switches",
    [
        ("2026-03-04 20:00", 0),  # the truth is night, as last applied: nothing moves
        ("2026-03-05 09:00", 1),  # the truth is day: one switch, when the clock is right
    ],
)
def test_unsynchronized_boot_holds_the_last_mode_until_the_clock_is_right(
    mock_factory, tmp_path, true_time, expected_switches, figures, lazy_watchdog
):
    data = tmp_path / "data"
    # An earlier run applied night at 19:00 and the power went.
    first = make_rig(mock_factory, data, OFFICE, at("2026-03-04 19:00"))
    first.step()
    assert first.status()["applied_mode"] == "night"
    first.close()
    mock_factory.reset()

    # The Pi boots with fake-hwclock's stale time: Wednesday 10:00, which would be day.
    stale = at("2026-03-04 10:00")
    with build_rig(
        mock_factory,
        data,
        site_config("Europe/Berlin"),
        start=stale,
        wires={17: 24},
        synchronized=False,
    ) as rig:
        watch = RelayWatch(relay_of(rig), rig.clock)
        rig.step()
        watch.look()
        # The relay came up open (safe) and is put back to the mode last applied.
        assert watch.changes == [(stale.astimezone(UTC), "closed")]
        status = rig.status()
        assert status["source"] == "hold" and status["mode"] == "night"
        assert any(f["kind"] == "clock" for f in status["faults"])
        assert rig.panel.leds.patterns["fault"] == "slow"
        # The wrong clock runs on across opening time, and jumps around: nothing moves.
        run_until(rig.controller, rig.clock, at("2026-03-04 13:00"), after_step=watch.look)
        for jump in (
            timedelta(hours=1),
            timedelta(hours=-1),
            timedelta(days=1),
            timedelta(days=-1),
            timedelta(days=2),
        ):
            rig.clock.set(rig.clock.now() + jump)
            rig.step()
            watch.look()
            run_until(
                rig.controller,
                rig.clock,
                rig.clock.now() + timedelta(hours=3),
                after_step=watch.look,
            )
        assert watch.changes == [(stale.astimezone(UTC), "closed")], "switched on a wrong clock"
        assert rig.status()["mode"] == "night"

        # timesyncd steps the clock and says so.
        truth = at(true_time)
        rig.clock.set(truth)
        rig.clock.set_synchronized(True)
        rig.step()
        watch.look()
        run_until(rig.controller, rig.clock, truth + timedelta(minutes=30), after_step=watch.look)
        oracle = Oracle(parse_schedule(OFFICE), date_of(truth) - timedelta(days=1), 3)
        assert len(watch.changes) - 1 == expected_switches
        assert watch.state == RELAY_FOR[oracle.mode_at(truth)]
        if expected_switches:
            assert watch.changes[-1][0] == truth.astimezone(UTC), (
                "the switch waited after the clock was right"
            )
        status = rig.status()
        assert status["source"] != "hold"
        assert not any(f["kind"] == "clock" for f in status["faults"])
        assert watch.pin_changes == len(watch.changes)
        figures.bump("clock_unsynchronized_boots", unit="boots")


def test_first_boot_on_an_unsynchronized_clock_applies_nothing(
    mock_factory, tmp_path, lazy_watchdog
):
    """No mode was ever applied and the clock cannot be trusted: the relay stays in its
    safe state (open) until the clock is right."""
    rig = make_rig(
        mock_factory, tmp_path / "data", OFFICE, at("2026-03-04 10:00"), synchronized=False
    )
    try:
        watch = RelayWatch(relay_of(rig), rig.clock)
        rig.step()
        run_until(rig.controller, rig.clock, at("2026-03-05 10:00"), after_step=watch.look)
        assert watch.changes == [] and watch.pin_changes == 0
        assert rig.status()["source"] == "hold"
        rig.clock.set(at("2026-03-05 20:00"))
        rig.clock.set_synchronized(True)
        rig.step()
        watch.look()
        assert watch.changes == [(at("2026-03-05 20:00").astimezone(UTC), "closed")]
    finally:
        rig.close()
