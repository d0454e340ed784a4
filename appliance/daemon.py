"""Builds the appliance from a config and runs it: what ``run`` and ``simulate`` share.

The order of start-up is the order of safety:

1. take the data directory's lock (one daemon per data directory);
2. open the store;
3. build the actuators: every relay comes up *off* as it is constructed;
4. build the panels (reading the key's level) and the controller;
5. start the controller (lamp test, then the mode in force is asserted);
6. start the web server;
7. tell systemd ``READY=1``.

Shutdown reverses it and leaves every relay de-energized, which the wiring guide makes
the PBX's safe state.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import schedule as periodic

from appliance.actuators import build_actuator
from appliance.control.controller import Controller
from appliance.errors import NightswitchError
from appliance.inputs.clock import SimClock, SystemClock
from appliance.inputs.panel import FrontPanel
from appliance.outputs.sdnotify import SystemdNotifier
from appliance.store import Store
from appliance.store.lock import DataDirLock

log = logging.getLogger(__name__)

#: Where the running daemon says how to reach it: ``{"socket": ..., "web": ...}``. No
#: secret: the command line's socket is guarded by its permissions (web.serving).
ENDPOINT_FILE = "daemon.json"

#: The interpreter's thread switch interval while the appliance runs (Python's default is
#: 5 ms). A key turn crosses three threads (the pin's edge, the controller, the zone's
#: worker), and while web requests keep other threads busy the interpreter is handed
#: round them in turns of this length: each crossing waits a turn per busy thread. With
#: 20 people browsing, 1 ms turns made the key's p99 6 ms, 0.2 ms turns 3.6 ms
#: (bench/bench_interference.py). An idle appliance pays nothing for it: nobody waits.
SWITCH_INTERVAL_S = 0.0002
#: The admin token file older versions wrote for the command line; removed at start.
OLD_CLI_TOKEN_FILE = "cli-token"


class Appliance:
    """Everything of one running appliance.

    :param config: the validated :class:`~appliance.config.Config`.
    :param data_dir: the data directory (``/var/lib/nightswitch``).
    :param pin_factory: gpiozero pin factory; None picks gpiozero's default (lgpio on a Pi).
    :param clock: the clock; defaults to :class:`SystemClock` with the config's sync policy.
    :param bool simulate: also build the simulated PBX and the virtual front panel.
    :param bool web: serve the web page (tests of the controller alone turn it off).
    :param notifier: a :class:`SystemdNotifier`.
    """

    def __init__(
        self,
        config,
        data_dir,
        *,
        pin_factory=None,
        clock=None,
        simulate=False,
        web=True,
        notifier=None,
        port=None,
        host=None,
    ):
        self.config = config
        self.data_dir = Path(data_dir)
        self.simulate = simulate
        self.web = web
        self.clock = clock or SystemClock(config.clock_sync)
        self.notifier = notifier or SystemdNotifier()
        self.pin_factory = pin_factory
        self.host = host or config.listen_host
        self.port = config.listen_port if port is None else port
        self.started_at = time.monotonic()
        self.timings: dict[str, float] = {}
        self._stopping = threading.Event()
        self.web_server = None
        self.web_app = None
        self.web_thread = None
        self.cli_server = None
        self.cli_thread = None
        self.cli_socket = None
        self.intake = None
        self.calendars = None
        self.mqtt = None
        self.alerts = None
        self.metrics = None
        self.pbx_sim = None
        self.pbx_model = None
        self.serial_sims = []
        self.housekeeping = periodic.Scheduler()
        self.actuators = []
        self.panels = []
        self.virtual_panel = None

        # The lock creates the data directory (mode 0750), or says why it cannot.
        self.lock = DataDirLock(self.data_dir)
        if not self.lock.acquire(blocking=False):
            raise NightswitchError(
                f"another nightswitch is already running on {self.data_dir}; "
                "stop it first (systemctl stop nightswitch)"
            )
        try:
            self.store = Store(self.data_dir)
            specs = self.config.actuators
            if simulate:
                specs = self._simulate_serial_ports(specs)
            self._build_hardware(specs)
            self.timings["relays_safe_s"] = time.monotonic() - self.started_at
            self.controller = Controller(
                config,
                self.store,
                self.clock,
                actuators=self.actuators,
                panels=self.panels,
                on_tick=self._tick,
            )
            if config.calendars:
                self._build_calendars()
            if simulate:
                from appliance.sim.virtual_panel import VirtualPanel

                self._build_pbx_sim()
                self.virtual_panel = VirtualPanel(self.controller, self.clock, pbx=self._pbx_view())
        except BaseException:
            self._close_hardware()
            self.lock.release()
            raise
        self.housekeeping.every(6).hours.do(self._prune)

    # -- building -------------------------------------------------------------------------
    def _simulate_serial_ports(self, specs: list) -> list:
        """In simulate, each ``serial`` actuator talks to the PBX simulator on a pty instead
        of the port the config names (which on a PC is absent or something else)."""
        from appliance.sim.pbx_model import PbxModel
        from appliance.sim.pty_pbx import simulate_serial_ports

        self.pbx_model = PbxModel()
        specs, self.serial_sims = simulate_serial_ports(
            specs, self.pbx_model, profiles_dir=self.config.profiles_dir
        )
        for spec, sim in zip([s for s in specs if s["type"] == "serial"], self.serial_sims):
            log.info(
                "simulate: actuator %s talks to the simulated %s on %s",
                spec["name"],
                sim.profile.name,
                sim.port_path,
            )
        return specs

    def _build_hardware(self, specs: list) -> None:
        for spec in specs:
            self.actuators.append(
                build_actuator(
                    spec,
                    pin_factory=self.pin_factory,
                    clock=self.clock,
                    profiles_dir=self.config.profiles_dir,
                )
            )
        for panel_cfg in self.config.panels:
            self.panels.append(
                FrontPanel(panel_cfg, pin_factory=self.pin_factory, clock=self.clock)
            )

    def _build_calendars(self) -> None:
        """Calendar subscriptions: their last good copies are in force before the
        controller's first decision; fetching starts with :meth:`start`."""
        from appliance.inputs.calendars.service import CalendarService

        def publish(zone, layers, fault):
            self.controller.set_schedule_layer(zone, "calendar", layers, fault=fault)

        self.calendars = CalendarService(
            self.config.calendars,
            self.store,
            self.clock,
            publish=publish,
            timezone=self.config.timezone,
            worker=True,
        )
        self.calendars.prime()

    def _build_pbx_sim(self) -> None:
        """In simulate, the simulated PBX answers the relays and drives the sense inputs."""
        try:
            from appliance.sim.pbx_model import PbxModel
            from appliance.sim.pin_pbx import PinSidePbx
        except ImportError:  # pragma: no cover - the simulator ships with the package
            log.warning("the PBX simulator is not available; sense inputs stay idle")
            return
        specs = [a for a in self.config.actuators if a["type"] != "serial"]
        if specs:
            # One PBX: the pin side shares the model the serial side answers from.
            self.pbx_model = self.pbx_model or PbxModel()
            self.pbx_sim = PinSidePbx(self.pin_factory, specs, self.pbx_model)
            self.pbx_sim.start()

    def _pbx_view(self):
        """The simulated PBX as the page shows it, or None when nothing is simulated."""
        from appliance.sim.pbx_view import PbxView

        if self.pbx_model is None:
            return None
        serial = [s for s in self.config.actuators if s["type"] == "serial"]
        return PbxView(
            self.pbx_model,
            pins=self.pbx_sim,
            ports={spec["name"]: sim for spec, sim in zip(serial, self.serial_sims)},
            configured={spec["name"]: spec.get("port") for spec in serial},
        )

    def _close_hardware(self) -> None:
        for actuator in self.actuators:
            try:
                actuator.close()
            except Exception:
                log.exception("closing %s", actuator)
        for panel in self.panels:
            panel.close()
        for sim in self.serial_sims:
            sim.close()
        self.serial_sims = []

    # -- running --------------------------------------------------------------------------
    def _tick(self) -> None:
        self.notifier.watchdog()
        try:
            self.housekeeping.run_pending()
        except Exception:
            log.exception("housekeeping failed")

    def _prune(self) -> None:
        from datetime import datetime, timedelta, timezone

        from appliance.store.facade import RETENTION_DAYS

        before = self.clock.now() - timedelta(days=RETENTION_DAYS)
        self.store.prune_audit(before)
        self.store.prune_calls(before)
        self.store.prune_mode_history(before)
        self.store.prune_security_log(before)
        self.store.prune_sessions(at=datetime.now(timezone.utc))
        self.store.prune_outbox(self.clock.now() - timedelta(days=90))

    def write_endpoint(self) -> Path:
        """Say where the command line finds this daemon (``DATA/daemon.json``); remove
        the admin token file that older versions wrote for it."""
        import json

        (self.data_dir / OLD_CLI_TOKEN_FILE).unlink(missing_ok=True)
        path = self.data_dir / ENDPOINT_FILE
        body = {
            "socket": str(self.cli_socket) if self.cli_socket else None,
            "web": f"http://{_connect_host(self.host)}:{self.port}",
            "pid": os.getpid(),
        }
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(body) + "\n")
        os.replace(tmp, path)
        return path

    def start(self) -> None:
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        try:
            if self.config.smdr:
                self._start_smdr()
            self._build_outputs()
            if self.web:  # documented above, but was ignored: the web always started
                # Bind the port before any relay moves: a port already taken must fail the
                # start here, not after the mode was asserted, or every systemd restart
                # would click the relays on and off again.
                self._start_web()
            if self.config.mqtt is not None:
                self._build_mqtt()
            self.controller.start()
            if self.calendars is not None:
                self.calendars.start()
            if self.mqtt is not None:  # after the controller: it reads its snapshots
                self.mqtt.start()  # connects in the background: a broker that is down waits
            self.alerts.start()  # subscribers of the controller: after its start
            self.metrics.start()
            if self.web:
                self.web_thread.start()
                self.cli_thread.start()
                self.write_endpoint()
        except BaseException:
            self.stop()  # whatever failed, leave the relays de-energized
            raise
        self.timings["ready_s"] = time.monotonic() - self.started_at
        self.notifier.ready(f"serving on {self.host}:{self.port}")
        log.info(
            "ready in %.2f s (relays safe after %.2f s); web on http://%s:%s/",
            self.timings["ready_s"],
            self.timings["relays_safe_s"],
            _connect_host(self.host),
            self.port,
        )

    def _start_smdr(self) -> None:
        from zoneinfo import ZoneInfo

        from appliance.smdr.intake import build_intake

        self.intake = build_intake(
            self.config.smdr,
            store=self.store,
            tz=ZoneInfo(self.config.timezone),
            clock=self.clock,
            site_dir=self.config.smdr_dir,
        )
        self.intake.start()

    def _build_mqtt(self) -> None:
        from appliance.outputs.mqtt.client import build_bridge

        # The company closures kept in the store are put in force here, before the
        # controller's first decision, broker or no broker.
        self.mqtt = build_bridge(self.controller, self.config.mqtt)

    def _build_outputs(self) -> None:
        """The alert engine and the metrics (issue 15): both only read the controller's
        published snapshots, in threads of their own."""
        from appliance.outputs.alerts import AlertEngine
        from appliance.outputs.metrics import Metrics

        self.alerts = AlertEngine(self.controller, intake=self.intake)
        self.metrics = Metrics(self.controller, intake=self.intake, engine=self.alerts)

    def _start_web(self) -> None:
        from appliance.control.facade import ApplianceFacade
        from web import create_app
        from web.serving import cli_server, default_socket_path, web_server

        app = create_app(
            ApplianceFacade(self.controller, self.config, metrics=self.metrics),
            store=self.store,
            virtual_panel=self.virtual_panel,
            test_config={
                "NIGHTSWITCH_INTAKE": self.intake,
                "NIGHTSWITCH_CALENDARS": self.calendars,
                "NIGHTSWITCH_ALERTS": self.alerts,
                "NIGHTSWITCH_METRICS": self.metrics,
            },
        )
        # Under a burst of browsers waitress warns of its queue depth on every request;
        # that is load, not a fault, and must not flood the journal.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        # waitress in this process: the pins and the serial port belong to one process.
        # Bind here, not inside waitress: when its bind fails it leaves its trigger pipe,
        # socket and eight worker threads behind.
        try:
            family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)[0][0]
            listener = socket.create_server((self.host, self.port), family=family)
        except (OSError, UnicodeError) as exc:
            raise NightswitchError(
                f"cannot serve the web page on {self.host}:{self.port}: "
                f"{getattr(exc, 'strerror', None) or exc}; {_bind_advice(exc)}"
            ) from None
        # Connection limits, timeouts and the body limit: web.serving says why each.
        self.web_app = app
        self.web_server = web_server(app, listener)
        self.port = self.web_server.effective_port
        # The command line's own socket: it answers while the web port is flooded.
        self.cli_socket = default_socket_path(self.data_dir)
        try:
            self.cli_server = cli_server(app, self.cli_socket, group_of=self.data_dir)
        except OSError as exc:
            self.web_server.close()
            raise NightswitchError(
                f"cannot open the command line's socket {self.cli_socket}: {exc.strerror or exc}"
            ) from None
        # started by start() once the controller thread runs: a request answered before
        # would run the controller's first pass on the web thread
        self.web_thread = threading.Thread(
            target=self._serve, args=(self.web_server,), name="web", daemon=True
        )
        self.cli_thread = threading.Thread(
            target=self._serve, args=(self.cli_server,), name="cli-socket", daemon=True
        )

    def _serve(self, server) -> None:
        try:
            server.run()
        except Exception:
            if not self._stopping.is_set():
                log.exception("web server stopped")

    def stop(self) -> None:
        """Stop everything and leave the relays de-energized. Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.notifier.stopping()
        if self.web_server is not None:
            # Let request threads finish before the server's wake-up pipe closes under them
            # (each stop logged an "OSError: Bad file descriptor" traceback when a request
            # had just been answered); live event streams are ended first, as they would
            # otherwise wait for their next event.
            from web.sse import end_streams

            if self.web_app is not None:
                end_streams(self.web_app)
            self.web_server.task_dispatcher.shutdown(timeout=1)
            self.web_server.close()
        if self.cli_server is not None:
            self.cli_server.task_dispatcher.shutdown(timeout=1)
            self.cli_server.close()
            if self.cli_socket is not None:
                self.cli_socket.unlink(missing_ok=True)
            (self.data_dir / ENDPOINT_FILE).unlink(missing_ok=True)
        if self.mqtt is not None:  # says "offline" while the controller still runs
            self.mqtt.stop()
        for output in (self.alerts, self.metrics):
            if output is not None:
                output.stop()
        if self.intake is not None:
            self.intake.stop()
        if self.calendars is not None:
            self.calendars.stop()
        if self.pbx_sim is not None:
            self.pbx_sim.close()
        self.controller.close()
        for sim in self.serial_sims:  # after the controller: no dialogue is mid-way
            sim.close()
        self.store.close()
        self.lock.release()
        log.info("stopped; relays de-energized")

    def run_forever(self) -> int:
        """Start, then run until SIGTERM or SIGINT (systemd stop, Ctrl+C)."""
        self.start()
        return self.wait_for_signal()

    def wait_for_signal(self) -> int:
        """Block until SIGTERM or SIGINT, then stop. The process only serves from here
        on: what the start-up made is left out of the garbage collector's passes
        (:func:`freeze_start_up`), once the handlers are in place (a stop that came
        during the freeze would otherwise kill the process, relays and all)."""
        done = threading.Event()

        def on_signal(signum, frame):
            log.info("signal %s: stopping", signal.Signals(signum).name)
            done.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            freeze_start_up()
            while not done.wait(1.0):
                pass
        finally:
            self.stop()
        return 0


def freeze_start_up() -> None:
    """Once the daemon has started, keep the key's path from waiting on the garbage
    collector or the disk. It is called by :meth:`Appliance.wait_for_signal`, not by
    :meth:`Appliance.start`: a test process starts many appliances and would keep each.

    - Every object the start-up made is left out of the collector's passes. They
      (modules, the config, profiles, the web app: some hundred thousand) live as long as
      the process, and each full collection walked them all with every thread stopped:
      15 to 55 ms on this machine (bench/bench_interference.py). ``gc.freeze()`` moves
      them to a generation the collector never walks; what is made afterwards is
      collected as before.
    - Every page the process has touched stays in memory (:func:`lock_touched_pages`).
    """
    gc.collect()
    gc.freeze()
    lock_touched_pages()


#: mlockall(2) flags: the pages mapped now, those mapped later, each once it is touched.
_MCL_CURRENT, _MCL_FUTURE, _MCL_ONFAULT = 1, 2, 4


def lock_touched_pages() -> bool:
    """Keep every page of this process in memory once it has been touched
    (``mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)``); True when the kernel agreed.

    Under memory pressure the kernel drops code pages it can read again from disk: the
    interpreter's, an extension's. The next key turn that runs that code then waits for
    the SD card (milliseconds; on this VM a page-cache reclaimer made key turns 10 ms
    late after some minutes). With ``MCL_ONFAULT`` nothing is read in ahead, so the
    resident memory stays what the process uses. The unit allows it
    (``LimitMEMLOCK=infinity``); where the limit is too low the daemon runs as before,
    and says so in the journal.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.mlockall(_MCL_CURRENT | _MCL_FUTURE | _MCL_ONFAULT) == 0:
            return True
        error = os.strerror(ctypes.get_errno())
    except (OSError, AttributeError) as exc:  # not Linux, or no such call
        error = str(exc)
    log.warning(
        "could not lock the daemon's memory (%s); a key turn may wait for the disk "
        "after a while of memory pressure (LimitMEMLOCK=infinity in the unit allows it)",
        error,
    )
    return False


