"""The simulated PBX's serial side: its maintenance port and SMDR output on real ptys.

:class:`PbxSimulator` opens a pseudo-terminal (``pty.openpty()``) and answers on it as
the profile's dialogue says a PBX of that family answers. The conversation itself (what
is printed for what is typed, where the terminal is) is the pure
:class:`~appliance.sim.maintenance_terminal.MaintenanceTerminal`; this module is the
wire and the threads around it: the pty, the wire's timing, the faults, and SMDR
records printed on a second pty in the profile's SMDR format. The PBX's mode lives in a
shared :class:`~appliance.sim.pbx_model.PbxModel`. Nothing about the PBX is coded here:
a site profile with a login dialogue gets a simulator with that login.

As on a real 3-wire line, the terminal never learns that a client went away: a session
cut by a fault stays logged in (or half logged in) until it is logged out, across
``clear``, a dropped port and any number of client sessions; only a power cut puts it
back at its login prompt.

A pty has no baud rate of its own, so the simulator supplies the wire: every byte it
writes costs ``bits/baud`` seconds (10/baud at 8N1) before it appears, and bytes it
reads are acted on only when they would have finished arriving. It also reads the port
settings the client set on the pty (termios) and, like a real UART, answers line noise
when their speed or stop bits differ from its own (a pty does not keep parity or data
bits).

Faults, from :meth:`PbxSimulator.inject` or the ``pbx-sim`` command's stdin:

``silence``          reads everything, answers nothing
``garbage``          answers line noise instead of text
``slow``             answers, but later than the profile's timeouts
``wrong_password``   rejects every password (the PBX's password was changed)
``drop``             closes the pty: the port vanishes, and comes back as a new pty
                     (the stable path follows it) after some seconds or on ``clear``
``cut``              the line is cut in the middle of the next line typed while logged
                     in: the PBX keeps the first half in its line buffer (no Enter) and
                     nothing more gets through either way until ``clear``; the session
                     stays logged in
``power_cut``        power off (silent) and back on in the profile's power-up mode, the
                     terminal at its login prompt
``clear``            all of the above off; a dropped port comes back at once; the
                     terminal stays where the fault left it

The stable path (:attr:`PbxSimulator.port_path`) is a symlink in a private directory
that always points at the current pty, so a client configured with it survives a drop,
just as ``/dev/serial/by-id/...`` survives a USB adapter being replugged.
"""

from __future__ import annotations

import errno
import logging
import os
import pty
import random
import select
import tempfile
import termios
import threading
import time
import tty
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from appliance.errors import SimError
from appliance.pbx.port_settings import SerialSettings
from appliance.sim.maintenance_terminal import ECHO, MaintenanceTerminal
from appliance.sim.pbx_model import PbxModel

log = logging.getLogger(__name__)

FAULTS = ("silence", "garbage", "slow", "wrong_password", "drop", "cut", "power_cut", "clear")
#: Bytes written in one go; small so a long answer trickles out as on a real wire.
WIRE_CHUNK = 16
#: The most a pty read takes at once.
READ_SIZE = 4096


def _now_utc() -> datetime:
    from appliance.inputs.clock import SystemClock

    return SystemClock().now()


