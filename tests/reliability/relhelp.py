"""Helpers for the reliability suite: an independent oracle, a fast driver, relay watches.

The suite proves that the appliance does what ``preview()`` says it will, whatever
happens to its clock, its PBX, its power and its inputs. These helpers keep the tests in
those words:

* :class:`Oracle` answers "which mode should be in force at instant *t*" from
  :func:`~appliance.decision.decide.preview` alone, so the controller (which uses
  :func:`~appliance.decision.decide.decide` and its ``next_change``) is checked against a second
  reading of the schedule.
* :func:`run_until` runs a controller exactly as its thread does (sleep until the
  earliest deadline, then step) but with an infinitely fast simulated clock, so days of
  schedule pass in a fraction of a second and every wake-up happens at its exact instant.
* :class:`RelayWatch` records each change of a relay output with the simulated instant at
  which the controller made it, and cross-checks gpiozero's own pin history so a
  change and its undo inside one step (chatter) cannot hide between two looks.
* :class:`Figures` collects the numbers a run produced (kills survived, faults injected,
  inputs tried) for RELIABILITY.md and ``bench/run_all.py``.
"""

from __future__ import annotations

import bisect
import json
import os
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from appliance.decision.decide import preview

UTC = timezone.utc
#: The relay state the default contact actuator holds per mode (hardware/pinmap.toml).
RELAY_FOR = {"day": "open", "night": "closed"}
#: Consecutive zero-length sleeps after which a controller is taken to be spinning.
SPIN_LIMIT = 1000


class Oracle:
    """The mode in force at any instant, read from :func:`preview` only.

    :param schedule: a parsed :class:`~appliance.decision.schedule.Schedule`.
    :param date first: the first local date covered.
    :param int days: how many days are covered.
    """

    def __init__(self, schedule, first: date, days: int):
        # Instants in UTC: PEP 495 makes an ambiguous local time (the repeated autumn
        # hour) unequal to every instant of another zone, even the same one.
        self.entries = [replace(e, at=e.at.astimezone(UTC)) for e in preview(schedule, first, days)]
        self.instants = [e.at for e in self.entries]
        self.first, self.days = first, days

    def mode_at(self, at: datetime) -> str:
        i = bisect.bisect_right(self.instants, at) - 1
        if i < 0:
            raise ValueError(f"{at} is before the oracle's first day {self.first}")
        return self.entries[i].mode

    def changes_in(self, start: datetime, end: datetime) -> list:
        """Preview entries strictly after *start* up to and including *end*."""
        return [e for e in self.entries if start < e.at <= end]

    def expected_relay_changes(
        self, segments: list[tuple[datetime, datetime]], relay_for=RELAY_FOR
    ) -> list[tuple[datetime, str]]:
        """The relay changes a correct appliance makes when its clock runs through
        *segments* (each ``(from, to)`` continuous; between segments the clock jumps).

        The relay starts in the state of the mode at the first instant (a restart
        re-asserts it); each jump changes it at once if the mode differs; inside a
        segment it changes at each preview entry that changes the relay.
        """
        out = []
        state = relay_for[self.mode_at(segments[0][0])]
        for i, (start, end) in enumerate(segments):
            if i:
                jumped = relay_for[self.mode_at(start)]
                if jumped != state:
                    out.append((start, jumped))
                    state = jumped
            for entry in self.changes_in(start, end):
                new = relay_for[entry.mode]
                if new != state:
                    out.append((entry.at, new))
                    state = new
        return out


def run_until(controller, clock, end: datetime, *, after_step=None, max_steps=2_000_000) -> int:
    """Run *controller* as its own thread would, until the simulated *end*.

    The thread sleeps ``_next_timeout()`` on the clock and then steps; here the sleep is
    an :meth:`~appliance.inputs.clock.SimClock.advance` of exactly that long, so each wake-up
    lands on its exact instant and no real time passes. Returns the number of steps.

    :param after_step: called after each step (a :class:`RelayWatch`'s ``look``).
    """
    steps = spins = 0
    while True:
        now = clock.now()
        if now >= end:
            return steps
        wait = controller._next_timeout()
        # A deadline that stays in the past makes the real thread wake again at once,
        # for ever: a core at 100 % in a comms cupboard. Say so instead of spinning.
        spins = spins + 1 if wait <= 0 else 0
        if spins >= SPIN_LIMIT:
            raise AssertionError(
                f"the controller busy-loops at {clock.now()}: _next_timeout() stayed 0 for "
                f"{SPIN_LIMIT} steps, so its thread would wake without pause (a deadline it "
                f"never clears); zones: "
                + "; ".join(
                    f"{z.name} source={z.decision.source if z.decision else None} "
                    f"worker={z.worker!r} retry_at={z.worker.retry_due_at()} "
                    f"verify_at={z.worker.verify_at} "
                    f"mono={clock.monotonic()}"
                    for z in controller.zones.values()
                )
            )
        clock.advance(min(wait, (end - now).total_seconds()))
        controller.step()
        steps += 1
        if after_step is not None:
            after_step()
        if steps >= max_steps:
            raise AssertionError(
                f"the controller did not reach {end} in {max_steps} steps (stuck at {clock.now()})"
            )


