"""The soak: 60 simulated days of the whole appliance, with an exact count at the end.

Run it on its own (``python -m tests.reliability.soak --days 60``), from
``bench/run_all.py``, or through ``tests/reliability/test_soak.py`` (in every suite run).

One process holds the whole appliance as ``simulate`` builds it: the controller thread,
the front panel and relays on gpiozero's MockFactory, the PBX simulator's pin side
answering the night-service relay, the SMDR intake reading a pty, waitress serving the
web app. Its :class:`~appliance.inputs.clock.SimClock` stands still unless this driver moves
it; the driver moves it straight to the next thing that happens (a schedule change, an
override's end, an injected event) or by an hour at most, and waits for the controller
to finish each step. So 60 days take about a minute, and every change happens at its
exact instant.

Injected, at random but reproducible instants:

* overrides through the HTTP API, to the other mode, until a concrete time or ``next``;
* key turns at reception (DAY or NIGHT, then back to AUTO) on the virtual panel's pins;
* SMDR call records on the serial line, about 30 a day;
* the status page polled every simulated hour, the call summary and the log daily.

At the end, the relay's changes (read from its pin) must be exactly the ones worked out
independently from ``preview()`` plus the injected overrides and key turns, at the same
instants; every call record must be stored; and resident memory, sampled daily after a
warm-up, must stay within 10 % of where it started.

Prints a human summary, ``BENCH`` lines for ``bench/run_all.py``, and with ``--json`` a
JSON document.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from appliance.config import load_config_text  # noqa: E402
from appliance.decision.decide import preview  # noqa: E402
from appliance.decision.schedule import parse_schedule  # noqa: E402
from appliance.inputs.clock import SimClock  # noqa: E402
from appliance.smdr.formats import load_format  # noqa: E402
from appliance.smdr.record import CallRecord  # noqa: E402
from appliance.store import Store  # noqa: E402

BERLIN = ZoneInfo("Europe/Berlin")
UTC = timezone.utc
START = datetime(2026, 3, 2, 0, 0, tzinfo=BERLIN)  # a Monday
RELAY_FOR = {"day": "open", "night": "closed"}
DEBOUNCE_S = 0.05
WARM_UP_DAYS = 5
SCHEDULE = {
    "timezone": "Europe/Berlin",
    "default_mode": "night",
    "weekly": {
        d: [{"start": "08:00", "end": "18:00", "mode": "day"}]
        for d in ("mon", "tue", "wed", "thu", "fri")
    },
    "holidays": {
        "country": "DE",
        "subdivision": "BY",
        "mode": "night",
        "custom": [{"date": "2026-03-20", "name": "Company day"}],
    },
    "exceptions": [
        {
            "name": "Early close",
            "from": "2026-03-13",
            "to": "2026-03-13",
            "ranges": [{"start": "08:00", "end": "12:00", "mode": "day"}],
        }
    ],
}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Plan:
    """The injected events, drawn before the run, and the relay changes they imply."""

    def __init__(self, days: int, seed: int):
        rng = random.Random(seed)
        self.days = days
        self.end = START + timedelta(days=days)
        self.schedule = parse_schedule(SCHEDULE)
        self.preview = list(preview(self.schedule, START.date(), days + 2))
        self.instants = [e.at.astimezone(UTC) for e in self.preview]
        # Overrides and key turns, never overlapping one another.
        self.intervals = []  # (start, end or None, mode, kind); end None = "next"
        # Whole seconds: the status shows instants to the second.
        t = START + timedelta(seconds=round(rng.uniform(6, 30) * 3600))
        while t < self.end - timedelta(days=1):
            kind = rng.choice(["override", "override", "key"])
            mode = "day" if self.schedule_mode(t) == "night" else "night"
            if kind == "override" and rng.random() < 0.4:
                end = self.next_change(t)  # until "next"
                self.intervals.append((t, end, mode, "override-next"))
            else:
                end = t + timedelta(minutes=rng.randrange(20, 8 * 60))
                if kind == "key":
                    mode = rng.choice(["day", "night"])
                self.intervals.append((t, end, mode, kind))
            t = end + timedelta(seconds=round(rng.uniform(4, 40) * 3600))
        self.calls = sorted(
            START + timedelta(seconds=rng.randrange(0, days * 86400)) for _ in range(30 * days)
        )

    def schedule_mode(self, at: datetime) -> str:
        import bisect

        i = bisect.bisect_right(self.instants, at.astimezone(UTC)) - 1
        return self.preview[i].mode

    def next_change(self, at: datetime) -> datetime:
        for instant in self.instants:
            if instant > at.astimezone(UTC):
                return instant.astimezone(BERLIN)
        raise ValueError("no change within the preview")

    def mode_at(self, at: datetime, key_delay: float) -> str:
        for start, end, mode, kind in self.intervals:
            s, e = start, end
            if kind == "key":
                s, e = start + timedelta(seconds=key_delay), end + timedelta(seconds=key_delay)
            if s <= at < e:
                return mode
        return self.schedule_mode(at)

    def expected_changes(self) -> list[tuple[datetime, str]]:
        points = {START.astimezone(UTC)}
        points |= {i for i in self.instants if START <= i < self.end}
        for start, end, _, kind in self.intervals:
            delay = timedelta(seconds=DEBOUNCE_S) if kind == "key" else timedelta(0)
            points |= {(start + delay).astimezone(UTC), (end + delay).astimezone(UTC)}
        out, state = [], "open"  # the relay comes up open (safe)
        for at in sorted(p for p in points if p < self.end):
            new = RELAY_FOR[self.mode_at(at, DEBOUNCE_S)]
            if new != state:
                out.append((at, new))
                state = new
        return out


class Client:
    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.requests = 0

    def call(self, method: str, path: str, body=None, ok=(200,)):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Authorization": f"Bearer {self.token}"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            self.requests += 1
            if resp.status not in ok:
                raise AssertionError(f"{method} {path} -> {resp.status}: {payload[:300]!r}")
            ctype = resp.getheader("Content-Type") or ""
            return json.loads(payload) if ctype.startswith("application/json") else payload
        finally:
            conn.close()


def scrape_counters(client: Client, counters: dict) -> None:
    """Read /metrics and note every counter that fell since the last scrape (issue 15:
    counters only rise while the daemon runs)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = client.call("GET", "/metrics").decode()
    latest = counters.setdefault("latest", {})
    for family in text_string_to_metric_families(text):
        if family.type not in ("counter", "histogram"):
            continue
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            if sample.value < latest.get(key, float("-inf")):
                counters.setdefault("fell", []).append(
                    f"{sample.name}{dict(sample.labels)}: {latest[key]} -> {sample.value}"
                )
            latest[key] = sample.value
    counters["scrapes"] = counters.get("scrapes", 0) + 1


