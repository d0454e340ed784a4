"""The SMDR intake: a thread that reads the PBX's call-record port and stores each call.

Port → :class:`~appliance.smdr.framing.LineFramer` → :func:`~appliance.smdr.parser.parse_line`
→ :meth:`Store.add_call` for a call, :meth:`Store.add_unparsed` for junk (kept raw with the
reason, never dropped silently), a counter for page headers.

The intake is meant to run unattended for years in a comms cupboard, so it survives:

* the port vanishing (a USB adapter unplugged, a ``socket://`` PBX rebooting, a Telnet
  session dropped, a PBX that connected to us gone): it closes, keeps the partial line,
  and reopens with a backoff of 1 s doubling to 60 s;
* a refused login (a Telnet PBX that does not take the password): no quick retries that
  could lock the account; it tries again after :data:`AUTH_RETRY_S`, or at once when the
  service restarts with a changed config;
* garbage: random bytes, a wrong baud rate, a line without an end (memory is bounded by
  the framer's line limit);
* the store failing for a while (a full disk): records wait in a bounded queue and are
  written when the store works again; if the queue overflows, what is lost is counted
  and logged.

:meth:`SmdrIntake.stats` gives the counts and the last error for the installer's page.
The port comes from a source (:mod:`appliance.smdr.sources`): a serial device or any
pyserial URL (``/dev/ttyUSB0``, ``socket://host:port``, ``rfc2217://``, ``spy://``), a
Telnet login (``telnet://host:port``) or a port the PBX connects to
(``listen://:port``). Framing, parsing, junk handling and backoff are the same for all.
"""

from __future__ import annotations

import logging
import sys
import termios
import threading
from collections import deque
from datetime import datetime, tzinfo
from typing import Any, TypedDict

import serial

from appliance.errors import FieldError, LoginRefused, SourceError, ValidationError
from appliance.pbx.port_settings import SerialSettings, parse_settings
from appliance.smdr.formats import SmdrFormat, UnknownFormat, load_format
from appliance.smdr.framing import FramedLine, LineFramer
from appliance.smdr.parser import LineKind, parse_line
from appliance.smdr.sources import SerialSource, build_source
from appliance.smdr.sources import check as check_source

log = logging.getLogger(__name__)

#: Records kept in memory while the store cannot write (about a night's worth).
STORE_QUEUE = 1000
#: Unparsed lines kept raw per hour. A port at the wrong baud rate turns every byte into
#: garbage lines; storing each would write the SD card all night and fill the database.
#: Beyond this many, lines are counted and one summary row per hour says how many.
UNPARSED_PER_HOUR = 300
#: After the PBX refused a login, wait this long before the next try: a few quick retries
#: with a wrong password can lock the account on PBXs that count failures.
AUTH_RETRY_S = 3600.0


class IntakeStats(TypedDict):
    """The intake's own counts and state (:meth:`SmdrIntake.stats` adds the source's)."""

    port: str
    format: str
    zone: str
    settings: str
    connected: bool
    bytes: int
    lines: int
    calls: int
    headers: int
    unparsed: int
    overlong: int
    open_attempts: int
    opens: int
    store_errors: int
    lost: int
    unparsed_not_kept: int
    last_line_at: str | None
    last_call_at: str | None
    last_error: str | None
    last_error_at: str | None


def next_backoff(current: float, initial: float = 1.0, maximum: float = 60.0) -> float:
    """The wait after *current*: doubled, from *initial* up to *maximum*."""
    return min(max(current * 2, initial), maximum)


def serial_settings(
    fmt: SmdrFormat, overrides: dict | None, path: str = "smdr.settings"
) -> SerialSettings:
    """The port settings: the format's documented defaults (or 9600 8N1), then the
    config's *overrides*.

    :raises ValidationError: naming each bad key of *overrides*.
    """
    base = fmt.serial or SerialSettings()
    settings, errors = parse_settings(overrides or {}, path, base)
    if settings is None:  # None exactly when there are errors
        raise ValidationError(errors)
    return settings


