"""Run every benchmark in bench/ and the soak; print one table; write BENCHMARKS.md.

::

    python bench/run_all.py            # full runs (several minutes) and the 60-day soak
    python bench/run_all.py --quick    # shorter runs and a 7-day soak
    python bench/run_all.py --reliability   # also the reliability suite, figures into
                                            # RELIABILITY.md

Each ``bench/bench_*.py`` script is run in a process of its own. Besides its own
human-readable output, a script reports each figure on a line of this form, which is
the only thing this runner reads::

    BENCH name=<id> value=<number> unit=<unit> [floor="<text>"] target=<comparison>[ free text]

``value`` is a plain number (``12.3``, ``14036``; no thousands separators; ``nan`` when
the script could not measure it). ``unit`` is one word, or any text in double quotes
(``unit="% of a core"``); it may be empty (``unit= target=...``). The optional ``floor``
is the physical floor worked out for this run (``floor="147 ms = 141 bytes x 10 /
9600"``), shown in the table instead of the generic one of
docs/design.md#performance-targets. ``target`` starts with a comparison the runner can
check (``<5``, ``<=0``, ``>5000``, ``=1``); anything after it is shown but not
evaluated. An informational figure with no target writes ``target=-``.
The scripts write these lines with ``bench/benchline.py``.

``EXPECTED`` lists the figures each script must report. A figure that is not reported,
or whose value is not a number, is shown as MISSING, never guessed, whatever the
script's exit status.

The table gives each figure, its target from docs/design.md#performance-targets (or the
script's own), the physical floor where there is one, and pass/fail. It is printed and
written to ``BENCHMARKS.md`` with the machine (CPU model, cores, RAM, Python version), the
commit and the date.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BENCH_RE = re.compile(
    r"^BENCH\s+name=(?P<name>\S+)\s+value=(?P<value>\S+)"
    r'\s+unit=(?:"(?P<qunit>[^"]*)"|(?P<unit>\S*))'
    r'(?:\s+floor="(?P<floor>[^"]*)")?'
    r"\s+target=(?P<target>.*)$"
)
COMPARE_RE = re.compile(r"^\s*(?P<op><=|>=|<|>|==|=)?\s*(?P<num>-?[0-9]+(?:\.[0-9]+)?)")

#: Arguments per script: (full run, --quick run). Scripts not listed get none.
SCRIPT_ARGS = {
    "bench_appliance.py": ([], ["--quick"]),
    "bench_preview.py": ([], ["--runs", "5"]),
    "bench_serial.py": ([], ["--runs", "5"]),
    "bench_smdr.py": ([], ["--seconds", "0.2"]),
    "bench_web.py": ([], ["--requests", "30", "--seconds", "20"]),
    "bench_calendar.py": ([], ["--runs", "3", "--turns", "60"]),
    "bench_mqtt.py": ([], ["--sites", "50", "--idle", "10"]),
    "bench_alerts.py": ([], ["--turns", "60", "--scrapes", "100"]),
    "bench_flood.py": ([], ["--guess-seconds", "15"]),
    "bench_interference.py": ([], ["--turns", "40"]),
}

#: The figures each script must report; ``{n}`` stands for a number that depends on the
#: run's arguments (``_of_200`` key turns, ``over_60_s`` of idle CPU). A figure listed
#: here and not reported is shown as MISSING; one reported and not listed is shown too.
EXPECTED = {
    "bench_appliance.py": [
        *(
            f"key_{what}_debounced_relay_{stat}"
            for what in ("turn", "flip")
            for stat in ("p50_of_{n}", "p99_of_{n}", "max")
        ),
        "schedule_boundary_relay_worst_of_{n}",
        "schedule_boundary_relay_median_of_{n}",
        *(
            f"{kind}_{what}"
            for kind in ("run", "simulate")
            for what in (
                "start_relays_safe",
                "start_web_answering",
                "start_ready_1",
                "idle_cpu_over_{n}_s",
                "resident_memory_vmrss",
                "exit_status_after_sigterm",
            )
        ),
    ],
    "bench_preview.py": [
        "preview_366_days_ms",
        "preview_366_days_best_ms",
        "preview_366_days_cold_ms",
        "parse_schedule_cold_ms",
        "first_preview_in_fresh_process_ms",
        "decide_ms",
        "decide_nothing_for_400_days_ms",
    ],
    "bench_serial.py": ["serial_ratio_p99", "serial_change_to_verified_p99"],
    "bench_smdr.py": ["smdr_slowest_format_lines_per_s", "smdr_framing_1mib_ms"],
    "bench_web.py": [
        *(
            f"web_{run}_{what}_{stat}"
            for run in ("browsing", "saturation")
            for what in ("status_page_get", "api_get_api_v1_status")
            for stat in ("p50", "p99")
        ),
        "web_status_page_kb",
        "web_external_references",
    ],
    "bench_calendar.py": [
        "calendar_refresh_5000_events_p50",
        "calendar_refresh_5000_events_max",
        "calendar_expand_5000_events_p50",
        "calendar_publish_controller_busy_p50",
        "calendar_publish_controller_busy_max",
        "key_turn_calendar_idle_p99_of_{n}",
        "key_turn_during_calendar_refresh_p50_of_{n}",
        "key_turn_during_calendar_refresh_p99_of_{n}",
    ],
    "bench_mqtt.py": [
        "mqtt_discovery_after_connect_s",
        "mqtt_discovery_after_ha_online_s",
        "mqtt_state_after_key_turn_s",
        "mqtt_state_after_confirmation_s",
        "mqtt_state_after_override_command_s",
        "mqtt_state_after_override_s",
        "mqtt_offline_after_sigkill_s",
        "mqtt_offline_after_sigstop_s",
        "mqtt_fleet_site_idle_cpu_mean",
        "mqtt_fleet_site_idle_cpu_max",
        "mqtt_fleet_site_rss_mean",
        "mqtt_fleet_site_rss_max",
        "mqtt_fleet_publish_all_acknowledged_s",
        "mqtt_fleet_all_back_after_broker_restart_s",
    ],
    "bench_alerts.py": [
        *(
            f"alerts_{what}_mail_{server}"
            for server in ("up", "down", "hanging")
            for what in ("key_relay_p99", "key_relay_p50", "delivery_attempts")
        ),
        "metrics_scrape_p50",
        "metrics_scrape_p99",
    ],
    "bench_flood.py": [
        *(
            f"flood_{who}_{what}"
            for who in ("one_address", "many_addresses")
            for what in ("health_p50_ms", "health_p99_ms", "cli_status_worst_ms")
        ),
        "body_64mib_content_length_bytes_written_to_disk",
        "body_64mib_chunked_bytes_written_to_disk",
        "body_calibration_8mib_spool_write_bytes",
        "login_guesses_checked_per_minute_one_address",
        "login_guesses_checked_first_minute",
        "login_guesses_checked_first_hour",
        "login_guesses_checked_first_day",
    ],
    "bench_interference.py": [
        *(
            f"{name}_{stat}"
            for name in (
                *(f"key_to_relay_{c}" for c in ("a", "b", "c", "d", "d2", "e")),
                "key_to_led",
            )
            for stat in ("p50", "p99", "max")
        ),
    ],
    "soak": [
        "soak_transitions_exact",
        "soak_rss_growth",
        "soak_calls_lost",
        "soak_metrics_counters_fell",
    ],
}

#: docs/design.md#performance-targets, row by row: (script, figure name) patterns, the
#: row's words, its physical floor.
SPEC9 = [
    (
        "appliance",
        r"key.*relay|key_edge",
        "debounced key edge to relay output: p99 < 5 ms",
        "relay operate time, ~10 ms",
    ),
    ("appliance", r"boundary", "schedule boundary to relay output: < 1 s late", "0"),
    (
        "serial",
        r"",
        "serial change to verified at 9600 baud: < 1.5 x (wire time + the PBX's own delay)",
        "bytes x 10 / baud",
    ),
    ("appliance", r"cpu", "idle CPU of the daemon: < 1 % of a core", ""),
    ("appliance", r"rss|memory|resident", "resident memory of the daemon: < 60 MB", ""),
    (
        "appliance",
        r"start|ready|safe|web_answer",
        "start to web answering and relays in safe state: < 3 s",
        "",
    ),
    ("web", r"", "status page under 20 clients: p99 < 50 ms, no external requests, < 100 KB", ""),
    ("preview", r"preview_366", "preview of 366 days: < 200 ms", ""),
    ("smdr", r"", "no design target: SMDR parsing keeps far ahead of any serial line", ""),
    (
        "mqtt",
        r"fleet_publish|broker_restart",
        "fleet of 50 sites on one MQTT broker: closure "
        "set to all acknowledged < 5 s / all back after a broker restart < 10 s",
        "",
    ),
    (
        "mqtt",
        r"",
        "issue 18: discovery < 2 s, state < 1 s, offline within 1.5 x keepalive; "
        "memory and CPU per site",
        "",
    ),
    (
        "alerts",
        r"key_relay|attempts",
        "key edge to relay while the mail server is up, down "
        "or hanging: p99 < 5 ms in each case (issue 15)",
        "relay operate time, ~10 ms",
    ),
    ("alerts", r"metrics", "/metrics scrape: < 20 ms", ""),
    (
        "interference",
        r"key_to_relay",
        "key edge to relay while another zone's PBX is silent, an "
        "LED test runs, 20 web clients browse, or 1 MiB of SMDR noise arrives: p99 < 5 ms in "
        "each case",
        "relay operate time, ~10 ms",
    ),
    (
        "interference",
        r"key_to_led",
        "key edge to LED feedback on a zone whose only actuator "
        "is a slow serial dialogue: p99 < 5 ms",
        "",
    ),
    (
        "flood",
        r"",
        "no design target: issue 13, under 200 idle connections /health and "
        "nightswitch status answer within 1 s; a 64 MiB body writes < 1 MiB to disk",
        "",
    ),
    ("soak", r"", "reliability: 60 simulated days, exact transitions, memory flat within 10 %", ""),
]


@dataclass
class Figure:
    script: str
    name: str
    value: float | None
    unit: str
    target: str
    floor: str = ""  # the physical floor worked out for this run, if any

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "MISSING"
        match = COMPARE_RE.match(self.target or "")
        if not match:
            return "-"
        op, num = match.group("op") or "=", float(match.group("num"))
        ok = {
            "<": self.value < num,
            "<=": self.value <= num,
            ">": self.value > num,
            ">=": self.value >= num,
            "=": self.value == num,
            "==": self.value == num,
        }[op]
        return "pass" if ok else "FAIL"

    def spec(self) -> tuple[str, str]:
        for script, pattern, row, floor in SPEC9:
            if script in self.script.lower() and re.search(pattern, self.name.lower()):
                return row, floor
        return "", ""


@dataclass
class ScriptRun:
    script: str
    argv: list
    seconds: float = 0.0
    returncode: int | None = None
    figures: list = field(default_factory=list)
    output: str = ""
    error: str = ""


# -- reading the scripts' output -------------------------------------------------------------


def bench_lines(script: str, text: str) -> list[Figure]:
    """The figures of the ``BENCH`` lines in *text*; a value that is not a finite number
    is kept as None (reported as MISSING)."""
    out = []
    for line in text.splitlines():
        m = BENCH_RE.match(line.strip())
        if not m:
            continue
        try:
            value = float(m.group("value"))
        except ValueError:
            value = None
        if value is not None and not math.isfinite(value):
            value = None
        target = m.group("target").strip()
        unit = m.group("qunit") if m.group("qunit") is not None else m.group("unit")
        out.append(
            Figure(
                script,
                m.group("name"),
                value,
                unit,
                "" if target == "-" else target,
                floor=m.group("floor") or "",
            )
        )
    return out


def missing_figures(script: str, expected: list[str], figures: list[Figure]) -> list[Figure]:
    """A MISSING figure (value None) for each expected name that no figure matches."""
    names = [f.name for f in figures]
    out = []
    for template in expected:
        pattern = re.compile(re.escape(template).replace(re.escape("{n}"), r"[0-9]+") + "$")
        if not any(pattern.match(name) for name in names):
            out.append(Figure(script, template, None, "", ""))
    return out


# -- running ------------------------------------------------------------------------------------


def run_script(path: Path, argv: list, timeout: float) -> ScriptRun:
    run = ScriptRun(path.name, argv)
    started = time.monotonic()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    try:
        proc = subprocess.run(
            [sys.executable, str(path), *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            env=env,
        )
        run.returncode, run.output, run.error = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        run.returncode = None
        run.output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        run.error = f"timed out after {timeout:.0f} s"
    run.seconds = time.monotonic() - started
    run.figures = bench_lines(path.name, run.output)
    run.figures += missing_figures(path.name, EXPECTED.get(path.name, []), run.figures)
    return run


def run_soak(days: int, timeout: float) -> ScriptRun:
    run = ScriptRun(f"soak ({days} days)", ["-m", "tests.reliability.soak", "--days", str(days)])
    started = time.monotonic()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    try:
        proc = subprocess.run(
            [sys.executable, *run.argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            env=env,
        )
        run.returncode, run.output, run.error = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired:
        run.error = f"timed out after {timeout:.0f} s"
    run.seconds = time.monotonic() - started
    run.figures = bench_lines(run.script, run.output)
    run.figures += missing_figures(run.script, EXPECTED["soak"], run.figures)
    return run


def run_reliability(report: Path) -> ScriptRun:
    """The reliability suite but its soak test (run_all runs the soak on its own, for its
    figures); its figures as JSON."""
    argv = ["-m", "pytest", "tests/reliability", "-q", "-p", "no:cacheprovider", "-m", "not slow"]
    env = dict(os.environ, NIGHTSWITCH_REL_REPORT=str(report))
    run = ScriptRun("reliability suite", argv)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, cwd=REPO, env=env, timeout=3600
    )
    run.returncode, run.output, run.error = proc.returncode, proc.stdout, proc.stderr
    run.seconds = time.monotonic() - started
    return run


# -- the machine ------------------------------------------------------------------------------


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        fields = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip().lower(), value.strip())
        # x86 names the CPU in "model name" ("model" is a number); a Pi in "Model"/"Hardware"
        for key in ("model name", "hardware", "model"):
            if fields.get(key) and not fields[key].isdigit():
                cpu = fields[key]
                break
    except OSError:
        pass
    ram = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    try:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram": ram,
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
        "commit": commit,
        "load": load,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# -- the table --------------------------------------------------------------------------------


def fmt_value(f: Figure) -> str:
    if f.value is None:
        return "missing"
    v = f.value
    text = f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    return f"{text} {f.unit}".strip()


def rows_of(runs: list[ScriptRun]) -> list[list[str]]:
    rows = []
    for run in runs:
        if not run.figures:
            state = "timed out" if run.returncode is None else f"exit {run.returncode}"
            rows.append([run.script, "(no figures)", "-", "-", "-", f"MISSING ({state})"])
            continue
        state = (
            ""
            if run.returncode == 0
            else " (timed out)"
            if run.returncode is None
            else f" (exit {run.returncode})"
        )
        for f in run.figures:
            spec, floor = f.spec() if f.target else ("", "")
            target = f"{f.target}  ({spec})" if spec else (f.target or "-")
            verdict = f.verdict + (state if f.verdict == "MISSING" else "")
            rows.append(
                [run.script, f.name, fmt_value(f), target, f.floor or floor or "-", verdict]
            )
    return rows


def text_table(rows, header) -> str:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    widths[3] = min(widths[3], 60)
    lines = ["  ".join(str(c)[: widths[i]].ljust(widths[i]) for i, c in enumerate(header))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(str(c)[: widths[i]].ljust(widths[i]) for i, c in enumerate(r)))
    return "\n".join(lines)


def markdown(rows, header, info: dict, runs: list[ScriptRun], quick: bool) -> str:
    def cell(x):
        return str(x).replace("|", "\\|")

    out = [
        "# Benchmarks",
        "",
        "Generated by `python bench/run_all.py" + (" --quick" if quick else "") + "`; "
        "do not edit by hand, run it again. Targets are those of "
        "docs/design.md#performance-targets (on a PC in "
        "`simulate`); the physical floor is what no software can beat.",
        "",
        f"- date: {info['date']}",
        f"- machine: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM",
        f"- Python {info['python']} on {info['os']}",
        f"- commit: {info['commit'] or 'unknown'}",
        f"- load average when the run finished: {info['load'] or 'unknown'} "
        "(the machine is shared; latencies include that load)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    failed = [r for r in rows if r[5] in ("FAIL", "MISSING") or r[5].startswith("MISSING")]
    out += [
        "",
        f"{len(rows)} figures, {sum(r[5] == 'pass' for r in rows)} pass, "
        f"{len(failed)} fail or missing.",
    ]
    out += ["", "## Runs", "", "| script | arguments | seconds | exit |", "|---|---|---|---|"]
    for run in runs:
        out.append(
            f"| {run.script} | {' '.join(run.argv) or '-'} | {run.seconds:.0f} | "
            f"{'timeout' if run.returncode is None else run.returncode} |"
        )
    return "\n".join(out) + "\n"


def reliability_block(report: Path, run: ScriptRun) -> str:
    try:
        figures = json.loads(report.read_text())
    except (OSError, ValueError):
        figures = {}
    summary = [ln for ln in run.output.splitlines() if re.search(r"\d+ (passed|failed)", ln)]
    lines = [
        f"Last run: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}, "
        f"{run.seconds:.0f} s, pytest: {summary[-1].strip('= ') if summary else 'no summary'}.",
        "",
        "| figure | value | detail |",
        "|---|---|---|",
    ]
    for name, item in sorted(figures.items()):
        value = f"{item['value']} {item.get('unit', '')}".strip()
        lines.append(f"| {name} | {value} | {str(item.get('note', '')).replace('|', '/')} |")
    return "\n".join(lines)


def update_reliability_md(block: str) -> bool:
    path = REPO / "RELIABILITY.md"
    begin, end = "<!-- figures:begin -->", "<!-- figures:end -->"
    try:
        text = path.read_text()
    except OSError:
        return False
    if begin not in text or end not in text:
        return False
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(head + begin + "\n" + block + "\n" + end + tail)
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Run every benchmark in bench/ and the soak; "
        "print one table and write BENCHMARKS.md."
    )
    parser.add_argument(
        "--quick", action="store_true", help="shorter runs and a 7-day soak (about 3 minutes)"
    )
    parser.add_argument(
        "--only",
        metavar="NAME",
        action="append",
        help="run only these scripts (bench_preview.py, soak, ...)",
    )
    parser.add_argument("--no-soak", action="store_true", help="skip the soak")
    parser.add_argument(
        "--reliability",
        action="store_true",
        help="also run tests/reliability (but its soak test, run above) and "
        "put its figures into RELIABILITY.md",
    )
    parser.add_argument(
        "--output",
        default=str(REPO / "BENCHMARKS.md"),
        help="where to write the table (default BENCHMARKS.md)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds each script may take (default 900)"
    )
    args = parser.parse_args(argv)

    scripts = sorted(p for p in HERE.glob("bench_*.py"))
    if args.only:
        scripts = [p for p in scripts if p.name in args.only or p.stem in args.only]
    runs = []
    for path in scripts:
        full, quick = SCRIPT_ARGS.get(path.name, ([], []))
        script_argv = quick if args.quick else full
        print(f"run_all: {path.name} {' '.join(script_argv)}", file=sys.stderr, flush=True)
        run = run_script(path, script_argv, args.timeout)
        if run.returncode not in (0, None) and all(f.value is None for f in run.figures):
            print(
                f"run_all: {path.name} exited {run.returncode}: "
                f"{run.error.strip().splitlines()[-1] if run.error.strip() else ''}",
                file=sys.stderr,
            )
        runs.append(run)
    if not args.no_soak and (not args.only or "soak" in args.only):
        days = 7 if args.quick else 60
        print(f"run_all: soak, {days} simulated days", file=sys.stderr, flush=True)
        runs.append(run_soak(days, args.timeout * 2))
    header = ["script", "figure", "measured", "target", "physical floor", "result"]
    rows = rows_of(runs)
    info = machine()
    print(
        f"\n{info['date']}  {info['cpu']}, {info['cores']} cores, {info['ram']}, "
        f"Python {info['python']}, commit {info['commit']}\n"
    )
    print(text_table(rows, header))
    Path(args.output).write_text(markdown(rows, header, info, runs, args.quick))
    print(f"\nrun_all: wrote {args.output}", file=sys.stderr)
    if args.reliability:
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "figures.json"
            print(
                "run_all: tests/reliability",
                file=sys.stderr,
                flush=True,
            )
            rel = run_reliability(report)
            block = reliability_block(report, rel)
        print("\n" + block)
        if update_reliability_md(block):
            print("run_all: RELIABILITY.md figures updated", file=sys.stderr)
        if rel.returncode != 0:
            print(rel.output[-3000:], file=sys.stderr)
            return 1
    bad = [r for r in rows if r[5] in ("FAIL",) or r[5].startswith("MISSING")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
