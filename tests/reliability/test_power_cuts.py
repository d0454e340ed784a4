"""Power cuts: the daemon is SIGKILLed at random instants while it works, 200 times.

A change that was acknowledged survives a power cut at any instant
(docs/design.md#storage-and-config).

One real daemon (``nightswitch simulate`` with the default wiring and an SMDR line on a
pty) keeps one data directory through the whole test. Each round:

1. start it (about one round in ten is killed while it starts: opening and migrating
   the database, re-asserting the mode);
2. check what the last power cut left: the mode re-asserted equals the decision the
   saved schedule and override give, the relay and LEDs match the applied mode, the
   status is verified and names no fault;
3. let a client hammer it: overrides set and cancelled, key turns, schedule saves,
   API tokens created, SMDR call records arriving on the serial line;
4. SIGKILL it at a random instant, mid-request;
5. open the database file as it was left: ``PRAGMA integrity_check`` is ``ok``, no
   file was quarantined, and every change the API acknowledged (HTTP 2xx received
   before the kill) is there. The one request in flight at the kill may or may not
   have happened, but only it.

The number of kills is ``--kills`` / ``NIGHTSWITCH_KILLS`` (default 200).
"""

from __future__ import annotations

import http.client
import json
import random
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from appliance.decision.decide import Key, Override, decide
from appliance.decision.schedule import parse_schedule
from appliance.smdr.formats import load_format
from appliance.smdr.record import CallRecord
from tests.reliability.daemon_rig import SimDaemon, SmdrLine, write_config
from tests.reliability.relhelp import RELAY_FOR, every_day

BERLIN = ZoneInfo("Europe/Berlin")
UTC = timezone.utc
#: A share of rounds is killed during start-up rather than mid-work.
KILL_AT_START = 0.1


def schedule_variant(mode: str, tag: str) -> dict:
    """A schedule that keeps *mode* all day every day, tagged with a unique exception
    name far in the future (so each save is recognisable on disk)."""
    ranges = [("00:00", "24:00", mode)] if mode == "day" else []
    data = every_day(ranges, tz="Europe/Berlin")
    data["exceptions"] = [{"name": tag, "from": "2031-01-06", "to": "2031-01-06", "ranges": []}]
    return data


def tag_of(schedule: dict) -> str:
    return schedule["exceptions"][0]["name"] if schedule.get("exceptions") else "(initial)"


class Ledger:
    """What the API acknowledged, and the one request in flight."""

    def __init__(self):
        self.override = None  # (mode, until ISO or None) or None, as acknowledged
        self.override_maybe = []  # states an unacknowledged request may have made
        self.schedules: dict[int, str] = {}  # version -> tag, acknowledged
        self.schedule_tag = None
        self.schedule_maybe = []
        self.tokens: set[str] = set()
        self.calls: set[str] = set()
        self.sent_calls: set[str] = set()
        self.acked = {
            "override": 0,
            "cancel": 0,
            "refused": 0,
            "key": 0,
            "schedule": 0,
            "token": 0,
            "calls_seen": 0,
        }

    def settle(self, on_disk: dict):
        """After the checks of a kill: what may have happened is now known, and the
        request that was in flight either happened or did not (the disk says which)."""
        self.override = on_disk["override"]
        self.schedule_tag = tag_of(on_disk["schedule"])
        self.schedules[on_disk["version"]] = self.schedule_tag
        self.override_maybe = []
        self.schedule_maybe = []


