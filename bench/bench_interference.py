"""Key edge to relay while the rest of the appliance is busy (issue 11,
docs/design.md#performance-targets).

The whole daemon (:class:`appliance.daemon.Appliance`: the controller, a worker per
zone, waitress, the SMDR intake) runs on gpiozero's mock pins with two zones: ``main``
has the key switch, its LEDs and a night-service contact; ``sales`` is switched over the
maintenance port of the PBX simulator on a pty. Reception turns the key DAY <-> NIGHT
``--turns`` times in each of these situations:

(a) nothing else happens;
(b) sales' PBX is silent, and sales is switched again and again, so its worker is always
    inside a dialogue that waits for an answer that never comes;
(c) an LED test is running (the key ends it; it is started again after each turn);
(d) 20 people browsing in another process: each holds the status page's live event
    stream (or polls, when refused), fetches the live part on every status event, and
    loads a page with its assets every 1 to 3 s; then, reported beside the table with no
    target, (d2) 20 clients requesting back to back without pause (a load test);
(e) random bytes arrive on the SMDR port all the while the key turns, 4 KiB every 10 ms
    (another process writes them to the pty; 1 MiB or more in all, and 400 times what a
    PBX sends at 9600 baud).

Each latency runs from the moment the panel's debounced change is accepted
(``FrontPanel.poll`` returning the new position) to the relay pin's change, read from the
mock pin's own history. Target p99 < 5 ms in every column; the physical floor is the
relay's ~10 ms operate time.

Then **key edge to LED feedback**: a site whose only actuator is the maintenance port of
a *slow* PBX (every answer late): from the accepted key change to the wanted mode's LED
pin changing (it starts its fast blink while the dialogue is still running). Target
p99 < 5 ms.

Run: ``python bench/bench_interference.py [--turns N]``. Prints a table and ``BENCH``
lines for ``bench/run_all.py``; exits 1 if a figure misses its target.
"""

from __future__ import annotations

import argparse
import os
import pty
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout

from benchline import bench_line  # noqa: E402
from gpiozero.pins.mock import MockConnectedPin, MockFactory  # noqa: E402

from appliance.config import load_config_text  # noqa: E402
from appliance.daemon import Appliance, freeze_start_up  # noqa: E402
from appliance.inputs.clock import SimClock  # noqa: E402
from appliance.inputs.keyswitch import PanelEvent  # noqa: E402
from appliance.outputs.sdnotify import SystemdNotifier  # noqa: E402
from appliance.pbx.profiles import load_profiles  # noqa: E402
from appliance.sim.pty_pbx import PbxSimulator  # noqa: E402

BERLIN = ZoneInfo("Europe/Berlin")
TARGET_MS = 5.0
#: Situations reported beside the table, without a target: (d2) is a load test, not the
#: "20 browsing web clients" of the target.
UNTARGETED = {"d2"}
PASSWORD = "s3cret-Pa55"
FIXTURE_SITE = ROOT / "tests" / "fixtures" / "pbx" / "site"