def check(spec: dict, path: str = "smdr", *, site_dir=None) -> list[FieldError]:
    """Check a config's ``[smdr]`` table beyond its keys: the format loads, the serial
    overrides are valid for it, and the network keys (``port`` URL, ``login``,
    ``username``, ``password``, ``allow``) fit the port. Returns every problem (empty
    when fine)."""
    try:
        fmt = load_format(spec.get("format", ""), site_dir)
    except UnknownFormat as exc:
        return [FieldError(f"{path}.format", str(exc))] + check_source(
            spec, path, site_dir=site_dir
        )
    except ValidationError as exc:
        return [FieldError(f"{path}.format", f"the format file is broken: {e}") for e in exc.errors]
    _, errors = parse_settings(
        spec.get("settings") or {}, f"{path}.settings", fmt.serial or SerialSettings()
    )
    return errors + check_source(spec, path, site_dir=site_dir)


class SmdrIntake:
    """Reads SMDR lines from a port and stores them, in its own thread.

    ::

        intake = SmdrIntake("/dev/ttyUSB0", load_format("panasonic-kx-td"), store,
                            "main", ZoneInfo("Europe/Berlin"), SystemClock())
        intake.start()
        ...
        intake.stop()

    :param str port_url:
        A device path or any pyserial URL.
    :param SmdrFormat fmt:
        The PBX's SMDR format.
    :param store:
        The :class:`~appliance.store.Store` (``add_call``, ``add_unparsed``).
    :param str zone:
        The zone whose calls these are (those no route claims).
    :param tz:
        The site's time zone: the PBX prints local time.
    :param clock:
        The :class:`~appliance.inputs.clock.Clock`: ``now()`` stamps each line and is the
        reference for a missing year; ``wait()`` paces the reopen backoff.
    :param settings:
        Serial overrides from the config (``{baudrate = 1200}``) over the format's
        documented defaults, or a :class:`SerialSettings`.
    :param float read_timeout:
        Seconds each read waits; bounds how long :meth:`stop` takes.
    :param float idle_flush_s:
        A partial line left this long without its line end is taken as complete (a PBX
        that sends the line end *before* each record).
    :param tuple backoff:
        First and longest wait between attempts to reopen the port, in seconds.
    :param int max_line:
        The longest line kept (see :class:`LineFramer`).
    :param routes:
        :class:`~appliance.smdr.routing.Route` objects giving other zones their calls by
        extension or trunk.
    :param source:
        Where the records come from (:mod:`appliance.smdr.sources`); a
        :class:`~appliance.smdr.sources.SerialSource` on *port_url* when None.
    :param float auth_retry_s:
        How long to wait after the PBX refused a login (:data:`AUTH_RETRY_S`).
    """

    def __init__(
        self,
        port_url,
        fmt: SmdrFormat,
        store,
        zone: str,
        tz: tzinfo,
        clock,
        settings=None,
        *,
        read_timeout: float = 0.5,
        idle_flush_s: float = 5.0,
        backoff: tuple[float, float] = (1.0, 60.0),
        max_line: int = 512,
        unparsed_per_hour: int = UNPARSED_PER_HOUR,
        routes=(),
        source=None,
        auth_retry_s: float = AUTH_RETRY_S,
    ):
        from appliance.smdr.routing import CallRouter

        self.port_url = str(port_url)
        self.fmt = fmt
        self.store = store
        self.zone = zone
        self.router = CallRouter(zone, routes)
        self.tz = tz
        self.clock = clock
        if isinstance(settings, SerialSettings):
            self.settings = settings
        else:
            self.settings = serial_settings(fmt, settings)
        self.read_timeout = read_timeout
        self.source = source or SerialSource(
            self.port_url, self.settings, read_timeout=read_timeout
        )
        self.auth_retry_s = auth_retry_s
        self._refused = False
        self.idle_flush_s = idle_flush_s
        self.backoff = backoff
        self.max_line = max_line
        self.unparsed_per_hour = unparsed_per_hour
        self._window_start = clock.monotonic()
        self._window_kept = 0
        self._window_first_suppressed: datetime | None = None
        self._suppressed_in_window = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._port = None
        self._lock = threading.Lock()
        self._queue: deque = deque()
        self._stats: IntakeStats = {
            "port": self.port_url,
            "format": fmt.name,
            "zone": zone,
            "settings": self.source.describe(),
            "connected": False,
            "bytes": 0,
            "lines": 0,
            "calls": 0,
            "headers": 0,
            "unparsed": 0,
            "overlong": 0,
            "open_attempts": 0,
            "opens": 0,
            "store_errors": 0,
            "lost": 0,
            "unparsed_not_kept": 0,
            "last_line_at": None,
            "last_call_at": None,
            "last_error": None,
            "last_error_at": None,
        }

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the reading thread (once)."""
        if self._thread is not None:
            raise RuntimeError("SmdrIntake.start() may be called once")
        self._thread = threading.Thread(target=self._run, name=f"smdr-{self.zone}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading, close the port, write what the store could not take yet, and
        join the thread (idempotent)."""
        self._stop.set()
        port = self._port
        if port is not None and hasattr(port, "cancel_read"):
            try:
                port.cancel_read()
            except (serial.SerialException, OSError, AttributeError):
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> SmdrIntake:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stats(self) -> dict:
        """Counts since start, for the installer's page: ``lines``, ``calls``, ``headers``
        (skipped page headers), ``unparsed`` (kept raw), ``overlong``, ``bytes``,
        ``open_attempts``, ``opens``,
        ``connected``, ``store_errors``, ``pending_store``, ``lost``,
        ``unparsed_not_kept`` (over the hourly limit, counted only), ``last_line_at``,
        ``last_call_at``, ``last_error``, ``last_error_at``, and ``hint`` (a sentence for
        the installer when nothing parses, else None)."""
        with self._lock:
            out: dict[str, Any] = dict(self._stats)
            out["pending_store"] = len(self._queue)
        out.update(self.source.stats())
        out["hint"] = None
        if out["calls"] == 0 and out["unparsed"] >= 20:
            out["hint"] = (
                "no line has read as a call yet: check the port's baud rate and "
                f"parity ({out['settings']}) and that the PBX prints the "
                f"{self.fmt.name} format"
            )
        return out

    def __repr__(self) -> str:
        s = self.stats()
        state = "connected" if s["connected"] else "waiting for the port"
        return (
            f"<SmdrIntake {self.port_url} {self.fmt.name} zone={self.zone} {state} "
            f"calls={s['calls']} unparsed={s['unparsed']}>"
        )

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        initial, maximum = self.source.backoff or self.backoff
        wait = initial
        while not self._stop.is_set():
            self._refused = False
            port = self._open()
            if port is not None:
                got_data = self._read(port)
                if got_data:
                    wait = initial
            delay = self.auth_retry_s if self._refused else wait
            if self._stop.is_set() or self.clock.wait(self._stop, delay):
                break
            if not self._refused:
                wait = next_backoff(wait, initial, maximum)
        self.source.close()
        self._close_window(self.clock.now())
        self._drain_queue()
        if self._queue:
            with self._lock:
                self._stats["lost"] += len(self._queue)
            log.error(
                "SMDR: stopping with %d records the store would not take; they are "
                "lost; their raw lines follow",
                len(self._queue),
            )
            for kind, value in self._queue:
                log.error(
                    "SMDR record not stored: %s", value.raw if kind == "call" else value["raw"]
                )

    def _open(self):
        with self._lock:
            self._stats["open_attempts"] += 1
        try:
            port = self.source.open(self._stop)
        except LoginRefused as exc:
            self._refused = True
            self._error(
                f"{exc}. Not retried for {self.auth_retry_s / 60:g} min, so that a "
                "wrong password cannot lock the account; restart the service after "
                "fixing the config to try at once"
            )
            return None
        except SourceError as exc:
            self._error(str(exc))
            return None
        except (serial.SerialException, OSError, ValueError, termios.error) as exc:
            # pyserial's message names the port already. termios.error is no OSError:
            # a port that refuses its settings (tcsetattr EINVAL) raised it out of the
            # thread, and call records stopped for good.
            self._error(f"cannot open the SMDR port: {exc}")
            return None
        if port is None:  # stopped while waiting for the PBX
            return None
        with self._lock:
            self._stats["connected"] = True
            self._stats["opens"] += 1
        self._port = port
        log.info(
            "SMDR port %s open (%s, format %s)",
            self.port_url,
            self.source.describe(),
            self.fmt.name,
        )
        return port

    def _read(self, port) -> bool:
        """Read until stopped or the port fails; True if any data came."""
        framer = LineFramer(self.max_line, **self.fmt.framer_options())
        got_data = False
        last_data = self.clock.monotonic()
        try:
            while not self._stop.is_set():
                data = port.read(port.in_waiting or 1)
                if data:
                    got_data = True
                    last_data = self.clock.monotonic()
                    with self._lock:
                        self._stats["bytes"] += len(data)
                    for line in framer.feed(data):
                        self._handle(line)
                elif framer.pending and self.clock.monotonic() - last_data >= self.idle_flush_s:
                    for line in framer.flush():
                        self._handle(line)
                if self._queue:
                    self._drain_queue()
                if self.clock.monotonic() - self._window_start >= 3600:
                    self._close_window(self.clock.now())
        except (serial.SerialException, OSError, ValueError, TypeError) as exc:
            # pyserial reports an unplugged adapter as SerialException, a closed pty as
            # OSError (EIO), and a socket:// peer gone as SerialException too.
            if not self._stop.is_set():
                self._error(f"the SMDR port {self.port_url} failed: {exc}")
        finally:
            for line in framer.flush():
                self._handle(line)
            self._port = None
            _close_port(port)
            with self._lock:
                self._stats["connected"] = False
        return got_data

    # -- one line ----------------------------------------------------------------------

    def _handle(self, framed: FramedLine) -> None:
        now = self.clock.now()
        with self._lock:
            self._stats["lines"] += 1
            self._stats["last_line_at"] = now.isoformat()
        if framed.dropped:
            with self._lock:
                self._stats["overlong"] += 1
                self._stats["unparsed"] += 1
            self._keep_unparsed(
                now,
                dict(
                    at=now,
                    fmt=self.fmt.name,
                    raw=framed.text,
                    reason=f"line longer than {self.max_line} characters: "
                    f"{framed.dropped} more were cut off",
                ),
            )
            return
        parsed = parse_line(framed.text, self.fmt, now=now, tz=self.tz)
        if parsed.kind is LineKind.CALL:
            with self._lock:
                self._stats["calls"] += 1
                self._stats["last_call_at"] = now.isoformat()
            self._save(("call", parsed.record))
        elif parsed.kind is LineKind.HEADER:
            with self._lock:
                self._stats["headers"] += 1
        else:
            with self._lock:
                self._stats["unparsed"] += 1
            self._keep_unparsed(
                now, dict(at=now, fmt=self.fmt.name, raw=parsed.raw, reason=parsed.reason)
            )

    def _keep_unparsed(self, now, row: dict) -> None:
        if self.clock.monotonic() - self._window_start >= 3600:
            self._close_window(now)
        if self._window_kept < self.unparsed_per_hour:
            self._window_kept += 1
            self._save(("unparsed", row))
            return
        with self._lock:
            self._stats["unparsed_not_kept"] += 1
        if self._window_first_suppressed is None:
            self._window_first_suppressed = now
        self._suppressed_in_window += 1

    def _close_window(self, now) -> None:
        """End the hour of the unparsed-line limit; say in one row what was not kept."""
        first = self._window_first_suppressed
        if self._suppressed_in_window and first is not None:  # first is set with the count
            self._save(
                (
                    "unparsed",
                    dict(
                        at=now,
                        fmt=self.fmt.name,
                        raw="",
                        reason=f"{self._suppressed_in_window} more unparsed lines from "
                        f"{first.isoformat()} to {now.isoformat()} were counted but not kept "
                        f"(limit {self.unparsed_per_hour} per hour); garbage on the port "
                        "usually means a wrong baud rate or parity",
                    ),
                )
            )
            log.warning(
                "SMDR: %d unparsed lines over the hourly limit were counted, not kept",
                self._suppressed_in_window,
            )
        self._window_start = self.clock.monotonic()
        self._window_kept = 0
        self._suppressed_in_window = 0
        self._window_first_suppressed = None

    def _save(self, item) -> None:
        if self._queue:
            # Keep the order: older records first.
            self._queue.append(item)
            self._drain_queue()
            self._trim_queue()
            return
        if not self._write(item):
            self._queue.append(item)
            self._trim_queue()

    def _write(self, item) -> bool:
        kind, value = item
        try:
            if kind == "call":
                self.store.add_call(self.router.zone_of(value), value)
            else:
                self.store.add_unparsed(**value)
            return True
        except ValidationError as exc:
            if kind == "call":
                # The store refuses this record for good (a field too long for it); keep
                # the line as unparsed so that it is not lost.
                with self._lock:
                    self._stats["calls"] -= 1
                    self._stats["unparsed"] += 1
                return self._write(
                    (
                        "unparsed",
                        dict(
                            at=self.clock.now(),
                            fmt=self.fmt.name,
                            raw=value.raw,
                            reason=f"the store refused the record: {exc}"[:500],
                        ),
                    )
                )
            self._error(f"the store refused an unparsed line: {exc}")
            with self._lock:
                self._stats["lost"] += 1
            return True
        except Exception as exc:  # noqa: BLE001 - a full disk must not end the thread
            with self._lock:
                self._stats["store_errors"] += 1
            self._error(f"cannot store SMDR records: {exc}")
            return False

    def _drain_queue(self) -> None:
        while self._queue:
            if not self._write(self._queue[0]):
                return
            self._queue.popleft()

    def _trim_queue(self) -> None:
        while len(self._queue) > STORE_QUEUE:
            self._queue.popleft()
            with self._lock:
                self._stats["lost"] += 1
            log.error("SMDR: the store has been failing; the oldest waiting record was lost")

    def _error(self, message: str) -> None:
        with self._lock:
            repeated = self._stats["last_error"] == message
            self._stats["last_error"] = message
            self._stats["last_error_at"] = self.clock.now().isoformat()
        # A port that stays away would log the same line every minute for a week.
        (log.debug if repeated else log.warning)("%s", message)