class PtyEnd:
    """One pty pair the simulator holds: the master it talks on, and a slave it keeps
    open itself so the line stays up between client sessions and is in raw mode from the
    start (a cooked pty would echo our own answers back to us).

    :param link: the stable path, a symlink replaced atomically at each :meth:`open`.
    """

    def __init__(self, link: Path):
        self.link = link
        self.master: int | None = None
        self.slave: int | None = None
        self.device: str | None = None

    def open(self) -> str:
        master, slave = pty.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        device = os.ttyname(slave)
        tmp = self.link.with_name(self.link.name + ".new")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(device, tmp)
        os.replace(tmp, self.link)
        # Open only now that the stable path points at the new pty: a client that sees
        # the port open must find it at the link, not the old (closed) pty.
        self.slave, self.device = slave, device
        self.master = master
        return device

    @property
    def is_open(self) -> bool:
        return self.master is not None

    def close(self, *, unlink: bool = False) -> None:
        """Close the pty. With *unlink*, the stable path goes too, as a USB adapter's
        ``/dev/serial/by-id`` link does when it is pulled (so nobody opens a stale
        ``/dev/pts/N`` that another program's pty may reuse)."""
        fds, self.master, self.slave = (self.master, self.slave), None, None
        for fd in fds:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if unlink and self.link.is_symlink():
            self.link.unlink()

    def read(self, timeout: float) -> bytes | None:
        """What the client wrote, b"" on a timeout, None when the line is down."""
        if self.master is None:
            return None
        try:
            ready, _, _ = select.select([self.master], [], [], timeout)
            if not ready:
                return b""
            return os.read(self.master, READ_SIZE)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EBADF):
                return None
            raise

    def write(self, data: bytes) -> int:
        """Write what fits; a PBX whose output buffer is full drops the rest."""
        if self.master is None:
            return 0
        try:
            return os.write(self.master, data)
        except (BlockingIOError, OSError):
            return 0

    def client_settings_match(self, settings: SerialSettings) -> bool:
        """Whether the client set the port's speed and stop bits as the PBX's UART is set.

        Only those two: a Linux pty keeps the speed and CSTOPB a client sets, but drops
        PARENB/PARODD, and refuses 7 data bits without parity (7N1, 7N2: EINVAL), so
        parity and data bits cannot be checked on a pty.
        """
        if self.slave is None:
            return False
        try:
            attrs = termios.tcgetattr(self.slave)
        except termios.error:
            return False
        cflag, ospeed = attrs[2], attrs[5]
        speed = getattr(termios, f"B{settings.baudrate}", None)
        if speed is not None and ospeed != speed:
            return False
        return bool(cflag & termios.CSTOPB) == (settings.stopbits == 2)


