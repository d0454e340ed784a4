"""Calendar subscriptions: refreshing a 5,000-event feed, and key turns meanwhile.

The feed is what a big Outlook or Google calendar looks like: 5,000 events in the 400
days ahead, in Windows and IANA time-zone names and UTC, one in ten a weekly series
with EXDATEs and a moved occurrence, one in ten all day. It is served by Python's own
HTTP server on 127.0.0.1.

Figures:

- refresh: fetch over HTTP + parse + expand (in the worker process, as the daemon
  does) + save the copy, median of N (issue 17: under 1 s on this machine);
- expand: parse + expand alone, in one process (the worker also forks a helper for
  part of the series, calendars.helper; this figure is without it);
- publish: how long the controller thread is busy taking the new layer and deciding
  again (the only part of a refresh that runs there);
- key turn while refreshing: debounced key edge to relay, p99, with a refresh of the
  5,000-event feed running back to back on the calendar thread (p99 < 5 ms,
  docs/design.md#performance-targets).

Run: ``python bench/bench_calendar.py [--runs N] [--turns N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_appliance import Rig, percentile, relay_change_time, wait_until  # noqa: E402
from benchline import bench_line  # noqa: E402

from appliance.inputs.calendars.expand import Rules, expand_feed  # noqa: E402
from appliance.inputs.calendars.service import CalendarService  # noqa: E402
from appliance.inputs.calendars.settings import CalendarConfig  # noqa: E402
from appliance.inputs.clock import SimClock  # noqa: E402
from appliance.inputs.keyswitch import PanelEvent  # noqa: E402
from appliance.store import Store  # noqa: E402

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 2, 22, 0, tzinfo=BERLIN)
EVENTS = 5000
TARGET_MS = 1000.0

_ZONES = ("W. Europe Standard Time", "Europe/Berlin", "GMT Standard Time")


def big_feed(events: int = EVENTS) -> bytes:
    """*events* events spread over the 400 days after :data:`NOW`."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//EN"]
    start = NOW.replace(tzinfo=None)
    for n in range(events):
        day = start + timedelta(days=(n * 400) // events, hours=8 + n % 9)
        stamp = day.strftime("%Y%m%dT%H%M%S")
        end = (day + timedelta(minutes=30 + 15 * (n % 8))).strftime("%Y%m%dT%H%M%S")
        lines += [
            "BEGIN:VEVENT",
            f"UID:bench-{n}@example.com",
            "DTSTAMP:20260101T000000Z",
            f"SUMMARY:Closure number {n}",
            f"CATEGORIES:{'Closure' if n % 3 else 'Other'}",
        ]
        if n % 10 == 0:
            lines += [
                f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
                f"DTEND;VALUE=DATE:{day + timedelta(days=1 + n % 3):%Y%m%d}",
            ]
        elif n % 10 == 1:
            zone = _ZONES[n % 3]
            lines += [
                f"DTSTART;TZID={zone}:{stamp}",
                f"DTEND;TZID={zone}:{end}",
                "RRULE:FREQ=WEEKLY;COUNT=20",
                f"EXDATE;TZID={zone}:{(day + timedelta(weeks=2)):%Y%m%dT%H%M%S}",
                f"EXDATE;TZID={zone}:{(day + timedelta(weeks=5)):%Y%m%dT%H%M%S}",
            ]
        elif n % 10 == 2:
            utc = day.replace(tzinfo=BERLIN).astimezone(ZoneInfo("UTC"))
            lines += [
                f"DTSTART:{utc:%Y%m%dT%H%M%SZ}",
                f"DTEND:{utc + timedelta(hours=1):%Y%m%dT%H%M%SZ}",
            ]
        else:
            zone = _ZONES[n % 3]
            lines += [f"DTSTART;TZID={zone}:{stamp}", f"DTEND;TZID={zone}:{end}"]
        lines.append("END:VEVENT")
        if n % 10 == 1:  # a moved occurrence of the series just written
            moved = day + timedelta(weeks=1)
            zone = _ZONES[n % 3]
            lines += [
                "BEGIN:VEVENT",
                f"UID:bench-{n}@example.com",
                "DTSTAMP:20260101T000000Z",
                f"SUMMARY:Closure number {n} (moved)",
                f"RECURRENCE-ID;TZID={zone}:{moved:%Y%m%dT%H%M%S}",
                f"DTSTART;TZID={zone}:{(moved + timedelta(days=1)):%Y%m%dT%H%M%S}",
                f"DTEND;TZID={zone}:{(moved + timedelta(days=1, hours=1)):%Y%m%dT%H%M%S}",
                "END:VEVENT",
            ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


class _Server:
    """Python's own HTTP server in a process of its own (as a real calendar server is),
    so serving the feed does not share this process with the controller."""

    def __init__(self, body: bytes):
        import subprocess

        self.dir = tempfile.TemporaryDirectory()
        (Path(self.dir.name) / "big.ics").write_bytes(body)
        with __import__("socket").socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "http.server",
                str(port),
                "--bind",
                "127.0.0.1",
                "--directory",
                self.dir.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{port}/big.ics"
        import urllib.request

        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.url, timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.dir.cleanup()


def calendar(url: str) -> CalendarConfig:
    return CalendarConfig(name="Big", zone="main", kind="ics", url=url, rules=Rules(), timeout_s=30)


def bench_refresh(url: str, runs: int) -> tuple[list[float], list[float], int]:
    refresh, expand = [], []
    closures = 0
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        service = CalendarService(
            [calendar(url)],
            store,
            SimClock(NOW),
            timezone="Europe/Berlin",
            publish=lambda *a: None,
            worker=True,
        )
        service.refresh("main/Big")  # starts the worker process: not timed
        for _ in range(runs):
            started = time.perf_counter()
            state = service.refresh("main/Big")
            refresh.append((time.perf_counter() - started) * 1000)
            if state.error:
                raise RuntimeError(state.error)
            closures = len(state.entries)
        body = store.get_calendar_copy("main/Big")["body"]
        service.stop()
    for _ in range(runs):
        started = time.perf_counter()
        expand_feed(body, Rules(), now=NOW, tz=BERLIN)
        expand.append((time.perf_counter() - started) * 1000)
    return refresh, expand, closures


def bench_key_while_refreshing(
    url: str, turns: int, *, refreshing: bool = True
) -> tuple[list[float], list[float], int]:
    """Key turns on a running controller while the calendar thread refreshes the big feed
    back to back and publishes each result to the controller (*refreshing* False: the
    same turns with the calendar idle, the baseline on this machine at this moment)."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = SimClock(NOW)
        rig = Rig(clock, tmp)
        publish_ms: list[float] = []

        real_call = rig.controller.call

        def timed_call(fn, *args, **kwargs):
            # What runs on the controller thread for the calendar: timed there (the
            # layer's schedule and its search for the next change are made before, on
            # the calendar thread).
            def timed():
                started = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    publish_ms.append((time.perf_counter() - started) * 1000)

            return real_call(timed)

        rig.controller.call = timed_call

        def publish(zone, layers, fault):
            rig.controller.set_schedule_layer(zone, "calendar", layers, fault=fault)

        service = CalendarService(
            [calendar(url)],
            rig.store,
            clock,
            timezone="Europe/Berlin",
            publish=publish,
            worker=True,
        )
        accepted: list[float] = []
        real_poll = rig.panel.poll

        def poll():
            events = real_poll()
            if any(e.kind is PanelEvent.POSITION for e in events):
                accepted.append(time.monotonic())
            return events

        rig.panel.poll = poll
        stop = threading.Event()
        refreshes = [0]

        def refresher():
            service.refresh("main/Big")
            refreshes[0] += 1
            while refreshing and not stop.is_set():
                service.refresh("main/Big")
                refreshes[0] += 1

        rig.controller.start()
        clock.advance(1.0)
        wait_until(lambda: rig.controller.status()["verified"])
        thread = threading.Thread(target=refresher, name="calendars", daemon=True)
        thread.start()
        wait_until(lambda: refreshes[0] >= 1, timeout=60)
        if not refreshing:
            thread.join(60)
        day = rig.panel.inputs["key_day"].pin
        night = rig.panel.inputs["key_night"].pin
        latencies = []
        try:
            for i in range(turns):
                to_day = i % 2 == 0
                rig.relay.clear_states()
                anchor = rig.relay._last_change
                before = len(accepted)
                (night.drive_high(), day.drive_low()) if to_day else (
                    day.drive_high(),
                    night.drive_low(),
                )
                clock.advance(0.05)
                changed = relay_change_time(rig.relay, anchor)
                wait_until(lambda: len(accepted) > before)
                latencies.append((changed - accepted[before]) * 1000)
                wait_until(lambda: rig.controller.status()["verified"])
                time.sleep(0.01)  # spread the turns over several refreshes
        finally:
            stop.set()
            thread.join(60)
            service.stop()
            rig.close()
        return latencies, publish_ms, refreshes[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="refreshes timed (default 5)")
    parser.add_argument("--turns", type=int, default=200, help="key turns (default 200)")
    args = parser.parse_args()
    body = big_feed()
    server = _Server(body)
    try:
        refresh, expand, closures = bench_refresh(server.url, args.runs)
        baseline, _, _ = bench_key_while_refreshing(server.url, args.turns, refreshing=False)
        keys, publish_ms, refreshes = bench_key_while_refreshing(server.url, args.turns)
    finally:
        server.close()
    refresh_p50 = statistics.median(refresh)
    key_p99 = percentile(keys, 99)
    print(
        f"feed: {EVENTS} events, {len(body) / 1e6:.2f} MB, {closures} closures in the "
        "400 days ahead"
    )
    print(
        f"refresh (HTTP + expand + save), median of {len(refresh)}: {refresh_p50:.0f} ms "
        f"(max {max(refresh):.0f} ms); target < {TARGET_MS:.0f} ms"
    )
    print(f"expand alone, one process, median: {statistics.median(expand):.0f} ms")
    print(
        f"controller busy taking the layer, median {statistics.median(publish_ms):.1f} ms,"
        f" max {max(publish_ms):.1f} ms over {len(publish_ms)} publishes"
    )
    print(
        f"key turn -> relay, calendar idle (baseline): p50 {statistics.median(baseline):.2f}"
        f" ms, p99 {percentile(baseline, 99):.2f} ms"
    )
    print(
        f"key turn -> relay during {refreshes} refreshes: p50 "
        f"{statistics.median(keys):.2f} ms, p99 {key_p99:.2f} ms (target < 5 ms)"
    )
    print(bench_line("calendar_refresh_5000_events_p50", refresh_p50, "ms", "<1000", digits=1))
    print(bench_line("calendar_refresh_5000_events_max", max(refresh), "ms", digits=1))
    print(bench_line("calendar_expand_5000_events_p50", statistics.median(expand), "ms", digits=1))
    print(
        bench_line(
            "calendar_publish_controller_busy_p50", statistics.median(publish_ms), "ms", digits=2
        )
    )
    print(bench_line("calendar_publish_controller_busy_max", max(publish_ms), "ms", digits=2))
    print(
        bench_line(
            f"key_turn_calendar_idle_p99_of_{len(baseline)}",
            percentile(baseline, 99),
            "ms",
            digits=3,
        )
    )
    print(
        bench_line(
            f"key_turn_during_calendar_refresh_p50_of_{len(keys)}",
            statistics.median(keys),
            "ms",
            digits=3,
        )
    )
    print(
        bench_line(
            f"key_turn_during_calendar_refresh_p99_of_{len(keys)}", key_p99, "ms", "<5", digits=3
        )
    )
    return 0 if refresh_p50 < TARGET_MS and key_p99 < 5 else 1


if __name__ == "__main__":
    sys.exit(main())