PANEL = """
[front_panel]
key_switch = "three-position"
debounce_ms = 50
[front_panel.pins]
key_day = 5
key_night = 6
led_day = 13
led_night = 19
led_fault = 26
"""
SERIAL = """
[[actuators]]
name = "{name}"
type = "serial"
profile = "mitel-3300-login"
port = "{port}"
password = "{password}"
{zone}
"""
CONTACT = """
[[actuators]]
name = "night-service"
type = "contact"
zone = "main"
pin = 17
modes = { day = "open", night = "closed" }
settle_ms = 200
sense = { pin = 24, pull_up = false, active_in = ["night"] }
"""
BROWSERS = r"""
# 20 people with the page open, harsher than people: each holds the live event stream
# the status page opens (refused beyond the appliance's stream limit: then it polls the
# live part every 5 s and tries the stream again after 60 s, as the page's script does),
# fetches the live part on every status event (so a key turn brings a burst of requests
# at the very moment the relay must move), and loads another page with its stylesheet,
# script and icon every 1 to 3 s.
import os, random, sys, threading, time, urllib.error, urllib.request
base, token, stop_file = sys.argv[1], sys.argv[2], sys.argv[3]
HEADERS = {"Authorization": "Bearer " + token}
PAGES = ["/", "/schedule", "/log", "/calls", "/api/v1/status", "/status/live"]
ASSETS = ["/static/nightswitch.css", "/static/nightswitch.js", "/static/icon.svg"]
count = [0]
lock = threading.Lock()
def stopped():
    return os.path.exists(stop_file)
def get(path):
    try:
        request = urllib.request.Request(base + path, headers=HEADERS)
        urllib.request.urlopen(request, timeout=10).read()
    except Exception:
        pass
    with lock:
        count[0] += 1
def live(n):
    while not stopped():
        try:
            with urllib.request.urlopen(
                urllib.request.Request(base + "/api/v1/events", headers=HEADERS), timeout=30
            ) as stream:
                with lock:
                    count[0] += 1
                for line in stream:
                    if stopped():
                        return
                    if line.startswith(b"event: status"):
                        get("/status/live")
        except urllib.error.HTTPError:
            # refused: poll the live part every 5 s for a minute, then try again
            until = time.monotonic() + 60
            while time.monotonic() < until and not stopped():
                get("/status/live")
                time.sleep(5)
        except Exception:
            time.sleep(1)
def browser(n):
    rng = random.Random(n)
    threading.Thread(target=live, args=(n,), daemon=True).start()
    while not stopped():
        get(rng.choice(PAGES))
        for asset in ASSETS:
            get(asset)
        time.sleep(rng.uniform(1, 3))
started = time.monotonic()
threads = [threading.Thread(target=browser, args=(n,)) for n in range(20)]
for t in threads: t.start()
for t in threads: t.join()
print(f"{count[0]} {time.monotonic() - started:.1f}")
"""
CLIENTS = r"""
# 20 clients requesting back to back, no pause: a load test, not people.
import os, sys, threading, time, urllib.request
base, token, stop_file = sys.argv[1], sys.argv[2], sys.argv[3]
count = [0]
lock = threading.Lock()
def client(n):
    paths = ["/", "/api/v1/status", "/status/live", "/health"]
    i = 0
    while not os.path.exists(stop_file):
        req = urllib.request.Request(base + paths[i % len(paths)],
                                     headers={"Authorization": "Bearer " + token})
        try:
            urllib.request.urlopen(req, timeout=10).read()
        except Exception:
            pass
        i += 1
        with lock:
            count[0] += 1
started = time.monotonic()
threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
for t in threads: t.start()
for t in threads: t.join()
print(f"{count[0]} {time.monotonic() - started:.1f}")
"""
NOISE = r"""
# Random bytes into the pty's master end (the fd is inherited: opening the master's name,
# /dev/ptmx, would make a new pty nobody reads), 4 KiB every 10 ms until told to stop:
# about 400 KiB/s, 400 times what a PBX sends at 9600 baud, for as long as the key turns.
import os, random, sys, time
fd, stop_file = int(sys.argv[1]), sys.argv[2]
rng = random.Random(7)
chunks = [bytes(rng.randrange(256) for _ in range(4096)) for _ in range(16)]
sent = 0
while not os.path.exists(stop_file):
    os.write(fd, chunks[(sent >> 12) % 16])
    sent += 4096
    time.sleep(0.01)
print(sent)
"""