class PbxSimulator:
    """A PBX on a pty that speaks a profile's maintenance dialogue and prints SMDR.

    :param profile: the :class:`~appliance.pbx.profiles.Profile`.
    :param model: the shared :class:`~appliance.sim.pbx_model.PbxModel`; one is made
        from the profile when None.
    :param int baud: the PBX's port speed, overriding the profile's.
    :param str username: the maintenance login's user (the profile's default if None).
    :param str password: the maintenance login's password.
    :param float smdr_every: emit a generated call record every so many seconds.
    :param smdr_format: an SMDR format object (with ``render(record, tz)``), or a name,
        or None for the profile's ``smdr_format``.
    :param tz: the site's time zone for SMDR times (UTC by default).
    :param now: the wall clock for SMDR records (an ``appliance.inputs.clock`` clock's ``now``).
    :param link_dir: where the stable symlinks go (a private temp dir by default).
    :param int seed: seeds the random calls and line noise, for repeatable tests.
    :param on_event: called with a one-line message when the port vanishes, comes back,
        or the power changes (the CLI prints these).
    """

    def __init__(
        self,
        profile,
        *,
        model: PbxModel | None = None,
        baud: int | None = None,
        username: str | None = None,
        password: str = "",
        smdr_every: float | None = None,
        smdr_format=None,
        tz=timezone.utc,
        now=None,
        link_dir=None,
        seed: int | None = None,
        on_event=None,
    ):
        self.profile = profile
        self.serial = profile.serial if profile.has_serial else None
        settings = self.serial.settings if self.serial else SerialSettings()
        if baud is not None:
            settings = replace(settings, baudrate=baud)
        self.settings = settings
        if username is None:
            username = self.serial.username if self.serial else ""
        self.model = model or PbxModel.from_profile(profile, username=username, password=password)
        self.username = username
        self._password = password
        if self.serial and self.serial.needs_password and not password:
            raise SimError(
                f"profile {profile.name}'s login asks for a password: give the "
                "simulator one (--password)"
            )
        self.tz = tz
        self.now = now or _now_utc
        self.rng = random.Random(seed)
        self.on_event = on_event or (lambda message: None)
        self.smdr_every = smdr_every
        self.smdr = self._smdr_format(smdr_format)
        self.smdr_settings = getattr(self.smdr, "serial", None) or settings
        if baud is not None and self.smdr is not None:
            self.smdr_settings = replace(self.smdr_settings, baudrate=baud)
        self._own_dir = link_dir is None
        self.link_dir = Path(link_dir or tempfile.mkdtemp(prefix="pbx-sim-"))
        self.port = PtyEnd(self.link_dir / "maintenance") if self.serial else None
        self.smdr_port = PtyEnd(self.link_dir / "smdr") if self.smdr is not None else None
        self.faults: set[str] = set()
        self.slow_s = (self.serial.step_timeout_s + 1.0) if self.serial else 1.0
        #: The conversation: where the terminal is, what it prints (pure, no I/O).
        self.terminal = (
            MaintenanceTerminal(self.serial, self.model, username=username, password=password)
            if self.serial
            else None
        )
        self._cut_now = False  # the cut fault has struck: nothing gets through
        self.replies = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.calls_emitted = 0
        self._epoch = 0  # bumped by clear(): answers still queued are dropped
        self._reopen_at: float | None = None
        self._power_back_at: float | None = None
        self._power_back_mode: str | None = None
        self._rx_free = 0.0
        self._fd_lock = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False

    def _smdr_format(self, fmt):
        if fmt is None:
            fmt = self.profile.smdr_format
        if fmt is None or hasattr(fmt, "render"):
            return fmt
        from appliance.smdr.formats import load_format

        return load_format(fmt)

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> PbxSimulator:
        """Open the ptys and start answering. Returns self."""
        if self.port is None and self.smdr_port is None:
            raise SimError(
                f"profile {self.profile.name} has neither a maintenance-port "
                f"dialogue ({self.profile.serial.note}) nor an SMDR format; "
                "there is nothing to simulate on a serial port"
            )
        if self._started:
            return self
        self._started = True
        if self.port is not None:
            self.port.open()
            self._spawn(self._serve, "pbx-sim-port")
        if self.smdr_port is not None:
            self.smdr_port.open()
            if self.smdr_every:
                self._spawn(self._smdr_loop, "pbx-sim-smdr")
        return self

    def _spawn(self, target, name) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _maintenance(self) -> tuple[PtyEnd, MaintenanceTerminal]:
        """The maintenance port and its terminal: a profile with a maintenance-port
        dialogue has both (``__init__`` makes them together), one without has neither.

        :raises SimError: for a profile without one.
        """
        if self.port is None or self.terminal is None:
            raise SimError(f"profile {self.profile.name} has no maintenance port")
        return self.port, self.terminal

    def close(self) -> None:
        """Stop, close the ptys and remove the stable links. Idempotent."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        with self._fd_lock:
            for end in (self.port, self.smdr_port):
                if end is not None:
                    end.close()
                    for path in (end.link, end.link.with_name(end.link.name + ".new")):
                        if path.is_symlink():
                            path.unlink()
        if self._own_dir:
            try:
                self.link_dir.rmdir()
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        faults = ",".join(sorted(self.faults)) or "none"
        return (
            f"<PbxSimulator {self.profile.name} {self.settings.describe()} "
            f"port={self.device} mode={self.model.mode} faults={faults}>"
        )

    @property
    def port_path(self) -> str | None:
        """The stable path of the maintenance port (follows the pty across drops)."""
        return str(self.port.link) if self.port else None

    @property
    def device(self) -> str | None:
        """The maintenance port's current ``/dev/pts/N`` (None while dropped)."""
        return self.port.device if self.port and self.port.is_open else None

    @property
    def smdr_path(self) -> str | None:
        return str(self.smdr_port.link) if self.smdr_port else None

    @property
    def smdr_device(self) -> str | None:
        return self.smdr_port.device if self.smdr_port and self.smdr_port.is_open else None

    @property
    def delay_s(self) -> float:
        """The PBX's own processing delay per answer (the profile's ``sim.delay_ms``)."""
        return self.serial.sim.delay_ms / 1000 if self.serial else 0.0

    # -- faults ---------------------------------------------------------------------------

    def inject(self, fault: str, *, seconds: float | None = None, mode: str | None = None) -> None:
        """Start *fault* (see the module docstring).

        :param seconds: ``slow``: the extra delay per answer (default: the profile's step
            timeout + 1 s); ``drop``: how long the port stays away (default: until
            :meth:`clear`); ``power_cut``: how long the power stays off (default 0).
        :param mode: ``power_cut``: the mode it comes back in, instead of the profile's.
        :raises SimError: for an unknown fault or one this profile cannot have.
        """
        if fault not in FAULTS:
            raise SimError(f"{fault!r} is not a fault; use one of " + ", ".join(FAULTS))
        if fault == "clear":
            self.clear()
            return
        if fault == "wrong_password" and not (self.serial and self.serial.needs_password):
            raise SimError(
                f"profile {self.profile.name} has no login with a password, so "
                "there is no password to get wrong"
            )
        if (
            fault in ("silence", "garbage", "slow", "wrong_password", "drop", "cut")
            and self.port is None
        ):
            raise SimError(f"profile {self.profile.name} has no maintenance port to {fault}")
        if fault == "slow" and seconds is not None:
            self.slow_s = float(seconds)
        if fault == "drop":
            port, _ = self._maintenance()  # refused above for a profile without one
            with self._fd_lock:
                # The PBX does not notice: its terminal stays where it was.
                port.close(unlink=True)
                self._reopen_at = None if seconds is None else time.monotonic() + seconds
            self.on_event("maintenance port dropped (the pty is closed)")
        if fault == "power_cut":
            self.model.power_off()
            if self.terminal is not None:
                with self._fd_lock:
                    self.terminal.power_up()  # what it had typed and logged is gone
            if not seconds:
                back = self.model.power_on(mode)
                self.on_event(f"power cut: back on in {back}")
            else:
                self._power_back_at = time.monotonic() + seconds
                self._power_back_mode = mode
                self.on_event(f"power cut: off for {seconds:g} s")
            return
        self.faults.add(fault)

    def clear(self) -> None:
        """End every fault; a dropped port comes back now, the power comes back now, and
        whatever the faulty PBX had not yet answered is forgotten (it does not replay a
        queue of stale answers). The terminal stays where the fault left it: logged in,
        half logged in, a partial line in its buffer, as a real one would."""
        self.faults.clear()
        self._cut_now = False
        self.slow_s = (self.serial.step_timeout_s + 1.0) if self.serial else 1.0
        with self._fd_lock:
            self._epoch += 1
            if self.port is not None:
                if self.port.is_open:
                    while self.port.read(0):
                        pass
                else:
                    self._reopen_at = time.monotonic()
        if self._power_back_at is not None:
            self._power_back_at = None
            back = self.model.power_on(self._power_back_mode)
            self.on_event(f"power back on, in {back}")
        if self.port is not None:
            self._wait_for(lambda: self.port.is_open, 2.0)

    def put_terminal(self, where: str, *, pending: str = "", username: str | None = None) -> None:
        """Leave the terminal where a cut session would: ``login``, ``password`` (after
        the user name *username*, ours by default) or ``logged_in``, with *pending*
        characters typed but not ended.

        :raises SimError: for a place this profile's terminal does not have.
        """
        if self.terminal is None:
            raise SimError(f"profile {self.profile.name} has no maintenance port")
        with self._fd_lock:
            try:
                self.terminal.put(where, pending=pending, username=username)
            except ValueError as exc:
                raise SimError(str(exc)) from None
        self.on_event(
            f"terminal at {self.terminal.where}" + (f", {pending!r} typed" if pending else "")
        )

    def _wait_for(self, condition, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= end or self._stop.is_set() or not self._threads:
                return condition()
            time.sleep(0.005)
        return True

    def _timers(self) -> None:
        now = time.monotonic()
        if self._reopen_at is not None and now >= self._reopen_at:
            port, _ = self._maintenance()  # only a dropped maintenance port reopens
            with self._fd_lock:
                self._reopen_at = None
                device = port.open()
                self._rx_free = 0.0
            self.on_event(f"maintenance port back at {device} ({self.port_path})")
        if self._power_back_at is not None and now >= self._power_back_at:
            self._power_back_at = None
            back = self.model.power_on(self._power_back_mode)
            self.on_event(f"power back on, in {back}")

    # -- the wire ---------------------------------------------------------------------------

    def _write(self, end: PtyEnd, data: bytes, settings: SerialSettings) -> None:
        """Write *data* at the wire's speed: each chunk appears when its last bit would
        have arrived."""
        char = settings.char_time_s
        for i in range(0, len(data), WIRE_CHUNK):
            chunk = data[i : i + WIRE_CHUNK]
            if self._stop.wait(len(chunk) * char):
                return
            with self._fd_lock:
                written = end.write(chunk)
            if end is self.port:
                self.bytes_out += written

    def _noise(self, size: int) -> bytes:
        return bytes(self.rng.randrange(256) for _ in range(size))

    # -- the maintenance port --------------------------------------------------------------

    def _serve(self) -> None:
        port, _ = self._maintenance()  # start() serves only a maintenance port
        while not self._stop.is_set():
            self._timers()
            with self._fd_lock:
                is_open = port.is_open
            if not is_open:
                self._stop.wait(0.01)
                continue
            with self._fd_lock:
                # Held while reading so a drop cannot close the fd under us (and a new
                # file reuse its number).
                data = port.read(0.02)
            if not data:
                if data is None:
                    self._stop.wait(0.01)
                continue
            self.bytes_in += len(data)
            # Act on the bytes only when they would have finished crossing the wire.
            now = time.monotonic()
            self._rx_free = max(now, self._rx_free) + len(data) * self.settings.char_time_s
            if self._stop.wait(max(0.0, self._rx_free - time.monotonic())):
                return
            try:
                self._received(data)
            except Exception:  # pragma: no cover - keep the simulated PBX up, say why
                log.exception("pbx-sim: error handling input")

    def _received(self, data: bytes) -> None:
        if not self.model.powered or "silence" in self.faults or self._cut_now:
            return
        port, terminal = self._maintenance()
        if not port.client_settings_match(self.settings):
            # Wrong speed or framing: the PBX's UART sees junk and answers junk.
            self._write(port, self._noise(max(1, len(data) // 2)), self.settings)
            return
        text = data.decode("latin-1")
        if "cut" in self.faults and terminal.logged_in:
            text = self._cut(text)
            if self._cut_now:
                return
        epoch = self._epoch
        with self._fd_lock:
            outputs = terminal.receive(text, wrong_password="wrong_password" in self.faults)
        for output in outputs:
            if self._epoch != epoch:
                return
            if output.kind == ECHO:
                data = output.text.encode("latin-1", errors="replace")
                if "garbage" in self.faults:
                    data = self._noise(len(data))
                self._write(port, data, self.settings)
            else:
                self._reply(output.text, epoch)

    def _cut(self, text: str) -> str:
        """The ``cut`` fault: a chunk whose first line has something on it reaches the
        PBX only half (no Enter), and from then on nothing gets through. A chunk that
        starts with a blank line passes whole (the fault waits for a real line). Returns
        what the terminal should still process normally."""
        _, terminal = self._maintenance()
        pending = terminal.session.pending
        end = next((i for i, ch in enumerate(text) if ch in "\r\n"), len(text))
        if not (pending + text[:end]).strip():
            return text
        first = text[:end]
        half = first[: max(1, len(first) // 2)] if first.strip() else ""
        with self._fd_lock:
            terminal.receive(half)  # its echo is lost on the cut line
        self._cut_now = True
        self.on_event(f"line cut after {(pending + half)!r}: the session stays logged in")
        return ""

    def _reply(self, text: str, epoch: int) -> None:
        """Write one answer after the PBX's processing delay (and the ``slow`` fault's);
        an answer the PBX had not finished before a ``clear`` is dropped."""
        if self._stop.wait(self.delay_s):
            return
        if "slow" in self.faults:
            # In small steps, so a clear() takes effect on the answer already waiting.
            end = time.monotonic() + self.slow_s
            while "slow" in self.faults and time.monotonic() < end:
                if self._stop.wait(0.01):
                    return
        if self._epoch != epoch:
            return
        data = text.encode("latin-1", errors="replace")
        if "garbage" in self.faults:
            data = self._noise(len(data) + self.rng.randrange(20, 80))
        port, _ = self._maintenance()
        self.replies += 1
        self._write(port, data, self.settings)

    # -- SMDR -------------------------------------------------------------------------------

    def _smdr_loop(self) -> None:
        while not self._stop.wait(self.smdr_every):
            try:
                self.call()
            except Exception:  # pragma: no cover - keep the simulated PBX up, say why
                log.exception("pbx-sim: cannot emit a call record")

    def make_call(self, **fields):
        """A plausible call that just ended, as a CallRecord; *fields* override."""
        from appliance.smdr.record import CallRecord

        rng = self.rng
        direction = fields.pop("direction", rng.choice(["in", "in", "out"]))
        answered = fields.pop("answered", rng.random() < 0.7 if direction == "in" else True)
        duration = fields.pop("duration_s", rng.randrange(5, 600) if answered else 0)
        ring = fields.pop("ring_s", rng.randrange(2, 40))
        started = fields.pop("started_at", self.now() - timedelta(seconds=duration))
        number = fields.pop("number", "0" + "".join(str(rng.randrange(10)) for _ in range(9)))
        values = dict(
            started_at=started,
            duration_s=duration,
            extension=fields.pop("extension", str(rng.randrange(101, 121))),
            trunk=fields.pop("trunk", f"{rng.randrange(1, 9):02d}"),
            direction=direction,
            answered=answered,
            ring_s=ring,
            number=number,
            fmt=getattr(self.smdr, "name", "sim"),
            raw="",
        )
        if fields:
            raise SimError("unknown call fields: " + ", ".join(sorted(fields)))
        return CallRecord(**values)

    def call(self, **fields) -> str:
        """Print one call record on the SMDR pty now; returns the line.

        :raises SimError: when the profile has no SMDR format.
        """
        smdr, port = self.smdr, self.smdr_port
        if smdr is None or port is None:  # __init__ makes the port with the format
            raise SimError(f"profile {self.profile.name} has no SMDR format")
        record = self.make_call(**fields)
        line = smdr.render(record, self.tz)
        if self.model.powered:
            self._write(
                port, (line + "\r\n").encode("latin-1", errors="replace"), self.smdr_settings
            )
            self.calls_emitted += 1
        return line


def simulate_serial_ports(
    specs, model: PbxModel, *, profiles_dir=None, profiles=None, **options
) -> tuple[list[dict], list[PbxSimulator]]:
    """For ``simulate``: one started :class:`PbxSimulator` per ``serial`` actuator table,
    all on the shared *model*, and the tables with their ``port`` pointed at it.

    :param specs: the config's actuator tables (others pass through unchanged).
    :param model: the :class:`~appliance.sim.pbx_model.PbxModel` the pin side uses too.
    :param profiles_dir: the site profile directory.
    :param options: passed to each :class:`PbxSimulator` (``seed``, ``on_event`` ...).
    :returns: ``(tables, simulators)``; close the simulators when done.
    """
    from appliance.pbx.profiles import DEFAULT_SITE_DIR, load_profiles

    found = (
        profiles
        if profiles is not None
        else load_profiles(DEFAULT_SITE_DIR if profiles_dir is None else profiles_dir)
    )
    tables, sims = [], []
    try:
        for spec in specs:
            if spec.get("type") != "serial":
                tables.append(spec)
                continue
            profile = found[spec["profile"]]
            model.add_modes(profile.modes)
            sim = PbxSimulator(
                profile,
                model=model,
                username=spec.get("username"),
                password=spec.get("password", ""),
                **options,
            ).start()
            sims.append(sim)
            settings = dict(spec.get("settings", {}))
            if "baudrate" in settings:
                # The installer's speed override is the PBX's speed in this simulation.
                sim.settings = replace(sim.settings, baudrate=settings["baudrate"])
            tables.append(dict(spec, port=sim.port_path))
    except Exception:
        for sim in sims:
            sim.close()
        raise
    return tables, sims
