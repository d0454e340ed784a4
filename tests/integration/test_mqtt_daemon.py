"""The MQTT client inside a real ``nightswitch simulate`` process, on a real Mosquitto.

A daemon that dies without a goodbye must show ``offline``: SIGKILL (the kernel closes
its connection, and the broker publishes the will at once) and SIGSTOP (a hung process or
a pulled cable: the connection stays open, and the broker gives up after 1.5 times the
keepalive). bench/bench_mqtt.py measures how long each took.
"""

from __future__ import annotations

import json
import os
import signal
import time

from appliance.commands import daemon_client
from appliance.outputs.mqtt.topics import Topics
from tests.appliance_helpers import REPO, OutputCollector, spawn
from tests.mqtt_helpers import Mosquitto, Watcher, broker, watcher  # noqa: F401

T = Topics("nightswitch", "branch-017")
KEEPALIVE = 5


def site_config(tmp_path, broker, **mqtt) -> str:
    """The default wiring (hardware/pinmap.toml) with a [site] and an [mqtt] section."""
    path = tmp_path / "nightswitch.toml"
    path.write_text(
        (REPO / "hardware" / "pinmap.toml").read_text()
        + '\n[site]\nname = "Branch 17"\ntimezone = "Europe/Berlin"\n\n'
        + broker.mqtt_toml("branch-017", keepalive=KEEPALIVE, **mqtt)
    )
    return str(path)


def start_simulate(tmp_path, broker):
    proc = spawn(
        "simulate",
        "--port",
        "0",
        "--data",
        tmp_path / "data",
        "--config",
        site_config(tmp_path, broker),
    )
    out = OutputCollector(proc)
    line = out.wait_for("open http://", timeout=60)
    return proc, out, line.split("open ")[1].split("/ ")[0]


def kill(proc, out):
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
    out.join()


def test_sigkill_of_the_daemon_shows_offline(tmp_path, broker, watcher):
    proc, out, _ = start_simulate(tmp_path, broker)
    try:
        watcher.wait_for(T.availability, lambda m: m.text == "online", timeout=60)
        state = watcher.wait_for(T.state("main"), timeout=60).json()
        assert state["zone"] == "main"
        since = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        offline = watcher.wait_for(
            T.availability, lambda m: m.text == "offline", since=since, timeout=3 * KEEPALIVE
        )
        assert offline.retain is False  # live, from the will
    finally:
        kill(proc, out)
    # a new subscriber (Home Assistant after a restart) reads the retained offline
    late = Watcher(broker, [T.availability]).start()
    try:
        assert late.wait_for(T.availability).text == "offline"
    finally:
        late.stop()


def test_a_hung_daemon_shows_offline_after_the_keepalive(tmp_path, broker, watcher):
    proc, out, _ = start_simulate(tmp_path, broker)
    try:
        watcher.wait_for(T.availability, lambda m: m.text == "online", timeout=60)
        since = time.monotonic()
        os.kill(proc.pid, signal.SIGSTOP)  # the socket stays open, nothing answers
        try:
            watcher.wait_for(
                T.availability, lambda m: m.text == "offline", since=since, timeout=10 * KEEPALIVE
            )
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        # alive again, it reconnects and says online by itself
        watcher.wait_for(
            T.availability, lambda m: m.text == "online", since=time.monotonic(), timeout=60
        )
    finally:
        kill(proc, out)


def test_a_command_over_mqtt_in_the_daemon_is_in_the_audit(tmp_path, broker, watcher):
    proc, out, url = start_simulate(tmp_path, broker)
    try:
        watcher.wait_for(T.availability, lambda m: m.text == "online", timeout=60)
        since = time.monotonic()
        watcher.publish(T.command("main"), json.dumps({"mode": "day", "until": "23:59"}))
        result = watcher.wait_for(T.result("main"), since=since, timeout=30).json()
        assert result["ok"] is True and result["override"]["by"] == "mqtt:branch-017"
        # the command line's own socket, as `nightswitch` itself talks to the daemon
        audit = daemon_client.request(tmp_path / "data", "GET", "/api/v1/audit?limit=5")
        entries = audit["entries"] if isinstance(audit, dict) else audit
        assert any(
            e["source"] == "mqtt" and e["who"] == "mqtt:branch-017" and e["new_mode"] == "day"
            for e in entries
        ), entries
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        out.join()
    assert proc.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    # a clean stop says offline itself
    assert watcher.last(T.availability).text == "offline"
