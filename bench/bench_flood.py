#!/usr/bin/env python3
"""Issue 13's figures: the appliance under the attacks of findings 1, 2 and 8.

``nightswitch simulate`` runs as a process of its own (as on the Pi), and this script:

1. holds 200 idle connections open to the web port, all from one address (127.0.0.2),
   then from 200 addresses (127.0.1.x), and meanwhile measures ``GET /health`` from
   127.0.0.1 (p50 and p99 of 200 requests) and ``nightswitch status`` (a fresh command,
   as a person types it; the worst of 10) over the command line's Unix socket;
2. sends ``POST /login`` with a 64 MiB body (``Content-Length``, and chunked) and reads
   the daemon's ``/proc/PID/io`` before and after: ``write_bytes``, what it caused to be
   written to storage (a spooled body would count: the calibration figure shows a
   process spooling 8 MiB the way waitress does, in the same TMPDIR);
3. guesses passwords for one user from one address for 60 s (8 at a time) and counts
   how many were checked (answered 401) rather than refused (429); and works out, with
   the limiter's own code on a simulated clock, how many one address gets checked in the
   first minute, the first hour and a day of trying without pause.

::

    python bench/bench_flood.py            # about two minutes
    python bench/bench_flood.py --guess-seconds 10   # shorter

Each figure is printed as a ``BENCH`` line (bench/benchline.py).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from benchline import bench_line  # noqa: E402

IDLE = 200


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def start_daemon(base: Path):
    data = base / "data"
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        GPIOZERO_PIN_FACTORY="mock",
        NIGHTSWITCH_TRUST_CLOCK="1",
        TMPDIR=str(base / "tmp"),
    )
    (base / "tmp").mkdir()
    from appliance.store import Store

    with Store(data) as store:
        store.add_user("bench", "admin", "bench password one")
    log = open(base / "daemon.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance", "simulate", "--port", "0", "--data", str(data)],
        stdout=log,
        stderr=log,
        env=env,
        cwd=REPO,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not (data / "daemon.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the daemon did not start:\n" + (base / "daemon.log").read_text())
        time.sleep(0.05)
    time.sleep(0.2)
    port = int(json.loads((data / "daemon.json").read_text())["web"].rsplit(":", 1)[1])
    return proc, data, port, env


def health_ms(port: int) -> float:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/health")
        conn.getresponse().read()
    finally:
        conn.close()
    return (time.perf_counter() - t0) * 1000


def status_ms(data: Path, env: dict) -> float:
    t0 = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "status", "--data", str(data)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    elapsed = (time.perf_counter() - t0) * 1000
    if result.returncode != 0:
        raise SystemExit(f"nightswitch status failed: {result.stderr}")
    return elapsed


def hold_idle(port: int, sources) -> list:
    held = []
    for source in sources:
        s = socket.socket()
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        held.append(s)
    return held


def flood_figures(port, data, env, label, sources, baseline_status):
    held = hold_idle(port, sources)
    try:
        times = [health_ms(port) for _ in range(IDLE)]
        statuses = [status_ms(data, env) for _ in range(10)]
    finally:
        for s in held:
            s.close()
    print(
        f"{label}: /health p50 {statistics.median(times):.1f} ms, p99 "
        f"{percentile(times, 99):.1f} ms; nightswitch status worst {max(statuses):.0f} ms "
        f"(no flood: {baseline_status:.0f} ms)"
    )
    print(bench_line(f"flood_{label}_health_p50_ms", statistics.median(times), "ms", "-", digits=1))
    print(
        bench_line(f"flood_{label}_health_p99_ms", percentile(times, 99), "ms", "<1000", digits=1)
    )
    print(bench_line(f"flood_{label}_cli_status_worst_ms", max(statuses), "ms", "<1000", digits=0))


def proc_io(pid: int) -> dict:
    text = Path(f"/proc/{pid}/io").read_text()
    return {k: int(v) for k, v in (line.split(": ") for line in text.splitlines())}


def big_body(port: int, pid: int, chunked: bool) -> tuple[int, int, int]:
    """(bytes written by the daemon, bytes it read, bytes the client got to send)."""
    before = proc_io(pid)
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    sent = 0
    head = (
        b"POST /login HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
    )
    try:
        if chunked:
            s.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
            s.settimeout(5)
            chunk = b"10000\r\n" + b"a" * 65536 + b"\r\n"
            try:
                while sent < 64 * 1024 * 1024:
                    s.sendall(chunk)
                    sent += 65536
            except OSError:
                pass
        else:
            s.sendall(head + b"Content-Length: 67108864\r\n\r\n")
            s.settimeout(60)
            answer = s.recv(4096)
            if not answer.startswith(b"HTTP/1.1 413"):
                raise SystemExit(f"expected 413, got {answer[:100]!r}")
            s.settimeout(5)
            block = b"a" * 65536
            try:  # the body anyway, as an attacker would
                while sent < 64 * 1024 * 1024:
                    s.sendall(block)
                    sent += len(block)
            except OSError:
                pass
    finally:
        s.close()
    time.sleep(1.0)
    after = proc_io(pid)
    return after["write_bytes"] - before["write_bytes"], 0, sent


def calibrate(tmpdir: Path) -> int:
    """write_bytes of a process that spools 8 MiB to *tmpdir* the way waitress spools a
    body (tempfile.TemporaryFile), flushed: proof that the measure sees such writes."""
    code = (
        "import os, tempfile\n"
        f"f = tempfile.TemporaryFile(dir={str(tmpdir)!r})\n"
        "for _ in range(128): f.write(b'a' * 65536)\n"
        "f.flush(); os.fsync(f.fileno())\n"
        "print(open('/proc/self/io').read())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return int(re.search(r"^write_bytes: (\d+)", out, re.M).group(1))


def guesses_live(port: int, seconds: float) -> tuple[int, int]:
    """(checked, refused) password guesses from 127.0.0.1 in *seconds*."""
    checked = refused = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker():
        nonlocal checked, refused
        while time.monotonic() < stop:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                conn.request("GET", "/login")
                resp = conn.getresponse()
                page = resp.read().decode()
                cookie = resp.getheader("Set-Cookie", "").split(";")[0]
                token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
                body = urllib.parse.urlencode(
                    {"csrf_token": token, "name": "bench", "password": "not the password"}
                )
                conn.request(
                    "POST",
                    "/login",
                    body=body,
                    headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
                )
                code = conn.getresponse().status
            finally:
                conn.close()
            with lock:
                if code == 401:
                    checked += 1
                elif code == 429:
                    refused += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return checked, refused


def guesses_policy() -> dict:
    """Guesses one address gets checked when it tries again the moment it may."""
    from web.security import LoginLimiter

    now = [0.0]
    limiter = LoginLimiter(lambda: now[0])
    counts = {}
    checked = 0
    marks = {"first_minute": 60, "first_hour": 3600, "first_day": 86400}
    while now[0] <= 86400:
        attempt = limiter.begin("ip:192.0.2.1", "user:admin")
        if attempt.allowed:
            checked += 1
            step = 0.001
        else:
            step = attempt.wait
        for name, at in marks.items():
            if name not in counts and now[0] + step > at:
                counts[name] = checked
        now[0] += step
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guess-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp:
        proc, data, port, env = start_daemon(Path(tmp))
        try:
            baseline = min(status_ms(data, env) for _ in range(3))
            flood_figures(port, data, env, "one_address", ["127.0.0.2"] * IDLE, baseline)
            time.sleep(1)
            flood_figures(
                port,
                data,
                env,
                "many_addresses",
                [f"127.0.1.{i + 1}" for i in range(IDLE)],
                baseline,
            )
            for chunked in (False, True):
                written, read, sent = big_body(port, proc.pid, chunked)
                kind = "chunked" if chunked else "content_length"
                print(
                    f"64 MiB body ({kind}): the client got {sent} bytes into the socket "
                    f"before the daemon closed it; the daemon wrote {written} bytes to "
                    "storage"
                )
                print(
                    bench_line(
                        f"body_64mib_{kind}_bytes_written_to_disk", written, "bytes", "<1048576"
                    )
                )
            spool = calibrate(Path(tmp) / "tmp")
            print(
                f"calibration: a process spooling 8 MiB to the same TMPDIR shows "
                f"write_bytes {spool} (the measure sees spooled bodies)"
            )
            print(bench_line("body_calibration_8mib_spool_write_bytes", spool, "bytes", "-"))
            checked, refused = guesses_live(port, args.guess_seconds)
            per_minute = checked / (args.guess_seconds / 60)
            print(
                f"password guesses from one address for {args.guess_seconds:.0f} s, 8 at a "
                f"time: {checked} checked, {refused} refused"
            )
            print(
                bench_line(
                    "login_guesses_checked_per_minute_one_address",
                    per_minute,
                    "guesses/min",
                    "-",
                    digits=1,
                )
            )
        finally:
            proc.terminate()
            proc.wait(30)
    policy = guesses_policy()
    print(f"the limiter's policy for one address trying without pause: {policy}")
    for name, value in policy.items():
        print(bench_line(f"login_guesses_checked_{name}", value, "guesses", "-"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