def percentile(values, p):
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def wait_until(predicate, timeout=30.0):
    # Every latency is read from recorded times (the accepted change, the pin's own
    # history), never from when this loop sees it; it looks every 5 ms so that the bench
    # itself is not one more thread on the appliance's interpreter at the key's moment.
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {predicate}")
        time.sleep(0.005)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Site:
    """The daemon with its PBX simulator, its pins, and a key to turn."""

    def __init__(self, tmp: Path, *, two_zones: bool, slow: bool = False, smdr_port=None):
        site = tmp / "profiles"
        site.mkdir(parents=True)
        for f in FIXTURE_SITE.glob("*.toml"):
            shutil.copy(f, site / f.name)
        (tmp / "links").mkdir()
        profile = load_profiles(site)["mitel-3300-login"]
        self.sim = PbxSimulator(profile, password=PASSWORD, link_dir=tmp / "links", seed=5).start()
        if slow:
            self.sim.inject("slow", seconds=0.4)
        text = (
            '[site]\nname = "Bench"\ntimezone = "Europe/Berlin"\n'
            f'[profiles]\ndir = "{site}"\n' + PANEL
        )
        if two_zones:
            text += (
                '[[zones]]\nname = "main"\n[[zones]]\nname = "sales"\n'
                + CONTACT
                + SERIAL.format(
                    name="sales-port",
                    port=self.sim.port_path,
                    password=PASSWORD,
                    zone='zone = "sales"',
                )
            )
        else:
            text += SERIAL.format(
                name="pbx-port", port=self.sim.port_path, password=PASSWORD, zone=""
            )
        if smdr_port:
            text += (
                f'[smdr]\nport = "{smdr_port}"\nformat = "panasonic-kx-tda"\n'
                "settings = { baudrate = 9600 }\n"
            )
        text += f'[web]\nlisten = "127.0.0.1:{free_port()}"\n'
        config = load_config_text(text, "bench.toml")
        self.factory = MockFactory()
        self.factory.pin(17, pin_class=MockConnectedPin, input_pin=self.factory.pin(24))
        self.clock = SimClock(datetime(2026, 3, 2, 10, 0, tzinfo=BERLIN), rate=1.0)
        self.appliance = Appliance(
            config,
            tmp / "data",
            pin_factory=self.factory,
            clock=self.clock,
            notifier=SystemdNotifier(None),
        )
        self.controller = self.appliance.controller
        self.panel = self.appliance.panels[0]
        self.accepted: list[float] = []
        real_poll = self.panel.poll

        def poll():
            events = real_poll()
            if any(e.kind is PanelEvent.POSITION for e in events):
                self.accepted.append(time.monotonic())
            return events

        self.panel.poll = poll
        self.appliance.start()
        freeze_start_up()  # as `nightswitch run` does once started (wait_for_signal)
        self.clock.advance(2)  # past the lamp test
        # ... and wait until the controller has ended it: a key turned while the lamp test
        # still lights every LED would be timed to the next blink of an LED that was on.
        lamp_test = {"day": "on", "night": "on", "fault": "on"}
        wait_until(lambda: self.panel.leds.patterns != lamp_test)
        self.relay = self.factory.pin(17)
        self.day_pin = self.panel.inputs["key_day"].pin
        self.night_pin = self.panel.inputs["key_night"].pin

    def url(self) -> str:
        return f"http://127.0.0.1:{self.appliance.port}"

    def turn(self, to_day: bool) -> None:
        """Turn the key (pulled-up inputs: a closed contact reads low) and let the
        debounce time pass on the clock."""
        if to_day:
            self.night_pin.drive_high()
            self.day_pin.drive_low()
        else:
            self.day_pin.drive_high()
            self.night_pin.drive_low()
        self.clock.advance(0.05)

    def close(self):
        self.appliance.stop()
        self.sim.close()
        self.factory.close()


def first_change(pin, anchor: float, *, to: bool | None = None) -> float:
    """The absolute monotonic time of *pin*'s first change after ``clear_states()`` (to
    the level *to*, when given): MockPin stamps each state with the time since the
    previous one."""

    def found():
        t = anchor
        for state in pin.states[1:]:
            t += state.timestamp
            if to is None or state.state == to:
                return t
        return None

    wait_until(lambda: found() is not None)
    return found()


def key_to_relay(site: Site, turns: int, between=None) -> list[float]:
    latencies = []
    for i in range(turns):
        to_day = i % 2 == 1  # 10:00 is day by the schedule: NIGHT first
        site.relay.clear_states()
        anchor = site.relay._last_change
        before = len(site.accepted)
        site.turn(to_day)
        changed = first_change(site.relay, anchor)
        wait_until(lambda: len(site.accepted) > before)
        latencies.append((changed - site.accepted[before]) * 1000)
        wait_until(lambda: site.controller.status("main")["key"] == ("day" if to_day else "night"))
        if between:
            between()
        time.sleep(0.02)
    return latencies


def key_to_led(site: Site, turns: int) -> list[float]:
    latencies = []
    leds = {"day": site.factory.pin(13), "night": site.factory.pin(19)}
    untimed = 0
    for i in range(turns):
        to_day = i % 2 == 1
        pin = leds["day" if to_day else "night"]
        key = "day" if to_day else "night"
        if pin.state:
            # The LED is timed from dark to the start of its blink. It is lit already when
            # the last dialogue with this unkind PBX failed and left it in this mode: such a
            # turn has no LED change to time, so it is made and counted, not timed.
            site.turn(to_day)
            wait_until(lambda: site.controller.status()["key"] == key)
            untimed += 1
            time.sleep(0.05)
            continue
        pin.clear_states()
        anchor = pin._last_change
        before = len(site.accepted)
        site.turn(to_day)
        changed = first_change(pin, anchor, to=True)  # the LED lights: its blink began
        wait_until(lambda: len(site.accepted) > before)
        latencies.append((changed - site.accepted[before]) * 1000)
        wait_until(lambda: site.controller.status()["key"] == key)
        time.sleep(0.05)
    if untimed:
        print(f"key to LED: {untimed} of {turns} turns not timed (their LED was lit already)")
    return latencies


