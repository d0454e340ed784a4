"""MQTT: one site's latencies, and a fleet of 50 sites on one Mosquitto (issue 18,
docs/design.md#performance-targets).

Everything real: Debian's Mosquitto on 127.0.0.1 (tests/mqtt_helpers.py starts it), paho
clients, and for the fleet 50 ``nightswitch simulate`` processes, each a whole appliance
(mock pins, simulated PBX, web server, controller, MQTT client) with its own data
directory.

One site (the controller on mock pins in this process, its MQTT bridge, a watcher client
in the role of Home Assistant):

discovery after connecting / after ``homeassistant/status online``
    the bridge's "connected" instant, or the instant the watcher sent ``online``, to the
    discovery message arriving at the watcher. Target < 2 s.
state after a key turn / an override / a confirmation
    the instant the controller published the changed snapshot (a key turn: the instant
    the debounce ended; an override: the command sent over MQTT) to the zone's state
    arriving at the watcher. Target < 1 s.
offline after SIGKILL / SIGSTOP
    a real ``nightswitch simulate`` with ``keepalive = 5``: the signal to the ``offline``
    will arriving at the watcher. SIGKILL closes the socket (the broker sends the will at
    once), target < 1.5 x keepalive; SIGSTOP leaves it open, so the broker waits for the
    keepalive to run out: 1.5 x keepalive after the last packet, in Mosquitto's whole
    seconds, target < 2 x keepalive.

The fleet (``--sites``, default 50):

fleet publish to every acknowledgement
    ``nightswitch fleet publish FILE --json``, which publishes the set and waits until
    every site's status names the new version: its own figure (publish to the last
    acknowledgement). Target < 5 s.
all sites back after a broker restart
    SIGTERM to Mosquitto, started again on the same port: from the broker listening again
    to the last site's fresh (not retained) ``online``. Target < 10 s.
memory and CPU per site
    ``VmRSS`` of each simulate process, and ``utime + stime`` over ``--idle`` seconds
    with the fleet connected and idle.

Run: ``python bench/bench_mqtt.py [--sites N] [--idle S]``; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout
sys.path.insert(0, str(ROOT / "bench"))

from bench_appliance import proc_cpu_s, proc_rss_mb  # noqa: E402
from benchline import bench_line  # noqa: E402
from gpiozero import Device  # noqa: E402
from gpiozero.pins.mock import MockFactory  # noqa: E402

from appliance.outputs.mqtt.topics import Topics  # noqa: E402
from tests.appliance_helpers import cli_env, wait_until  # noqa: E402
from tests.mqtt_helpers import Mosquitto, Site, Watcher  # noqa: E402

KEEPALIVE = 5
results: list[tuple[str, float, str, str, str]] = []  # name, value, unit, target, words


def record(name, value, unit, target, words):
    results.append((name, value, unit, target, words))
    print(
        f"  {words}: {value:.3f} {unit}"
        if isinstance(value, float)
        else f"  {words}: {value} {unit}"
    )


# -- one site -----------------------------------------------------------------------------------


def one_site(folder: Path) -> None:
    print("one site:")
    broker = Mosquitto(folder / "broker").start()
    watcher = Watcher(broker).start()
    factory = MockFactory()
    Device.pin_factory = factory
    t = Topics("nightswitch", "branch-017")
    site = Site(factory, folder / "site-data", broker, start_bridge=False)
    snapshots = site.rig.controller.subscribe()
    try:
        site.bridge.start()
        wait_until(lambda: any(w == "connected" for _, w in site.bridge.events), 20)
        connected = next(at for at, w in site.bridge.events if w == "connected")
        disc = watcher.wait_for(t.discovery)
        record(
            "mqtt_discovery_after_connect_s",
            disc.at - connected,
            "s",
            "<2",
            "discovery after connecting",
        )
        since = time.monotonic()
        watcher.publish(t.ha_status, "online")
        disc = watcher.wait_for(t.discovery, since=since)
        record(
            "mqtt_discovery_after_ha_online_s",
            disc.at - since,
            "s",
            "<2",
            "discovery after homeassistant/status online",
        )

        seen: list[tuple[float, dict]] = []

        def record_snapshots():
            # Blocked on the queue, this thread notes each snapshot the instant the
            # controller publishes it: the anchor of "state within 1 s of a change".
            while True:
                snap = snapshots.get()
                if snap is None:
                    return
                seen.append((time.monotonic(), snap))

        recorder = threading.Thread(target=record_snapshots, daemon=True)
        recorder.start()

        def published(predicate, since):
            """The instant the controller published a snapshot matching *predicate*."""
            return wait_until(
                lambda: next(
                    (at for at, snap in list(seen) if at >= since and predicate(snap)), None
                ),
                20,
            )

        watcher.wait_for(t.state("main"), lambda m: m.json()["verified"])
        # a key turn: measured from the end of the debounce
        since = time.monotonic()
        site.rig.turn_key("day")
        site.rig.settle_key()
        edge = time.monotonic()
        state = watcher.wait_for(t.state("main"), lambda m: m.json()["key"] == "day", since=since)
        record("mqtt_state_after_key_turn_s", state.at - edge, "s", "<1", "state after a key turn")
        confirmed_at = published(lambda s: s["key"] == "day" and s["verified"], since)
        state = watcher.wait_for(
            t.state("main"),
            lambda m: m.json()["key"] == "day" and m.json()["verified"],
            since=since,
        )
        record(
            "mqtt_state_after_confirmation_s",
            state.at - confirmed_at,
            "s",
            "<1",
            "state after the PBX's confirmation",
        )
        site.rig.turn_key("auto")
        site.rig.settle_key()
        watcher.wait_for(t.state("main"), lambda m: m.json()["key"] == "auto", since=since)
        since = time.monotonic()
        watcher.publish(t.command("main"), "day")
        state = watcher.wait_for(
            t.state("main"), lambda m: m.json()["override_mode"] == "day", since=since
        )
        record(
            "mqtt_state_after_override_command_s",
            state.at - since,
            "s",
            "<1",
            "state after an override sent over MQTT (command to state)",
        )
        changed_at = published(lambda s: s["override"] and s["override"]["mode"] == "day", since)
        record(
            "mqtt_state_after_override_s",
            state.at - changed_at,
            "s",
            "<1",
            "state after the override took effect in the controller",
        )
    finally:
        snapshots.put(None)
        site.close()
        watcher.stop()
        broker.kill()
        factory.reset()


def simulate_config(folder: Path, broker: Mosquitto, site_id: str, keepalive: int) -> Path:
    path = folder / f"{site_id}.toml"
    path.write_text(
        (ROOT / "hardware" / "pinmap.toml").read_text()
        + f'\n[site]\nname = "Site {site_id}"\ntimezone = "Europe/Berlin"\n\n'
        + broker.mqtt_toml(site_id, keepalive=keepalive)
    )
    return path


def spawn_simulate(folder: Path, broker: Mosquitto, site_id: str, keepalive: int):
    config = simulate_config(folder, broker, site_id, keepalive)
    log = open(folder / f"{site_id}.log", "w")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appliance",
            "simulate",
            "--port",
            "0",
            "--data",
            str(folder / f"data-{site_id}"),
            "--config",
            str(config),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=cli_env(),
        cwd=ROOT,
    ), log


def offline_after_signals(folder: Path) -> None:
    print("a daemon that dies or hangs:")
    broker = Mosquitto(folder / "broker-kill").start()
    watcher = Watcher(broker).start()
    try:
        for sig, name in ((signal.SIGKILL, "sigkill"), (signal.SIGSTOP, "sigstop")):
            site_id = f"victim-{name}"
            t = Topics("nightswitch", site_id)
            proc, log = spawn_simulate(folder, broker, site_id, KEEPALIVE)
            try:
                watcher.wait_for(t.availability, lambda m: m.text == "online", timeout=120)
                time.sleep(1)
                since = time.monotonic()
                os.kill(proc.pid, sig)
                offline = watcher.wait_for(
                    t.availability,
                    lambda m: m.text == "offline",
                    since=since,
                    timeout=10 * KEEPALIVE,
                )
                if sig == signal.SIGKILL:
                    # The kernel closes the socket: the broker sends the will at once.
                    target = f"<{1.5 * KEEPALIVE:g}"
                else:
                    # Nothing closes it: Mosquitto 2.0 drops a client when more than
                    # keepalive*3/2 whole seconds passed since its last packet (integer
                    # arithmetic, checked about once a second), and paho pings up to
                    # a second late: at most 2 x keepalive.
                    target = f"<{2 * KEEPALIVE:g}"
                record(
                    f"mqtt_offline_after_{name}_s",
                    offline.at - since,
                    "s",
                    target,
                    f"offline after {name.upper()} (keepalive {KEEPALIVE} s, "
                    f"1.5 x = {1.5 * KEEPALIVE:g} s)",
                )
            finally:
                if sig == signal.SIGSTOP:
                    os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait(10)
                log.close()
    finally:
        watcher.stop()
        broker.kill()


# -- the fleet -------------------------------------------------------------------------------


def fleet(folder: Path, count: int, idle_s: float) -> None:
    print(f"a fleet of {count} sites (nightswitch simulate processes) on one Mosquitto:")
    broker = Mosquitto(folder / "broker-fleet").start()
    watcher = Watcher(broker, ["nightswitch/+/availability", "nightswitch/+/status"]).start()
    ids = [f"site-{i:02d}" for i in range(1, count + 1)]
    procs = []
    try:
        started = time.monotonic()
        for site_id in ids:
            procs.append(spawn_simulate(folder, broker, site_id, 30))
        for site_id in ids:
            watcher.wait_for(
                Topics("nightswitch", site_id).availability,
                lambda m: m.text == "online",
                timeout=600,
            )
        print(f"  all {count} online {time.monotonic() - started:.0f} s after the first spawn")
        time.sleep(5)  # let start-up work (first verify, discovery) settle
        cpu0 = {p.pid: proc_cpu_s(p.pid) for p, _ in procs}
        t0 = time.monotonic()
        time.sleep(idle_s)
        elapsed = time.monotonic() - t0
        cpu = [100 * (proc_cpu_s(p.pid) - cpu0[p.pid]) / elapsed for p, _ in procs]
        rss = [proc_rss_mb(p.pid) for p, _ in procs]
        record(
            "mqtt_fleet_site_idle_cpu_mean",
            statistics.mean(cpu),
            "% of a core",
            "<1",
            f"idle CPU per site, mean of {count} over {idle_s:g} s",
        )
        record(
            "mqtt_fleet_site_idle_cpu_max",
            max(cpu),
            "% of a core",
            "-",
            "idle CPU per site, the busiest",
        )
        record(
            "mqtt_fleet_site_rss_mean",
            statistics.mean(rss),
            "MB",
            "<60",
            "resident memory per site (whole simulate process), mean",
        )
        record("mqtt_fleet_site_rss_max", max(rss), "MB", "-", "resident memory per site, max")

        # fleet publish -> every acknowledgement
        closures = folder / "closures.json"
        closures.write_text(
            json.dumps(
                {
                    "version": 1,
                    "closures": [
                        {
                            "name": "Staff day",
                            "from": "2026-06-12",
                            "to": "2026-06-12",
                            "ranges": [],
                        }
                    ],
                }
            )
        )
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "appliance",
                "fleet",
                "publish",
                str(closures),
                "--broker",
                broker.url,
                "--wait",
                "60",
                "--json",
            ],
            capture_output=True,
            text=True,
            env=cli_env(),
            cwd=ROOT,
            timeout=120,
        )
        answer = json.loads(done.stdout)
        applied = sum(1 for s in answer["sites"].values() if s["result"] == "applied")
        print(f"  fleet publish: {applied} of {count} applied")
        record(
            "mqtt_fleet_publish_all_acknowledged_s",
            answer["seconds"] if applied == count else float("nan"),
            "s",
            "<5",
            f"fleet publish to all {count} acknowledgements",
        )

        # broker restart -> every site back
        broker.stop()
        broker.start()
        back = time.monotonic()
        w2 = Watcher(broker, ["nightswitch/+/availability"]).start()
        try:
            last = 0.0
            for site_id in ids:
                m = w2.wait_for(
                    Topics("nightswitch", site_id).availability,
                    lambda m: m.text == "online" and not m.retain,
                    timeout=120,
                )
                last = max(last, m.at)
        finally:
            w2.stop()
        record(
            "mqtt_fleet_all_back_after_broker_restart_s",
            last - back,
            "s",
            "<10",
            f"all {count} sites online again after a broker restart",
        )
    finally:
        for proc, _log in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, log in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            log.close()
        watcher.stop()
        broker.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=50, help="sites in the fleet (50)")
    parser.add_argument(
        "--idle", type=float, default=30.0, help="seconds of idle CPU measured per site (30)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nightswitch-bench-mqtt-") as tmp:
        folder = Path(tmp)
        one_site(folder)
        offline_after_signals(folder)
        fleet(folder, args.sites, args.idle)
    failed = 0
    for name, value, unit, target, _words in results:
        print(bench_line(name, value, unit, target))
        if target != "-":
            limit = float(target.lstrip("<"))
            if not value < limit:
                failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