def _close_port(port) -> None:
    try:
        port.close()
    except (serial.SerialException, OSError):
        pass
    # pyserial's spy:// handler opens its log file and never closes it; every reopen of
    # the port would leak a descriptor in a daemon that runs for years.
    output = getattr(getattr(port, "formatter", None), "output", None)
    if output is not None and output not in (sys.stderr, sys.stdout):
        try:
            output.close()
        except OSError:
            pass


def build_intake(smdr: dict, *, store, tz: tzinfo, clock, site_dir=None, **options) -> SmdrIntake:
    """The intake for a validated config's ``smdr`` table (``{port, format, zone,
    settings}``, and ``login``, ``username``, ``password``, ``allow`` for a network
    port), as the daemon builds it. *options* go to :class:`SmdrIntake`.

    :raises NightswitchError: when the format is unknown or broken, or a setting is bad.
    """
    fmt = load_format(smdr["format"], site_dir)
    settings = serial_settings(fmt, smdr.get("settings") or {})
    source = build_source(
        smdr, settings, read_timeout=options.get("read_timeout", 0.5), site_dir=site_dir
    )
    return SmdrIntake(
        smdr["port"],
        fmt,
        store,
        smdr["zone"],
        tz,
        clock,
        settings,
        routes=smdr.get("routes") or (),
        source=source,
        **options,
    )