def run(turns: int) -> list[tuple[str, str, list[float]]]:
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        master, slave = pty.openpty()
        smdr_port = os.ttyname(slave)
        site = Site(tmp / "two", two_zones=True, smdr_port=smdr_port)
        try:
            wait_until(lambda: site.controller.status("sales")["verified"])
            results.append(("a", "nothing else", key_to_relay(site, turns)))

            # (b) sales' PBX silent, switched again and again
            site.sim.inject("silence")
            stop = threading.Event()

            def churn():
                modes = ["night", "day"]
                i = 0
                while not stop.is_set():
                    site.controller.set_override("sales", modes[i % 2], None, by="bench")
                    i += 1
                    stop.wait(0.5)

            churner = threading.Thread(target=churn, daemon=True)
            churner.start()
            wait_until(lambda: site.controller.zones["sales"].worker.busy)
            results.append(("b", "a silent serial PBX on another zone", key_to_relay(site, turns)))
            stop.set()
            churner.join()
            site.sim.clear()

            # (c) an LED test running, started again after each turn ends it
            def led_test():
                site.controller.test_leds(10.0, by="bench")

            led_test()
            results.append(("c", "an LED test running", key_to_relay(site, turns, led_test)))

            # (d) 20 people browsing, in another process; then (d2) 20 clients without
            # pause, a load test reported beside the table
            token = site.appliance.store.create_token(
                "viewer", label="bench", by="bench", at=site.clock.now()
            )
            for tag, what, script in (
                ("d", "20 web clients browsing", BROWSERS),
                ("d2", "20 web clients back to back (load test)", CLIENTS),
            ):
                stop_file = tmp / f"stop-{tag}"
                clients = subprocess.Popen(
                    [sys.executable, "-c", script, site.url(), token, str(stop_file)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                time.sleep(2.0)
                latencies = key_to_relay(site, turns)
                stop_file.touch()
                out, _ = clients.communicate(timeout=60)
                requests, seconds = out.split()
                rate = int(requests) / float(seconds)
                results.append((tag, f"{what}, {rate:.0f} requests/s", latencies))

            # (e) SMDR noise arriving all the while the key turns
            stop_file = tmp / "stop-e"
            noise = subprocess.Popen(
                [sys.executable, "-c", NOISE, str(master), str(stop_file)],
                pass_fds=(master,),
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(0.2)
            latencies = key_to_relay(site, turns)
            stop_file.touch()
            out, _ = noise.communicate(timeout=60)
            mib = int(out) / (1 << 20)
            results.append(("e", f"SMDR noise arriving, {mib:.1f} MiB in all", latencies))
        finally:
            site.close()
            os.close(master)
            os.close(slave)
        slow = Site(tmp / "slow", two_zones=False, slow=True)
        try:
            results.append(
                (
                    "led",
                    "key edge to LED, the zone's only actuator a slow PBX",
                    key_to_led(slow, max(10, turns // 4)),
                )
            )
        finally:
            slow.close()
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=500, help="key turns per situation")
    args = parser.parse_args(argv)
    results = run(args.turns)
    ok = True
    lines = []
    print(f"{'':4} {'situation':55} {'p50':>8} {'p99':>8} {'max':>8}  target p99 < {TARGET_MS} ms")
    for tag, what, values in results:
        p50, p99, worst = percentile(values, 50), percentile(values, 99), max(values)
        targeted = tag not in UNTARGETED
        good = p99 < TARGET_MS
        ok &= good or not targeted
        verdict = ("ok" if good else "MISSED") if targeted else "no target"
        print(
            f"({tag:>2}) {what:55} {p50:8.3f} {p99:8.3f} {worst:8.3f}  "
            f"{verdict}  ({len(values)} turns)"
        )
        name = "key_to_led" if tag == "led" else f"key_to_relay_{tag}"
        floor = "" if tag == "led" else "relay operate time ~10 ms"
        lines.append(bench_line(f"{name}_p50", round(p50, 3), "ms", floor=floor))
        lines.append(
            bench_line(
                f"{name}_p99",
                round(p99, 3),
                "ms",
                target=f"<{TARGET_MS}" if targeted else "-",
                floor=floor,
            )
        )
        lines.append(bench_line(f"{name}_max", round(worst, 3), "ms", floor=floor))
    print()
    for line in lines:
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