class Client(threading.Thread):
    """Sends a random stream of requests until the daemon dies under it."""

    def __init__(
        self, daemon: SimDaemon, ledger: Ledger, smdr: SmdrLine, rng: random.Random, round_no: int
    ):
        super().__init__(daemon=True)
        self.d, self.ledger, self.smdr, self.rng, self.round = daemon, ledger, smdr, rng, round_no
        self.fmt = load_format("panasonic-kx-tda")
        self.done = 0
        self.errors: list[str] = []

    def run(self):
        n = 0
        try:
            while True:
                n += 1
                self.one(n)
                self.done += 1
        except (ConnectionError, OSError, TimeoutError, http.client.HTTPException):
            return  # the power went: this request is in flight
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(exc))

    def one(self, n: int):
        L, d, rng = self.ledger, self.d, self.rng
        op = rng.choices(
            ["override", "cancel", "key", "schedule", "token", "smdr"], weights=[4, 2, 2, 3, 1, 3]
        )[0]
        if op == "override":
            mode = rng.choice(["day", "night"])
            until = (
                None
                if rng.random() < 0.5
                else (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
            )
            L.override_maybe = [(mode, until)]
            a = d.request("POST", "/api/v1/override", {"mode": mode, "until": until})
            if a.status == 200:
                L.override = (mode, until)
                L.acked["override"] += 1
            elif a.status == 409:
                L.acked["refused"] += 1
            else:
                raise AssertionError(f"override -> {a.status} {a.body[:200]!r}")
            L.override_maybe = []
        elif op == "cancel":
            L.override_maybe = [None]
            a = d.request("DELETE", "/api/v1/override")
            if a.status == 200:
                L.override = None
                L.acked["cancel"] += 1
            elif a.status == 409:
                L.acked["refused"] += 1
            else:
                raise AssertionError(f"cancel -> {a.status} {a.body[:200]!r}")
            L.override_maybe = []
        elif op == "key":
            a = d.request(
                "POST",
                "/api/v1/sim/key",
                {"position": rng.choice(["auto", "auto", "day", "night"])},
            )
            assert a.status == 200, a.body
            L.acked["key"] += 1
        elif op == "schedule":
            tag = f"k{self.round}-{n}"
            data = schedule_variant(rng.choice(["day", "night"]), tag)
            L.schedule_maybe = [tag]
            a = d.request("PUT", "/api/v1/schedule", data)
            assert a.status == 200, a.body
            L.schedules[a.json()["version"]] = tag
            L.schedule_tag = tag
            L.schedule_maybe = []
            L.acked["schedule"] += 1
        elif op == "token":
            label = f"k{self.round}-{n}"
            a = d.request("POST", "/api/v1/tokens", {"role": "viewer", "label": label})
            assert a.status == 201, a.body
            L.tokens.add(label)
            L.acked["token"] += 1
        else:
            now = datetime.now(UTC).replace(second=0, microsecond=0)
            for i in range(rng.randrange(1, 4)):
                number = f"0{self.round:05d}{n:03d}{i}"
                record = CallRecord(
                    started_at=now - timedelta(minutes=3),
                    duration_s=42,
                    extension="101",
                    trunk="01",
                    direction="in",
                    answered=True,
                    ring_s=4,
                    number=number,
                    fmt="x",
                    raw="",
                )
                self.smdr.write(self.fmt.render(record, BERLIN) + "\r\n")
                L.sent_calls.add(number)
            # A call record is acknowledged once the API shows it.
            today = datetime.now(BERLIN).date()
            a = d.request("GET", f"/api/v1/calls?from={today - timedelta(days=1)}&to={today}")
            assert a.status == 200, a.body
            seen = {c["number"] for c in a.json()["calls"]}
            L.acked["calls_seen"] += len(seen - L.calls)
            L.calls |= seen


def check_database(db_path, ledger: Ledger) -> dict:
    """The database as the power cut left it: sound, and holding every acknowledged
    change. Returns what it holds, for the checks after the restart."""
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        row = conn.execute("SELECT mode, until FROM overrides WHERE zone = 'main'").fetchone()
        on_disk = None if row is None else (row[0], row[1])
        allowed = [ledger.override] + ledger.override_maybe
        assert any(_same_override(on_disk, want) for want in allowed), (
            f"override on disk {on_disk}, acknowledged {ledger.override}, "
            f"in flight {ledger.override_maybe}"
        )
        versions = dict(
            conn.execute("SELECT version, data FROM schedules WHERE zone = 'main'").fetchall()
        )
        tags = {v: tag_of(json.loads(data)) for v, data in versions.items()}
        for version, tag in ledger.schedules.items():
            assert tags.get(version) == tag, (
                f"acknowledged schedule version {version} ({tag}) "
                f"is not on disk as such: {tags.get(version)}"
            )
        latest = max(tags)
        allowed_tags = (
            [ledger.schedule_tag] if ledger.schedule_tag else []
        ) + ledger.schedule_maybe
        assert tags[latest] in allowed_tags or not allowed_tags, (
            f"the schedule in force is {tags[latest]}, acknowledged {ledger.schedule_tag}, "
            f"in flight {ledger.schedule_maybe}"
        )
        labels = {r[0] for r in conn.execute("SELECT label FROM tokens")}
        assert ledger.tokens <= labels, f"tokens lost: {sorted(ledger.tokens - labels)}"
        numbers = {r[0] for r in conn.execute("SELECT number FROM calls")}
        assert ledger.calls <= numbers, f"call records lost: {sorted(ledger.calls - numbers)}"
        dupes = conn.execute(
            "SELECT number, COUNT(*) FROM calls GROUP BY number HAVING COUNT(*) > 1"
        ).fetchall()
        assert not dupes, f"call records stored twice: {dupes}"
        return {
            "override": on_disk,
            "schedule": json.loads(versions[latest]),
            "version": latest,
            "calls": numbers,
        }
    finally:
        conn.close()


def _same_override(on_disk, want) -> bool:
    if on_disk is None or want is None:
        return on_disk is None and want is None
    if on_disk[0] != want[0]:
        return False
    if on_disk[1] is None or want[1] is None:
        return on_disk[1] is None and want[1] is None
    return datetime.fromisoformat(on_disk[1]) == datetime.fromisoformat(want[1])


def check_restart(daemon: SimDaemon, on_disk: dict, *, leds: bool) -> None:
    """After the restart: the mode re-asserted is the decision, the relay says so, and
    with *leds* the LEDs too (which means waiting out the 1 s lamp test)."""
    deadline = time.monotonic() + 10
    while True:
        status = daemon.json("GET", "/api/v1/status")
        panel = daemon.json("GET", "/api/v1/sim/panel")
        leds_settled = panel["leds"].get("fault") == "off" and "fast" not in panel["leds"].values()
        if status["verified"] and (leds_settled or not leds):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"not verified 10 s after the restart: {status} {panel}")
        time.sleep(0.02)
    override = None
    if on_disk["override"]:
        mode, until = on_disk["override"]
        override = Override(
            mode=mode,
            until=datetime.fromisoformat(until) if until else None,
            by="?",
            set_at=datetime.now(UTC),
        )
    now = datetime.fromisoformat(status["now"])
    wanted = decide(now, parse_schedule(on_disk["schedule"]), override, Key.AUTO)
    assert status["mode"] == wanted.mode == status["applied_mode"], (status, wanted)
    assert status["key"] == "auto" and not status["faults"], status
    assert (status["override"] or {}).get("mode") == (on_disk["override"] or (None,))[0]
    assert set(panel["relays"].values()) <= {"open", "closed"}, panel
    assert panel["relays"] == {"night-service": RELAY_FOR[wanted.mode]}, (panel, wanted)
    if not leds:
        return
    lit = "on" if wanted.source not in ("override", "key") else "slow"
    assert (
        panel["leds"][wanted.mode] == lit
        and panel["leds"]["night" if wanted.mode == "day" else "day"] == "off"
    ), panel