class RelayWatch:
    """Records a relay's changes against the simulated clock.

    :param relay: an :class:`~appliance.actuators.relay.Relay`.
    :param clock: the simulated clock whose ``now()`` stamps each change.
    """

    def __init__(self, relay, clock):
        self.relay = relay
        self.clock = clock
        self.pin = relay.pin
        self.state = self._state()
        self.changes: list[tuple[datetime, str]] = []
        self.pin_entries = len(self.pin.states)

    def _state(self) -> str:
        return "closed" if self.relay.is_closed else "open"

    def look(self) -> None:
        state = self._state()
        if state != self.state:
            self.changes.append((self.clock.now().astimezone(UTC), state))
            self.state = state

    @property
    def pin_changes(self) -> int:
        """Changes of the output pin itself since the watch began (gpiozero's history)."""
        return len(self.pin.states) - self.pin_entries


@dataclass
class Figures:
    """Numbers a reliability run produced, for RELIABILITY.md and bench/run_all.py.

    Written as JSON to ``$NIGHTSWITCH_REL_REPORT`` when that is set (``run_all`` sets
    it), and printed in pytest's summary.
    """

    values: dict = field(default_factory=dict)

    def add(self, name: str, value, unit: str = "", note: str = "") -> None:
        self.values[name] = {"value": value, "unit": unit, "note": note}

    def bump(self, name: str, by: int = 1, unit: str = "", note: str = "") -> None:
        old = self.values.get(name, {"value": 0, "unit": unit, "note": note})
        self.add(name, old["value"] + by, unit or old["unit"], note or old["note"])

    def write(self) -> Path | None:
        target = os.environ.get("NIGHTSWITCH_REL_REPORT")
        if not target or not self.values:
            return None
        path = Path(target)
        old = {}
        if path.exists():
            try:
                old = json.loads(path.read_text())
            except ValueError:
                old = {}
        old.update(self.values)
        path.write_text(json.dumps(old, indent=2, sort_keys=True, default=str))
        return path


#: The figures of this run (one per process: an xdist worker hands its own to the
#: controller at the end, tests/conftest.py).
FIGURES = Figures()


def every_day(ranges, *, tz: str, default_mode: str = "night") -> dict:
    """A schedule (the JSON of docs/API.md#schedule) with the same ranges on all seven days."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return {
        "timezone": tz,
        "default_mode": default_mode,
        "weekly": {d: [{"start": s, "end": e, "mode": m} for s, e, m in ranges] for d in days},
    }


def dst_changes(tz_name: str, years) -> list[datetime]:
    """Every instant in *years* at which *tz_name*'s UTC offset changes (to the second),
    found from the zone data itself rather than from a table that could be wrong."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(tz_name)
    out = []
    for year in years:
        t = datetime(year, 1, 1, tzinfo=UTC)
        end = datetime(year + 1, 1, 1, tzinfo=UTC)
        step = timedelta(hours=1)
        while t < end:
            u = t + step
            if t.astimezone(tz).utcoffset() != u.astimezone(tz).utcoffset():
                lo, hi = t, u
                while (hi - lo) > timedelta(seconds=1):
                    mid = lo + (hi - lo) / 2
                    if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                        lo = mid
                    else:
                        hi = mid
                out.append(hi.replace(microsecond=0))
            t = u
    return out


#: Tables whose content a refused request or command must leave as it was.
GUARDED_TABLES = (
    "schedules",
    "overrides",
    "users",
    "tokens",
    "settings",
    "calls",
    "unparsed",
    "audit",
)
#: Append-only tables (rows are only added, outside pruning): their row count and last
#: row stand for their content, which keeps a check cheap.
APPEND_ONLY = {"schedules", "audit", "calls", "unparsed"}
#: Bookkeeping a refused request may update: a token used for a refused request was
#: still used (its last use is noted, at most every 5 minutes).
BOOKKEEPING = {"tokens": {"last_used_at"}}


def db_fingerprint(db_path) -> dict:
    """What a refused request must not change: per table, a hash of every row (or, for
    append-only tables, their count and last rowid). Missing tables read as None."""
    import hashlib
    import sqlite3

    conn = sqlite3.connect(db_path, timeout=10)
    try:
        out = {}
        for table in GUARDED_TABLES:
            try:
                if table in APPEND_ONLY:
                    out[table] = conn.execute(
                        f"SELECT COUNT(*), MAX(rowid) FROM {table}"
                    ).fetchone()
                    continue
                h = hashlib.sha256()
                columns = [
                    c[1]
                    for c in conn.execute(f"PRAGMA table_info({table})")
                    if c[1] not in BOOKKEEPING.get(table, ())
                ]
                for row in conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid"):
                    h.update(repr(row).encode())
                out[table] = h.hexdigest()
            except sqlite3.OperationalError:
                out[table] = None
        return out
    finally:
        conn.close()


def rss_kb(pid: int | str = "self") -> int:
    """Resident memory of a process in KiB, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")
