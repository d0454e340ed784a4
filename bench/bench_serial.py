"""Serial mode change to verified, against the simulated PBX on a pty
(docs/design.md#performance-targets).

Target: time-to-verified < 1.5 x (the bytes' wire time + the PBX's own delay), where the
wire time is bytes x bits-per-character / baud for every byte exchanged both ways (the
echo included) and the PBX's own delay is the simulator's configured processing delay
per answer. The simulator supplies the wire's timing (a pty has none of its own), so
the ratio measures what the appliance adds: opening the port, the dialogue engine's
loop, pyserial, the scheduler.

    python bench/bench_serial.py [--runs 20] [--baud 9600] [--profile mitel-3300]

Besides the human table it prints a ``BENCH name=... value=... unit=... floor="..."
target=...`` line per figure for ``bench/run_all.py``, the wire time as the ratio's floor.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchline import bench_line  # noqa: E402

from appliance.actuators import serial_port  # noqa: E402
from appliance.pbx.profiles import DEFAULT_SITE_DIR, load_profiles  # noqa: E402
from appliance.sim import PbxSimulator  # noqa: E402

TARGET = 1.5


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a small sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--baud", type=int, default=9600)
    parser.add_argument("--profile", default="mitel-3300")
    parser.add_argument("--profiles-dir", default=str(DEFAULT_SITE_DIR))
    parser.add_argument("--password", default="bench-secret")
    args = parser.parse_args(argv)

    profile = load_profiles(args.profiles_dir).require(args.profile, "--profile")
    password = args.password if profile.serial.needs_password else ""
    spec = {
        "name": "bench",
        "type": "serial",
        "zone": "main",
        "role": "primary",
        "profile": profile.name,
        "settings": {"baudrate": args.baud},
    }
    if password:
        spec["password"] = password
    rows = []
    with PbxSimulator(profile, baud=args.baud, password=password) as sim:
        actuator = serial_port.build(
            dict(spec, port=sim.port_path), profiles={profile.name: profile}
        )
        char = actuator.link.settings.char_time_s
        modes = [m for m in ("night", "day") if m in actuator.modes]
        actuator.apply(modes[-1])  # warm up: port, imports
        for i in range(args.runs):
            mode = modes[i % len(modes)]
            sent, received, replies = (
                actuator.link.bytes_sent,
                actuator.link.bytes_received,
                sim.replies,
            )
            start = time.perf_counter()
            actuator.apply(mode)  # command + status read-back
            elapsed = time.perf_counter() - start
            assert sim.model.mode == mode
            wire_bytes = (actuator.link.bytes_sent - sent) + (
                actuator.link.bytes_received - received
            )
            floor = wire_bytes * char + (sim.replies - replies) * sim.delay_s
            rows.append((elapsed, wire_bytes, floor, elapsed / floor))

    elapsed = [r[0] for r in rows]
    floors = [r[2] for r in rows]
    ratios = [r[3] for r in rows]
    print(
        f"serial mode change to verified: profile {profile.name}, "
        f"{actuator.link.settings.describe()}, {args.runs} runs"
    )
    print(f"  bytes on the wire per change: {rows[0][1]} (both ways, echo included)")
    print(f"  simulated PBX's own delay:    {sim.delay_s * 1000:.0f} ms per answer")
    print(f"  {'':28} {'p50':>9} {'p99':>9} {'mean':>9}")
    for label, values, unit in (
        ("time to verified", elapsed, "ms"),
        ("wire time + PBX delay", floors, "ms"),
        ("ratio", ratios, "x"),
    ):
        scale = 1000 if unit == "ms" else 1
        fmt = "{:>8.1f}{}" if unit == "ms" else "{:>8.3f}{}"
        cells = [
            fmt.format(v * scale, " " if unit == "ms" else "x")
            for v in (percentile(values, 50), percentile(values, 99), statistics.fmean(values))
        ]
        print(f"  {label:<28} {cells[0]} {cells[1]} {cells[2]}   ({unit})")
    verdict = "meets" if percentile(ratios, 99) < TARGET else "MISSES"
    print(f"  target: ratio < {TARGET} -> p99 {percentile(ratios, 99):.3f}x {verdict} it")
    bits = round(char * args.baud)  # bits per character, 10 for 8N1
    wire_ms = rows[0][1] * char * 1000
    print(
        bench_line(
            "serial_ratio_p99",
            percentile(ratios, 99),
            "x",
            f"<{TARGET}",
            floor=f"{wire_ms:.0f} ms = {rows[0][1]} bytes x {bits} / {args.baud}",
        )
    )
    print(
        bench_line("serial_change_to_verified_p99", percentile(elapsed, 99) * 1000, "ms", digits=1)
    )
    return 0 if verdict == "meets" else 1


if __name__ == "__main__":
    sys.exit(main())