def test_power_cut_at_random_instants_loses_nothing_acknowledged(tmp_path, kills, figures):
    rng = random.Random(20260304)
    smdr = SmdrLine()
    config = write_config(tmp_path / "nightswitch.toml", smdr_port=smdr.path)
    daemon = SimDaemon(tmp_path / "data", config, tmp_path / "logs")
    ledger = Ledger()
    started = time.monotonic()
    at_start = mid_work = ops = 0
    try:
        daemon.start()
        # A schedule without boundaries, so the decision after each restart is sure.
        first = daemon.json("PUT", "/api/v1/schedule", schedule_variant("day", "k0"))
        ledger.schedules[first["version"]] = "k0"
        ledger.schedule_tag = "k0"
        on_disk = None
        for round_no in range(1, kills + 1):
            if round_no > 1:
                daemon.spawn()
                if rng.random() < KILL_AT_START:
                    time.sleep(rng.uniform(0.05, 0.9))
                    daemon.kill()
                    at_start += 1
                    on_disk = check_database(daemon.data / "nightswitch.db", ledger)
                    ledger.settle(on_disk)
                    continue
                daemon.wait_ready()
            if on_disk is not None:
                check_restart(daemon, on_disk, leds=round_no % 10 == 0)
            client = Client(daemon, ledger, smdr, rng, round_no)
            client.start()
            time.sleep(rng.uniform(0.02, 0.5))
            daemon.kill()
            client.join(15)
            assert not client.is_alive(), "the client hung after the power cut"
            assert not client.errors, client.errors
            ops += client.done
            mid_work += 1
            on_disk = check_database(daemon.data / "nightswitch.db", ledger)
            ledger.settle(on_disk)
            assert not list(daemon.data.glob("nightswitch.db.corrupt-*")), (
                "the database was quarantined after a power cut"
            )
        # One last start: everything is still there, and it stops cleanly.
        daemon.start()
        check_restart(daemon, on_disk, leds=True)
        assert daemon.stop() == 0
        stderr = daemon.all_stderr()
        assert "Traceback" not in stderr, stderr[-3000:]
    finally:
        daemon.kill()
        smdr.close()
    elapsed = time.monotonic() - started
    figures.add(
        "power_cuts_survived",
        kills,
        "kills",
        f"{mid_work} mid-work, {at_start} during start-up; {elapsed:.0f} s",
    )
    figures.add(
        "power_cut_requests_acknowledged",
        ops,
        "requests",
        ", ".join(f"{k} {v}" for k, v in ledger.acked.items()),
    )
    figures.add(
        "power_cut_acknowledged_lost",
        0,
        "changes",
        f"{len(ledger.schedules)} schedule versions, {len(ledger.tokens)} tokens, "
        f"{len(ledger.calls)} call records checked on disk after every kill",
    )
    unseen = len(ledger.sent_calls - on_disk["calls"])
    figures.add(
        "power_cut_smdr_lines_unstored",
        unseen,
        "call records",
        f"of {len(ledger.sent_calls)} written to the line; written in the last "
        "instants before a kill, unread, and flushed by pyserial's open at the "
        "restart (none of them was ever acknowledged)",
    )
    assert mid_work + at_start == kills
