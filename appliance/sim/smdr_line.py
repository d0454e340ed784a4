"""A PBX's SMDR printer on a simulated RS-232 line: two ptys and a wire between them.

One pty cannot stand for a serial line whose two ends are set differently: both ends of
a Linux pty share one termios, so whatever speed the reading side sets is the writing
side's speed too, and the bytes arrive intact anyway. :class:`SmdrLine` is a null-modem
cable made of two pty pairs:

* **the PBX side**: the simulated PBX opens the slave of the first pty with pyserial at
  its own settings (``1200 7E1``, ...), really setting them on that port, and prints a
  call record every so often in its SMDR format;
* **the wire**: a thread reads what the PBX wrote, takes the PBX's speed from the PBX
  side's termios (a pty keeps the speed; it drops data bits and parity, so those come
  from the simulator's own settings) and the reader's speed from the other pty's
  termios, paces the bytes at the PBX's speed, and passes them through the UART model
  of :mod:`appliance.sim.uart`: a reader at the wrong speed gets the garbage a real UART
  would, and with a 7E1 PBX the parity bit arrives as the top bit of every character;
* **the reader's side**: :attr:`SmdrLine.path` is the second pty's slave, which
  ``nightswitch calls detect`` (or the intake) opens like a serial port.
"""

from __future__ import annotations

import logging
import os
import pty
import select
import termios
import threading
import tty
from datetime import timezone

import serial

from appliance.pbx.port_settings import SerialSettings
from appliance.sim.call_maker import CallMaker
from appliance.sim.uart import through_the_wire

log = logging.getLogger(__name__)

#: termios speed constants back to bits per second.
_SPEEDS = {
    getattr(termios, f"B{rate}"): rate
    for rate in (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
    if hasattr(termios, f"B{rate}")
}


def port_speed(fd: int) -> int | None:
    """The speed set on a tty (its output speed), in bits per second."""
    try:
        return _SPEEDS.get(termios.tcgetattr(fd)[5])
    except termios.error:
        return None


class SmdrLine:
    """A PBX printing SMDR at *settings* onto a simulated serial line.

    ::

        with SmdrLine(load_format("panasonic-kx-ta"),
                      SerialSettings(baudrate=1200, bytesize=7, parity="even"),
                      every=0.2) as line:
            port = serial.Serial(line.path, 1200)     # the reader's side

    :param fmt: the SMDR format the PBX prints.
    :param SerialSettings settings: the PBX's port: speed, data bits, parity, stop bits.
    :param float every: print a record this often (seconds); None to print only on
        :meth:`call`.
    :param tz: the site's time zone for the printed times.
    :param int seed: seeds the calls.
    """

    def __init__(
        self,
        fmt,
        settings: SerialSettings,
        *,
        every: float | None = 0.3,
        tz=timezone.utc,
        now=None,
        seed: int | None = None,
    ):
        self.fmt = fmt
        self.settings = settings
        self.every = every
        self.maker = CallMaker(fmt, tz, now, seed)
        self.lines: list[str] = []
        self.bytes_on_wire = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pbx_master: int | None = None
        self._pbx_slave: int | None = None
        self._reader_master: int | None = None
        self._reader_slave: int | None = None
        self._pbx_port: serial.Serial | None = None
        self._path: str | None = None
        self._write_lock = threading.Lock()

    @property
    def path(self) -> str | None:
        """The reader's end of the line (a ``/dev/pts/N``), once started."""
        return self._path

    def start(self) -> SmdrLine:
        pbx_master, pbx_slave = pty.openpty()
        self._pbx_master, self._pbx_slave = pbx_master, pbx_slave
        reader_master, reader_slave = pty.openpty()
        self._reader_master, self._reader_slave = reader_master, reader_slave
        for fd in (pbx_slave, reader_slave):
            tty.setraw(fd)
        self._path = os.ttyname(reader_slave)
        os.set_blocking(reader_master, False)
        # The PBX really opens its port at its settings (a pty refuses some framings
        # when nothing else changes; the fresh pty's speed differs, so this one holds).
        s = self.settings
        self._pbx_port = serial.serial_for_url(
            os.ttyname(pbx_slave), timeout=0.1, **s.pyserial_kwargs()
        )
        self._spawn(self._wire, "sim-smdr-wire")
        if self.every:
            self._spawn(self._printer, "sim-smdr-printer")
        return self

    def _spawn(self, target, name) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._pbx_port is not None:
            self._pbx_port.close()
        for fd in (self._pbx_master, self._pbx_slave, self._reader_master, self._reader_slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- the PBX ----------------------------------------------------------------------------

    def call(self, **fields) -> str:
        """Print one call record now; returns the line."""
        port = self._pbx_port
        if port is None:
            raise RuntimeError("the SMDR line is not started: call start() first")
        line = self.maker.line(self.maker.record(**fields))
        with self._write_lock:
            port.write((line + "\r\n").encode("latin-1", errors="replace"))
        self.lines.append(line)
        return line

    def _printer(self) -> None:
        every = self.every
        if not every:  # start() runs the printer only when every is set
            return
        pause = every
        while not self._stop.wait(pause):
            try:
                line = self.call()
            except (serial.SerialException, OSError):  # pragma: no cover - closing
                return
            # A PBX prints no faster than its port carries: the next record waits until
            # this one is on the wire.
            pause = max(every, (len(line) + 2) * self.settings.char_time_s)

    # -- the wire ---------------------------------------------------------------------------

    def _wire(self) -> None:
        pbx_master, pbx_slave = self._pbx_master, self._pbx_slave
        reader_master, reader_slave = self._reader_master, self._reader_slave
        if pbx_master is None or pbx_slave is None or reader_master is None or reader_slave is None:
            raise RuntimeError("the SMDR line is not started: start() opens the ptys first")
        s = self.settings
        bits = 1 + s.bytesize + (0 if s.parity == "none" else 1) + s.stopbits
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([pbx_master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(pbx_master, 256)
            except OSError:
                return
            # What the PBX's port is set to now: a pty keeps the speed.
            tx_baud = port_speed(pbx_slave) or s.baudrate
            if self._stop.wait(len(data) * bits / tx_baud):
                return
            rx_baud = port_speed(reader_slave) or tx_baud
            out = through_the_wire(
                data,
                tx_baud=tx_baud,
                rx_baud=rx_baud,
                bytesize=s.bytesize,
                parity=s.parity,
                stopbits=s.stopbits,
            )
            self.bytes_on_wire += len(data)
            view = memoryview(out)
            while view and not self._stop.is_set():
                try:
                    view = view[os.write(reader_master, view) :]
                except BlockingIOError:
                    # Nobody reads the line: a real UART's buffer overflows; drop.
                    break
                except OSError:
                    return
