"""Preview speed: 366 days of a realistic schedule (under 200 ms:
docs/design.md#performance-targets).

The schedule is what a Bavarian office really keeps: Monday to Friday with a lunch
break and a short Friday, Bavarian public holidays with one ignored and two custom
dates, summer hours, a winter season, Christmas Eve and New Year's Eve early closes, a
closed week and a special opening. The clock changes twice in the span.

Cold is a fresh process's first preview: no holiday table, no day plan cached. Warm is
every later one (the web page's preview, the daemon's next-change search).

Run: ``python bench/bench_preview.py [--runs N]``. Prints one figure per line
(``name  value  target``), then a ``BENCH name=... value=... unit=... target=...`` line
per figure for ``bench/run_all.py``; exits 1 if the median misses the target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from benchline import bench_line  # noqa: E402

from appliance.decision.dayplan import clear_caches  # noqa: E402
from appliance.decision.decide import decide, preview  # noqa: E402
from appliance.decision.schedule import parse_schedule  # noqa: E402

TARGET_MS = 200.0
START = date(2026, 6, 1)
DAYS = 366


def _day(*ranges):
    return [{"start": s, "end": e, "mode": m} for s, e, m in ranges]


WEEKDAY = _day(("07:30", "12:00", "day"), ("12:00", "13:00", "lunch"), ("13:00", "17:30", "day"))
FRIDAY = _day(("07:30", "12:00", "day"), ("12:00", "12:30", "lunch"), ("12:30", "15:00", "day"))
REALISTIC = {
    "timezone": "Europe/Berlin",
    "default_mode": "night",
    "weekly": {
        "mon": WEEKDAY,
        "tue": WEEKDAY,
        "wed": WEEKDAY,
        "thu": WEEKDAY,
        "fri": FRIDAY,
        "sat": _day(("09:00", "12:00", "day")),
    },
    "holidays": {
        "country": "DE",
        "subdivision": "BY",
        "mode": "night",
        "ignore": ["Epiphany"],
        "custom": [
            {"date": "2026-06-12", "name": "Company day"},
            {"month": 12, "day": 31, "name": "New Year's Eve"},
        ],
    },
    "seasons": [
        {
            "name": "Summer hours",
            "from": "2026-07-13",
            "to": "2026-08-28",
            "weekly": {
                d: _day(("07:00", "14:00", "day")) for d in ("mon", "tue", "wed", "thu", "fri")
            },
        },
        {
            "name": "Winter",
            "from": "2027-01-11",
            "to": "2027-02-26",
            "weekly": dict.fromkeys(("mon", "tue", "wed", "thu"), WEEKDAY) | {"fri": FRIDAY},
        },
    ],
    "exceptions": [
        {"name": "Christmas Eve", "from": "2026-12-24", "ranges": _day(("08:00", "12:00", "day"))},
        {
            "name": "Between the years",
            "from": "2026-12-28",
            "to": "2026-12-30",
            "ranges": _day(("09:00", "13:00", "day")),
        },
        {"name": "Office move", "from": "2027-01-04", "to": "2027-01-08", "ranges": []},
        {"name": "Open day", "from": "2027-04-17", "ranges": _day(("10:00", "16:00", "day"))},
    ],
}


def _timed(func) -> tuple[float, object]:
    begin = time.perf_counter()
    result = func()
    return (time.perf_counter() - begin) * 1000, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="warm runs (default 15)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    clear_caches()
    parse_ms, schedule = _timed(lambda: parse_schedule(REALISTIC))
    cold_ms, entries = _timed(lambda: preview(schedule, START, DAYS))
    warm = [_timed(lambda: preview(schedule, START, DAYS))[0] for _ in range(args.runs)]
    median, best = statistics.median(warm), min(warm)

    # The daemon's question after every change: the mode now and the next change. The
    # worst case is a long closure with nothing to find for 400 days.
    now = datetime(2026, 12, 24, 11, 59, tzinfo=timezone.utc)
    decide_ms = statistics.median(_timed(lambda: decide(now, schedule))[0] for _ in range(50))
    closed = parse_schedule(
        {
            "timezone": "Europe/Berlin",
            "weekly": {},
            "holidays": {"country": "DE", "subdivision": "BY"},
        }
    )
    never_ms = statistics.median(_timed(lambda: decide(now, closed))[0] for _ in range(5))

    print(
        f"# {len(entries)} entries over {DAYS} days from {START}, "
        f"{args.runs} warm runs, Python {sys.version.split()[0]}"
    )
    print(f"preview_366_days_ms  {median:.1f}  target <{TARGET_MS:.0f}")
    print(f"preview_366_days_best_ms  {best:.1f}")
    print(f"preview_366_days_cold_ms  {cold_ms:.1f}  (first holiday lookup, empty caches)")
    print(
        f"parse_schedule_cold_ms  {parse_ms:.1f}  (once per process: the holidays library "
        "imports all its country modules on first use)"
    )
    print(f"first_preview_in_fresh_process_ms  {parse_ms + cold_ms:.1f}")
    print(f"decide_ms  {decide_ms:.2f}")
    print(f"decide_nothing_for_400_days_ms  {never_ms:.1f}")
    for name, value, target in (
        ("preview_366_days_ms", median, f"<{TARGET_MS:.0f}"),
        ("preview_366_days_best_ms", best, "-"),
        ("preview_366_days_cold_ms", cold_ms, "-"),
        ("parse_schedule_cold_ms", parse_ms, "-"),
        ("first_preview_in_fresh_process_ms", parse_ms + cold_ms, "-"),
        ("decide_ms", decide_ms, "-"),
        ("decide_nothing_for_400_days_ms", never_ms, "-"),
    ):
        print(bench_line(name, value, "ms", target))
    return 0 if median < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
