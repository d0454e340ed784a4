"""Web benchmark: the status page and GET /api/v1/status under 20 clients.

Runs a real appliance in simulate (mock pins, simulated clock at real speed, SQLite on
disk) with waitress on a free loopback port, as ``nightswitch simulate`` does, in a
process of its own as on the Pi (the load generator's threads must not share the
server's interpreter lock). Twenty client threads, each with one keep-alive
``http.client`` connection, alternate between the status page (logged in with a session
cookie) and ``/api/v1/status`` (bearer token),
for a bounded number of requests and a bounded time. It prints the latency p50/p99/max
of each, and the bytes a browser fetches for the status page with its assets.

Two runs: **browsing**, where each client pauses 50 to 250 ms between requests (twenty
people reloading the page several times a second each, far more than a real office,
whose browsers load the page once and then follow the event stream), and
**saturation**, with no pause at all. In saturation the latency is queueing: twenty
requests always wait for the server's eight threads, so it measures throughput and the
p99 there is about 20 / throughput whatever the page costs.

The targets of docs/design.md#performance-targets (checked on the browsing run): p99 <
50 ms, no external requests, < 100 KB.

    python bench/bench_web.py [--clients 20] [--requests 100] [--seconds 60]

After the human summary it prints a ``BENCH name=... value=... unit=... target=...`` line
per figure for ``bench/run_all.py``.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import multiprocessing
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchline import bench_line  # noqa: E402
from gpiozero.pins.mock import MockFactory  # noqa: E402

from appliance.config import default_config  # noqa: E402
from appliance.daemon import Appliance  # noqa: E402
from appliance.inputs.clock import SimClock  # noqa: E402

PASSWORD = "benchmark password"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def login(port: int) -> str:
    """Log in through the form, as a browser does; returns the Cookie header."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/login")
    r = conn.getresponse()
    page = r.read().decode()
    cookie = r.getheader("Set-Cookie").split(";", 1)[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrf_token": token, "name": "admin", "password": PASSWORD})
    conn.request(
        "POST",
        "/login",
        body=body,
        headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
    )
    r = conn.getresponse()
    r.read()
    if r.status != 302:
        raise SystemExit(f"bench: login failed with HTTP {r.status}")
    conn.close()
    return r.getheader("Set-Cookie").split(";", 1)[0]


def transfer_size(port: int, cookie: str) -> tuple[int, list[tuple[str, int]], list[str]]:
    """Bytes of the status page and every asset it links (headers included), and any
    reference to another host."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    items = []

    def fetch(path: str) -> bytes:
        conn.request("GET", path, headers={"Cookie": cookie})
        r = conn.getresponse()
        body = r.read()
        head = sum(len(k) + len(v) + 4 for k, v in r.getheaders()) + 17
        items.append((path, len(body) + head))
        return body

    html = fetch("/").decode()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    external = [u for u in refs if re.match(r"^(https?:)?//", u)]
    for ref in refs:
        if ref.startswith("/static/"):
            fetch(ref)
    # what the page's script fetches at once: the live fragment and the panel fragment
    fetch("/status/live")
    conn.close()
    return sum(n for _, n in items), items, external


def client(
    port: int,
    cookie: str,
    token: str,
    count: int,
    deadline: float,
    results: dict,
    errors: list,
    think: tuple[float, float],
    seed: int,
) -> None:
    pause = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    plan = (
        ("page", "/", {"Cookie": cookie}),
        ("api", "/api/v1/status", {"Authorization": f"Bearer {token}"}),
    )
    try:
        for i in range(count):
            if time.monotonic() > deadline:
                break
            name, path, headers = plan[i % 2]
            if think[1] > 0:
                time.sleep(pause.uniform(*think))
            start = time.perf_counter()
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            r.read()
            elapsed = time.perf_counter() - start
            if r.status != 200:
                errors.append(f"{path}: HTTP {r.status}")
            results[name].append(elapsed)
    except (OSError, http.client.HTTPException) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def serve(conn, data: Path) -> None:
    """The appliance under test, in its own process: report ``(port, token)`` on *conn*,
    serve until told to stop."""
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    logging.getLogger("nightswitch").setLevel(logging.ERROR)
    config = default_config("Europe/Berlin")
    config.clock_sync = "always"
    appliance = Appliance(
        config,
        data,
        pin_factory=MockFactory(),
        clock=SimClock(rate=1.0),
        simulate=True,
        host="127.0.0.1",
        port=0,
    )
    try:
        appliance.store.add_user("admin", "admin", PASSWORD)
        appliance.start()
        token = appliance.store.create_token(
            "viewer", label="bench", by="bench", at=appliance.clock.now()
        )
        conn.send((appliance.port, token))
        conn.recv()  # anything: stop
    finally:
        appliance.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=100, help="per client (default 100)")
    parser.add_argument("--seconds", type=float, default=60.0, help="time bound (default 60)")
    args = parser.parse_args(argv)
    data = Path(tempfile.mkdtemp(prefix="nightswitch-bench-web-"))
    ours, theirs = multiprocessing.Pipe()
    # waitress warns for every queued request (in a load test that is the point): the
    # child quiets it.
    server = multiprocessing.get_context("spawn").Process(
        target=serve, args=(theirs, data), name="appliance"
    )
    server.start()
    try:
        if not ours.poll(60):
            raise SystemExit("bench: the appliance did not start within 60 s")
        port, token = ours.recv()
        cookie = login(port)
        total, items, external = transfer_size(port, cookie)

        runs = {}
        for run, think in (("browsing", (0.05, 0.25)), ("saturation", (0.0, 0.0))):
            results = {"page": [], "api": []}
            errors: list[str] = []
            deadline = time.monotonic() + args.seconds
            threads = [
                threading.Thread(
                    target=client,
                    args=(port, cookie, token, args.requests, deadline, results, errors, think, n),
                )
                for n in range(args.clients)
            ]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            runs[run] = (results, errors, time.perf_counter() - started)
    finally:
        if server.is_alive():
            ours.send("stop")
            server.join(30)
        if server.is_alive():
            server.kill()
        shutil.rmtree(data, ignore_errors=True)

    failed = False
    for run, (results, errors, wall) in runs.items():
        done = len(results["page"]) + len(results["api"])
        print(
            f"bench_web {run}: {args.clients} clients, {done} requests in {wall:.1f} s "
            f"({done / wall:.0f}/s), {len(errors)} errors"
        )
        for name, label in (("page", "status page  GET /"), ("api", "API  GET /api/v1/status")):
            values = results[name]
            if values:
                print(
                    f"  {label:28s} p50 {statistics.median(values) * 1000:6.1f} ms   "
                    f"p99 {percentile(values, 99) * 1000:6.1f} ms   "
                    f"max {max(values) * 1000:6.1f} ms   (n={len(values)})"
                )
        for line in errors[:5]:
            print(f"  error: {line}")
        failed = failed or bool(errors)
    print(
        f"status page with its assets: {total / 1024:.1f} KB "
        + "("
        + ", ".join(f"{p} {n / 1024:.1f} KB" for p, n in items)
        + ")"
    )
    print(f"references to other hosts: {len(external)}" + (f" {external}" if external else ""))
    results = runs["browsing"][0]
    p99 = max(percentile(results["page"], 99), percentile(results["api"], 99))
    verdict = "within" if p99 < 0.050 and total < 100 * 1024 and not external else "OUTSIDE"
    print(f"targets on the browsing run (p99 < 50 ms, < 100 KB, no external requests): {verdict}")
    for run, (results, _errors, _wall) in runs.items():
        # The design's target is for 20 browsing clients; the saturation run has none
        for name, label in (("page", "status_page_get"), ("api", "api_get_api_v1_status")):
            if results[name]:
                print(
                    bench_line(
                        f"web_{run}_{label}_p50",
                        statistics.median(results[name]) * 1000,
                        "ms",
                        "-",
                        digits=2,
                    )
                )
                print(
                    bench_line(
                        f"web_{run}_{label}_p99",
                        percentile(results[name], 99) * 1000,
                        "ms",
                        "<50" if run == "browsing" else "-",
                        digits=2,
                    )
                )
    print(bench_line("web_status_page_kb", total / 1024, "KB", "<100", digits=1))
    print(bench_line("web_external_references", len(external), "count", "=0"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