def run(days: int = 60, seed: int = 60, verbose: bool = False) -> dict:
    import os
    import pty
    import tty

    from gpiozero.pins.mock import MockFactory

    from appliance.daemon import Appliance

    plan = Plan(days, seed)
    workdir = Path(tempfile.mkdtemp(prefix="nightswitch-soak-"))
    master, slave = pty.openpty()
    tty.setraw(slave)
    port = free_port()
    pinmap = (Path(__file__).resolve().parents[2] / "hardware" / "pinmap.toml").read_text()
    config = load_config_text(
        pinmap + f'\n[site]\nname = "Soak"\ntimezone = "Europe/Berlin"\n'
        f'[web]\nlisten = "127.0.0.1:{port}"\n'
        f'[smdr]\nport = "{os.ttyname(slave)}"\nformat = "panasonic-kx-tda"\n',
        "soak.toml",
    )
    config.clock_sync = "always"
    with Store(workdir / "data") as store:
        store.save_schedule("main", SCHEDULE, by="soak", at=START)
    clock = SimClock(START)
    factory = MockFactory()
    appliance = Appliance(
        config,
        workdir / "data",
        pin_factory=factory,
        clock=clock,
        simulate=True,
        port=port,
        host="127.0.0.1",
    )
    fmt = load_format("panasonic-kx-tda")
    started = time.monotonic()
    relay_pin = factory.pin(17)
    seen: list[tuple[datetime, str]] = []
    rss: list[int] = []
    numbers: set[str] = set()
    events = []
    for start, end, mode, kind in plan.intervals:
        events.append((start, "begin", (mode, kind, end)))
        if kind == "key":
            events.append((end, "key-auto", None))
    events += [(t, "call", None) for t in plan.calls]
    events.sort(key=lambda e: e[0])
    try:
        appliance.start()
        token = appliance.store.create_token(
            "admin", label="soak", by="soak", at=datetime.now(timezone.utc)
        )
        client = Client(appliance.port, token)
        ctl = appliance.controller

        def settle():
            # The step that the clock's move woke has finished, and so has the worker
            # that drives the relay (it runs on a thread of its own).
            ctl.wait_idle()

        def look():
            state = "closed" if relay_pin.state else "open"
            if not seen or seen[-1][1] != state:
                if seen or state != "open":
                    seen.append((clock.now().astimezone(UTC), state))

        def advance_to(target: datetime):
            step = (target - clock.now()).total_seconds()
            if step > 0:
                clock.advance(step)
            settle()
            look()

        settle()
        look()
        next_sample = START + timedelta(days=WARM_UP_DAYS)
        next_poll = START + timedelta(hours=1)
        next_daily = START + timedelta(days=1)
        counters: dict = {}
        i = 0
        while clock.now() < plan.end:
            status = ctl.status()
            candidates = [plan.end, next_poll, next_daily, next_sample]
            if status["next_change"]:
                candidates.append(datetime.fromisoformat(status["next_change"]["at"]))
            override = status.get("override")
            if override and override.get("until"):
                candidates.append(datetime.fromisoformat(override["until"]))
            if i < len(events):
                candidates.append(events[i][0])
            target = min(c for c in candidates if c > clock.now() - timedelta(microseconds=1))
            advance_to(target)
            now = clock.now()
            while i < len(events) and events[i][0] <= now:
                at, what, detail = events[i]
                i += 1
                if what == "begin":
                    mode, kind, end = detail
                    if kind == "key":
                        # The simulator's key call lets the debounce time pass on the
                        # clock itself (as a hand on the key would): look at the relay
                        # once that time is up, without moving the clock any further.
                        turned_at = clock.now()
                        client.call("POST", "/api/v1/sim/key", {"position": mode})
                        advance_to(turned_at + timedelta(seconds=DEBOUNCE_S))
                    else:
                        until = "next" if kind == "override-next" else end.isoformat()
                        answer = client.call(
                            "POST", "/api/v1/override", {"mode": mode, "until": until}
                        )
                        got = datetime.fromisoformat(answer["override"]["until"])
                        assert got == end, f"override until {got}, expected {end}"
                        look()
                elif what == "key-auto":
                    turned_at = clock.now()
                    client.call("POST", "/api/v1/sim/key", {"position": "auto"})
                    advance_to(turned_at + timedelta(seconds=DEBOUNCE_S))
                else:
                    number = f"0{len(numbers):09d}"
                    record = CallRecord(
                        started_at=clock.now() - timedelta(seconds=65),
                        duration_s=60,
                        extension="101",
                        trunk="01",
                        direction="in",
                        answered=True,
                        ring_s=5,
                        number=number,
                        fmt=fmt.name,
                        raw="",
                    )
                    os.write(master, (fmt.render(record, BERLIN) + "\r\n").encode("latin-1"))
                    numbers.add(number)
            if now >= next_poll:
                client.call("GET", "/api/v1/status")
                next_poll = now + timedelta(hours=1)
            if now >= next_daily:
                day = now.astimezone(BERLIN).date()
                client.call("GET", f"/api/v1/calls/summary?from={day - timedelta(days=6)}&to={day}")
                client.call("GET", "/api/v1/audit?limit=50")
                scrape_counters(client, counters)
                next_daily = now + timedelta(days=1)
            if now >= next_sample:
                rss.append(rss_kb())
                next_sample = now + timedelta(days=1)
                if verbose:
                    print(
                        f"day {(now - START).days:3d}: {len(seen)} relay changes, "
                        f"rss {rss[-1] / 1024:.1f} MB",
                        file=sys.stderr,
                    )
        # Every call record reaches the database (the intake reads in real time).
        deadline = time.monotonic() + 30
        while True:
            stored = {
                c["number"]
                for c in appliance.store.calls(
                    "main", START - timedelta(days=1), plan.end + timedelta(days=1)
                )
            }
            if numbers <= stored or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        # Before the stop, which de-energizes the relay (one more change, by design).
        pin_changes = len(relay_pin.states) - 1
        intake = appliance.intake.stats() if appliance.intake else {}
        final = ctl.status()
        alive = ctl._thread is not None and ctl._thread.is_alive()
    finally:
        appliance.stop()
        os.close(master)
        os.close(slave)
    expected = plan.expected_changes()
    growth = (max(rss) - rss[0]) / rss[0] * 100 if len(rss) > 1 else 0.0
    return {
        "days": days,
        "seed": seed,
        "real_s": round(time.monotonic() - started, 1),
        "transitions": len(seen),
        "expected_transitions": len(expected),
        "pin_changes": pin_changes,
        "transitions_match": seen == expected,
        "first_difference": next(
            ([a, b] for a, b in zip(seen, expected) if a != b),
            None if len(seen) == len(expected) else ["length", len(seen), len(expected)],
        ),
        "overrides": sum(1 for *_, k in plan.intervals if k.startswith("override")),
        "key_turns": sum(1 for *_, k in plan.intervals if k == "key"),
        "calls_sent": len(numbers),
        "calls_stored": len(numbers & stored),
        "intake": {k: intake.get(k) for k in ("lines", "calls", "unparsed", "lost")},
        "http_requests": client.requests,
        "rss_kb": rss,
        "rss_growth_pct": round(growth, 2),
        "metrics_scrapes": counters.get("scrapes", 0),
        "counters_fell": counters.get("fell", []),
        "switches_counted": sum(
            v
            for (n, _), v in counters.get("latest", {}).items()
            if n == "nightswitch_switches_total"
        ),
        "controller_alive": alive,
        "final_mode": final["mode"],
        "final_faults": final["faults"],
    }


