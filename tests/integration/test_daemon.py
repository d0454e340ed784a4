"""The daemon as systemd runs it: start-up order (relays safe, web answering, then READY),
the watchdog fed by the controller loop, and SIGTERM leaving every relay de-energized.

In-process tests use gpiozero's MockFactory, so the relay pins can be read after the stop;
subprocess tests run the real ``nightswitch run`` and ``simulate`` commands with
``GPIOZERO_PIN_FACTORY=mock`` and a real ``NOTIFY_SOCKET``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from appliance.commands import daemon_client
from appliance.daemon import Appliance
from appliance.inputs.clock import SimClock
from appliance.outputs.sdnotify import SystemdNotifier
from appliance.store.lock import DataDirLock
from tests.appliance_helpers import (
    MONDAY_0759,
    SITE,
    OutputCollector,
    cli_env,
    config,
    connect,
    contact_toml,
    free_port,
    panel_toml,
    spawn,
    wait_until,
)


class NotifyListener:
    """A unix datagram socket standing in for systemd's notify socket; each datagram is
    recorded with the time it arrived and, on READY, whether the web answered then."""

    def __init__(self, path, on_message=None):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self.on_message = on_message
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data))
            if self.on_message:
                self.on_message(data)

    def count(self, prefix: str) -> int:
        return sum(1 for _, m in self.messages if m.startswith(prefix))

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def http_get(url: str, token: str | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def build_appliance(factory, data_dir, notifier, *, clock=None, cfg=None):
    connect(factory, 17, 24)
    cfg = cfg or config(panel_toml(), contact_toml())
    return Appliance(
        cfg,
        data_dir,
        pin_factory=factory,
        clock=clock or SimClock(MONDAY_0759),
        notifier=notifier,
        host="127.0.0.1",
        port=0,
    )


# -- in-process ----------------------------------------------------------------------------


def test_ready_is_sent_only_after_relays_are_safe_and_the_web_answers(
    mock_factory, data_dir, tmp_path
):
    seen = {}
    box = {}

    def on_message(message):
        if message.startswith("READY=1"):
            appliance = box["appliance"]
            seen["relay_function"] = mock_factory.pin(17).function
            seen["health"] = http_get(f"http://127.0.0.1:{appliance.port}/api/v1/health")[0]
            seen["timings"] = dict(appliance.timings)

    listener = NotifyListener(tmp_path / "notify", on_message)
    notifier = SystemdNotifier({"NOTIFY_SOCKET": listener.path})
    appliance = build_appliance(mock_factory, data_dir, notifier)
    box["appliance"] = appliance
    try:
        # built, not started: every relay is already claimed as an output, and off
        assert mock_factory.pin(17).function == "output" and mock_factory.pin(17).state is False
        assert listener.count("READY") == 0
        appliance.start()
        wait_until(lambda: "health" in seen)
        assert seen["relay_function"] == "output"
        assert seen["health"] in (200, 503)  # the web answered at READY
        assert 0 <= seen["timings"]["relays_safe_s"] <= seen["timings"]["ready_s"] < 3
        ready = [m for _, m in listener.messages if m.startswith("READY=1")]
        assert ready == [f"READY=1\nSTATUS=serving on 127.0.0.1:{appliance.port}"]
        # the command line's way in: a Unix socket for root and the service's group, no token
        endpoint = json.loads((data_dir / "daemon.json").read_text())
        assert endpoint["web"] == f"http://127.0.0.1:{appliance.port}"
        sock = Path(endpoint["socket"])
        assert sock.is_socket() and oct(sock.stat().st_mode & 0o777) == "0o660"
        assert not (data_dir / "cli-token").exists()
        body = daemon_client.request(data_dir, "GET", "/api/v1/status")
        assert body["zone"] == "main"
    finally:
        appliance.stop()
        listener.close()


def test_watchdog_is_fed_by_the_controller_loop_and_stops_when_it_hangs(
    mock_factory, data_dir, tmp_path
):
    listener = NotifyListener(tmp_path / "notify")
    notifier = SystemdNotifier({"NOTIFY_SOCKET": listener.path})
    threads = []
    real_watchdog = notifier.watchdog

    def watchdog():
        threads.append(threading.current_thread().name)
        return real_watchdog()

    notifier.watchdog = watchdog
    clock = SimClock(MONDAY_0759)
    appliance = build_appliance(mock_factory, data_dir, notifier, clock=clock)
    try:
        appliance.start()
        wait_until(lambda: listener.count("WATCHDOG=1") >= 1)  # from the first pass
        for n in range(2, 5):
            clock.advance(10)  # the loop's longest sleep
            wait_until(lambda: listener.count("WATCHDOG=1") >= n)
        assert set(threads) == {"controller"}
        # a worker hung in an actuator stops the keep-alives: systemd restarts us (the
        # controller itself goes on deciding meanwhile)
        appliance.controller.worker_stuck_s = 0.2
        stuck = threading.Event()
        actuator = appliance.actuators[0]
        real_apply = actuator.apply
        actuator.apply = lambda mode: (stuck.wait(10), real_apply(mode))
        zone = appliance.controller.zones["main"]
        appliance.controller.call(lambda: zone.worker.want(zone.wanted_mode, force=True))
        wait_until(lambda: zone.worker.stuck_for() > 0.3)
        before = listener.count("WATCHDOG=1")
        clock.advance(30)
        appliance.controller.call(lambda: None)
        assert listener.count("WATCHDOG=1") == before
        stuck.set()
        clock.advance(10)
        wait_until(lambda: listener.count("WATCHDOG=1") > before)
    finally:
        appliance.stop()
        listener.close()


def test_sigterm_stops_cleanly_with_every_relay_de_energized(mock_factory, data_dir, tmp_path):
    listener = NotifyListener(tmp_path / "notify")
    notifier = SystemdNotifier({"NOTIFY_SOCKET": listener.path})
    cfg = config(
        panel_toml(),
        contact_toml(),
        contact_toml(name="console", pin=27, sense_pin=None, active_high=False),
    )
    appliance = build_appliance(mock_factory, data_dir, notifier, cfg=cfg)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        appliance.start()
        wait_until(lambda: appliance.controller.status()["verified"])
        assert mock_factory.pin(17).state is True  # night: active-high relay closed
        assert mock_factory.pin(27).state is False  # active-low relay closed
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        assert appliance.wait_for_signal() == 0  # systemd stop
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        appliance.stop()
        listener.close()
    assert mock_factory.pin(17).state is False and mock_factory.pin(27).state is True
    assert mock_factory.pin(17).function == "input"  # released
    assert any(m == "STOPPING=1" for _, m in listener.messages)
    lock = DataDirLock(data_dir)
    assert lock.acquire() is True  # the data directory is free
    lock.release()


def test_a_stop_ends_open_live_streams_without_a_traceback(mock_factory, data_dir, caplog):
    # Two status pages hold their live event streams open when systemd stops the
    # appliance. The streams end at once, and waitress logs no "Exception when servicing"
    # (a stream that waited for its next event outlived the server's wake-up pipe).
    appliance = build_appliance(mock_factory, data_dir, SystemdNotifier({}))
    streams = []
    try:
        appliance.start()
        token = appliance.store.create_token("viewer", label="streams", by="test", at=MONDAY_0759)
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", appliance.port), timeout=10)
            sock.sendall(
                b"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer " + token.encode() + b"\r\n\r\n"
            )
            first = sock.recv(4096)
            assert first.startswith(b"HTTP/1.1 200"), first[:200]
            streams.append(sock)
    finally:
        with caplog.at_level("ERROR", logger="waitress"):
            appliance.stop()
    for sock in streams:
        # The server ended the stream: EOF soon, not keep-alive comments for ever.
        give_up = time.monotonic() + 10
        while sock.recv(4096):
            assert time.monotonic() < give_up, "the live stream outlived the stop"
        sock.close()
    assert not [r for r in caplog.records if r.name.startswith("waitress")], caplog.text


def test_a_second_daemon_on_the_same_data_directory_is_refused(mock_factory, data_dir):
    from appliance.errors import NightswitchError

    first = build_appliance(mock_factory, data_dir, SystemdNotifier({}))
    try:
        with pytest.raises(NightswitchError, match="another nightswitch is already running"):
            Appliance(config(), data_dir, pin_factory=mock_factory, notifier=SystemdNotifier({}))
    finally:
        first.stop()


def test_start_up_timings_are_recorded(mock_factory, data_dir):
    appliance = build_appliance(mock_factory, data_dir, SystemdNotifier({}))
    try:
        appliance.start()
        assert appliance.timings["relays_safe_s"] < appliance.timings["ready_s"] < 3
    finally:
        appliance.stop()


def test_without_web_the_controller_runs_alone(mock_factory, data_dir):
    connect(mock_factory, 17, 24)
    appliance = Appliance(
        config(panel_toml(), contact_toml()),
        data_dir,
        pin_factory=mock_factory,
        clock=SimClock(MONDAY_0759),
        notifier=SystemdNotifier({}),
        web=False,
    )
    try:
        appliance.start()
        wait_until(lambda: appliance.controller.status()["verified"])
        assert appliance.web_server is None and not (data_dir / "daemon.json").exists()
    finally:
        appliance.stop()
    assert mock_factory.pin(17).state is False


# -- the real commands -----------------------------------------------------------------------


def write_run_config(tmp_path, port: int):
    path = tmp_path / "nightswitch.toml"
    path.write_text(
        SITE + f'[web]\nlisten = "127.0.0.1:{port}"\n' + panel_toml() + contact_toml(sense_pin=None)
    )
    return path


def stop(proc, out: OutputCollector, timeout: float = 15) -> int:
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout)
    out.join()
    return code


def test_run_subprocess_notifies_systemd_and_stops_on_sigterm(tmp_path):
    port = free_port()
    cfg = write_run_config(tmp_path, port)
    data = tmp_path / "data"
    listener = NotifyListener(tmp_path / "notify")
    # run picks gpiozero's factory from GPIOZERO_PIN_FACTORY and trusts the clock with
    # NIGHTSWITCH_TRUST_CLOCK=1 (no timesyncd in a test box)
    env = cli_env(NOTIFY_SOCKET=listener.path, NIGHTSWITCH_TRUST_CLOCK="1")
    t0 = time.monotonic()
    proc = spawn("run", "--config", cfg, "--data", data, env=env)
    out = OutputCollector(proc)
    try:
        wait_until(
            lambda: listener.count("READY=1"), timeout=20, message="no READY=1:\n" + out.stderr
        )
        ready_after = time.monotonic() - t0
        status, body = http_get(f"http://127.0.0.1:{port}/api/v1/health")
        assert status in (200, 503) and isinstance(body, dict)  # answering at READY
        wait_until(lambda: listener.count("WATCHDOG=1"), timeout=5)
        wait_until(lambda: (data / "daemon.json").exists(), timeout=20)
        body = daemon_client.request(data, "GET", "/api/v1/status")
        assert body["source"] != "hold", body  # the clock was trusted
        assert ready_after < 20
    finally:
        code = stop(proc, out)
        listener.close()
    assert code == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert "stopped; relays de-energized" in out.stderr
    assert any(m == "STOPPING=1" for _, m in listener.messages)


def test_run_without_trusted_clock_holds(tmp_path):
    port = free_port()
    cfg = write_run_config(tmp_path, port)
    data = tmp_path / "data"
    flagless = cli_env()
    flagless.pop("NIGHTSWITCH_TRUST_CLOCK", None)
    proc = spawn("run", "--config", cfg, "--data", data, env=flagless)
    out = OutputCollector(proc)
    try:
        wait_until(
            lambda: (data / "daemon.json").exists(),
            timeout=20,
            message="run did not start:\n" + out.stderr,
        )
        body = daemon_client.request(data, "GET", "/api/v1/status")
        # a PC has no timesyncd flag; whether the kernel reports NTP sync decides it
        from appliance.inputs.clock import SystemClock

        trusted = SystemClock("timesyncd").is_synchronized()
        assert (body["source"] == "hold") is (not trusted)
    finally:
        assert stop(proc, out) == 0, out.stderr


def test_run_with_a_bad_config_exits_2_with_one_line_per_error(tmp_path):
    cfg = tmp_path / "nightswitch.toml"
    cfg.write_text(SITE + "[web]\nlisten = 'nowhere'\n")
    proc = spawn("run", "--config", cfg, "--data", tmp_path / "data")
    out = OutputCollector(proc)
    assert proc.wait(20) == 2
    out.join()
    assert out.stderr.strip() == (
        f"nightswitch: error: {cfg}: web.listen: 'nowhere' must be "
        "HOST:PORT, such as '0.0.0.0:8080'"
    )


def test_simulate_subprocess_serves_its_panel_and_stops_on_sigterm(tmp_path):
    data = tmp_path / "sim"
    listener = NotifyListener(tmp_path / "notify")
    proc = spawn(
        "simulate", "--port", "0", "--data", data, env=cli_env(NOTIFY_SOCKET=listener.path)
    )
    out = OutputCollector(proc)
    try:
        line = out.wait_for("open http://")
        url = line.split("open ")[1].split("/ ")[0]
        # the datagram is recorded by the listener's own thread: wait for it, then once only
        wait_until(lambda: listener.count("READY=1") >= 1, message="no READY=1")
        assert listener.count("READY=1") == 1
        wait_until(lambda: (data / "daemon.json").exists(), timeout=20)
        # the simulated PBX answers the relay: the mode is verified
        mode = wait_until(
            lambda: (
                (s := daemon_client.request(data, "GET", "/api/v1/status"))["verified"]
                and s["mode"]
            ),
            timeout=10,
        )
        panel = daemon_client.request(data, "GET", "/api/v1/sim/panel")
        assert http_get(url + "/api/v1/health")[0] in (200, 503)
        assert panel["relays"] == {"night-service": "closed" if mode == "night" else "open"}
        assert set(panel["leds"]) == {"day", "night", "fault"}
    finally:
        code = stop(proc, out)
        listener.close()
    assert code == 0, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert "stopped; relays de-energized" in out.stderr


def test_a_taken_web_port_fails_the_start_before_any_relay_moves(mock_factory, data_dir):
    from appliance.errors import NightswitchError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        connect(mock_factory, 17, 24)
        appliance = Appliance(
            config(panel_toml(), contact_toml()),
            data_dir,
            pin_factory=mock_factory,
            clock=SimClock(MONDAY_0759),
            notifier=SystemdNotifier({}),
            host="127.0.0.1",
            port=port,
        )
        relay = mock_factory.pin(17)
        relay.clear_states()
        with pytest.raises(
            NightswitchError,
            match=f"cannot serve the web page on 127.0.0.1:{port}: Address already in use",
        ):
            appliance.start()
    # night was never asserted: under systemd each restart would have clicked the relay
    assert [s.state for s in relay.states] == [False]
    assert relay.function == "input"  # released by the stop
    lock = DataDirLock(data_dir)
    assert lock.acquire()
    lock.release()


def test_run_with_its_port_taken_is_one_line_and_exit_1(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cfg = write_run_config(tmp_path, taken.getsockname()[1])
        proc = spawn(
            "run",
            "--config",
            cfg,
            "--data",
            tmp_path / "data",
            env=cli_env(NIGHTSWITCH_TRUST_CLOCK="1"),
        )
        out = OutputCollector(proc)
        code = proc.wait(20)
        out.join()
    assert code == 1, out.stderr
    assert "Traceback" not in out.stderr and "applied" not in out.stderr
    assert "nightswitch: error: cannot serve the web page on 127.0.0.1:" in out.stderr


def test_the_started_daemon_keeps_its_touched_pages_in_memory():
    """daemon.freeze_start_up: the collector no longer walks what the start-up made, and
    the pages stay locked once touched, with nothing read in ahead (the resident memory
    does not grow by the locking). Run in a child process, so pytest's own memory is left
    alone."""
    import subprocess
    import sys

    script = (
        "import gc, re\n"
        "def status(key):\n"
        "    text = open('/proc/self/status').read()\n"
        "    return int(re.search(key + r':\\s+(\\d+)', text).group(1))\n"
        "import appliance.daemon\n"
        "before = status('VmRSS')\n"
        "appliance.daemon.freeze_start_up()\n"
        "print(gc.get_freeze_count(), status('VmLck'), before, status('VmRSS'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    frozen, locked, before, after = (int(x) for x in out.stdout.split())
    assert frozen > 10_000  # the modules and everything the import made
    assert after - before < 4096, (before, after)  # kB: locked on touch, not read in ahead
    if os.geteuid() == 0:  # as the unit allows it (LimitMEMLOCK=infinity)
        assert locked > 0, out.stderr