def _connect_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def simulated_clock() -> SimClock:
    """The clock of ``simulate`` and ``test all --simulate``: it starts at the real time
    (or at ``NIGHTSWITCH_SIM_START``, an ISO 8601 time with its UTC offset, so a rehearsal
    or a test does not depend on the hour it is run at) and runs at real speed until the
    virtual panel moves it."""
    text = os.environ.get("NIGHTSWITCH_SIM_START", "").strip()
    if not text:
        return SimClock(rate=1.0)
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        start = None
    if start is None or start.tzinfo is None:
        raise NightswitchError(
            f"NIGHTSWITCH_SIM_START={text!r} is not a time with its UTC offset; "
            "write it like 2026-03-02T10:30:00+01:00, or leave it unset for now"
        )
    return SimClock(start, rate=1.0)


__all__ = ["Appliance", "simulated_clock"]


def _bind_advice(exc: Exception) -> str:
    """What the installer can do about a listen socket that would not open."""
    import errno

    if isinstance(exc, socket.gaierror) or isinstance(exc, UnicodeError):
        return "the host is not a name this machine can resolve: change [web] listen (or --host)"
    if getattr(exc, "errno", None) == errno.EADDRINUSE:
        return (
            "another program (or another nightswitch) is using the port: change "
            "[web] listen (or --port)"
        )
    if getattr(exc, "errno", None) == errno.EADDRNOTAVAIL:
        return (
            "no network interface of this machine has that address: use 0.0.0.0 or "
            "one of this machine's addresses in [web] listen (or --host)"
        )
    if getattr(exc, "errno", None) == errno.EACCES:
        return "ports below 1024 need root: use a port of 1024 or above in [web] listen"
    return "change [web] listen (or --host and --port)"