def check(result: dict) -> list[str]:
    """What a soak result fails on (empty when it passed)."""
    problems = []
    if not result["transitions_match"]:
        problems.append(
            f"relay changes differ from the plan: first difference {result['first_difference']}"
        )
    if result["pin_changes"] != result["transitions"]:
        problems.append(
            f"the relay pin changed {result['pin_changes']} times, "
            f"{result['transitions']} seen between steps"
        )
    if result["calls_stored"] != result["calls_sent"]:
        problems.append(f"{result['calls_sent'] - result['calls_stored']} call records lost")
    if result["rss_growth_pct"] > 10:
        problems.append(f"resident memory grew {result['rss_growth_pct']} % after warm-up")
    if result.get("counters_fell"):
        problems.append(f"counters fell on /metrics: {result['counters_fell'][:3]}")
    if result.get("metrics_scrapes", 1) == 0:
        problems.append("/metrics was never scraped")
    if not result["controller_alive"]:
        problems.append("the controller thread died")
    if result["final_faults"]:
        problems.append(f"faults at the end: {result['final_faults']}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="60 simulated days of the whole appliance")
    parser.add_argument("--days", type=int, default=60, help="simulated days (default 60)")
    parser.add_argument("--seed", type=int, default=60, help="random seed of the plan")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="a line per day")
    args = parser.parse_args(argv)
    if not 6 <= args.days <= 400:
        parser.error("--days must be 6 to 400")
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = run(args.days, args.seed, args.verbose)
    problems = check(result)
    if args.json:
        print(json.dumps(result, default=str))
    else:
        print(
            f"soak: {result['days']} simulated days in {result['real_s']} s: "
            f"{result['transitions']} relay changes (expected {result['expected_transitions']}"
            f"), {result['overrides']} overrides, {result['key_turns']} key turns, "
            f"{result['calls_stored']}/{result['calls_sent']} calls stored, "
            f"{result['http_requests']} HTTP requests, memory "
            f"{result['rss_kb'][0] / 1024:.1f} -> {result['rss_kb'][-1] / 1024:.1f} MB "
            f"(max growth {result['rss_growth_pct']} %)"
        )
        for problem in problems:
            print(f"soak: FAILED: {problem}")
    print(
        f"BENCH name=soak_transitions_exact value={int(result['transitions_match'])} "
        f"unit=bool target=1 (= {result['expected_transitions']} expected changes)"
    )
    print(f"BENCH name=soak_rss_growth value={result['rss_growth_pct']} unit=% target=<10")
    print(
        f"BENCH name=soak_calls_lost value={result['calls_sent'] - result['calls_stored']} "
        f"unit=count target=0"
    )
    print(
        f"BENCH name=soak_metrics_counters_fell value={len(result['counters_fell'])} "
        f"unit=count target=0 ({result['metrics_scrapes']} scrapes of /metrics, "
        f"{result['switches_counted']:g} switches counted)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
