"""SMDR parsing speed: lines parsed per second for each format, and framing throughput.

Target (issue 4): more than 5,000 lines per second per format on a PC; a PBX at 9600
baud prints at most about 12 lines of 80 characters per second, so the margin is what
``calls import`` of a year's log and a Pi Zero need.

Run: ``python bench/bench_smdr.py [--seconds S]``. Prints a table, then a ``BENCH
name=... value=... unit=... target=...`` line per figure for ``bench/run_all.py``; exits 1
if a format misses the target.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from benchline import bench_line

from appliance.smdr.formats import load_all
from appliance.smdr.framing import LineFramer
from appliance.smdr.parser import LineKind, parse_line
from appliance.smdr.record import CallRecord

TARGET = 5000
TZ = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def workload(fmt, n: int, rng: random.Random) -> list[str]:
    """*n* lines as the PBX would print them: rendered calls of every direction, mixed
    with the format's sample lines (headers included)."""
    base = CallRecord(NOW, 0, "201", "001", "out", None, None, "0301234567", fmt.name, "")
    lines = []
    for _i in range(n):
        direction = rng.choice(["in", "out", "internal", None])
        rec = replace(
            base,
            started_at=NOW - timedelta(minutes=rng.randrange(60 * 24 * 200)),
            duration_s=rng.randrange(3600),
            direction=direction,
            answered=rng.choice([None, False]) if direction == "in" else None,
            ring_s=rng.randrange(60) if fmt.ring else None,
        )
        lines.append(fmt.render(rec, TZ))
    samples = [s["line"] for s in fmt.samples]
    for i in range(0, n, 10):
        if samples:
            lines[i] = samples[i // 10 % len(samples)]
    return lines


def measure(fmt, lines: list[str], seconds: float) -> tuple[int, float, int]:
    done = calls = 0
    start = time.perf_counter()
    while True:
        for line in lines:
            if parse_line(line, fmt, now=NOW, tz=TZ).kind is LineKind.CALL:
                calls += 1
        done += len(lines)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done, elapsed, calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=0.5, help="time spent on each format (default 0.5)"
    )
    args = parser.parse_args()
    formats, broken = load_all("/nonexistent/nightswitch-smdr-site")
    if broken:
        print("broken formats: " + ", ".join(broken), file=sys.stderr)
        return 1
    rng = random.Random(1)
    print(f"{'format':<22} {'lines':>8} {'calls %':>8} {'lines/s':>10}  target {TARGET}/s")
    worst = None
    for name, fmt in sorted(formats.items()):
        lines = workload(fmt, 2000, rng)
        done, elapsed, calls = measure(fmt, lines, args.seconds)
        rate = done / elapsed
        worst = rate if worst is None else min(worst, rate)
        print(
            f"{name:<22} {done:>8} {100 * calls / done:>7.0f}% {rate:>10,.0f}  "
            f"{'ok' if rate > TARGET else 'SLOW'}"
        )

    data = bytes(rng.getrandbits(8) for _ in range(1 << 20))
    start = time.perf_counter()
    framer = LineFramer()
    count = 0
    for offset in range(0, len(data), 4096):
        count += len(framer.feed(data[offset : offset + 4096]))
    elapsed = time.perf_counter() - start
    print(
        f"\nframing: 1 MiB of random bytes in {elapsed * 1000:.0f} ms "
        f"({len(data) / elapsed / 1e6:.1f} MB/s, {count} lines)"
    )
    print(
        f"slowest format: {worst:,.0f} lines/s "
        f"({'meets' if worst > TARGET else 'MISSES'} the {TARGET}/s target)"
    )
    print(bench_line("smdr_slowest_format_lines_per_s", worst, "lines/s", f">{TARGET}", digits=0))
    print(bench_line("smdr_framing_1mib_ms", elapsed * 1000, "ms", digits=1))
    detect_ms = measure_detect(formats, rng)
    print(
        f"calls detect: reading 4 rates x 30 s of a 9600 baud port as every format "
        f"at 8N1 and 7E1 takes {detect_ms:.0f} ms"
    )
    print(bench_line("smdr_detect_evaluate_ms", detect_ms, "ms", digits=0))
    return 0 if worst > TARGET else 1


def measure_detect(formats, rng) -> float:
    """The pure half of ``calls detect`` on a worst case: a full 30 s listen at each of
    four rates (9600 baud: 28,800 bytes each), one rate with records, three with
    garbage, read as every format at both framings."""
    from appliance.smdr.detect import evaluate

    fmt = formats["panasonic-kx-tda"]
    text = "\r\n".join(workload(fmt, 600, rng)).encode("latin-1")[:28800]
    captured = {
        1200: bytes(rng.getrandbits(8) for _ in range(28800)),
        2400: bytes(rng.getrandbits(8) for _ in range(28800)),
        4800: bytes(rng.getrandbits(8) for _ in range(28800)),
        9600: text,
    }
    start = time.perf_counter()
    result = evaluate(captured, list(formats.values()), now=NOW, tz=TZ)
    elapsed = time.perf_counter() - start
    assert result.proposal is not None and result.proposal.rate == 9600
    return elapsed * 1000


if __name__ == "__main__":
    sys.exit(main())
